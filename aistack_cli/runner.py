"""The shared layer every calculator goes through, written once.

A calculator is a function ``fn(catalog, **options) -> Point`` whose options are Typer
``Annotated`` parameters. ``register`` turns it into a command with the common options
(``--format``, ``--specs``, ``--config``, ``--check``, ``--explain``, ``--quiet``) appended,
then on each call: fills options from a scenario file, expands sweeps, computes every point,
renders, and applies the ``--check`` gates.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import CheckFailed, InputError
from aistack_cli.render import Format, Point, Report, render, unit_of

MAX_POINTS = 100_000


@dataclass
class Calculator:
    name: str
    help: str
    fn: Callable[..., Point]
    columns: list[str] | None = None  # results a sweep table shows
    sort_by: str | None = None  # rank rows by this result (ascending, None last) ...
    rank_over: tuple[str, ...] = ()  # ... when only these options are swept (a comparison)


REGISTRY: list[Calculator] = []


def calculator(name: str, help: str, columns: list[str] | None = None, sort_by: str | None = None,
               rank_over: tuple[str, ...] = ()):
    """Register ``fn`` as the calculator behind subcommand ``name``."""

    def decorate(fn):
        REGISTRY.append(Calculator(name, help, fn, columns, sort_by, rank_over))
        return fn

    return decorate


def _common_parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("format", keyword, default=Format.table, annotation=Annotated[
            Format, typer.Option("--format", "-f", help="Output format: table for people; json, yaml, toml, csv for machines.")]),
        inspect.Parameter("specs", keyword, default=None, annotation=Annotated[
            Optional[list[str]], typer.Option("--specs", help="Extra spec sheets (YAML file or folder), repeatable; also AISTACK_SPECS.")]),
        inspect.Parameter("config", keyword, default=None, annotation=Annotated[
            Optional[str], typer.Option("--config", help="Scenario file (YAML or TOML) giving option values by name; the command line wins.")]),
        inspect.Parameter("check", keyword, default=None, annotation=Annotated[
            Optional[list[str]], typer.Option("--check", help="Gate such as 'cost_usd <= 5M'; exit 1 when it fails. Repeatable.")]),
        inspect.Parameter("explain", keyword, default=False, annotation=Annotated[
            bool, typer.Option("--explain", help="Show the working: each formula with its numbers and source.")]),
        inspect.Parameter("quiet", keyword, default=False, annotation=Annotated[
            bool, typer.Option("--quiet", "-q", help="Only the results: no inputs or notes in machine formats, no notes under tables.")]),
    ]


COMMON = ("format", "specs", "config", "check", "explain", "quiet")


def register(app: typer.Typer) -> None:
    for calc in REGISTRY:
        app.command(calc.name, help=calc.help)(_command(calc))


def _command(calc: Calculator):
    signature = inspect.signature(calc.fn, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in signature.parameters.values() if p.name != "catalog"]
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)

    def command(ctx: typer.Context, **options):
        common = {name: options.pop(name) for name in COMMON}
        execute(calc, ctx, options, common)

    command.__signature__ = signature.replace(parameters=[context, *own, *_common_parameters()],
                                              return_annotation=inspect.Signature.empty)
    command.__name__ = calc.fn.__name__
    command.__doc__ = calc.help
    return command


# ---- scenario files ----------------------------------------------------------------------

def _read_config(path: str) -> dict:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--config: cannot read {path}: {exc}") from None
    if file.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"--config: {path} is not valid TOML: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise InputError(f"--config: {path} is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--config: {path} must hold a mapping of option names to values")
    return data


def _config_value(name: str, value, current):
    """A scenario value in the shape the option takes: lists join into a sweep."""
    if isinstance(current, bool) or name in ("explain", "quiet"):
        if not isinstance(value, bool):
            raise InputError(f"--config: {name} must be true or false, got {value!r}")
        return value
    if name in ("specs", "check"):
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if name == "format":
        try:
            return Format(str(value))
        except ValueError:
            raise InputError(f"--config: format must be one of {', '.join(f.value for f in Format)}") from None
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        raise InputError(f"--config: {name} must be a value or a list, not a mapping")
    return _scalar(value)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_config(ctx: typer.Context, options: dict, common: dict) -> None:
    """Fill options from ``--config`` where the command line did not give them."""
    if not common.get("config"):
        return
    data = _read_config(common["config"])
    known = {**{k: options for k in options}, **{k: common for k in COMMON if k != "config"}}
    for raw_key, value in data.items():
        key = str(raw_key).lstrip("-").replace("-", "_")
        if key not in known:
            valid = ", ".join(sorted(k.replace("_", "-") for k in known))
            raise InputError(f"--config: unknown option {raw_key!r}; valid: {valid}")
        source = ctx.get_parameter_source(key)
        if source is not None and source.name == "COMMANDLINE":
            continue
        target = known[key]
        target[key] = _config_value(key, value, target[key])


# ---- sweeps ------------------------------------------------------------------------------

_RANGE = re.compile(r"^([^:,]+):([^:,]+):([^:,]+)$")


def expand(name: str, text: str) -> list[str]:
    """Values of one option: ``a,b,c`` is a list; ``start:stop:factor`` a geometric range."""
    if "," in text:
        items = [item.strip() for item in text.split(",")]
        if any(not item for item in items):
            raise InputError(f"--{_flag(name)}: empty item in list {text!r}")
        return [v for item in items for v in expand(name, item)]
    match = _RANGE.match(text.strip())
    if not match:
        return [text]
    return _geometric(name, *match.groups())


def _geometric(name: str, start_text: str, stop_text: str, factor_text: str) -> list[str]:
    try:
        start, start_unit = _magnitude(start_text)
        stop, stop_unit = _magnitude(stop_text)
        factor = float(factor_text)
    except ValueError:
        raise InputError(f"--{_flag(name)}: a range is start:stop:factor such as 1k:16k:2, "
                         f"got {start_text}:{stop_text}:{factor_text}") from None
    start_unit, stop_unit = start_unit or stop_unit, stop_unit or start_unit  # 8:8GiB:2 is 8B:8GiB:2
    if start_unit != stop_unit:
        raise InputError(f"--{_flag(name)}: range ends have different units ({start_text}, {stop_text})")
    if not (math.isfinite(factor) and factor > 1 and 0 < start <= stop and math.isfinite(stop)):
        raise InputError(f"--{_flag(name)}: a range needs 0 < start <= stop and factor > 1")
    count = math.floor(math.log(stop / start) / math.log(factor) + 1e-9) + 1
    if count > MAX_POINTS:
        raise InputError(f"--{_flag(name)}: range has {count} points, more than {MAX_POINTS}")
    return [_number(start * factor**i) + start_unit for i in range(count)]


def _magnitude(text: str) -> tuple[float, str]:
    """``'1GiB'`` -> (1073741824, 'B'); ``'8k'`` -> (8000, '')."""
    number, unit_text = units.split_number(text)
    for prefixes in (units.BINARY, units.DECIMAL):
        for prefix in sorted(prefixes, key=len, reverse=True):
            if prefix and unit_text.startswith(prefix):
                return number * prefixes[prefix], unit_text[len(prefix):]
    if unit_text in ("B", "b") or not unit_text:
        return number, unit_text
    return number, unit_text


def _number(value: float) -> str:
    return str(int(round(value))) if abs(value - round(value)) < 1e-9 * max(1.0, abs(value)) else repr(value)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def points(options: dict) -> tuple[list[dict], list[str]]:
    """Every combination of swept option values, and the names of the swept options."""
    axes = {name: expand(name, value) if isinstance(value, str) else [value]
            for name, value in options.items()}
    swept = [name for name, values in axes.items() if len(values) > 1]
    total = math.prod(len(v) for v in axes.values())
    if total > MAX_POINTS:
        raise InputError(f"sweep has {total} points, more than {MAX_POINTS}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())], swept


# ---- checks ------------------------------------------------------------------------------

_CHECK = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(\S.*?)\s*$")
# The quantity a check value is read as, from the unit its key carries (render.unit_of).
_DIMENSION_BY_UNIT = {
    "bytes": "bytes", "bytes/s": "bytes_per_s", "flop": "flop", "flop/s": "flop_per_s",
    "usd": "usd", "wh": "wh", "w": "watts", "%": "fraction", "s": "seconds", "mm2": "mm2", "mm": "mm",
}
_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Check:
    text: str
    key: str
    op: str
    value: object


def parse_check(text: str) -> Check:
    match = _CHECK.match(text)
    if not match:
        raise InputError(f"--check: cannot read {text!r}; expected KEY OP VALUE such as 'cost_usd <= 5M' "
                         "with OP one of < <= > >= == !=")
    key, op, raw = match.groups()
    raw = raw.strip().strip("'\"")
    if raw.lower() in ("true", "false"):
        if op not in ("==", "!="):
            raise InputError(f"--check: {text!r}: true/false compare only with == or !=")
        return Check(text, key, op, raw.lower() == "true")
    dimension = _DIMENSION_BY_UNIT.get(unit_of(key), "count")
    try:
        return Check(text, key, op, units.parse(raw, dimension, f"--check {key}"))
    except InputError:
        if op in ("==", "!=") and re.fullmatch(r"[A-Za-z][\w.-]*", raw):
            return Check(text, key, op, raw)  # a word, e.g. decode_bound == memory
        raise


def failed_checks(checks: list[Check], report_points: list[Point]) -> list[str]:
    failures = []
    for check in checks:
        for index, point in enumerate(report_points):
            where = f" (row {index + 1})" if len(report_points) > 1 else ""
            actual = point.results.get(check.key)
            if actual is None:
                failures.append(f"check failed{where}: {check.text}: {check.key} was not computed")
            elif type(actual) is bool and not isinstance(check.value, bool) or \
                    isinstance(check.value, str) != isinstance(actual, str):
                failures.append(f"check failed{where}: {check.text}: {check.key} is {actual!r}")
            elif not _COMPARE[check.op](actual, check.value):
                failures.append(f"check failed{where}: {check.text} (actual {_show(actual)})")
    return failures


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _validate_check_keys(checks: list[Check], sample: Point) -> None:
    for check in checks:
        if check.key not in sample.results:
            valid = ", ".join(sample.results)
            raise InputError(f"--check: unknown key {check.key!r}; valid keys: {valid}")


# ---- running -----------------------------------------------------------------------------

def execute(calc: Calculator, ctx: typer.Context, options: dict, common: dict) -> None:
    apply_config(ctx, options, common)
    checks = [parse_check(text) for text in common.get("check") or []]
    from aistack_cli import catalog as catalog_module

    catalog = catalog_module.load(common.get("specs"))
    combos, swept_options = points(options)
    computed = [calc.fn(catalog, **combo) for combo in combos]
    if calc.sort_by and len(computed) > 1 and set(swept_options) <= set(calc.rank_over):
        computed.sort(key=lambda p: (p.results.get(calc.sort_by) is None, p.results.get(calc.sort_by) or 0))
    if checks:
        _validate_check_keys(checks, computed[0])
    report = Report(command=calc.name, points=computed, swept=_swept_inputs(computed, swept_options),
                    columns=calc.columns, explain=common.get("explain", False),
                    quiet=common.get("quiet", False))
    sys.stdout.write(render(report, common.get("format") or Format.table) + "\n")
    failures = failed_checks(checks, computed)
    if failures:
        raise CheckFailed("\n".join(failures))


def _swept_inputs(computed: list[Point], options: list[str]) -> list[str]:
    """Input keys that vary between points: first those of options the user swept
    (``context`` -> ``context_tokens``), then up to four that moved with them (``gpus``)."""
    if len(computed) < 2:
        return []
    varying = [k for k in computed[0].inputs if len({repr(p.inputs.get(k)) for p in computed}) > 1]
    chosen = [k for k in varying if any(k == o or k.startswith(o + "_") for o in options)]
    return chosen + [k for k in varying if k not in chosen][:4]  # a few derived inputs that moved too
