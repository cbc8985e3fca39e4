"""One report, five formats. Each renderer returns a string and never prints.

Machine formats (json, yaml, toml, csv) carry base SI units; the table shows human units and
lists the assumptions and warnings under it. Rich, PyYAML and tomli-w are imported only by the
renderer that needs them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from enum import Enum

from aistack_cli import __version__, units

SCHEMA_VERSION = 1


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    toml = "toml"
    csv = "csv"


@dataclass
class Point:
    """One computed point: resolved inputs, results, and what the result rests on."""

    inputs: dict
    results: dict
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    steps: list = field(default_factory=list)


@dataclass
class Report:
    command: str
    points: list[Point]
    swept: list[str] = field(default_factory=list)  # input keys that vary between points
    columns: list[str] | None = None  # result keys a sweep table shows (None: all)
    explain: bool = False
    quiet: bool = False


def _clean(value):
    """Plain JSON-able values: non-finite floats become None, tuples lists, steps dicts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _clean(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _unique(items):
    return list(dict.fromkeys(items))


def document(report: Report) -> dict:
    """The JSON contract: one object; a sweep puts one object per point in ``rows``."""
    head = {"schema_version": SCHEMA_VERSION, "aistack": __version__, "command": report.command}
    points = report.points
    if report.quiet:
        if len(points) == 1:
            return _clean(points[0].results)
        return {"rows": [_clean(_swept_row(report, p)) for p in points]}
    if len(points) == 1:
        point = points[0]
        body = {"inputs": point.inputs, "results": point.results,
                "assumptions": point.assumptions, "warnings": point.warnings}
        if report.explain:
            body["explain"] = point.steps
        return _clean({**head, **body})
    rows = []
    for point in points:
        row = {"inputs": point.inputs, "results": point.results, "warnings": point.warnings}
        if report.explain:
            row["explain"] = point.steps
        rows.append(row)
    assumptions = _unique(a for p in points for a in p.assumptions)
    warnings = _unique(w for p in points for w in p.warnings)
    return _clean({**head, "swept": report.swept, "rows": rows,
                   "assumptions": assumptions, "warnings": warnings})


def _swept_row(report: Report, point: Point) -> dict:
    """A quiet row: the swept inputs that tell rows apart, then the results."""
    return {**{k: point.inputs.get(k) for k in report.swept}, **point.results}


def render_json(report: Report) -> str:
    return json.dumps(document(report), indent=2, allow_nan=False, ensure_ascii=False)


def render_yaml(report: Report) -> str:
    import yaml

    return yaml.safe_dump(document(report), sort_keys=False, allow_unicode=True).rstrip("\n")


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def render_toml(report: Report) -> str:
    import tomli_w

    return tomli_w.dumps(_drop_none(document(report))).rstrip("\n")


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value, allow_nan=False)
    else:
        out[prefix] = value


def csv_rows(report: Report) -> list[dict]:
    rows = []
    for point in report.points:
        flat: dict = {}
        if report.quiet:
            _flatten("", _clean(_swept_row(report, point)), flat)
        else:
            _flatten("", _clean(point.inputs), flat)
            _flatten("", _clean(point.results), flat)
        rows.append(flat)
    return rows


def render_csv(report: Report) -> str:
    rows = csv_rows(report)
    header = _unique(k for row in rows for k in row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in header})
    return buffer.getvalue().rstrip("\n")


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# ---- human units ------------------------------------------------------------------------

def unit_of(key: str) -> str:
    """The unit a key carries (names end in, or contain, their unit: ``kv_bytes_per_token``)."""
    words = key.split("_")
    if key.endswith(("_fraction", "_utilization", "_yield")) or key in ("mfu", "mbu", "efficiency", "goodput", "load"):
        return "%"
    if "hours" in words:
        return "h"
    rate = "per" in words and words[words.index("per") + 1:words.index("per") + 2] == ["s"]
    for unit in ("bytes", "flop", "tokens"):
        if unit in words:
            after = words[words.index(unit) + 1:words.index(unit) + 3]
            if after == ["per", "s"]:
                return unit + "/s"
            if unit != "tokens":
                return unit
    for unit in ("usd", "wh", "w", "watts", "kg", "l", "mm2", "mm", "cm2"):
        if unit in words:
            return "w" if unit == "watts" else unit
    if rate:
        return "/s"
    return "s" if words[-1] == "s" else ""


