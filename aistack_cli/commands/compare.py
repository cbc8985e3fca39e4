"""``aistack compare A B [C...]``: scenarios of one command side by side, with their differences.

Each scenario is a file the calculators read with ``--config`` (YAML, TOML or JSON option values,
or a saved ``-f yaml|toml|json`` output): it is read and run by the shared runner exactly as
``aistack COMMAND --config FILE`` would run it, so a scenario compares as it computes. The first
scenario is the baseline; every other one gets, per result, its absolute difference (in the
result's unit) and its relative difference from the baseline. ``--check`` gates a difference for
CI: ``cost_usd.delta < 10%`` (the size of the change, relative), ``wall_clock_s.delta <= 2d``
(absolute), ``cost_usd.change <= 0`` (signed: no increase), or ``fits == true`` (every scenario).
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import CheckFailed, InputError

HELP = ("Run scenario files of one command side by side, one column per scenario, with the absolute and "
        "relative differences from the first.")
EPILOG = "\n".join([
    "\b", "Examples:",
    "  aistack train-cost --model llama-3.1-70b --tokens 15T --gpu h100-sxm --gpus 1024 -f yaml > h100.yaml",
    "  aistack train-cost --model llama-3.1-70b --tokens 15T --gpu h200 --gpus 1024 -f yaml > h200.yaml",
    "  aistack compare h100.yaml h200.yaml",
    "  aistack compare h100.yaml h200.yaml --check 'cost_usd.delta < 10%' -f json",
    "", "\b", "A scenario file names its command (a saved output does; a hand-written one says",
    "command: train-cost, or give --command). Checks: KEY.delta OP VALUE is the size of the",
    "difference from the first scenario (relative when VALUE ends in %), KEY.change the signed",
    "difference, KEY OP VALUE a gate on every scenario.",
])
MAX_SCENARIOS = 20
_CHECK = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.(delta|change))?\s*(<=|>=|==|!=|<|>)\s*(\S.*?)\s*$")
_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class Scenario(NamedTuple):
    name: str
    file: str
    point: Any  # result.Point


def register(app: typer.Typer) -> None:
    @app.command("compare", help=HELP, epilog=EPILOG)
    def compare(
        files: Annotated[list[str], typer.Argument(metavar="SCENARIO...", help="Two or more scenario files.")],
        command: Annotated[Optional[str], typer.Option(
            "--command", metavar="COMMAND", help="The command to run them with, when the files do not say.")] = None,
        format: Annotated[Optional[str], typer.Option(
            "--format", "-f", metavar="FORMAT", help="table (default), json, yaml, toml or csv.")] = None,
        specs: Annotated[Optional[list[str]], typer.Option(
            "--specs", metavar="PATH", help="Extra spec sheets (YAML file or folder), repeatable.")] = None,
        check: Annotated[Optional[list[str]], typer.Option(
            "--check", metavar="'KEY[.delta|.change] OP VALUE'",
            help="Gate such as 'cost_usd.delta < 10%'; exit 1 when it fails. Repeatable.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes.")] = False,
    ) -> None:
        run(files, command, format, specs or [], check or [], quiet)


# ---- running ------------------------------------------------------------------------------

def run(files: list[str], command: str | None, fmt_text: str | None, specs: list[str], checks: list[str],
        quiet: bool) -> None:
    from aistack_cli import catalog as catalog_module
    from aistack_cli import runner
    from aistack_cli.runner.config import load_scenario

    if len(files) < 2:
        raise InputError("compare: give two or more scenario files")
    if len(files) > MAX_SCENARIOS:
        raise InputError(f"compare: at most {MAX_SCENARIOS} scenarios, got {len(files)}")
    if files.count("-") > 1:
        raise InputError("compare: standard input (-) can be read only once")
    fmt = runner._format(fmt_text)
    documents = {path: load_scenario(path, "compare") for path in dict.fromkeys(files)}
    name = _command(documents, command)
    calc = _calculator(name)
    gates = [_parse_check(text, name) for text in checks]
    catalogs: dict[tuple, Any] = {}
    scenarios = []
    for path, label in zip(files, _names(files)):
        try:
            prepared = runner.prepare(calc, {}, {"config": [path], "specs": specs}, documents)
        except InputError as exc:
            raise InputError(f"compare: {units.show(path, 80)}: {exc}") from None
        if prepared.swept:
            flags = ", ".join(calc.by_name[n].flag for n in prepared.swept)
            raise InputError(f"compare: {units.show(path, 80)} is a sweep ({flags}); compare takes one point per "
                             "scenario")
        sheets = tuple(prepared.common.get("specs") or [])
        if sheets not in catalogs:
            catalogs[sheets] = catalog_module.load(list(sheets))
        try:
            point = next(runner.points(prepared, catalogs[sheets]))
        except InputError as exc:
            raise InputError(f"compare: {units.show(path, 80)}: {exc}") from None
        point.assumptions = [*prepared.notes, *point.assumptions]
        scenarios.append(Scenario(label, path, point))
    document = comparison(name, scenarios, quiet)
    _write(document, scenarios, fmt, quiet)
    failed = [line for gate in gates for line in gate(document)]
    if failed:
        raise CheckFailed("\n".join(failed[:20] + ([f"... and {len(failed) - 20} more failed checks"]
                                                   if len(failed) > 20 else [])))


def _command(documents: dict[str, dict], given: str | None) -> str:
    from aistack_cli.commands import CALCULATORS
    from aistack_cli.runner.config import scenario_command

    valid = [c.replace("_", "-") for c in CALCULATORS]
    named = {path: scenario_command(data) for path, data in documents.items()}
    if given is not None:
        name = given.strip().lower()
        if name not in valid:
            raise InputError(f"--command: unknown command {units.show(given)}; one of {', '.join(valid)}")
        return name
    found = {c for c in named.values() if c}
    if not found:
        raise InputError("compare: the files do not name their command; add 'command: train-cost' to them, or give "
                         "--command")
    if len(found) > 1:
        listed = ", ".join(f"{Path(p).name} is {c}" for p, c in named.items() if c)
        raise InputError(f"compare: scenarios of different commands ({listed}); compare one command's scenarios")
    name = found.pop()
    if name not in valid:
        raise InputError(f"compare: unknown command {units.show(name)} in the files; one of {', '.join(valid)}")
    return name


def _calculator(name: str):
    from aistack_cli.runner import REGISTRY

    importlib.import_module(f"aistack_cli.commands.{name.replace('-', '_')}")
    return REGISTRY[name]


def _names(files: list[str]) -> list[str]:
    """Each scenario's column: its file name without the extension, or its path when two agree."""
    stems = [Path(f).stem if f != "-" else "stdin" for f in files]
    names = []
    for index, (stem, path) in enumerate(zip(stems, files)):
        name = stem if stems.count(stem) == 1 else path
        names.append(name if name not in names else f"{name}#{index + 1}")
    return names


