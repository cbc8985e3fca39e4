"""``--check 'KEY OP VALUE'`` gates: parsed by hand (no eval), checked against every row.

The key must be a result of the command (an unknown key is reported first, with close matches).
The value is read in the unit the key carries (``ttft_s < 500ms``, ``cost_usd <= 5M``); a plain
number is always allowed, in the key's base unit (``busbw_bytes_per_s > 1e9``). Words compare
case-insensitively, and a word the key can never take is a usage error listing the ones it can;
true/false keys accept true, false, yes or no (as tables print them).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, NamedTuple

from aistack_cli import fields, units
from aistack_cli.errors import InputError

_CHECK = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*(\S.*?)\s*$")
_OPS = ("<", "<=", ">", ">=", "==", "!=")
# The dimension a threshold is read in, from the unit its key carries.
_DIMENSION = {
    "B": "bytes", "B/s": "bytes_per_s", "FLOP": "flop", "FLOP/s": "flop_per_s", "USD": "usd", "USD/h": "usd_per_hour",
    "USD/kWh": "usd_per_kwh", "Wh": "wh", "W": "watts", "fraction": "fraction", "s": "seconds", "mm2": "mm2",
    "mm": "mm", "1/cm2": "per_cm2", "g/kWh": "g_per_kwh", "L/kWh": "l_per_kwh",
}
_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
_TRUE, _FALSE = ("true", "yes"), ("false", "no")


class Check(NamedTuple):
    text: str
    key: str
    op: str
    value: Any  # float, bool or a lower-case word


_QUANTILE = re.compile(r"^(.+)\.(p10|p50|p90)$")


def parse_check(text: str, command: str, ranges: bool = False) -> Check:
    """One gate. With ``--ranges``, ``KEY.p10``, ``KEY.p50`` or ``KEY.p90`` gates a quantile of a
    numeric result (``'cost_usd.p90 <= 5M'``)."""
    if "\n" in text or "\r" in text:
        raise InputError(f"--check: a gate cannot span lines: {units.show(text)}")
    match = _CHECK.match(text)
    if not match:
        raise InputError(f"--check: cannot read {units.show(text)}; expected KEY OP VALUE such as "
                         f"'cost_usd <= 5M', with OP one of {' '.join(_OPS)}")
    key, op, raw = match.groups()
    valid = fields.results_of(command)
    quantile = _QUANTILE.match(key)
    if quantile and quantile.group(1) in valid:
        base = quantile.group(1)
        if not ranges:
            raise InputError(f"--check: {key} is a quantile of {base}: give --ranges too")
        if fields.unit(base) in ("bool", "text", "id"):
            raise InputError(f"--check: {base} is not a number, so it has no {quantile.group(2)}")
        raw = raw.strip().strip("'\"")
        return Check(text, key, op, _number(raw, fields.unit(base), key))
    if key not in valid:
        close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"--check: {units.show(key)} is not a result of {command}{hint} "
                         f"('aistack {command} --help' lists them)")
    raw = raw.strip().strip("'\"")
    unit = fields.unit(key)
    if unit == "bool":
        return Check(text, key, _equality(op, text), _boolean(raw, key))
    if unit in ("text", "id"):
        return Check(text, key, _equality(op, text), _word(raw, key))
    return Check(text, key, op, _number(raw, unit, key))


def _equality(op: str, text: str) -> str:
    if op not in ("==", "!="):
        raise InputError(f"--check: {units.show(text)}: a word or true/false compares only with == or !=")
    return op


def _boolean(raw: str, key: str) -> bool:
    word = raw.lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise InputError(f"--check {key}: expected true, false, yes or no, got {units.show(raw)}")


def _word(raw: str, key: str) -> str:
    word = raw.lower()
    choices = fields.CHOICES.get(key)
    if choices and word not in choices:
        raise InputError(f"--check {key}: {units.show(raw)} can never match; {key} is one of {', '.join(choices)}")
    return word


def _number(raw: str, unit: str, key: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        dimension = _DIMENSION.get(unit, "count")
        return units.parse(raw, dimension, f"--check {key}")
    return units.parse(value, "count", f"--check {key}")  # a plain number, in the base unit


def failures(checks: list[Check], results: dict, label: str) -> list[str]:
    """A line per check the row fails: what was asked, what it is, which row."""
    out = []
    where = f" for {label}" if label else ""
    for check in checks:
        actual = results.get(check.key)
        if actual is None:
            out.append(f"check failed{where}: {check.text}: {check.key} was not computed")
            continue
        compared = actual.lower() if isinstance(actual, str) else actual
        if not _COMPARE[check.op](compared, check.value):
            out.append(f"check failed{where}: {check.text} (actual {human(check.key, actual)})")
    return out


def human(key: str, value: Any) -> str:
    from aistack_cli.render.text import humanize  # formatting only; no Rich

    return humanize(key, value)
