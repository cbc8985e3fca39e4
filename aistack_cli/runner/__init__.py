"""The shared layer every calculator goes through, written once.

A calculator is a function ``fn(catalog, o) -> Point`` with its options declared as ``Opt`` specs.
``register`` turns each into a Typer command with the common options (``--format``, ``--specs``,
``--config``, ``--check``, ``--explain``, ``--quiet``); on each call ``run`` layers the scenario
files and the command line, parses every value once, expands sweeps lazily, computes each point
(a point that cannot be computed becomes a row with its error), conforms it to the field
registry, streams it to the renderer and applies the ``--check`` gates.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Optional

from aistack_cli import fields, units
from aistack_cli.errors import CheckFailed, InputError
from aistack_cli.render import Format
from aistack_cli.result import Point, Report
from aistack_cli.runner.check import failures, parse_check
from aistack_cli.runner.config import read_scenario
from aistack_cli.runner.options import Opt, Options
from aistack_cli.runner.sweep import Sweep, combinations, total_points

MAX_TABLE_ROWS = 10_000
SAMPLES, SEED, MAX_SAMPLES = 1000, 0, 100_000  # --ranges: Monte Carlo draws per point, and the seed
MAX_PLOT_POINTS = 10_000
MAX_FAILURE_LINES = 20


class Calculator:
    def __init__(self, name: str, help: str, fn: Callable[..., Point], options: tuple[Opt, ...],
                 examples: tuple[str, ...] = (), columns: list[str] | None = None, sort_by: str | None = None,
                 rank_over: tuple[str, ...] = (), alt_columns: dict[str, list[str]] | None = None,
                 pin: dict[str, str] | None = None):
        self.name, self.help, self.fn, self.options, self.examples = name, help, fn, options, examples
        # --ranges: results that are a choice the calculator searched for (a layout), each with the
        # option that sets it; the draws keep the choice found at the defaults (see runner.ranges).
        self.pin = pin or {}
        self.columns = columns  # results a sweep table shows
        self.alt_columns = alt_columns or {}  # ... or these, when the flag option named by the key is set
        self.sort_by = sort_by  # rank rows by this result (ascending, None last) ...
        self.rank_over = rank_over  # ... when only these options are swept (a comparison)
        self.by_name = {opt.name: opt for opt in options}


REGISTRY: dict[str, Calculator] = {}


def calculator(name: str, help: str, options: list[Opt], examples: tuple[str, ...] = (),
               columns: list[str] | None = None, sort_by: str | None = None, rank_over: tuple[str, ...] = (),
               alt_columns: dict[str, list[str]] | None = None, pin: dict[str, str] | None = None):
    """Register ``fn`` as the calculator behind subcommand ``name``. ``fn`` returns a Point, or a
    list of Points (rows, e.g. a ranked search); ``alt_columns`` names the table columns to show
    instead when a flag option is set; ``pin`` maps a searched result to the option that fixes it
    (``{"tensor_parallel": "tp"}``), so --ranges holds the choice found at the defaults."""

    def decorate(fn):
        REGISTRY[name] = Calculator(name, help, fn, tuple(options), examples, columns, sort_by, rank_over,
                                    alt_columns, pin)
        return fn

    return decorate


# ---- Typer -------------------------------------------------------------------------------

COMMON = ("format", "specs", "config", "check", "explain", "quiet", "ranges", "samples", "seed", "sensitivity",
          "target", "plot")
PLOT_SUFFIXES = (".svg", ".png", ".pdf")


def _common_parameters() -> list[inspect.Parameter]:
    import typer

    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("format", keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--format", "-f", metavar="FORMAT", help="table (default) for people; json, yaml, toml or csv for machines.")]),
        inspect.Parameter("specs", keyword, default=None, annotation=Annotated[Optional[list[str]], typer.Option(
            "--specs", metavar="PATH", help="Extra spec sheets (YAML file or folder), repeatable; also AISTACK_SPECS.")]),
        inspect.Parameter("config", keyword, default=None, annotation=Annotated[Optional[list[str]], typer.Option(
            "--config", metavar="FILE", help="Scenario file (YAML, TOML or JSON; - for stdin) giving option values by "
                                             "name, or a saved output. Repeatable: later files win; the command line "
                                             "wins over all.")]),
        inspect.Parameter("check", keyword, default=None, annotation=Annotated[Optional[list[str]], typer.Option(
            "--check", metavar="'KEY OP VALUE'", help="Gate such as 'cost_usd <= 5M'; exit 1 when a row fails it. "
                                                      "Repeatable.")]),
        inspect.Parameter("explain", keyword, default=False, annotation=Annotated[bool, typer.Option(
            "--explain", help="Show the working: each formula with its numbers and source.")]),
        inspect.Parameter("quiet", keyword, default=False, annotation=Annotated[bool, typer.Option(
            "--quiet", "-q", help="No notes: tables without assumptions and warnings; machine formats with "
                                  "empty note lists (the data and its shape stay).")]),
        inspect.Parameter("ranges", keyword, default=False, annotation=Annotated[bool, typer.Option(
            "--ranges", help="P10/P50/P90 of every result from the published P10-P90 of the cited defaults the run "
                             "used (seeded Monte Carlo; your own inputs stay fixed).")]),
        inspect.Parameter("samples", keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--samples", metavar="N", help=f"Monte Carlo draws for --ranges [default: {SAMPLES:,}].")]),
        inspect.Parameter("seed", keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--seed", metavar="N", help=f"Random seed for --ranges [default: {SEED}].")]),
        inspect.Parameter("sensitivity", keyword, default=False, annotation=Annotated[bool, typer.Option(
            "--sensitivity", help="Rank the cited defaults by how far each one's P10-P90 moves --target (a tornado).")]),
        inspect.Parameter("target", keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--target", metavar="RESULT", help="Result key for --sensitivity and --plot, e.g. cost_usd [default: the "
                                               "first table column that moves].")]),
        inspect.Parameter("plot", keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--plot", metavar="[FILE]", help="Chart of the sweep (one line per listed option, against the swept "
                                             "number) or of --sensitivity: in the terminal in place of the table, or "
                                             "written to FILE.svg/.png/.pdf.")]),
    ]

def _completer(kind: str):
    def complete(incomplete: str) -> list[str]:
        from aistack_cli import catalog

        sheets = catalog.load(None)
        names = sheets.ids(kind) + sorted(sheets.aliases.get(kind, {}))
        return [n for n in names if n.startswith(incomplete.lower())]

    return complete


def _parameter(opt: Opt) -> inspect.Parameter:
    import typer

    keyword = inspect.Parameter.KEYWORD_ONLY
    flags = [opt.flag, *opt.flags] + ([opt.short] if opt.short else [])
    if opt.kind == "flag":
        return inspect.Parameter(opt.name, keyword, default=None, annotation=Annotated[Optional[bool], typer.Option(
            *flags, help=opt.help_text(), show_default=False)])
    shown = opt.default_text if opt.default_text is not None else (
        _cited_default_text(opt) if opt.default_id else None if opt.default is None else _default_text(opt))
    extra: dict[str, Any] = {"autocompletion": _completer(opt.ids)} if opt.ids else {}
    return inspect.Parameter(opt.name, keyword, default=None, annotation=Annotated[Optional[str], typer.Option(
        *flags, help=opt.help_text() + (f" [default: {shown}]" if shown else ""), metavar=opt.metavar,
        show_default=False, **extra)])


def _default_text(opt: Opt) -> str:
    from aistack_cli.render.text import humanize

    value = opt.default
    if isinstance(value, str):
        return value
    return humanize(opt.key, value) if fields.unit(opt.key) else f"{value:g}"


def _cited_default_text(opt: Opt) -> str:
    """``1.58, cited: aistack specs show pue``: the bundled sheet's value (a user sheet may replace
    it); ``60.0% (mfu-serving-16bit), 40.0% (mfu-serving-8bit), cited: ...`` for several."""
    from aistack_cli import catalog
    from aistack_cli.render.text import humanize

    ids = (opt.default_id,) if isinstance(opt.default_id, str) else opt.default_id
    sheets = [catalog.load(None).raw("default", i) for i in ids]
    if len(sheets) == 1:
        return f"{humanize(opt.key, sheets[0]['value'])}, cited: aistack specs show {sheets[0]['id']}"
    values = ", ".join(f"{humanize(opt.key, s['value'])} ({s['id']})" for s in sheets)
    return f"{values}, cited: aistack specs show ID"


def epilog(calc: Calculator) -> str:
    """Examples and the result keys with their units, at the end of --help."""
    lines = ["\b", "Examples:"] + [f"  {e}" for e in calc.examples]
    lines += ["", "\b", "Results (JSON rows[].results; base SI units):"]
    results = fields.results_of(calc.name)
    width = max(len(k) for k in results) if results else 0
    lines += [f"  {k.ljust(width)}  [{fields.unit(k)}] {fields.meaning(k)}" for k in results]
    lines += ["", "\b", "Lists and ranges sweep any numeric option: 1,8,64 | 1000:4000:+1000 (linear) |",
              "1:1024:x2 (geometric); 16,384 is one number."]
    return "\n".join(lines)


def register(app) -> None:
    for calc in REGISTRY.values():
        app.command(calc.name, help=calc.help, epilog=epilog(calc))(_command(calc))


def _command(calc: Calculator):
    parameters = [_parameter(opt) for opt in calc.options] + _common_parameters()

    def command(**options):
        common = {name: options.pop(name) for name in COMMON}
        run(calc, options, common)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__name__ = calc.fn.__name__
    command.__doc__ = calc.help
    return command


def optional_values(words: list[str]) -> list[str]:
    """``--plot`` alone (last, or before another option) means the terminal: it becomes
    ``--plot=`` (Click has no option whose value may be left out)."""
    return [f"{word}=" if word == "--plot" and (i + 1 == len(words) or words[i + 1].startswith("-")) else word
            for i, word in enumerate(words)]


# ---- running -----------------------------------------------------------------------------

class Prepared:
    """A run, parsed and resolved, before any point is computed."""

    def __init__(self, calc: Calculator, axes: dict[str, list], given: frozenset[str], swept: list[str],
                 single: bool, common: dict, notes: list[str], checks: list):
        self.calc, self.axes, self.given, self.swept = calc, axes, given, swept  # swept: option names
        self.single, self.common, self.notes, self.checks = single, common, notes, checks


def prepare(calc: Calculator, raw: dict[str, Any], common: dict, documents: dict[str, dict] | None = None) -> Prepared:
    """Scenario files layered in order, then the command line; every value parsed once.
    ``documents``: scenario files already read, by path (``aistack compare``)."""
    notes: list[str] = []
    values: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for path in common.get("config") or []:
        data = (documents or {}).get(path)
        _apply_scenario(calc, read_scenario(path, calc.name, notes, data), values, settings)
    values.update({name: value for name, value in raw.items() if value is not None})
    common = {**{k: v for k, v in settings.items() if common.get(k) in (None, False, [])}, **{
        k: v for k, v in common.items() if v not in (None, False, [])}}
    parsed = {opt.name: opt.parse(values[opt.name], notes) if opt.name in values else opt.default
              for opt in calc.options}
    checks = [parse_check(text, calc.name, bool(common.get("ranges"))) for text in common.get("check") or []]
    axes = {name: list(v) if isinstance(v, Sweep) else [v] for name, v in parsed.items()}
    swept = [name for name, v in parsed.items() if isinstance(v, Sweep)]
    total = total_points([len(v) for v in axes.values()])
    fmt = _format(common.get("format"))
    if fmt is Format.table and total > MAX_TABLE_ROWS:
        raise InputError(f"--format: a table shows at most {MAX_TABLE_ROWS:,} rows and this sweep has {total:,}; "
                         "use --format csv or json")
    common["format"] = fmt
    _analysis_settings(calc, common, fmt, bool(swept))
    return Prepared(calc, axes, frozenset(values), swept, not swept, common, notes, checks)


def _analysis_settings(calc: Calculator, common: dict, fmt: Format, swept: bool) -> None:
    """--ranges, --samples, --seed, --sensitivity, --target and --plot, checked before any point runs."""
    for name, lo, hi, default in (("samples", 20, MAX_SAMPLES, SAMPLES), ("seed", 0, 2**32 - 1, SEED)):
        value = common.get(name)
        if value is not None and not common.get("ranges"):
            raise InputError(f"--{name}: goes with --ranges")
        common[name] = default if value is None else _whole(name, value, lo, hi)
    target = common.get("target")
    if target is not None:
        if not (common.get("sensitivity") or common.get("plot") is not None):
            raise InputError("--target: names the result for --sensitivity or --plot; give one of them")
        from aistack_cli.runner.ranges import check_target

        check_target(calc.name, str(target).strip())
        common["target"] = str(target).strip()
    plot = common.get("plot")
    if plot is None:
        return
    plot = str(plot).strip()
    common["plot"] = plot
    if not (swept or common.get("sensitivity")):
        raise InputError("--plot: draws a sweep (give a list or range, e.g. --batch 1,8,64) or a tornado "
                         "(--sensitivity)")
    if plot == "" and fmt is not Format.table:
        raise InputError(f"--plot: a terminal chart takes the place of the table; with --format {fmt.value} write "
                         "the chart to a file instead (--plot chart.svg)")
    if plot and not plot.lower().endswith(PLOT_SUFFIXES):
        raise InputError(f"--plot: {units.show(plot)}: a chart file ends in {', '.join(PLOT_SUFFIXES)}; give no "
                         "value for a chart in the terminal")


def _whole(name: str, value: Any, lo: int, hi: int) -> int:
    try:
        number = units.parse(value, "count", f"--{name}")
    except InputError:
        raise InputError(f"--{name}: expected a whole number from {lo:,} to {hi:,}, got {units.show(value)}") from None
    if number != int(number) or not lo <= number <= hi:
        raise InputError(f"--{name}: expected a whole number from {lo:,} to {hi:,}, got {units.show(value)}")
    return int(number)


def _format(value: Any) -> Format:
    if value is None:
        return Format.table
    if isinstance(value, Format):
        return value
    try:
        return Format(str(value).strip().lower())
    except ValueError:
        raise InputError(f"--format: expected one of {', '.join(f.value for f in Format)}, "
                         f"got {units.show(value)}") from None


def _apply_scenario(calc: Calculator, data: dict, values: dict, settings: dict) -> None:
    inputs = fields.inputs_of(calc.name)
    by_key = {opt.key: opt.name for opt in calc.options}
    for raw_key, value in data.items():
        key = str(raw_key).lstrip("-").replace("-", "_")
        if key in COMMON and key != "config":
            settings[key] = _common_value(key, value)
        elif key in calc.by_name:
            values[key] = value
        elif key in by_key:
            values[by_key[key]] = value
        elif key not in inputs:  # a resolved input with no option of its own is recomputed
            valid = ", ".join(sorted(n.replace("_", "-") for n in calc.by_name))
            raise InputError(f"--config: unknown option {units.show(raw_key, 30)} for {calc.name}; valid: {valid}"[:400])


def _common_value(key: str, value: Any) -> Any:
    if key in ("explain", "quiet", "ranges", "sensitivity"):
        if not isinstance(value, bool):
            raise InputError(f"--config: {key} must be true or false, got {units.show(value)}")
        return value
    if key in ("specs", "check"):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise InputError(f"--config: {key} must be text or a list of text")
        return [str(v) for v in items]
    if key in ("samples", "seed", "target", "plot"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputError(f"--config: {key} must be a single value, got {units.show(value)}")
    return value


def compute(calc: Calculator, catalog, combo: dict, given: frozenset[str], notes: bool = True) -> Point | list[Point]:
    """One point (or a search's rows): the calculator's own result, with the notes of its
    cited-default options."""
    options = Options(combo, given, catalog, calc.by_name, notes)
    computed = calc.fn(catalog, options)
    if options.notes:
        for point in computed if isinstance(computed, list) else [computed]:
            point.assumptions = [*options.notes, *point.assumptions]
    return computed


def points(prepared: Prepared, catalog) -> Iterator[Point]:
    """Each point of the sweep, computed when asked for (a generator: rows stream)."""
    calc = prepared.calc
    common = prepared.common
    explain = common.get("explain", False)
    analyse = common.get("ranges") or common.get("sensitivity")
    labelled = prepared.swept and (prepared.checks or common.get("format") is Format.table)
    for combo in combinations(prepared.axes):
        label = _label(calc, prepared.swept, combo) if labelled else ""
        try:
            computed = compute(calc, catalog, combo, prepared.given)
        except InputError as exc:
            if prepared.single:
                raise
            computed = Point({calc.by_name[n].key: combo[n] for n in prepared.swept}, {}, error=str(exc))
        several = isinstance(computed, list)  # a search: several rows for one combination
        if analyse and several:
            raise InputError("--ranges/--sensitivity: this run gives several rows per point (a search); fix the "
                             "choice the search makes to get the range of one point")
        for point in computed if several else [computed]:
            if not explain:
                point.steps = []
            point.label = label
            point = conform(point, calc.name)
            if analyse and point.error is None:
                _analyse(prepared, catalog, combo, point)
            yield point


def _analyse(prepared: Prepared, catalog, combo: dict, point: Point) -> None:
    """--ranges and --sensitivity of one point, over the cited defaults that point read. Every
    computation runs on its own view of the catalog (``Catalog.view``), so a command that memoises
    per catalog computes afresh, and the view records exactly what the point read."""
    from aistack_cli.runner import ranges

    calc, common = prepared.calc, prepared.common

    inputs, given, pinned = _pinned(calc, combo, prepared.given, point)

    def again(view) -> Point:
        return compute(calc, view, inputs, given, notes=False)

    base = catalog.view()
    check = again(base)
    read = list(base.read)
    if pinned and not _same(check.results, point.results):  # the pins do not reproduce the point: search
        inputs, given, pinned = combo, prepared.given, []
        base = catalog.view()
        again(base)
        read = list(base.read)
    if common.get("ranges"):
        outcome = ranges.point_ranges(again, catalog, point.results, read, common["samples"], common["seed"])
        point.ranges = outcome.ranges
        point.assumptions.append(ranges.ranges_note(outcome, common["samples"], common["seed"], pinned))
    if common.get("sensitivity"):
        point.sensitivity = ranges.sensitivity(again, catalog, point.results, read, common.get("target"),
                                               calc.columns)


def _pinned(calc: Calculator, combo: dict, given: frozenset[str], point: Point):
    """The point's inputs with the choices it searched for fixed to what it found (``pin``)."""
    values, names = dict(combo), set(given)
    pinned = []
    for result, option in calc.pin.items():
        found = point.results.get(result)
        if option in calc.by_name and option not in given and found is not None:
            values[option] = found
            names.add(option)
            pinned.append(option)
    return values, frozenset(names), pinned


def _same(a: dict, b: dict) -> bool:
    for key, value in b.items():
        other = a.get(key)
        if isinstance(value, float) and isinstance(other, (int, float)) and not isinstance(other, bool):
            if abs(other - value) > 1e-9 * max(abs(value), 1e-300):
                return False
        elif other != value:
            return False
    return True


def _label(calc: Calculator, swept: list[str], combo: dict) -> str:
    from aistack_cli.render.text import humanize

    return ", ".join(f"{calc.by_name[n].key}={humanize(calc.by_name[n].key, combo[n])}" for n in swept)


_DECLARED: dict[str, tuple[frozenset, frozenset]] = {}


def conform(point: Point, command: str) -> Point:
    """Every declared key of the command, in registry order, as plain JSON values (see
    render.machine.flat); an undeclared key is a bug, caught by the tests."""
    from aistack_cli.render.machine import flat

    inputs, results = fields.COMMANDS[command]
    if command not in _DECLARED:
        _DECLARED[command] = (frozenset(inputs), frozenset(results))
    declared_inputs, declared_results = _DECLARED[command]
    if not (point.inputs.keys() <= declared_inputs and point.results.keys() <= declared_results):
        extra = sorted((point.inputs.keys() - declared_inputs) | (point.results.keys() - declared_results))
        raise RuntimeError(f"{command} emits keys not declared in fields.COMMANDS: {extra}")
    point.inputs = flat(point.inputs, inputs)
    point.results = flat(point.results, results) if point.error is None else dict.fromkeys(results)
    return point


def stream(prepared: Prepared, catalog) -> Iterator[Point]:
    """The points in output order: as computed, or ranked for a comparison (only the ranked
    options swept), for the CLI and the Python API alike."""
    return _ranked(prepared, points(prepared, catalog))


def _ranked(prepared: Prepared, stream: Iterator[Point]) -> Iterator[Point]:
    calc = prepared.calc
    if not (calc.sort_by and prepared.swept and set(prepared.swept) <= set(calc.rank_over)):
        return stream
    key = calc.sort_by
    return iter(sorted(stream, key=lambda p: (p.results.get(key) is None, p.results.get(key) or 0)))


class Gate:
    """Applies the checks to each row as it passes, and counts the rows that failed."""

    def __init__(self, prepared: Prepared):
        self.prepared = prepared
        self.failures: list[str] = []
        self.rows = 0
        self.errors: list[str] = []

    def watch(self, stream: Iterator[Point]) -> Iterator[Point]:
        for point in stream:
            self.rows += 1
            if point.error is not None:
                self.errors.append(point.error)
            if self.prepared.checks:
                values = point.results
                if point.ranges:  # KEY.p10 / KEY.p50 / KEY.p90 gates (--ranges)
                    values = {**values, **{f"{k}.{q}": v for k, r in point.ranges.items() if r for q, v in r.items()}}
                self.failures += failures(self.prepared.checks, values, point.label)
            yield point


def run(calc: Calculator, raw: dict[str, Any], common: dict) -> None:
    from aistack_cli import catalog as catalog_module
    from aistack_cli.render import write

    prepared = prepare(calc, raw, common)
    catalog = catalog_module.load(prepared.common.get("specs"))
    gate = Gate(prepared)
    options = prepared.common
    columns = next((cols for flag, cols in calc.alt_columns.items() if any(prepared.axes.get(flag, ()))),
                   calc.columns)
    rows = gate.watch(stream(prepared, catalog))
    if prepared.single:  # compute before writing: a bad input must leave no half document on stdout
        rows = iter(list(rows))
    report = Report(command=calc.name, points=rows,
                    single=prepared.single, swept=[calc.by_name[n].key for n in prepared.swept],
                    columns=columns, explain=options.get("explain", False),
                    quiet=options.get("quiet", False), notes=prepared.notes, ranges=bool(options.get("ranges")),
                    sensitivity=bool(options.get("sensitivity")))
    if options.get("plot") is not None:
        _plot(prepared, report)
    else:
        write(report, options["format"], sys.stdout)
    if gate.rows and len(gate.errors) == gate.rows:
        raise InputError(f"no point of the sweep could be computed; the first: {gate.errors[0]}")
    if gate.failures:
        shown = gate.failures[:MAX_FAILURE_LINES]
        more = len(gate.failures) - len(shown)
        raise CheckFailed("\n".join(shown + ([f"... and {more} more failed checks"] if more else [])))


def _plot(prepared: Prepared, report: Report) -> None:
    """--plot: the chart in the terminal (in place of the table, notes kept) or in a file (the
    output as usual)."""
    from aistack_cli.render import plot, write

    kept = []
    for point in report.points:
        kept.append(point)
        if len(kept) > MAX_PLOT_POINTS:
            raise InputError(f"--plot: a chart shows at most {MAX_PLOT_POINTS:,} points; sweep fewer values")
    report.points = kept
    target = prepared.common.get("target")
    axes = {prepared.calc.by_name[n].key: prepared.axes[n] for n in prepared.swept}
    path = prepared.common["plot"]
    if path:
        plot.save(report, axes, target, path, prepared.calc.sort_by)
        write(report, prepared.common["format"], sys.stdout)
        return
    for line in plot.terminal(report, axes, target, prepared.calc.sort_by):
        sys.stdout.write(line + "\n")