# ---- the comparison -----------------------------------------------------------------------

def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def difference(base: Any, other: Any) -> dict:
    """``{"delta", "relative", "same"}`` of one key between the baseline and another scenario."""
    if _number(base) and _number(other):
        delta = other - base
        relative = delta / abs(base) if base else (0.0 if not delta else None)
        return {"delta": delta, "relative": relative, "same": delta == 0}
    return {"delta": None, "relative": None, "same": base == other}


def comparison(command: str, scenarios: list[Scenario], quiet: bool) -> dict:
    """The machine document: every scenario as it computed, and each one's differences from the first."""
    from aistack_cli import __version__
    from aistack_cli.render.machine import SCHEMA_VERSION, clean

    base = scenarios[0].point
    notes = _shared(scenarios, "assumptions")
    warnings = _shared(scenarios, "warnings")
    return {
        "schema_version": SCHEMA_VERSION, "aistack": __version__, "command": "compare", "compared": command,
        "baseline": scenarios[0].name,
        "scenarios": [{"name": s.name, "file": s.file, "inputs": clean(s.point.inputs),
                       "results": clean(s.point.results),
                       "assumptions": [] if quiet else list(s.point.assumptions),
                       "warnings": [] if quiet else list(s.point.warnings)} for s in scenarios],
        "differences": [{"name": s.name,
                         "inputs": [k for k, v in s.point.inputs.items() if v != base.inputs.get(k)],
                         "results": {k: clean(difference(base.results.get(k), v)) for k, v in s.point.results.items()}}
                        for s in scenarios[1:]],
        "assumptions": [] if quiet else notes, "warnings": [] if quiet else warnings,
    }


