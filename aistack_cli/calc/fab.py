"""Dies per wafer, die yield, and the cost of a good die and of a finished package.

Geometry: the usable wafer is a circle of diameter d = wafer diameter − 2 · edge exclusion;
each die occupies a pitch cell (die + scribe lane) on a rectangular grid. The classic estimate
of gross dies is π·(d/2)²/A − π·d/√(2·A) (Hennessy & Patterson, *Computer Architecture: A
Quantitative Approach*, ch. 1: wafer area over die area, less the partial dies along the
circumference). The exact count is the largest number of whole pitch cells inside the circle
over grid offsets, found row by row (see ``gross_dies``).

Yield of a die of area A (cm²) at defect density D0 (per cm²): Poisson e^(−A·D0) (defects
land independently); Murphy ((1 − e^(−A·D0))/(A·D0))² (Murphy 1964, Proc. IEEE 52(12));
Seeds 1/(1 + A·D0) (the exponential-density form, after Seeds 1967); negative binomial
(1 + A·D0/α)^(−α) with clustering α (Stapper 1973, IEEE Trans. Electron Devices 20(7)).
Cost per good die = wafer cost / (gross dies · yield); a package adds its dies, HBM stacks,
interposer and assembly and is divided by the packaging yield (known-good dies assumed).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import lru_cache

from aistack_cli.calc.common import Step, fmt

YIELD_MODELS = ("poisson", "murphy", "seeds", "negative-binomial")
RETICLE_W_MM, RETICLE_H_MM = 26.0, 33.0
RETICLE_MM2 = RETICLE_W_MM * RETICLE_H_MM
SRC_RETICLE = "scanner exposure field 26 × 33 mm = 858 mm² (specs_facts D2; 'The Economics of Chiplets')"
SRC_APPROX = "Hennessy & Patterson, Computer Architecture: A Quantitative Approach, ch. 1"
SRC_EXACT = "whole pitch cells inside the usable circle, best grid offset (row-by-row count)"
SRC_YIELD = {
    "poisson": "Poisson: killer defects land independently at random",
    "murphy": "Murphy 1964 (Proc. IEEE 52(12)): triangular spread of defect density",
    "seeds": "Seeds 1967, exponential spread of defect density: 1/(1 + A·D0)",
    "negative-binomial": "Stapper 1973 (IEEE Trans. Electron Devices 20(7)): clustered defects",
}
FIT_EPS_MM = 1e-9  # a corner exactly on the circle counts as inside
OFFSET_RESOLUTION = 1e-4  # row offsets are refined to this fraction of the pitch
WORK_BUDGET_ROWS = 400  # row evaluations per count: keeps a 10,000-point sweep to seconds


@dataclass(frozen=True)
class Wafer:
    diameter_mm: float
    edge_exclusion_mm: float
    cost_usd: float | None  # None: count dies and yield only


@dataclass(frozen=True)
class Die:
    width_mm: float
    height_mm: float
    scribe_mm: float
    shape_given: bool = True  # False: a square assumed from the area alone

    @property
    def area_mm2(self) -> float:
        return self.width_mm * self.height_mm


@dataclass(frozen=True)
class YieldSpec:
    model: str
    defect_density_per_cm2: float
    clustering_alpha: float = 2.0
    given_yield: float | None = None  # overrides the model when set


@dataclass(frozen=True)
class Package:
    dies_per_package: int = 1
    hbm_stacks: int = 0
    hbm_stack_cost_usd: float = 0.0
    interposer_cost_usd: float = 0.0
    assembly_cost_usd: float = 0.0
    packaging_yield: float = 1.0


@dataclass(frozen=True)
class FabResult:
    usable_diameter_mm: float
    gross_dies_per_wafer: int
    gross_dies_per_wafer_approx: float
    wafer_area_used_fraction: float
    die_yield: float
    good_dies_per_wafer: float
    cost_per_gross_die_usd: float | None
    cost_per_good_die_usd: float | None
    package_dies_cost_usd: float | None
    package_hbm_cost_usd: float | None
    package_cost_usd: float | None
    wafers_needed: int | None
    run_wafer_cost_usd: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- geometry ----------------------------------------------------------------------------

def gross_dies_approx(usable_diameter_mm: float, pitch_area_mm2: float) -> float:
    """π·(d/2)²/A − π·d/√(2·A): wafer area over die area, less the edge loss (H&P ch. 1).

    Never below zero: for a die close to the wafer size the edge term overshoots.
    """
    d, a = usable_diameter_mm, pitch_area_mm2
    return max(0.0, math.pi * (d / 2) ** 2 / a - math.pi * d / math.sqrt(2 * a))


def _half_chords(radius: float, height: float, low: float, high: float) -> list[float]:
    """Half-chord of every row band [o + j·h, o + (j+1)·h] inside the circle, with the row
    offset o in [low, high] chosen to centre each band best (low == high: that offset).

    A band's allowed span is set by its edge farthest from the centre: √(R² − far²).
    """
    first = math.ceil((-radius - high) / height - 1e-12)
    last = math.floor((radius - low) / height + 1e-12)
    r2, centred, sqrt = radius * radius, -height / 2, math.sqrt
    chords = []
    for j in range(first, last):
        bottom = low + j * height
        if bottom < centred:
            bottom = min(centred, high + j * height)
        far = bottom + height if bottom + height > -bottom else -bottom
        if far <= radius:
            chords.append(sqrt(r2 - far * far) + FIT_EPS_MM)
    return chords


def _row_count(half_chords: list[float], width: float) -> int:
    """Dies in rows with these half-chords, at the best column offset (exact).

    A row spanning [−c, c] holds floor(L/w) or floor(L/w) + 1 dies, L = 2c − w: it gets the
    extra die when the column offset falls on an arc of length L mod w that starts at −c
    (mod w). The best column offset is where most arcs overlap: a sweep over sorted ends.
    """
    total = 0
    starts: list[float] = []
    ends: list[float] = []
    for c in half_chords:
        span = 2 * c - width
        if span < 0:
            continue
        whole = int(span // width)
        total += whole
        start = (-c) % width
        end = start + span - whole * width
        if end < width:
            starts.append(start)
            ends.append(end)
        else:  # the arc wraps past the period: split it in two
            starts += (start, 0.0)
            ends += (width, end - width)
    return total + _max_overlap(starts, ends)


def _max_overlap(starts: list[float], ends: list[float]) -> int:
    """Most closed intervals [start, end] sharing a point (each end is at or after its start)."""
    starts.sort()
    ends.sort()
    best = current = j = 0
    for start in starts:
        while ends[j] < start:
            current -= 1
            j += 1
        current += 1
        if current > best:
            best = current
    return best


@lru_cache(maxsize=4096)
def gross_dies(usable_diameter_mm: float, pitch_w_mm: float, pitch_h_mm: float) -> tuple[int, int, bool]:
    """Most whole pitch cells inside the circle; row offsets examined; whether proven best.

    The column offset is optimal for each row offset (``_row_count``). Row offsets are
    searched by branch and bound on [0, h/2] (mirror symmetry): an interval's upper bound is
    the count with every row at its widest span over the interval, so an interval that cannot
    beat the best count found is dropped, and the rest are halved down to 1e-4 of the pitch.
    Each offset costs O(rows); a budget of row evaluations caps the search for small dies,
    which then report the best offset found rather than a proven optimum.
    """
    radius = usable_diameter_mm / 2
    width, height = sorted((pitch_w_mm, pitch_h_mm))  # fewer, longer rows (the circle is symmetric)
    budget = max(3, WORK_BUDGET_ROWS // max(1, int(usable_diameter_mm / height)))

    def count(low: float, high: float) -> int:
        return _row_count(_half_chords(radius, height, low, high), width)

    best = max(count(0.0, 0.0), count(height / 2, height / 2))  # row edge, row centre on the axis
    if budget <= 3:  # many rows: those two offsets are all the budget allows
        return best, 2, False
    queue = [(-count(0.0, height / 2), 0.0, height / 2)]
    examined, capped = 3, False
    while queue and -queue[0][0] > best:
        if examined >= budget:
            capped = True
            break
        _, low, high = heapq.heappop(queue)
        middle = (low + high) / 2
        best = max(best, count(middle, middle))
        examined += 1
        if high - low < OFFSET_RESOLUTION * height:
            continue
        for a, b in ((low, middle), (middle, high)):
            bound = count(a, b)
            examined += 1
            if bound > best:
                heapq.heappush(queue, (-bound, a, b))
    return best, examined, not capped


# ---- yield -------------------------------------------------------------------------------

def die_yield(model: str, area_cm2: float, defect_density_per_cm2: float, alpha: float = 2.0) -> float:
    """Fraction of dies with no killer defect under ``model`` (see the module docstring)."""
    x = area_cm2 * defect_density_per_cm2
    if x == 0:
        return 1.0
    if model == "poisson":
        return math.exp(-x)
    if model == "murphy":
        return (-math.expm1(-x) / x) ** 2
    if model == "seeds":
        return 1.0 / (1.0 + x)
    if model == "negative-binomial":
        return math.exp(-alpha * math.log1p(x / alpha))
    raise ValueError(f"unknown yield model {model!r}")


YIELD_FORMULAS = {
    "poisson": "e^(−A·D0)",
    "murphy": "((1 − e^(−A·D0)) / (A·D0))²",
    "seeds": "1 / (1 + A·D0)",
    "negative-binomial": "(1 + A·D0/α)^(−α)",
}


# ---- the whole calculation ---------------------------------------------------------------

def fab_cost(wafer: Wafer, die: Die, spec: YieldSpec, package: Package | None = None,
             units: int | None = None) -> FabResult:
    """Dies per wafer, yield, cost per good die, package cost and wafers for ``units``."""
    steps: list[Step] = []
    assumptions: list[str] = []
    warnings: list[str] = []
    d = wafer.diameter_mm - 2 * wafer.edge_exclusion_mm
    pw, ph = die.width_mm + die.scribe_mm, die.height_mm + die.scribe_mm
    gross, examined, proven = gross_dies(d, pw, ph)
    approx = gross_dies_approx(d, pw * ph)
    search = "best grid offset" if proven else f"best of {examined} grid offsets searched"
    steps += _geometry_steps(wafer, die, d, pw, ph, gross, approx, search)
    used = gross * die.area_mm2 / (math.pi * (wafer.diameter_mm / 2) ** 2)
    assumptions.append("gross dies: whole die + scribe cells inside the usable circle at the best grid offset "
                       f"(small dies: best found in a capped search); the approximation beside it is {SRC_APPROX}")
    yld = _yield(die, spec, steps, assumptions)
    good = gross * yld
    steps.append(Step("good_dies_per_wafer", "gross_dies_per_wafer · die_yield",
                      f"{gross} · {yld:.4g}", good, "dies", "expected defect-free dies"))
    costs = _costs(wafer, gross, good, steps, warnings)
    pack = _package(package, costs.get("good"), steps, assumptions) if package else {}
    run = _run(wafer, units, good, package, steps, warnings) if units else {}
    _reticle_warning(die, warnings)
    return FabResult(
        usable_diameter_mm=d, gross_dies_per_wafer=gross, gross_dies_per_wafer_approx=approx,
        wafer_area_used_fraction=used, die_yield=yld, good_dies_per_wafer=good,
        cost_per_gross_die_usd=costs.get("gross"), cost_per_good_die_usd=costs.get("good"),
        package_dies_cost_usd=pack.get("dies"), package_hbm_cost_usd=pack.get("hbm"),
        package_cost_usd=pack.get("total"), wafers_needed=run.get("wafers"),
        run_wafer_cost_usd=run.get("cost"),
        assumptions=tuple(assumptions), warnings=tuple(warnings), steps=tuple(steps),
    )


def _geometry_steps(wafer, die, d, pw, ph, gross, approx, search) -> list[Step]:
    return [
        Step("usable_diameter_mm", "wafer_diameter − 2 · edge_exclusion",
             f"{fmt(wafer.diameter_mm)} − 2 · {fmt(wafer.edge_exclusion_mm)}", d, "mm",
             "edge ring is not patterned with product dies"),
        Step("die_pitch_area_mm2", "(width + scribe) · (height + scribe)",
             f"({fmt(die.width_mm)} + {fmt(die.scribe_mm)}) · ({fmt(die.height_mm)} + {fmt(die.scribe_mm)})",
             pw * ph, "mm²", "each die occupies its own area plus one scribe lane per axis"),
        Step("gross_dies_per_wafer_approx", "π·(d/2)²/A − π·d/√(2·A)",
             f"π·({fmt(d)}/2)²/{pw * ph:.4g} − π·{fmt(d)}/√(2·{pw * ph:.4g})", approx, "dies", SRC_APPROX),
        Step("gross_dies_per_wafer", "max over grid offsets of whole pitch cells inside the circle",
             f"{pw:.4g} × {ph:.4g} mm cells in d = {fmt(d)} mm, {search}",
             gross, "dies", SRC_EXACT),
    ]


def _yield(die: Die, spec: YieldSpec, steps: list, assumptions: list) -> float:
    area_cm2 = die.area_mm2 / 100
    if spec.given_yield is not None:
        assumptions.append(f"die yield {spec.given_yield:.1%} given (--die-yield); no defect model applied")
        steps.append(Step("die_yield", "given", fmt(spec.given_yield), spec.given_yield, "fraction", "--die-yield"))
        return spec.given_yield
    yld = die_yield(spec.model, area_cm2, spec.defect_density_per_cm2, spec.clustering_alpha)
    product = f"{area_cm2:.4g}·{fmt(spec.defect_density_per_cm2)}"
    substituted = YIELD_FORMULAS[spec.model].replace("A·D0", product).replace("α", fmt(spec.clustering_alpha))
    steps.append(Step("die_yield", YIELD_FORMULAS[spec.model] + " (A in cm², D0 per cm²)", substituted,
                      yld, "fraction", SRC_YIELD[spec.model]))
    assumptions.append("die yield counts defect-free dies only; harvesting (e.g. GH100 sells with 132 of "
                       "144 SMs enabled) and repair make more dies sellable")
    return yld


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _costs(wafer: Wafer, gross: int, good: float, steps: list, warnings: list) -> dict:
    if wafer.cost_usd is None:
        return {}
    per_gross = wafer.cost_usd / gross
    per_good = _finite(wafer.cost_usd / good) if good > 0 else None
    steps.append(Step("cost_per_gross_die_usd", "wafer_cost / gross_dies_per_wafer",
                      f"{fmt(wafer.cost_usd)} / {gross}", per_gross, "USD", "wafer cost spread over every die"))
    if per_good is None:
        warnings.append("no die is expected to be free of defects: the cost of a good die is unbounded")
        return {"gross": per_gross}
    steps.append(Step("cost_per_good_die_usd", "wafer_cost / good_dies_per_wafer",
                      f"{fmt(wafer.cost_usd)} / {good:.4g}", per_good, "USD", "bad dies are paid for by good ones"))
    return {"gross": per_gross, "good": per_good}


def _package(package: Package, die_cost: float | None, steps: list, assumptions: list) -> dict:
    hbm = package.hbm_stacks * package.hbm_stack_cost_usd
    dies = package.dies_per_package * die_cost if die_cost is not None else None
    if dies is None:
        return {"hbm": hbm}
    parts = dies + hbm + package.interposer_cost_usd + package.assembly_cost_usd
    total = _finite(parts / package.packaging_yield)
    steps.append(Step("package_cost_usd", "(dies · die_cost + stacks · stack_cost + interposer + assembly) / packaging_yield",
                      f"({package.dies_per_package} · {die_cost:.4g} + {package.hbm_stacks} · "
                      f"{fmt(package.hbm_stack_cost_usd)} + {fmt(package.interposer_cost_usd)} + "
                      f"{fmt(package.assembly_cost_usd)}) / {fmt(package.packaging_yield)}",
                      total if total is not None else math.inf, "USD",
                      "a failed assembly scraps its known-good dies and HBM"))
    if package.packaging_yield == 1:
        assumptions.append("packaging yield 100% (no published CoWoS yield; set --packaging-yield)")
    for name, value in (("interposer", package.interposer_cost_usd), ("assembly and test", package.assembly_cost_usd)):
        if value == 0:
            assumptions.append(f"{name} cost not given: counted as $0")
    return {"dies": dies, "hbm": hbm, "total": total}


def _run(wafer: Wafer, units: int, good: float, package: Package | None, steps: list, warnings: list) -> dict:
    per_unit = package.dies_per_package / package.packaging_yield if package else 1.0
    dies_needed = units * per_unit
    ratio = dies_needed / good if good > 0 else math.inf
    if not math.isfinite(ratio):
        warnings.append("no good dies expected: the production run cannot be sized")
        return {}
    wafers = math.ceil(ratio - 1e-9)
    steps.append(Step("wafers_needed", "ceil(units · dies_per_package / packaging_yield / good_dies_per_wafer)",
                      f"ceil({units} · {per_unit:.4g} / {good:.4g})", wafers, "wafers",
                      "expected yield; real lots vary wafer to wafer"))
    cost = _finite(wafers * wafer.cost_usd) if wafer.cost_usd is not None else None
    return {"wafers": wafers, "cost": cost}


def _reticle_warning(die: Die, warnings: list) -> None:
    w, h = die.width_mm, die.height_mm
    fits = (w <= RETICLE_W_MM and h <= RETICLE_H_MM) or (w <= RETICLE_H_MM and h <= RETICLE_W_MM)
    if die.area_mm2 > RETICLE_MM2:
        warnings.append(f"die area {die.area_mm2:,.0f} mm² exceeds the {RETICLE_MM2:.0f} mm² reticle limit "
                        f"({SRC_RETICLE}): it cannot be printed in one exposure")
    elif not fits and die.shape_given:
        warnings.append(f"a {w:g} × {h:g} mm die does not fit the 26 × 33 mm reticle field ({SRC_RETICLE})")
