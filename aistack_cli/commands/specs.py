"""``aistack specs list`` and ``aistack specs show ID``: the bundled and user sheets."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import InputError

KIND_HELP = "accelerator, interconnect, system, model, process-node or default"
FORMAT_HELP = "table (default), json, yaml, toml or csv."
SPECS_HELP = "Extra sheets (YAML file or folder), repeatable; also AISTACK_SPECS."


def _summary(kind: str, sheet: dict) -> str:
    """The figures a planner looks for first, per kind."""
    if kind == "accelerator":
        dense = sheet["dense_flop_per_s"]
        peak = dense.get("bf16") or max(dense.values())
        label = "bf16" if "bf16" in dense else "peak"
        return (f"{label} {units.format_si(peak, 'FLOP/s')} dense, {units.format_bytes(sheet['memory_bytes'])}, "
                f"{units.format_si(sheet['memory_bandwidth_bytes_per_s'], 'B/s')}")
    if kind == "interconnect":
        return (f"{units.format_si(sheet['device_bandwidth_bytes_per_s'], 'B/s')} per device per direction, "
                f"{units.format_duration(sheet['latency_s'])}")
    if kind == "system":
        return f"{sheet['accelerators']} x {sheet['accelerator']}, {units.format_si(sheet['max_power_w'], 'W')} max"
    if kind == "model":
        return (f"{units.format_count(sheet['params_total'] / 1e9)}B params, {sheet['layers']} layers, "
                f"{sheet['attention']}, {sheet['max_context']:,} ctx")
    if kind == "default":
        spread = f" (P10-P90 {sheet['p10']:g}-{sheet['p90']:g})" if sheet.get("p10") is not None else ""
        return f"{sheet['value']:g} {sheet['unit']}{spread}"
    return (f"wafer ${sheet['wafer_cost_usd']:,.0f} ({sheet['wafer_cost_year']}), "
            f"D0 {sheet['defect_density_per_cm2']:g}/cm²")


def _kind(text: str | None) -> str | None:
    from aistack_cli.catalog import KINDS

    if text is None:
        return None
    kind = text.strip().lower().removesuffix("s")
    kind = "process-node" if kind in ("process-node", "node", "process") else kind
    if kind not in KINDS:
        raise InputError(f"--kind: unknown kind {units.show(text)}; expected {KIND_HELP}")
    return kind


def _format(text: str | None) -> str:
    from aistack_cli.render import FORMATS

    fmt = (text or "table").strip().lower()
    if fmt not in FORMATS:
        raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {units.show(text)}")
    return fmt


FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", metavar="FORMAT", help=FORMAT_HELP)]
SpecsOpt = Annotated[Optional[list[str]], typer.Option("--specs", metavar="PATH", help=SPECS_HELP)]


def register(app: typer.Typer) -> None:
    specs_app = typer.Typer(help="List and show the spec sheets (bundled and your own).",
                            no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(specs_app, name="specs")

    @specs_app.command("list", help="List sheets, optionally of one kind.")
    def list_sheets(
        kind: Annotated[Optional[str], typer.Option(metavar="KIND", help=f"Only this kind: {KIND_HELP}.")] = None,
        format: FormatOpt = None,
        specs: SpecsOpt = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module
        from aistack_cli.catalog import KINDS

        fmt = _format(format)
        catalog = catalog_module.load(specs)
        wanted = _kind(kind)
        rows = []
        for each in KINDS if wanted is None else (wanted,):
            for sheet_id in catalog.ids(each):
                sheet = catalog.sheets[each][sheet_id]
                rows.append({"id": sheet_id, "kind": each, "name": sheet["name"], "summary": _summary(each, sheet),
                             "origin": catalog.origins.get(f"{each}:{sheet_id}", "bundled")})
        if fmt == "table":
            _write_lines(_list_table(rows))
        else:
            _write_document({"command": "specs list", "sheets": rows}, fmt, ["id", "kind", "name", "summary", "origin"])

    @specs_app.command("show", help="Show one sheet with every figure and its source.")
    def show_sheet(
        sheet_id: Annotated[str, typer.Argument(metavar="ID", help="Sheet id or alias, e.g. h100-sxm.")],
        kind: Annotated[Optional[str], typer.Option(metavar="KIND", help=f"Kind, when an id exists under several: "
                                                                          f"{KIND_HELP}.")] = None,
        format: FormatOpt = None,
        specs: SpecsOpt = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module

        fmt = _format(format)
        catalog = catalog_module.load(specs)
        wanted = _kind(kind)
        found_kind, found_id = (wanted, catalog.resolve(wanted, sheet_id)) if wanted else catalog.find(sheet_id)
        sheet = dict(catalog.sheets[found_kind][found_id])
        origin = catalog.origins.get(f"{found_kind}:{found_id}", "bundled")
        if fmt == "table":
            _write_lines(_show_table(found_kind, sheet, origin))
        else:
            flat = {"kind": found_kind, "origin": origin, **sheet}
            _write_document({"command": "specs show", "kind": found_kind, "origin": origin, "sheet": sheet}, fmt,
                            list(flat), csv_row=flat)


def _write_lines(lines) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def _write_document(body: dict, fmt: str, columns: list[str], csv_row: dict | None = None) -> None:
    from aistack_cli import __version__
    from aistack_cli.render.machine import SCHEMA_VERSION, _cell, _drop_none, clean

    doc = clean({"schema_version": SCHEMA_VERSION, "aistack": __version__, **body})
    if fmt == "json":
        import json

        encoding = (sys.stdout.encoding or "utf-8").lower().replace("-", "")
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=encoding != "utf8") + "\n")
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    elif fmt == "toml":
        import tomli_w

        sys.stdout.write(tomli_w.dumps(_drop_none(doc)))
    else:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in [csv_row] if csv_row is not None else doc["sheets"]:
            writer.writerow([_cell(row.get(c)) for c in columns])


def _list_table(rows: list[dict]) -> list[str]:
    from aistack_cli.render.text import width

    limit = width()
    lines = [f"{len(rows)} sheets"]
    id_w = max((len(r["id"]) + (7 if r["origin"] != "bundled" else 0) for r in rows), default=2)
    kind_w = max((len(r["kind"]) for r in rows), default=4)
    for r in rows:
        name = r["id"] + (" (user)" if r["origin"] != "bundled" else "")
        head = f"  {name.ljust(id_w)}  {r['kind'].ljust(kind_w)}  "
        text = f"{r['name']}: {r['summary']}"
        lines += _fit(head, text, limit)
    return lines


def _fit(head: str, text: str, limit: int) -> list[str]:
    import textwrap

    room = limit - len(head)
    if room >= 30:
        wrapped = textwrap.wrap(text, room, break_on_hyphens=False) or [""]
        return [(head + wrapped[0]).rstrip()] + [(" " * len(head) + w).rstrip() for w in wrapped[1:]]
    return [head.rstrip()] + ["    " + w for w in textwrap.wrap(text, max(limit - 4, 20), break_on_hyphens=False)]


def _show_table(kind: str, sheet: dict, origin: str) -> list[str]:
    import textwrap

    from aistack_cli.render.text import humanize, width

    limit = width()
    lines = [f"{sheet.get('name', sheet['id'])} ({kind} {sheet['id']})"]
    pairs: list[tuple[str, str]] = []
    for key, value in sheet.items():
        if key in ("sources", "notes", "name", "id") or value in (None, [], {}):
            continue
        if isinstance(value, dict):
            pairs += [(f"{key}.{inner}", humanize(key, figure)) for inner, figure in value.items()]
        else:
            pairs.append((key, _value(key, value, humanize)))
    key_w = max((len(k) for k, _ in pairs), default=0)
    for key, text in pairs:
        lines += _fit(f"  {key.ljust(key_w)}  ", text, limit)
    for group, source in sheet.get("sources", {}).items():
        lines += textwrap.wrap(f"source ({group}): {source}", limit, initial_indent="  ", subsequent_indent="    ")
    if sheet.get("notes"):
        lines += textwrap.wrap(f"notes: {sheet['notes']}", limit, initial_indent="  ", subsequent_indent="    ")
    if origin != "bundled":
        lines.append(f"  from: {origin}")
    return [line.rstrip() for line in lines]


def _value(key: str, value: Any, humanize) -> str:
    return humanize(key, value) if not isinstance(value, str) else value
