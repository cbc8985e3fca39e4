"""``--plot``: a sweep (one result against the swept number, one line per listed option) or a
tornado (``--sensitivity``), drawn in the terminal with plotext or written to a file with
matplotlib. Imported only when ``--plot`` is given; each library only by the path that draws
with it, and a missing one is a usage error naming the extra that brings it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

from aistack_cli import fields
from aistack_cli.errors import InputError
from aistack_cli.render.text import Style, humanize, tornado, use_color, width, _notes
from aistack_cli.result import Report

TERMINAL_HEIGHT = 22
PLAIN_MARKERS = ("•", "x", "+", "o", "*", "#", "%", "@")  # lines told apart without colour
PLAIN_BARS = ("█", "▒", "░", "▓", "#", "=")


class Series(NamedTuple):
    label: str
    x: list  # numbers, or category names
    y: list[float]
    low: list[float | None]  # P10 with --ranges, else None
    high: list[float | None]


class Chart(NamedTuple):
    kind: str  # "lines" (a numeric x), "bars" (categories) or "tornado"
    title: str
    x_key: str
    y_key: str
    series: list[Series]
    log_x: bool
    tornado: dict | None = None


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def chart(report: Report, axes: dict[str, list], target: str | None, prefer: str | None = None) -> Chart:
    """What to draw: the tornado of one point, else the sweep of ``target`` (default: ``prefer``,
    the result the calculator ranks by, when it moves; else the first table column with a unit
    other than a count that moves)."""
    points = list(report.points)
    if report.sensitivity and report.single and points and points[0].sensitivity is not None:
        sens = points[0].sensitivity
        return Chart("tornado", f"aistack {report.command}: what moves {sens['target']}", "", sens["target"] or "",
                     [], False, sens)
    computed = [p for p in points if p.error is None]
    y_key = target or _first_moving(report, computed, prefer)
    if y_key is None:
        raise InputError("--plot: no numeric result was computed to draw; name one with --target")
    numeric_axes = [k for k, values in axes.items() if len(values) > 1 and all(_numeric(v) for v in values)]
    x_key = max(numeric_axes, key=lambda k: len(axes[k])) if numeric_axes else next(iter(axes))
    others = [k for k in axes if k != x_key]
    groups: dict[str, list] = {}
    for p in computed:
        label = ", ".join(f"{k}={humanize(k, p.inputs.get(k))}" for k in others) or y_key
        groups.setdefault(label, []).append(p)
    series = []
    for label, members in groups.items():
        kept = [p for p in members if _numeric(p.results.get(y_key))]
        spreads = [(p.ranges or {}).get(y_key) or {} for p in kept]
        series.append(Series(label, [p.inputs.get(x_key) for p in kept], [p.results[y_key] for p in kept],
                             [s.get("p10") for s in spreads], [s.get("p90") for s in spreads]))
    kind = "lines" if numeric_axes else "bars"
    xs = [v for s in series for v in s.x if _numeric(v)]
    log_x = kind == "lines" and bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 20
    title = f"{y_key} against {x_key}"
    return Chart(kind, title, x_key, y_key, series, log_x)


def _aligned(drawing: Chart) -> tuple[list, list[list[float]]]:
    """Bars: the categories in order, and each series' value per category (0 where not computed)."""
    categories = list(dict.fromkeys(x for s in drawing.series for x in s.x))
    return categories, [[dict(zip(s.x, s.y)).get(c, 0.0) for c in categories] for s in drawing.series]


def _first_moving(report: Report, points: list, prefer: str | None) -> str | None:
    if not points:
        return None
    keys = [k for k in [prefer, *(report.columns or list(points[0].results))] if k]
    numbers = [k for k in keys if fields.unit(k) not in ("text", "id", "bool")
               and any(_numeric(p.results.get(k)) for p in points)]
    moving = [k for k in numbers if len({p.results.get(k) for p in points}) > 1]
    physical = [k for k in moving if fields.unit(k) != "count"]
    return (physical or moving or numbers or [None])[0]


def _ticks(key: str, values: list[float], count: int = 5, log: bool = False) -> tuple[list[float], list[str]]:
    low, high = min(values), max(values)
    if high == low:
        return [low], [humanize(key, low)]
    if log:
        steps = [low * (high / low) ** (i / (count - 1)) for i in range(count)]
    else:
        steps = [low + (high - low) * i / (count - 1) for i in range(count)]
    return steps, [humanize(key, v) for v in steps]


# ---- terminal -----------------------------------------------------------------------------

def terminal(report: Report, axes: dict[str, list], target: str | None, prefer: str | None = None) -> Iterator[str]:
    """The chart as lines of text (plotext), then the report's notes."""
    drawing = chart(report, axes, target, prefer)
    limit = width()
    color = use_color()
    style = Style(color)
    if drawing.kind == "tornado":
        yield style.bold(drawing.title)
        yield from tornado(drawing.tornado, limit, style)
    else:
        yield from _plotext(drawing, limit, color)
        if not target:
            yield style.dim(f"  (--target RESULT draws another result than {drawing.y_key})")
    if not report.quiet:
        yield from _notes(report, list(report.points), limit, style)


