"""Machine formats: JSON, YAML, TOML and CSV, all from one document shape.

The JSON contract (``schema_version`` 2), the same top-level keys for every run, one point or a
sweep, with or without ``--quiet``:

- ``schema_version``, ``aistack``, ``command``;
- ``swept``: the input keys of the options that were swept (``[]`` for one point);
- ``rows``: one object per point, ``{"inputs", "results", "warnings", "error"}`` (and
  ``"explain"`` with ``--explain``); every declared key is present, ``null`` where not computed;
- ``inputs``: the scenario: the resolved inputs of one point, or, for a sweep, each swept input
  as the list of its values and the inputs every row shares (an input that moved only because of
  the sweep is ``null``; see the rows). A saved output reads back through ``--config``;
- ``results``: the results of one point, or ``null`` for a sweep (read ``rows``);
- ``assumptions``, ``warnings``: every note of every row, once. ``--quiet`` empties them (and the
  rows' warnings): it removes human notes, never data.
- with ``--ranges``: ``ranges`` in every row and at the top level (mirroring ``results``: the
  point's, or ``null`` for a sweep), keyed like ``results``: ``{"p10", "p50", "p90"}`` for a
  numeric result, ``null`` otherwise. CSV adds ``KEY.p10``, ``KEY.p50``, ``KEY.p90`` columns.
- with ``--sensitivity``: ``sensitivity`` likewise: ``{"target", "value", "inputs": [{"default",
  "unit", "p10", "p90", "at_p10", "at_p90", "swing"}, ...] (largest swing first), "held"}``.

Numbers are plain JSON numbers in base SI units, never NaN or Infinity. JSON and CSV stream: each
row is written when it is computed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Any, TextIO

from aistack_cli import __version__, fields
from aistack_cli.result import Point, Report

SCHEMA_VERSION = 2
MAX_NOTES = 200  # distinct notes kept for the top-level lists of a long sweep


def clean(value: Any) -> Any:
    """Plain JSON values: non-finite floats become None (never NaN or Infinity), whole floats ints
    (327680, not 327680.0: the same JSON number, and Python readers get the type they expect),
    tuples lists, records dicts."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):  # a NamedTuple record (a Step of --explain)
        return {k: clean(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: clean(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def flat(values: dict, keys) -> dict:
    """``clean`` for a flat mapping of scalars (a row's inputs or results), in the order of
    ``keys`` with ``None`` for a key not given: one fast pass."""
    out = {}
    get = values.get
    for key in keys:
        value = get(key)
        if type(value) is float:
            if value - value != 0.0:  # inf or nan
                value = None
            elif -_EXACT < value < _EXACT and value == int(value):
                value = int(value)
        elif isinstance(value, (dict, list, tuple)):
            value = clean(value)
        out[key] = value
    return out


_EXACT = float(2**53)


def row(point: Point, report: Report) -> dict:
    out = {"inputs": point.inputs, "results": point.results,
           "warnings": [] if report.quiet else list(point.warnings), "error": point.error}
    if report.explain:
        out["explain"] = clean(point.steps)
    if report.ranges:
        out["ranges"] = clean(point.ranges) if point.ranges is not None else dict.fromkeys(point.results)
    if report.sensitivity:
        out["sensitivity"] = clean(point.sensitivity)
    return out


class Summary:
    """What the top-level keys need, gathered while the rows stream past."""

    def __init__(self, report: Report):
        self.report = report
        self.first: Point | None = None
        self.count = 0
        self.moved: set[str] = set()
        self.swept_values: dict[str, list] = {k: [] for k in report.swept}
        self.assumptions: dict[str, None] = dict.fromkeys(report.notes)
        self.warnings: dict[str, None] = {}

    def add(self, point: Point) -> None:
        self.count += 1
        if self.first is None:
            self.first = point
        else:
            self.moved.update(k for k, v in point.inputs.items() if v != self.first.inputs.get(k))
        for key, values in self.swept_values.items():
            value = point.inputs.get(key)
            if value not in values:
                values.append(value)
        for note in point.assumptions:
            if len(self.assumptions) < MAX_NOTES:
                self.assumptions.setdefault(note)
        for note in point.warnings:
            if len(self.warnings) < MAX_NOTES:
                self.warnings.setdefault(note)

    def tail(self) -> dict:
        """The top-level keys after ``rows``."""
        single = self.report.single and self.count == 1 and self.first is not None
        first = self.first
        if single and first is not None:
            inputs, results = clean(first.inputs), (clean(first.results) if first.error is None else None)
        else:
            base = first.inputs if first is not None else {}
            inputs = {k: (self.swept_values[k] if k in self.swept_values else None if k in self.moved else v)
                      for k, v in clean(base).items()}
            results = None
        quiet = self.report.quiet
        out = {"inputs": inputs, "results": results}
        one = first if single and first is not None and first.error is None else None
        if self.report.ranges:
            out["ranges"] = clean(one.ranges) if one is not None and one.ranges is not None else None
        if self.report.sensitivity:
            out["sensitivity"] = clean(one.sensitivity) if one is not None else None
        out["assumptions"] = [] if quiet else list(self.assumptions)
        out["warnings"] = [] if quiet else list(self.warnings)
        return out


def head(report: Report) -> dict:
    return {"schema_version": SCHEMA_VERSION, "aistack": __version__, "command": report.command,
            "swept": list(report.swept)}


def document(report: Report) -> dict:
    """The whole document in memory (YAML, TOML and the Python API)."""
    summary = Summary(report)
    rows = []
    for point in report.points:
        summary.add(point)
        rows.append(row(point, report))
    return {**head(report), "rows": rows, **summary.tail()}


# ---- writers ------------------------------------------------------------------------------

def write_json(report: Report, out: TextIO, ascii_only: bool = False) -> None:
    """Stream the document: the head, each row as it is computed, then the summary. The rows of a
    sweep are one line each (the C encoder; ~10x faster than indenting them), a single point's row
    is indented like the rest."""
    dump = json.JSONEncoder(indent=2, allow_nan=False, ensure_ascii=ascii_only).encode
    compact = json.JSONEncoder(allow_nan=False, ensure_ascii=ascii_only, separators=(", ", ": ")).encode
    row_dump = (lambda value: _indent(dump(value), 4)) if report.single else compact
    summary = Summary(report)
    top = head(report)
    out.write("{\n" + "".join(f"  {json.dumps(k)}: {_indent(dump(v))},\n" for k, v in top.items()))
    out.write('  "rows": [')
    for index, point in enumerate(report.points):
        summary.add(point)
        out.write(("," if index else "") + "\n    " + row_dump(row(point, report)))
    out.write("\n  ]" if summary.count else "]")
    for key, value in summary.tail().items():
        out.write(f",\n  {json.dumps(key)}: {_indent(dump(value))}")
    out.write("\n}\n")


def _indent(text: str, by: int = 2) -> str:
    return text.replace("\n", "\n" + " " * by)


def write_yaml(report: Report, out: TextIO) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    out.write(yaml.dump(document(report), Dumper=dumper, sort_keys=False, allow_unicode=True))


def _drop_none(value: Any) -> Any:
    """TOML has no null: keys not computed are left out."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def write_toml(report: Report, out: TextIO) -> None:
    import tomli_w

    doc = _drop_none(document(report))
    # TOML needs plain keys before tables: move the scalar top-level keys first.
    ordered = {k: v for k, v in doc.items() if not isinstance(v, (dict, list))}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    out.write(tomli_w.dumps(ordered))


def csv_header(command: str, ranges: bool = False) -> list[str]:
    """The fixed columns of a command: its inputs, its results, then the row's error (with
    --ranges, the P10/P50/P90 of each numeric result before it)."""
    inputs, results = fields.COMMANDS[command]
    spread = [f"{k}.{q}" for k in range_keys(command) for q in QUANTILES] if ranges else []
    return [*inputs, *results, *spread, "error"]


QUANTILES = ("p10", "p50", "p90")


def range_keys(command: str) -> list[str]:
    """The results that can carry a range: the numeric ones."""
    return [k for k in fields.COMMANDS[command][1] if fields.unit(k) not in ("text", "id", "bool")]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(clean(value), allow_nan=False, ensure_ascii=False)
    return value


def csv_lines(report: Report) -> Iterator[str]:
    header = csv_header(report.command, report.ranges)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for point in report.points:
        buffer.seek(0)
        buffer.truncate()
        merged = {**point.inputs, **point.results, "error": point.error}
        for key, spread in (point.ranges or {}).items():
            merged.update({f"{key}.{q}": spread[q] for q in QUANTILES} if spread else {})
        writer.writerow([_cell(merged.get(k)) for k in header])
        yield buffer.getvalue()


def write_csv(report: Report, out: TextIO) -> None:
    for line in csv_lines(report):
        out.write(line)
