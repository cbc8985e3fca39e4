"""``--ranges`` and ``--sensitivity``: what the cited defaults' published spread does to a result.

Imported only when one of them is asked for (standard library only).

- Each default sheet with a P10-P90 (``specs/defaults/``) is an uncertain input. Its distribution
  is a two-piece log-normal whose median is the sheet's value and whose 10th and 90th percentiles
  are its P10 and P90, exactly: x = value · exp(z · s), with z standard normal and
  s = ln(value / p10) / z₉₀ below the median, ln(p90 / value) / z₉₀ above it (z₉₀ = 1.2816). It
  follows a skewed spread (PUE 1.1-1.58-1.8) as published and never goes negative. Samples are
  clipped to the physical range of the unit: a fraction stays in (0, 1], a ratio such as PUE
  (facility over IT power) at or above 1 unless its own P10 is below 1.
- ``--ranges``: the point is computed again for each of ``samples`` draws (Latin-hypercube
  stratified, seeded: the same seed gives the same ranges, and every point of a sweep sees the
  same draws, so curves stay smooth) of the uncertain defaults THAT POINT READ through the catalog.
  The user's own inputs stay fixed: an option the user gave replaces its default, which is then
  not read, so not sampled. Each numeric result gets P10, P50 and P90 (nearest rank).
- ``--sensitivity``: one default at a time at its P10 and at its P90, the others at their values;
  the defaults ranked by how far each moves the target result (a tornado).
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Any, Callable, NamedTuple

from aistack_cli import fields
from aistack_cli.errors import InputError

Z90 = NormalDist().inv_cdf(0.9)  # 1.2816: the 90th percentile of a standard normal
_TINY = 1e-12


class Spread(NamedTuple):
    """An uncertain default: its value (the median), P10 and P90, and how it is drawn."""

    id: str
    value: float
    p10: float
    p90: float
    unit: str
    log: bool  # two-piece log-normal (all positive) or two-piece normal
    below: float  # spread below the median: z·below for z < 0
    above: float
    lo: float  # physical range of the unit
    hi: float

    def at(self, z: float) -> float:
        """The value at standard-normal quantile ``z`` (z = ±1.2816: exactly P10 / P90)."""
        scale = self.below if z < 0 else self.above
        x = self.value * math.exp(z * scale) if self.log else self.value + z * scale
        return min(max(x, self.lo), self.hi)


def spread(sheet: dict) -> Spread | None:
    """The distribution of a default sheet, or None when it has no published spread."""
    p10, p90, value = sheet.get("p10"), sheet.get("p90"), sheet["value"]
    if p10 is None or p90 is None or not p10 < p90:
        return None
    unit = sheet.get("unit", "")
    log = p10 > 0
    if log:
        below, above = math.log(value / p10) / Z90, math.log(p90 / value) / Z90
    else:
        below, above = (value - p10) / Z90, (p90 - value) / Z90
    lo, hi = (-math.inf, math.inf) if not log else (0.0, math.inf)
    if unit == "fraction":
        lo, hi = max(lo, _TINY), 1.0
    elif unit == "ratio" and p10 >= 1:
        lo = 1.0
    return Spread(sheet["id"], value, p10, p90, unit, log, below, above, lo, hi)


def uncertain(catalog, read: list[str]) -> list[Spread]:
    """The defaults among ``read`` that have a published spread, in the order they were read."""
    out = []
    for default_id in read:
        found = spread(catalog.raw("default", default_id))
        if found is not None:
            out.append(found)
    return out


def held(catalog, read: list[str]) -> list[str]:
    """The defaults among ``read`` without a published spread (held at their value)."""
    return [d for d in read if spread(catalog.raw("default", d)) is None]


def draws(spreads: list[Spread], samples: int, seed: int) -> list[dict[str, float]]:
    """``samples`` joint draws: each default stratified into ``samples`` equal-probability bins
    (Latin hypercube), the bins shuffled independently per default."""
    rng = random.Random(seed)
    inv = NormalDist().inv_cdf
    columns = []
    for s in spreads:
        order = list(range(samples))
        rng.shuffle(order)
        columns.append([s.at(inv((k + rng.random()) / samples)) for k in order])
    return [{s.id: column[i] for s, column in zip(spreads, columns)} for i in range(samples)]


def numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list (a value that was really computed)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Outcome(NamedTuple):
    ranges: dict[str, dict | None]  # keyed like results: {p10, p50, p90} or None (not a number)
    sampled: list[Spread]
    held: list[str]
    failed: int  # draws that could not be computed


Compute = Callable[[Any], Any]  # a catalog view (Catalog.view) -> Point


def point_ranges(compute: Compute, catalog, base_results: dict, read: list[str], samples: int,
                 seed: int) -> Outcome:
    """P10/P50/P90 of every numeric result of one point over the uncertain defaults it read."""
    spreads = uncertain(catalog, read)
    keys = [k for k, v in base_results.items() if numeric(v)]
    collected: dict[str, list[float]] = {k: [] for k in keys}
    failed = 0
    if spreads:
        for values in draws(spreads, samples, seed):
            try:
                point = compute(catalog.view(values))
            except InputError:
                failed += 1
                continue
            if point.error is not None:
                failed += 1
                continue
            for key in keys:
                value = point.results.get(key)
                if numeric(value):
                    collected[key].append(value)
    ranges: dict[str, dict | None] = dict.fromkeys(base_results)
    for key in keys:
        values = sorted(collected[key]) if spreads else [base_results[key]]
        if not values or len(values) * 2 < (samples - failed if spreads else 1):
            continue  # computed in fewer than half the draws: no honest range
        ranges[key] = {"p10": percentile(values, 0.1), "p50": percentile(values, 0.5), "p90": percentile(values, 0.9)}
    return Outcome(ranges, spreads, held(catalog, read), failed)


def ranges_note(outcome: Outcome, samples: int, seed: int, pinned: list[str] | None = None) -> str:
    """One assumption line: what was sampled, what was held, what stayed fixed."""
    if not outcome.sampled:
        text = "ranges: no default with a published P10-P90 was used, so the results carry no default's spread"
    else:
        listed = ", ".join(f"{s.id} {s.p10:g}-{s.p90:g}" for s in outcome.sampled)
        text = (f"ranges: P10-P90 of {samples:,} Latin-hypercube draws (seed {seed}) of the cited defaults' "
                f"published P10-P90 ({listed}); the inputs you gave stay fixed")
    if pinned and outcome.sampled:
        text += f"; the choice found at the defaults is kept in every draw ({', '.join('--' + p.replace('_', '-') for p in pinned)})"
    if outcome.held:
        text += f"; held at their value (no published spread): {', '.join(outcome.held)}"
    if outcome.failed:
        text += f"; {outcome.failed:,} draws could not be computed and were left out"
    return text


# ---- sensitivity --------------------------------------------------------------------------

class Bar(NamedTuple):
    default: str
    unit: str
    p10: float
    p90: float
    at_p10: float | None  # the target with this default at its P10, the others at their values
    at_p90: float | None
    swing: float


def sensitivity(compute: Compute, catalog, base_results: dict, read: list[str], target: str | None,
                columns: list[str] | None) -> dict:
    """The tornado of one point: each uncertain default at its P10 and P90 in turn."""
    spreads = uncertain(catalog, read)
    keys = [k for k in (target,) if k] or [k for k in (columns or list(base_results)) if numeric(base_results.get(k))]
    runs: dict[tuple[str, str], dict] = {}
    for s in spreads:
        for end, value in (("p10", s.p10), ("p90", s.p90)):
            try:
                point = compute(catalog.view({s.id: value}))
                runs[(s.id, end)] = point.results if point.error is None else {}
            except InputError:
                runs[(s.id, end)] = {}
    chosen = target or next((k for k in keys if any(_moves(runs, s, k, base_results.get(k)) for s in spreads)),
                            keys[0] if keys else None)
    bars = []
    for s in spreads:
        low, high = runs[(s.id, "p10")].get(chosen), runs[(s.id, "p90")].get(chosen)
        swing = abs(high - low) if numeric(low) and numeric(high) else 0.0
        bars.append(Bar(s.id, s.unit, s.p10, s.p90, low if numeric(low) else None,
                        high if numeric(high) else None, swing))
    bars.sort(key=lambda b: -b.swing)
    base = base_results.get(chosen) if chosen else None
    return {"target": chosen, "value": base if numeric(base) else None,
            "inputs": [b._asdict() for b in bars], "held": held(catalog, read)}


def _moves(runs: dict, s: Spread, key: str, base: Any) -> bool:
    low, high = runs[(s.id, "p10")].get(key), runs[(s.id, "p90")].get(key)
    return numeric(low) and numeric(high) and abs(high - low) > 1e-9 * max(abs(low), abs(high), 1e-300)


def check_target(command: str, target: str | None) -> None:
    """``--target`` names a numeric result of the command; else a usage error with close matches."""
    if target is None:
        return
    import difflib

    valid = [k for k in fields.results_of(command) if fields.unit(k) not in ("text", "id", "bool")]
    if target not in valid:
        close = difflib.get_close_matches(target, valid, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; one of {', '.join(valid)}"
        raise InputError(f"--target: {target} is not a numeric result of {command}{hint}"[:400])