UNIT_FORMATS = {
    "bytes/s": lambda v: units.format_si(v, "B/s"),
    "flop/s": lambda v: units.format_si(v, "FLOP/s"),
    "tokens/s": lambda v: f"{units.format_si(v, '', 4).replace(' ', '')} tokens/s",
    "/s": lambda v: f"{v:,.4g}/s",
    "bytes": units.format_bytes,
    "flop": lambda v: f"{v:.3g} FLOP",
    "usd": units.format_usd,
    "wh": lambda v: units.format_si(v, "Wh"),
    "w": lambda v: units.format_si(v, "W"),
    "kg": lambda v: units.format_si(v / 1000, "t") if abs(v) >= 1000 else f"{v:,.4g} kg",
    "l": lambda v: units.format_si(v, "L"),
    "mm2": lambda v: f"{v:,.4g} mm²",
    "mm": lambda v: f"{v:,.4g} mm",
    "cm2": lambda v: f"{v:.4g} /cm²",
    "%": lambda v: f"{v:.1%}",
    "h": lambda v: units.format_si(v, "", digits=4).replace(" ", "") + " h",
    "s": units.format_duration,
}


def humanize(key: str, value) -> str:
    """A value as a person reads it, chosen by the unit its key carries."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(humanize("", v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {humanize(key, v)}" for k, v in value.items())
    unit = unit_of(key)
    if key.endswith("year") and not unit:
        return str(value)
    formatter = UNIT_FORMATS.get(unit)
    return formatter(value) if formatter else units.format_count(value)


def render_table(report: Report) -> str:
    from rich import box
    from rich.table import Table

    console = recording_console()
    if len(report.points) == 1:
        console.print(_single_table(report, Table, box))
    else:
        console.print(_sweep_table(report, Table, box))
    point_notes = [report.points[0]] if len(report.points) == 1 else report.points
    if report.explain:
        _print_explain(console, report)
    if not report.quiet:
        assumptions = _unique(a for p in point_notes for a in p.assumptions)
        warnings = _unique(w for p in point_notes for w in p.warnings)
        for line in assumptions:
            console.print(f"  assumption: {line}", markup=False)
        for line in warnings:
            console.print(f"  [bold]warning:[/bold] {line}", soft_wrap=True)
    return console.export_text(styles=False).rstrip("\n") if not _color() else _ansi(console)


def recording_console():
    """The one console tables are drawn on: records into a string at the terminal's width."""
    from rich.console import Console

    return Console(record=True, width=_width(), highlight=False, file=io.StringIO())


def _single_table(report: Report, Table, box):
    point = report.points[0]
    table = Table(title=f"aistack {report.command}", box=box.SIMPLE_HEAD, show_header=True,
                  title_justify="left")
    table.add_column("quantity", style="cyan", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    # Values not computed for this input (None) are left out of the table; JSON keeps them as null.
    for key, value in point.inputs.items():
        if value is not None and key != "sources":
            table.add_row(key, humanize(key, value), "input")
    table.add_section()
    for key, value in point.results.items():
        if value is not None:
            table.add_row(key, humanize(key, value), "")
    return table


def _sweep_table(report: Report, Table, box):
    keys = report.columns or list(report.points[0].results)
    keys = [k for k in keys if any(p.results.get(k) is not None for p in report.points)]
    table = Table(title=f"aistack {report.command} — {len(report.points)} points",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for key in report.swept:
        table.add_column(key, style="cyan", no_wrap=True)
    for key in keys:
        table.add_column(key, justify="right", overflow="fold")
    for point in report.points:
        cells = [humanize(k, point.inputs.get(k)) for k in report.swept]
        cells += [humanize(k, point.results.get(k)) for k in keys]
        table.add_row(*cells)
    return table


def _print_explain(console, report: Report) -> None:
    for index, point in enumerate(report.points):
        if len(report.points) > 1:
            console.print(f"working for row {index + 1}:", markup=False)
        else:
            console.print("working:", markup=False)
        for n, step in enumerate(point.steps, start=1):
            value = humanize(step.quantity, step.value) if step.unit else units.format_count(step.value)
            console.print(f"  {n}. {step.quantity} = {step.formula}", markup=False)
            console.print(f"       = {step.substituted} = {value}", markup=False)
            console.print(f"       source: {step.source}", markup=False, style="dim")


def _width() -> int:
    import os
    import shutil

    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return max(100, shutil.get_terminal_size((120, 24)).columns)


def _color() -> bool:
    import os
    import sys

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _ansi(console) -> str:
    return console.export_text(styles=True).rstrip("\n")


RENDERERS = {
    Format.table: render_table,
    Format.json: render_json,
    Format.yaml: render_yaml,
    Format.toml: render_toml,
    Format.csv: render_csv,
}


def render(report: Report, fmt: Format) -> str:
    return RENDERERS[fmt](report)
