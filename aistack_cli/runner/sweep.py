"""Values of one option: a single value, a list, or a range; and the points of a sweep.

The rule, documented in ``--help`` and the README:

- ``a,b,c`` is a list: one point per item.
- ``start:stop:+step`` is a linear range (``1000:4000:+1000``: 1000, 2000, 3000, 4000);
  ``start:stop:xF`` (or ``*F``) a geometric one (``1:1024:x2``); a bare ``start:stop:F`` is
  geometric too (``8:8G:2``, as nccl-tests' ``-b -e -f``). A unitless end takes the other end's
  unit (``8:8GiB:2`` runs from 8 B).
- Text that reads both as a number with thousands separators, as aistack's tables print it, and
  as a list (``16,384``; ``8,256``) is never guessed: when both readings are valid values of the
  option it is a usage error naming both (write ``16384`` for the number, ``16, 384`` with a space
  for the list); when only one reading is valid (``--die-area 100,400,814`` cannot be 100 million
  mm²), that one is taken.
- Integer options step through whole numbers (a geometric ``1000:10000:x1.5`` rounds each value).

Counts are checked before anything is built: at most ``MAX_POINTS`` values per option and
points per sweep.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator

from aistack_cli import units
from aistack_cli.errors import InputError

MAX_POINTS = 100_000

_THOUSANDS = re.compile(r"^\s*[+-]?\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*[A-Za-z%/µ²$¢]*\s*$")
_RANGE = re.compile(r"^([^:]+):([^:]+):([^:]+)$")


class Sweep(tuple):
    """Several values of one option, in order (a plain value is not wrapped)."""


def is_thousands(text: str) -> bool:
    """``16,384`` or ``1,234.5GB``: one number written with thousands separators."""
    return bool(_THOUSANDS.match(text))


def split_items(text: str, flag: str) -> list[str]:
    """The items of a comma-separated list (one item when there is no comma)."""
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise InputError(f"{flag}: empty item in the list {units.show(text)}")
    return items


def _inherit_unit(text: str, other: str) -> str:
    """``8`` beside ``8GiB`` -> ``8GiB``'s unit: ``8:8GiB:2`` runs from 8 B."""
    try:
        _, unit_text = units.split_number(text)
        _, other_unit = units.split_number(other)
    except (ValueError, OverflowError):
        return text
    if unit_text or not other_unit:
        return text
    # Only the unit proper, not a size prefix: 8 beside 8GiB is 8 B, beside 128k tokens is 128 tokens.
    for base in ("B", "b", "W", "Wh", "s", "FLOP", "FLOP/s", "B/s", "b/s", "mm", "mm2"):
        if other_unit.endswith(base) and other_unit not in units.TIME_UNITS:
            return text + base
    return text


def expand_range(item: str, flag: str, parse: Callable[[str], float], integer: bool,
                 budget: int = MAX_POINTS) -> list[float]:
    """The values of ``start:stop:step``; the count is checked against ``budget`` (what is left of
    the option's MAX_POINTS) before any value is built."""
    match = _RANGE.match(item)
    if not match:
        raise InputError(f"{flag}: cannot read {units.show(item)} as a range; expected start:stop:+step "
                         "(linear) or start:stop:xfactor (geometric), e.g. 1000:4000:+1000 or 1:1024:x2")
    start_text, stop_text, step_text = (part.strip() for part in match.groups())
    start = parse(_inherit_unit(start_text, stop_text))
    stop = parse(_inherit_unit(stop_text, start_text))
    if not start <= stop:
        raise InputError(f"{flag}: a range runs upwards, start <= stop; got {units.show(item)}")
    if step_text.startswith("+"):
        step = parse(_inherit_unit(step_text[1:], stop_text))
        if not step > 0:
            raise InputError(f"{flag}: a linear step must be above zero, got {units.show(step_text)}")
        count = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
        _check_count(count, flag, budget)
        values = [start + i * step for i in range(count)]
    else:
        factor_text = step_text[1:] if step_text[:1] in ("x", "X", "*", "×") else step_text
        try:
            factor = float(factor_text)
        except ValueError:
            raise InputError(f"{flag}: cannot read the step {units.show(step_text)}; write +STEP for a linear "
                             "range or xFACTOR for a geometric one") from None
        if not (math.isfinite(factor) and factor > 1):
            raise InputError(f"{flag}: a geometric factor must be above 1, got {units.show(step_text)}")
        if not start > 0:
            raise InputError(f"{flag}: a geometric range must start above zero, got {units.show(start_text)}")
        count = math.floor(math.log(stop / start) / math.log(factor) + 1e-9) + 1
        _check_count(count, flag, budget)
        values = [start * factor**i for i in range(count)]
    values = [float(f"{v:.12g}") for v in values]  # 1.1 + 2·0.1 is 1.3, not 1.3000000000000003
    if integer:
        values = list(dict.fromkeys(float(round(v)) for v in values))
    return values


def _check_count(count: int, flag: str, budget: int) -> None:
    if count > budget:
        raise InputError(f"{flag}: more than {MAX_POINTS:,} values in all; this range alone has {count:,}")


def is_range(item: str) -> bool:
    return item.count(":") == 2


def total_points(lengths: list[int]) -> int:
    total = math.prod(lengths)
    if total > MAX_POINTS:
        raise InputError(f"the sweep has {total:,} points, more than {MAX_POINTS:,}; sweep fewer values")
    return total


def combinations(axes: dict[str, list]) -> Iterator[dict]:
    """Every combination of the axes' values, the first axis slowest, built one at a time."""
    names = list(axes)
    for values in itertools.product(*axes.values()):
        yield dict(zip(names, values))
