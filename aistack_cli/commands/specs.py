"""``aistack specs list|show|template|diff``: the bundled and user sheets, and help to write new ones."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import InputError

KIND_HELP = "accelerator, interconnect, system, model, process-node, part or default"
FORMAT_HELP = "table (default), json, yaml, toml or csv."
SPECS_HELP = "Extra sheets (YAML file or folder), repeatable; also AISTACK_SPECS."


def _summary(kind: str, sheet: dict) -> str:
    """The figures a planner looks for first, per kind."""
    if kind == "accelerator":
        dense = sheet["dense_flop_per_s"]
        peak = dense.get("bf16") or max(dense.values(), default=None)
        label = "bf16" if "bf16" in dense else "peak"
        compute = f"{label} {units.format_si(peak, 'FLOP/s')} dense" if peak else "no dense peak published"
        status = f" [{sheet['status']} {sheet.get('status_date') or ''}]".replace(" ]", "]") \
            if sheet.get("status", "shipping") != "shipping" else ""
        return (f"{compute}, {units.format_bytes(sheet['memory_bytes'])}, "
                f"{units.format_si(sheet['memory_bandwidth_bytes_per_s'], 'B/s')}{status}")
    if kind == "interconnect":
        return (f"{units.format_si(sheet['device_bandwidth_bytes_per_s'], 'B/s')} per device per direction, "
                f"{units.format_duration(sheet['latency_s'])}")
    if kind == "system":
        return f"{sheet['accelerators']} x {sheet['accelerator']}, {units.format_si(sheet['max_power_w'], 'W')} max"
    if kind == "model":
        return (f"{units.format_count(sheet['params_total'] / 1e9)}B params, {sheet['layers']} layers, "
                f"{sheet['attention']}, {sheet['max_context']:,} ctx")
    if kind == "part":
        return f"{sheet['category']}, ${sheet['price_usd']:,.0f} per {sheet['price_per']} ({sheet['price_as_of']})"
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


YEAR_HELP = "Only sheets of this year, or a range: 2025, 2024:2026, 2025: or :2023."
VENDOR_HELP = "Only sheets whose vendor, foundry, developer or family contains this text (any case), e.g. nvidia."


def _year_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    raw = text.strip()
    first, sep, last = raw.partition(":")
    try:
        lo = int(first) if first.strip() else 0
        hi = (int(last) if last.strip() else 9999) if sep else lo
    except ValueError:
        raise InputError(f"--year: expected a year or a range such as 2024:2026, got {units.show(text)}") from None
    if lo > hi:
        raise InputError(f"--year: the range {units.show(text)} starts after it ends")
    return lo, hi


def _sheet_year(kind: str, sheet: dict, catalog) -> int | None:
    """The year a planner filters on: release, introduction, or the model's release date."""
    if kind == "accelerator":
        return sheet["release_year"]
    if kind in ("interconnect", "process-node", "part"):
        return sheet["year"]
    if kind == "model":
        return int(sheet["released"][:4]) if sheet.get("released") else None
    if kind == "system":
        if sheet.get("status_date"):
            return int(str(sheet["status_date"])[:4])
        accelerator = catalog.sheets.get("accelerator", {}).get(sheet["accelerator"])
        return accelerator["release_year"] if accelerator else None
    return None


def _sheet_vendor(kind: str, sheet: dict) -> str:
    return " ".join(str(sheet.get(k) or "") for k in ("vendor", "foundry", "developer", "family", "category"))


