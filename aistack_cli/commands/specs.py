"""``aistack specs list`` and ``aistack specs show ID``: the bundled and user sheets."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import InputError
from aistack_cli.render import Format, Point, Report, humanize, recording_console, render

KIND_HELP = "accelerator, interconnect, system, model or process-node"


def _summary(kind: str, sheet: dict) -> str:
    """The figures a planner looks for first, per kind."""
    if kind == "accelerator":
        peak = sheet["dense_flop_per_s"].get("bf16") or max(sheet["dense_flop_per_s"].values())
        label = "bf16" if "bf16" in sheet["dense_flop_per_s"] else "peak"
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
    return (f"wafer ${sheet['wafer_cost_usd']:,.0f} ({sheet['wafer_cost_year']}), "
            f"D0 {sheet['defect_density_per_cm2']:g}/cm²")


def _kind(text: str | None) -> str | None:
    from aistack_cli.catalog import KINDS

    if text is None:
        return None
    kind = text.strip().lower().removesuffix("s")
    kind = "process-node" if kind in ("process-node", "node", "process") else kind
    if kind not in KINDS:
        raise InputError(f"--kind: unknown kind {text!r}; expected {KIND_HELP}")
    return kind


def register(app: typer.Typer) -> None:
    specs_app = typer.Typer(help="List and show the spec sheets (bundled and your own).",
                            no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(specs_app, name="specs")

    @specs_app.command("list", help="List sheets, optionally of one kind.")
    def list_sheets(
        kind: Annotated[Optional[str], typer.Option(help=f"Only this kind: {KIND_HELP}.")] = None,
        format: Annotated[Format, typer.Option("--format", "-f", help="table, json, yaml, toml or csv.")] = Format.table,
        specs: Annotated[Optional[list[str]], typer.Option("--specs", help="Extra sheets (file or folder).")] = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module
        from aistack_cli.catalog import KINDS

        catalog = catalog_module.load(specs)
        wanted = _kind(kind)
        points = []
        for each in KINDS if wanted is None else (wanted,):
            for sheet_id in catalog.ids(each):
                sheet = catalog.sheets[each][sheet_id]
                origin = catalog.origins.get(f"{each}:{sheet_id}", "bundled")
                points.append(Point({}, {"id": sheet_id, "kind": each, "name": sheet["name"],
                                         "summary": _summary(each, sheet), "origin": origin}))
        _emit(Report("specs list", points, columns=["kind", "name", "summary"], quiet=True), format,
              key_column="id")

    @specs_app.command("show", help="Show one sheet with every figure and its source.")
    def show_sheet(
        sheet_id: Annotated[str, typer.Argument(metavar="ID", help="Sheet id or alias, e.g. h100-sxm.")],
        kind: Annotated[Optional[str], typer.Option(help=f"Kind, when an id exists under several: {KIND_HELP}.")] = None,
        format: Annotated[Format, typer.Option("--format", "-f", help="table, json, yaml, toml or csv.")] = Format.table,
        specs: Annotated[Optional[list[str]], typer.Option("--specs", help="Extra sheets (file or folder).")] = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module

        catalog = catalog_module.load(specs)
        wanted = _kind(kind)
        found_kind, found_id = (wanted, catalog.resolve(wanted, sheet_id)) if wanted else catalog.find(sheet_id)
        sheet = dict(catalog.sheets[found_kind][found_id])
        origin = catalog.origins.get(f"{found_kind}:{found_id}", "bundled")
        _emit(Report("specs show", [Point({"kind": found_kind, "origin": origin}, sheet)]), format)


def _emit(report: Report, fmt: Format, key_column: str | None = None) -> None:
    import sys

    if fmt is Format.table and key_column:
        sys.stdout.write(_list_table(report) + "\n")
        return
    if fmt is Format.table:
        sys.stdout.write(_show_table(report) + "\n")
        return
    if report.command == "specs list" and fmt is not Format.csv:
        doc = {"schema_version": 1, "command": report.command,
               "sheets": [p.results for p in report.points]}
        sys.stdout.write(_dump(doc, fmt) + "\n")
        return
    sys.stdout.write(render(report, fmt) + "\n")


def _dump(doc: dict, fmt: Format) -> str:
    from aistack_cli import __version__
    from aistack_cli.render import _drop_none

    doc = {"schema_version": doc["schema_version"], "aistack": __version__, **doc}
    if fmt is Format.json:
        import json

        return json.dumps(doc, indent=2, ensure_ascii=False)
    if fmt is Format.yaml:
        import yaml

        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).rstrip("\n")
    import tomli_w

    return tomli_w.dumps(_drop_none(doc)).rstrip("\n")


def _list_table(report: Report) -> str:
    from rich.table import Table
    from rich import box

    table = Table(box=box.SIMPLE_HEAD, title=f"{len(report.points)} sheets", title_justify="left")
    for column in ("id", "kind", "name", "summary"):
        table.add_column(column, no_wrap=column == "id")
    for point in report.points:
        r = point.results
        origin = "" if r["origin"] == "bundled" else " (user)"
        table.add_row(r["id"] + origin, r["kind"], r["name"], r["summary"])
    console = recording_console()
    console.print(table)
    return console.export_text(styles=False).rstrip("\n")


def _show_table(report: Report) -> str:
    from rich.table import Table
    from rich import box

    point = report.points[0]
    sheet = point.results
    table = Table(box=box.SIMPLE_HEAD, title=f"{sheet['name']} ({point.inputs['kind']} {sheet['id']})",
                  title_justify="left")
    table.add_column("field", style="cyan", no_wrap=True)
    table.add_column("value")
    for key, value in sheet.items():
        if key in ("sources", "notes", "name", "id") or value in (None, [], {}):
            continue
        if isinstance(value, dict):
            for inner, figure in value.items():
                table.add_row(f"{key}.{inner}", humanize(key, figure))
        else:
            table.add_row(key, humanize(key, value))
    console = recording_console()
    console.print(table)
    for group, source in sheet.get("sources", {}).items():
        console.print(f"  source ({group}): {source}", markup=False)
    if sheet.get("notes"):
        console.print(f"  notes: {sheet['notes']}", markup=False)
    if point.inputs["origin"] != "bundled":
        console.print(f"  from: {point.inputs['origin']}", markup=False)
    return console.export_text(styles=False).rstrip("\n")