def _shared(scenarios: list[Scenario], attr: str) -> list[str]:
    """Notes every scenario carries, once; a note only some carry, tagged with their names."""
    seen: dict[str, list[str]] = {}
    for s in scenarios:
        for note in getattr(s.point, attr):
            names = seen.setdefault(note, [])
            if s.name not in names:
                names.append(s.name)
    every = len(scenarios)
    return [note if len(names) == every else f"[{', '.join(names)}] {note}" for note, names in seen.items()]


# ---- checks -------------------------------------------------------------------------------

def _parse_check(text: str, command: str):
    """A gate on the comparison document: returns the failure lines for it."""
    from aistack_cli import fields
    from aistack_cli.runner.check import failures, parse_check

    match = _CHECK.match(text)
    if not match or not match.group(2):
        single = parse_check(text, command)  # KEY OP VALUE on every scenario (its own errors name the flag)

        def every(doc: dict) -> list[str]:
            return [line for s in doc["scenarios"] for line in failures([single], s["results"], s["name"])]

        return every
    key, which, op, raw = match.groups()
    if key not in fields.results_of(command):
        parse_check(f"{key} == 0", command)  # the unknown-key error, with close matches
    if fields.unit(key) in ("text", "id", "bool"):
        raise InputError(f"--check: {key} is not a number; a difference gate needs a numeric result")
    relative = raw.strip().endswith("%")
    if relative:
        try:
            limit = float(raw.strip()[:-1]) / 100
        except ValueError:
            raise InputError(f"--check: cannot read {units.show(raw)} as a percentage") from None
    else:
        from aistack_cli.runner.check import _number as threshold

        limit = threshold(raw.strip().strip("'\""), fields.unit(key), key)

    def gate(doc: dict) -> list[str]:
        from aistack_cli.render.text import humanize

        out = []
        for diff in doc["differences"]:
            found = diff["results"].get(key) or {}
            value = found.get("relative" if relative else "delta")
            if value is None:
                out.append(f"check failed for {diff['name']}: {text}: {key} has no difference to compare")
                continue
            actual = abs(value) if which == "delta" else value
            if not _COMPARE[op](actual, limit):
                shown = f"{actual:+.1%}" if relative else ("−" if actual < 0 else "+") + humanize(key, abs(actual))
                out.append(f"check failed for {diff['name']}: {text} (actual {shown})")
        return out

    return gate


# ---- output -------------------------------------------------------------------------------

def _write(document: dict, scenarios: list[Scenario], fmt, quiet: bool) -> None:
    from aistack_cli.render import Format

    out = sys.stdout
    if fmt is Format.json:
        import json

        encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "")
        out.write(json.dumps(document, indent=2, allow_nan=False, ensure_ascii=encoding not in ("utf8", "utf16",
                                                                                               "utf32")) + "\n")
    elif fmt is Format.yaml:
        import yaml

        out.write(yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                            allow_unicode=True))
    elif fmt is Format.toml:
        import tomli_w

        from aistack_cli.render.machine import _drop_none

        doc = _drop_none(document)
        out.write(tomli_w.dumps({**{k: v for k, v in doc.items() if not isinstance(v, (dict, list))},
                                 **{k: v for k, v in doc.items() if isinstance(v, (dict, list))}}))
    elif fmt is Format.csv:
        for line in csv_lines(document):
            out.write(line)
    else:
        from aistack_cli.render.text import render_comparison

        for line in render_comparison(document):
            out.write(line + "\n")


def csv_lines(document: dict):
    """One row per input and result key: each scenario's value, then each difference's."""
    import csv
    import io

    from aistack_cli import fields
    from aistack_cli.render.machine import _cell

    names = [s["name"] for s in document["scenarios"]]
    others = [d["name"] for d in document["differences"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["role", "key", "unit", *names, *(f"{n}.{q}" for n in others for q in ("delta", "relative"))])
    for role in ("inputs", "results"):
        keys = list(document["scenarios"][0][role])
        for key in keys:
            row = [role[:-1], key, fields.unit(key), *(_cell(s[role].get(key)) for s in document["scenarios"])]
            for diff in document["differences"]:
                found = diff["results"].get(key, {}) if role == "results" else {}
                row += [_cell(found.get("delta")), _cell(found.get("relative"))]
            writer.writerow(row)
    yield buffer.getvalue()