def register(app: typer.Typer) -> None:
    specs_app = typer.Typer(help="List, show, compare and start spec sheets (bundled and your own).",
                            no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(specs_app, name="specs")

    @specs_app.command("list", help="List sheets, optionally of one kind, vendor or year.")
    def list_sheets(
        kind: Annotated[Optional[str], typer.Option(metavar="KIND", help=f"Only this kind: {KIND_HELP}.")] = None,
        vendor: Annotated[Optional[str], typer.Option(metavar="TEXT", help=VENDOR_HELP)] = None,
        year: Annotated[Optional[str], typer.Option(metavar="YEAR", help=YEAR_HELP)] = None,
        format: FormatOpt = None,
        specs: SpecsOpt = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module
        from aistack_cli.catalog import KINDS

        fmt = _format(format)
        wanted, years = _kind(kind), _year_range(year)
        wanted_vendor = vendor.strip().lower() if vendor is not None else None
        if wanted_vendor == "":
            raise InputError("--vendor: give some text to match, e.g. --vendor nvidia")
        catalog = catalog_module.load(specs)
        rows = []
        for each in KINDS if wanted is None else (wanted,):
            for sheet_id in catalog.ids(each):
                sheet = catalog.sheets[each][sheet_id]
                if wanted_vendor is not None and wanted_vendor not in _sheet_vendor(each, sheet).lower():
                    continue
                sheet_year = _sheet_year(each, sheet, catalog)
                if years is not None and (sheet_year is None or not years[0] <= sheet_year <= years[1]):
                    continue
                rows.append({"id": sheet_id, "kind": each, "name": sheet["name"], "year": sheet_year,
                             "summary": _summary(each, sheet),
                             "origin": catalog.origins.get(f"{each}:{sheet_id}", "bundled")})
        if fmt == "table":
            _write_lines(_list_table(rows))
        else:
            _write_document({"command": "specs list", "sheets": rows}, fmt,
                            ["id", "kind", "name", "year", "summary", "origin"])

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
        found_kind, found_id = _find(catalog, sheet_id, _kind(kind))
        sheet = dict(catalog.sheets[found_kind][found_id])
        origin = catalog.origins.get(f"{found_kind}:{found_id}", "bundled")
        if fmt == "table":
            _write_lines(_show_table(found_kind, sheet, origin))
        else:
            flat = {"kind": found_kind, "origin": origin, **sheet}
            _write_document({"command": "specs show", "kind": found_kind, "origin": origin, "sheet": sheet}, fmt,
                            list(flat), csv_row=flat)

    @specs_app.command("template", help="Print a commented sheet to start a new one from.")
    def template(
        kind: Annotated[str, typer.Argument(metavar="KIND", help=f"The kind of sheet: {KIND_HELP}.")],
    ) -> None:
        from aistack_cli.catalog.templates import TEMPLATES

        sys.stdout.write(TEMPLATES[_kind(kind)])

    @specs_app.command("diff", help="Show how your sheet of an id differs from the bundled one.")
    def diff(
        sheet_id: Annotated[str, typer.Argument(metavar="ID", help="Sheet id or alias, e.g. h100-sxm.")],
        kind: Annotated[Optional[str], typer.Option(metavar="KIND", help=f"Kind, when an id exists under several: "
                                                                          f"{KIND_HELP}.")] = None,
        format: FormatOpt = None,
        specs: SpecsOpt = None,
    ) -> None:
        from aistack_cli import catalog as catalog_module

        fmt = _format(format)
        catalog = catalog_module.load(specs)
        found_kind, found_id = _find(catalog, sheet_id, _kind(kind))
        origin = catalog.origins.get(f"{found_kind}:{found_id}")
        bundled = catalog_module.bundled_sheet(found_kind, found_id)
        mine = catalog.sheets[found_kind][found_id]
        if origin is None:
            state, changes = "no user sheet overrides it", []
        elif bundled is None:
            state, changes = f"a new sheet from {origin}, with no bundled counterpart", []
        else:
            state, changes = f"overridden by {origin}", _differences(bundled, mine)
        if fmt == "table":
            _write_lines(_diff_table(found_kind, found_id, state, changes))
        else:
            rows = [{"field": f, "bundled": b, "user": u} for f, b, u in changes]
            _write_document({"command": "specs diff", "kind": found_kind, "id": found_id, "state": state,
                             "origin": origin or "bundled", "differences": rows}, fmt, ["field", "bundled", "user"],
                            rows_key="differences")


def _find(catalog, sheet_id: str, wanted: str | None) -> tuple[str, str]:
    return (wanted, catalog.resolve(wanted, sheet_id)) if wanted else catalog.find(sheet_id)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _differences(bundled: dict, mine: dict) -> list[tuple[str, Any, Any]]:
    """(field, bundled value, user value) for every field that differs, nested fields dotted."""
    left, right = _flatten(bundled), _flatten(mine)
    return [(key, left.get(key), right.get(key)) for key in sorted(set(left) | set(right), key=_field_order(left))
            if left.get(key) != right.get(key)]


def _field_order(left: dict):
    order = {key: i for i, key in enumerate(left)}
    return lambda key: (order.get(key, len(order)), key)


def _diff_table(kind: str, sheet_id: str, state: str, changes: list) -> list[str]:
    from aistack_cli.render.text import humanize

    lines = [f"{kind} {sheet_id}: {state}"]
    if not changes:
        return lines + (["  (same figures as the bundled sheet)"] if state.startswith("overridden") else [])
    key_w = max(len(field) for field, _, _ in changes)
    for field, old, new in changes:
        unit_key = field.split(".")[0] if "." in field else field
        show = lambda v: "—" if v is None else _value(unit_key, v, humanize)  # noqa: E731
        lines += _fit(f"  {field.ljust(key_w)}  ", f"{_short(show(old))} -> {_short(show(new))}", 80)
    return lines


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_lines(lines) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def _write_document(body: dict, fmt: str, columns: list[str], csv_row: dict | None = None,
                    rows_key: str = "sheets") -> None:
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
        for row in [csv_row] if csv_row is not None else doc[rows_key]:
            writer.writerow([_cell(row.get(c)) for c in columns])


def _list_table(rows: list[dict]) -> list[str]:
    from aistack_cli.render.text import width

    limit = width()
    lines = [f"{len(rows)} sheet{'' if len(rows) == 1 else 's'}"]
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
        if key in ("sources", "notes", "name", "id", "prices", "confidence") or value in (None, [], {}, ""):
            continue
        if isinstance(value, dict):
            pairs += [(f"{key}.{inner}", humanize(key, figure)) for inner, figure in value.items()]
        else:
            pairs.append((key, _value(key, value, humanize)))
    key_w = max((len(k) for k, _ in pairs), default=0)
    for key, text in pairs:
        lines += _fit(f"  {key.ljust(key_w)}  ", text, limit)
    for price in sheet.get("prices", []):
        amount = (f"${price['usd_per_hour']:,.2f}/h" if price.get("usd_per_hour") is not None
                  else f"${price['usd']:,.0f}")
        text = f"price: {amount} {price['type']}, {price['provider_class']} {price['provider']}, {price['as_of']}"
        lines += textwrap.wrap(text + (f" ({price['note']})" if price.get("note") else ""), limit,
                               initial_indent="  ", subsequent_indent="    ")
    confidence = sheet.get("confidence") or {}
    for group, source in sheet.get("sources", {}).items():
        marked = f", {confidence[group]} confidence" if group in confidence else ""
        lines += textwrap.wrap(f"source ({group}{marked}): {source}", limit, initial_indent="  ",
                               subsequent_indent="    ")
    if sheet.get("notes"):
        lines += textwrap.wrap(f"notes: {sheet['notes']}", limit, initial_indent="  ", subsequent_indent="    ")
    if origin != "bundled":
        lines.append(f"  from: {origin}")
    return [line.rstrip() for line in lines]


def _value(key: str, value: Any, humanize) -> str:
    if key.endswith("year") and isinstance(value, int):
        return str(value)
    return humanize(key, value) if not isinstance(value, str) else value
