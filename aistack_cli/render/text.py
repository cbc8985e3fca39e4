"""Tables for people: plain aligned text, drawn here without any library.

One layout code path for every command. Values are formatted by the unit their key carries in
the field registry (``40.0 GiB``, ``3.2 days``, ``$1.23M``). A table never folds a value: when the
columns do not fit the width (the terminal's, ``COLUMNS``, else 80), it switches to a vertical
layout, one block per row. Lines never end in spaces. Data is printed as text, never interpreted
as markup. Colour (key names, warnings) only on a terminal, unless ``NO_COLOR`` is set or
``FORCE_COLOR``/``CLICOLOR_FORCE`` asks for it.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from aistack_cli import fields, units
from aistack_cli.result import Point, Report

MIN_WIDTH, DEFAULT_WIDTH = 40, 80
MAX_COLUMN = 16  # a sweep header wider than this folds at underscores


# ---- values as people read them ----------------------------------------------------------

def _tokens_per_s(v: float) -> str:
    return f"{units.format_si(v, '', 4).replace(' ', '')} tokens/s"


FORMATS = {
    "B": units.format_bytes,
    "B/s": lambda v: units.format_si(v, "B/s"),
    "FLOP": lambda v: f"{v:.3g} FLOP",
    "FLOP/s": lambda v: units.format_si(v, "FLOP/s"),
    "s": units.format_duration,
    "h": lambda v: units.format_si(v, "", digits=4).replace(" ", "") + " h",
    "W": lambda v: units.format_si(v, "W"),
    "Wh": lambda v: units.format_si(v, "Wh"),
    "USD": units.format_usd,
    "USD/h": lambda v: units.format_usd(v) + "/h",
    "USD/kWh": lambda v: f"${v:.4g}/kWh",
    "fraction": lambda v: f"{v:.1%}",
    "ratio": lambda v: f"{v:.4g}",
    "count": units.format_count,
    "tokens": units.format_count,
    "tokens/s": _tokens_per_s,
    "1/s": lambda v: f"{v:,.4g}/s",
    "g/kWh": lambda v: f"{v:,.4g} g/kWh",
    "L/kWh": lambda v: f"{v:,.4g} L/kWh",
    "kg": lambda v: units.format_si(v / 1000, "t") if abs(v) >= 1000 else f"{v:,.4g} kg",
    "L": lambda v: units.format_si(v, "L"),
    "mm": lambda v: f"{v:,.4g} mm",
    "mm2": lambda v: f"{v:,.4g} mm²",
    "1/cm2": lambda v: f"{v:.4g} /cm²",
    "year": lambda v: str(int(v)),
    "quarters": lambda v: f"{v:g} quarters",
    "years": lambda v: f"{v:g} years",
    "USD/W": lambda v: f"${v:,.4g}/W",
    "USD/kW-month": lambda v: f"${v:,.2f}/kW-month",
}


def guess_unit(key: str) -> str:
    """The unit of a key outside the registry (a sheet's own field), from its name."""
    last = key.rsplit(".", 1)[0] if "." in key else key
    for suffix, unit in (("_flop_per_s", "FLOP/s"), ("_bytes_per_s", "B/s"), ("_bytes", "B"), ("_w", "W"),
                         ("_s", "s"), ("_usd", "USD"), ("_usd_per_hour", "USD/h"), ("_mm2", "mm2"),
                         ("_mm", "mm"), ("_per_cm2", "1/cm2")):
        if last.endswith(suffix):
            return unit
    return ""


def with_range(key: str, value: Any, spread: dict | None) -> str:
    """``34.5 days (28.1–45.2 days)``: the value and its P10–P90, when they differ."""
    text = humanize(key, value)
    if not spread or spread["p10"] == spread["p90"]:
        return text
    low, high = humanize(key, spread["p10"]), humanize(key, spread["p90"])
    tail = _shared_tail(low, high)
    if tail:
        low = low[: len(low) - len(tail)]
    return f"{text} ({low}–{high})"


def _shared_tail(a: str, b: str) -> str:
    """The unit both texts end in (`` days``, ``%``, ``M``; `` tokens/s`` of ``718k tokens/s`` and
    ``1.2M tokens/s``), if any: said once, after the upper end."""
    def tail(text: str) -> str:
        i = len(text)
        while i and not text[i - 1].isdigit():
            i -= 1
        return text[i:]

    end_a, end_b = tail(a), tail(b)
    if not end_a or end_a == a:
        return ""
    if end_a == end_b:
        return end_a
    word = end_a[end_a.find(" "):] if " " in end_a else ""
    return word if word and end_b.endswith(word) else ""


def default_value(unit: str, value: float) -> str:
    """A default sheet's number in its own unit (``30.0%``, ``1.1``, ``481 g/kWh``)."""
    formatter = FORMATS.get(unit)
    return formatter(value) if formatter else f"{value:g} {unit}".strip()


def humanize(key: str, value: Any) -> str:
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
    unit = fields.unit(key) or guess_unit(key)
    formatter = FORMATS.get(unit)
    return formatter(value) if formatter else units.format_count(value)


# ---- terminal ---------------------------------------------------------------------------

def width() -> int:
    """``COLUMNS`` when it is a sensible number, else the terminal's width, else 80."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isdigit() and int(text) >= MIN_WIDTH:
        return min(int(text), 1000)
    try:
        columns = os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return DEFAULT_WIDTH
    return columns if columns >= MIN_WIDTH else DEFAULT_WIDTH


def use_color() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE", "0") not in ("", "0"):
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class Style:
    def __init__(self, color: bool):
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and text else text

    def key(self, text: str) -> str:
        return self._wrap("36", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


# ---- layouts -----------------------------------------------------------------------------

def render_table(report: Report, columns: int | None = None, color: bool | None = None) -> Iterator[str]:
    """The report as lines of text (no trailing spaces, none wider than the width)."""
    limit = columns or width()
    style = Style(use_color() if color is None else color)
    points = list(report.points)
    if report.single and len(points) == 1:
        yield from _single(report, points[0], limit, style)
    else:
        yield from _sweep(report, points, limit, style)
    if report.sensitivity:
        for index, point in enumerate(points, start=1):
            if point.sensitivity is not None:
                yield from tornado(point.sensitivity, limit, style, f"row {index}: {point.label}" if point.label else "")
    if report.explain:
        yield from _explain(points, limit)
    if not report.quiet:
        yield from _notes(report, points, limit, style)


def _pairs(block: Iterable[tuple[str, str]], limit: int, style: Style, indent: str = "  ") -> Iterator[str]:
    rows = list(block)
    if not rows:
        return
    key_w = max(len(k) for k, _ in rows)
    value_w = max(len(v) for _, v in rows)
    side_by_side = len(indent) + key_w + 2 + value_w <= limit
    for key, value in rows:
        if side_by_side:
            yield (indent + style.key(key) + " " * (key_w - len(key) + 2 + value_w - len(value)) + value).rstrip()
        else:
            yield (indent + style.key(key)).rstrip()
            yield from _wrap(value, limit, indent + "    ")


def _single(report: Report, point: Point, limit: int, style: Style) -> Iterator[str]:
    yield style.bold(f"aistack {report.command}")
    shown_inputs = [(k, humanize(k, v)) for k, v in point.inputs.items() if v is not None]
    spreads = point.ranges or {}
    shown_results = [(k, with_range(k, v, spreads.get(k))) for k, v in point.results.items() if v is not None]
    if shown_inputs:
        yield style.dim("inputs")
        yield from _pairs(shown_inputs, limit, style)
    yield style.dim("results")
    yield from _pairs(shown_results, limit, style)


def _fold_header(key: str, limit: int) -> list[str]:
    """``cost_per_million_output_tokens_usd`` -> lines of at most ``limit`` chars, split at '_'."""
    lines, current = [], ""
    for part in key.split("_"):
        piece = part if not current else "_" + part
        if current and len(current) + len(piece) > limit:
            lines.append(current + "_")
            current = part
        else:
            current += piece
    return lines + [current]


def _sweep(report: Report, points: list[Point], limit: int, style: Style) -> Iterator[str]:
    computed = [p for p in points if p.error is None]
    keys = report.columns or list(computed[0].results) if computed else []
    keys = [k for k in keys if any(p.results.get(k) is not None for p in computed)]
    varying = _varying_inputs(points, report.swept)
    header = [*varying, *keys]
    rows = [[humanize(k, p.inputs.get(k)) for k in varying]
            + ([with_range(k, p.results.get(k), (p.ranges or {}).get(k)) for k in keys] if p.error is None
               else ["error: " + p.error])
            for p in points]
    yield style.bold(f"aistack {report.command}: {len(points)} points")
    if not header:
        return
    widths = [max(len(r[i]) for r in rows if i < len(r)) if rows else 0 for i in range(len(header))]
    folded = [_fold_header(h, max(widths[i], MAX_COLUMN)) for i, h in enumerate(header)]
    widths = [max(widths[i], max(len(line) for line in folded[i])) for i in range(len(header))]
    total = sum(widths) + 2 * (len(widths) - 1) + 2
    if total > limit or any(p.error for p in points):
        yield from _vertical(points, varying, keys, limit, style)
        return
    depth = max(len(f) for f in folded)
    for line in range(depth):
        cells = [(f[line - (depth - len(f))] if line >= depth - len(f) else "") for f in folded]
        yield ("  " + "  ".join(style.key(c.rjust(w) if i >= len(varying) else c.ljust(w))
                                for i, (c, w) in enumerate(zip(cells, widths)))).rstrip()
    yield ("  " + "  ".join("─" * w for w in widths)).rstrip()
    for row in rows:
        cells = [c.ljust(w) if i < len(varying) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        yield ("  " + "  ".join(cells)).rstrip()


def _vertical(points: list[Point], varying: list[str], keys: list[str], limit: int, style: Style) -> Iterator[str]:
    for index, point in enumerate(points, start=1):
        label = ", ".join(f"{k}={humanize(k, point.inputs.get(k))}" for k in varying)
        yield from _wrap(f"row {index}" + (f": {label}" if label else ""), limit, "")
        if point.error is not None:
            yield from _wrap("error: " + point.error, limit, "  ")
            continue
        yield from _pairs([(k, with_range(k, point.results.get(k), (point.ranges or {}).get(k))) for k in keys
                           if point.results.get(k) is not None], limit, style)


def _varying_inputs(points: list[Point], swept: list[str]) -> list[str]:
    """Input keys that differ between rows: the swept ones first, then up to four that moved with them."""
    if len(points) < 2:
        return list(swept)
    first = points[0].inputs
    moved = [k for k in first if any(p.inputs.get(k) != first.get(k) for p in points[1:])]
    chosen = [k for k in swept if k in first] or []
    return chosen + [k for k in moved if k not in chosen][:4]


def tornado(sens: dict, limit: int, style: Style, title: str = "") -> Iterator[str]:
    """What moves the target: each default at its P10 and P90 (the others at their values), the
    largest swing first, with a bar centred on the target's value at the defaults."""
    target, base = sens["target"], sens["value"]
    heading = f"what moves {target}" + (f" ({humanize(target, base)} at the defaults)" if base is not None else "")
    yield style.dim(heading + (f", {title}" if title else ""))
    bars = sens["inputs"]
    if not bars:
        yield from _wrap("no default with a published P10-P90 was used: nothing to rank", limit, "  ")
        return
    rows = [(b["default"], f"{default_value(b['unit'], b['p10'])} → {default_value(b['unit'], b['p90'])}",
             humanize(target, b["at_p10"]), humanize(target, b["at_p90"]), b) for b in bars]
    headers = ("default", "P10 → P90", "at P10", "at P90")
    widths = [max(max(len(r[i]) for r in rows), len(headers[i])) for i in range(4)]
    span = max((abs(v - base) for b in bars for v in (b["at_p10"], b["at_p90"])
                if v is not None and base is not None), default=0.0)
    shown = [0, 1, 2, 3]
    if limit - (sum(widths) + 2 * 4 + 2) < 21 and span > 0:  # a narrow terminal: the bars before the spreads
        shown = [0, 2, 3]
    room = limit - (sum(widths[i] for i in shown) + 2 * len(shown) + 2)
    half = max(0, (room - 1) // 2) if room >= 9 and span > 0 else 0
    align = (str.ljust, str.ljust, str.rjust, str.rjust)
    yield ("  " + "  ".join(style.key(align[i](headers[i], widths[i])) for i in shown)).rstrip()
    for row in rows:
        b = row[4]
        cells = [align[i](row[i], widths[i]) for i in shown]
        bar = _bar(b, base, span, half) if half else ("" if b["swing"] else "no effect")
        yield ("  " + "  ".join(cells) + "  " + bar).rstrip()
    if sens.get("held"):
        yield from _wrap(f"held at their value (no published spread): {', '.join(sens['held'])}", limit, "  ", "    ")


def _bar(b: dict, base: float, span: float, half: int) -> str:
    """``   ████│██      ``: how far below and above the value at the defaults the target goes."""
    values = [v for v in (b["at_p10"], b["at_p90"]) if v is not None]
    if not values:
        return ""
    below = round(half * max(0.0, base - min(values)) / span)
    above = round(half * max(0.0, max(values) - base) / span)
    return " " * (half - below) + "█" * below + "│" + "█" * above


def _explain(points: list[Point], limit: int) -> Iterator[str]:
    for index, point in enumerate(points, start=1):
        yield "working:" if len(points) == 1 else f"working for row {index}:"
        for n, step in enumerate(point.steps, start=1):
            value = humanize(step.quantity, step.value) if step.unit else units.format_count(step.value)
            yield from _wrap(f"{n}. {step.quantity} = {step.formula}", limit, "  ", "     ")
            yield from _wrap(f"= {step.substituted} = {value}", limit, "     ", "       ")
            yield from _wrap(f"source: {step.source}", limit, "     ", "       ")


def _notes(report: Report, points: list[Point], limit: int, style: Style) -> Iterator[str]:
    assumptions = list(dict.fromkeys([*report.notes, *(a for p in points for a in p.assumptions)]))
    warnings = list(dict.fromkeys(w for p in points for w in p.warnings))
    for line in assumptions:
        yield from _wrap("assumption: " + line, limit, "  ", "    ")
    for line in warnings:
        yield from _wrap(style.bold("warning:") + " " + line, limit, "  ", "    ", color=style.color)


def _wrap(text: str, limit: int, first: str, rest: str | None = None, color: bool = False) -> Iterator[str]:
    """Words to lines of at most ``limit`` characters (a word longer than a line is cut)."""
    # ANSI codes take no room on screen: widen the first line by their length.
    extra = len(text) - len(text.replace("\033[1m", "").replace("\033[0m", "")) if color else 0
    wrapper = textwrap.TextWrapper(width=max(limit, 20) + extra, initial_indent=first,
                                   subsequent_indent=rest if rest is not None else first,
                                   break_on_hyphens=False, break_long_words=True)
    yield from (line.rstrip() for line in wrapper.wrap(" ".join(text.split())))


# ---- aistack compare ----------------------------------------------------------------------

def _signed(key: str, value: float) -> str:
    if value == 0:
        return "same"
    return ("+" if value > 0 else "−") + humanize(key, abs(value))


def render_comparison(doc: dict, columns: int | None = None, color: bool | None = None) -> Iterator[str]:
    """Scenarios side by side: the inputs that differ, the results that differ with their
    difference from the first scenario (absolute and relative for two scenarios, relative for
    more), then the results every scenario shares."""
    limit = columns or width()
    style = Style(use_color() if color is None else color)
    scenarios, diffs = doc["scenarios"], doc["differences"]
    names = [s["name"] for s in scenarios]
    base = names[0]
    yield style.bold(f"aistack compare: {doc['compared']}, {len(names)} scenarios (differences from {base})")
    differing = list(dict.fromkeys(k for d in diffs for k in d["inputs"]))
    if differing:
        yield style.dim("inputs that differ")
        rows = [[k, *(humanize(k, s["inputs"].get(k)) for s in scenarios)] for k in differing]
        yield from _grid(["", *names], rows, limit, style)
    keys = [k for k in scenarios[0]["results"] if any(s["results"].get(k) is not None for s in scenarios)]
    changed = [k for k in keys if not all((d["results"].get(k) or {}).get("same") for d in diffs)]
    same = [k for k in keys if k not in changed]
    two = len(names) == 2
    heads = ["", *names] + (["difference", "relative"] if two else [f"{d['name']} vs {base}" for d in diffs])
    rows, blocks = [], []
    for key in changed:
        row = [key, *(humanize(key, s["results"].get(key)) for s in scenarios)]
        block = [(base, row[1])]
        for d, value in zip(diffs, row[2:]):
            found = d["results"].get(key) or {}
            rel = found.get("relative")
            rel_text = "same" if found.get("same") else ("—" if rel is None else f"{rel:+.1%}".replace("-", "−"))
            delta = found.get("delta")
            delta_text = "changed" if delta is None else _signed(key, delta)
            if two:
                row.append(delta_text)
            row.append(rel_text)
            block.append((d["name"], value + ("" if found.get("same") else f"  ({delta_text}, {rel_text})")))
        rows.append(row)
        blocks.append((key, block))
    if rows:
        yield style.dim("results that differ")
        if two and not _fits(heads, rows, limit):  # the absolute difference stays in JSON and CSV
            heads, rows = heads[:3] + heads[4:], [r[:3] + r[4:] for r in rows]
        if _fits(heads, rows, limit):
            yield from _grid(heads, rows, limit, style)
        else:
            name_w = max(len(n) for n in names)
            for key, block in blocks:
                yield "  " + style.key(key)
                for name, text in block:
                    yield from _wrap(f"{name.ljust(name_w)}  {text}", limit, "    ", "    " + " " * (name_w + 2))
    if same:
        yield style.dim("results the same in every scenario")
        yield from _pairs([(k, humanize(k, scenarios[0]["results"].get(k))) for k in same], limit, style)
    for line in doc.get("assumptions", []):
        yield from _wrap("assumption: " + line, limit, "  ", "    ")
    for line in doc.get("warnings", []):
        yield from _wrap(style.bold("warning:") + " " + line, limit, "  ", "    ", color=style.color)


def _fits(heads: list[str], rows: list[list[str]], limit: int) -> bool:
    widths = [max(len(str(r[i])) for r in [heads, *rows]) for i in range(len(heads))]
    return sum(widths) + 2 * len(widths) <= limit


def _grid(heads: list[str], rows: list[list[str]], limit: int, style: Style) -> Iterator[str]:
    """Columns when they fit the width, else a line per row: the key, then its values."""
    widths = [max(len(str(r[i])) for r in [heads, *rows]) for i in range(len(heads))]
    if sum(widths) + 2 * len(widths) <= limit:
        yield ("  " + "  ".join(style.key(h.ljust(widths[0])) if i == 0 else style.key(h.rjust(widths[i]))
                                for i, h in enumerate(heads))).rstrip()
        for row in rows:
            yield ("  " + "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                    for i, c in enumerate(row))).rstrip()
        return
    for row in rows:
        yield ("  " + style.key(row[0])).rstrip()
        yield from _wrap("  ".join(f"{h}: {c}" for h, c in zip(heads[1:], row[1:])), limit, "    ", "      ")