def _plotext(drawing: Chart, limit: int, color: bool) -> Iterator[str]:
    try:
        import plotext as plt
    except ImportError:
        raise InputError("--plot: drawing in the terminal needs plotext: pip install 'aistack-cli[plot]' "
                         "(or write a file: --plot chart.svg)") from None
    plt.clear_figure()
    plt.plotsize(limit, TERMINAL_HEIGHT)
    if not color:
        plt.theme("clear")
    ys = [v for s in drawing.series for v in (*s.y, *(x for x in s.low + s.high if x is not None))]
    if drawing.kind == "bars":
        categories, table = _aligned(drawing)
        labels = [str(humanize(drawing.x_key, x)) for x in categories]
        if len(table) == 1:
            plt.bar(labels, table[0], orientation="horizontal", marker="█" if not color else "sd")
        else:
            markers = None if color else [PLAIN_BARS[i % len(PLAIN_BARS)] for i in range(len(table))]
            plt.multiple_bar(labels, table, labels=[s.label for s in drawing.series], orientation="horizontal",
                             marker=markers)
        values = [v for row in table for v in row]
        if values:
            plt.xticks(*_ticks(drawing.y_key, [0.0, *values]))
    else:
        for index, s in enumerate(drawing.series):
            marker = "braille" if color else PLAIN_MARKERS[index % len(PLAIN_MARKERS)]
            plt.plot(s.x, s.y, label=s.label, marker=marker)
            if any(v is not None for v in s.low):
                for band, name in ((s.low, "P10"), (s.high, "P90")):
                    pairs = [(x, v) for x, v in zip(s.x, band) if v is not None]
                    plt.plot([x for x, _ in pairs], [v for _, v in pairs], label=f"{s.label} {name}",
                             marker="braille" if color else "·")
        if drawing.log_x:
            plt.xscale("log")
        xs = sorted({x for s in drawing.series for x in s.x})
        if len(xs) <= 12:
            plt.xticks(xs, [humanize(drawing.x_key, x) for x in xs])
        if ys:
            plt.yticks(*_ticks(drawing.y_key, ys))
        plt.xlabel(drawing.x_key)
    plt.title(drawing.title)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    for line in text.splitlines():
        yield line.replace("\x1b[0m", "").rstrip() if not color else line


# ---- files --------------------------------------------------------------------------------

def save(report: Report, axes: dict[str, list], target: str | None, path: str, prefer: str | None = None) -> None:
    """The chart written to ``path`` (.svg, .png or .pdf) with matplotlib."""
    drawing = chart(report, axes, target, prefer)
    try:
        import matplotlib
    except ImportError:
        raise InputError("--plot: writing a chart file needs matplotlib: pip install 'aistack-cli[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, ax = pyplot.subplots(figsize=(8, 4.8))
    try:
        if drawing.kind == "tornado":
            _mpl_tornado(ax, drawing.tornado)
        elif drawing.kind == "bars":
            categories, table = _aligned(drawing)
            height = 0.8 / len(table)
            for index, (s, values) in enumerate(zip(drawing.series, table)):
                ax.barh([i + index * height for i in range(len(categories))], values, height=height, label=s.label)
            ax.set_yticks([i + (len(table) - 1) * height / 2 for i in range(len(categories))],
                          [humanize(drawing.x_key, x) for x in categories])
            if len(table) > 1:
                ax.legend(fontsize="small")
            ax.set_xlabel(_axis_label(drawing.y_key))
            _human_axis(ax.xaxis, drawing.y_key)
        else:
            for s in drawing.series:
                (line,) = ax.plot(s.x, s.y, marker="o", label=s.label)
                pairs = [(x, lo, hi) for x, lo, hi in zip(s.x, s.low, s.high) if lo is not None and hi is not None]
                if pairs:
                    ax.fill_between([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs],
                                    alpha=0.2, color=line.get_color(), label=f"{s.label} P10–P90")
            if drawing.log_x:
                ax.set_xscale("log")
            ax.set_xlabel(_axis_label(drawing.x_key))
            ax.set_ylabel(_axis_label(drawing.y_key))
            _human_axis(ax.yaxis, drawing.y_key)
            if len(drawing.series) > 1 or any(any(v is not None for v in s.low) for s in drawing.series):
                ax.legend(fontsize="small")
            ax.grid(True, alpha=0.3)
        ax.set_title(drawing.title, fontsize="medium")
        figure.tight_layout()
        try:
            figure.savefig(path)
        except OSError as exc:
            raise InputError(f"--plot: cannot write {path}: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        pyplot.close(figure)


def _human_axis(axis, key: str) -> None:
    """Tick labels as tables show the key (``150 days``, ``$12M``) rather than base SI numbers."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: humanize(key, value)))


def _axis_label(key: str) -> str:
    unit = fields.unit(key)
    return f"{key} [{unit}]" if unit else key


def _mpl_tornado(ax, sens: dict) -> None:
    bars = [b for b in sens["inputs"] if b["at_p10"] is not None and b["at_p90"] is not None][::-1]
    base = sens["value"]
    names = [f"{b['default']} {b['p10']:g}–{b['p90']:g}" + ("" if b["swing"] else " (no effect)") for b in bars]
    for row, b in enumerate(bars):
        low, high = sorted((b["at_p10"], b["at_p90"]))
        ax.barh(row, high - low, left=low, color="tab:blue")
    ax.set_yticks(range(len(bars)), names)
    if base is not None:
        ax.axvline(base, color="black", linewidth=1)
    ax.set_xlabel(_axis_label(sens["target"]) + " with each default at its P10 and P90")
    _human_axis(ax.xaxis, sens["target"])
