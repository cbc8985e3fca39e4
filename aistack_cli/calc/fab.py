"""Dies per wafer, die yield with and without redundancy, and the cost of a finished package.

Geometry: the usable wafer is a circle of diameter d = wafer diameter − 2 · edge exclusion;
each die occupies a pitch cell (die + scribe lane) on a rectangular grid. The classic estimate
of gross dies is π·(d/2)²/A − π·d/√(2·A) (Hennessy & Patterson, *Computer Architecture: A
Quantitative Approach*, ch. 1: wafer area over die area, less the partial dies along the
circumference). The exact count is the largest number of whole pitch cells inside the circle
over grid offsets, found row by row (see ``gross_dies``).

Yield of a die of area A (cm²) at defect density D0 (per cm²), λ = A·D0: every model is a
Poisson count of killer defects whose mean λ·t varies from die to die (t has mean 1), and the
yield is the chance of no defect, E[e^(−λt)]:
- Poisson e^(−λ) (t = 1: defects land independently);
- Murphy ((1 − e^(−λ))/λ)² (Murphy 1964, Proc. IEEE 52(12): t triangular on [0, 2]);
- Seeds 1/(1 + λ) (after Seeds 1967: t exponential);
- negative binomial (1 + λ/α)^(−α) (Stapper 1973, IEEE Trans. Electron Devices 20(7): t gamma
  with shape α, "clustering").

Yield with redundancy (harvesting): a die of N identical cores (SMs, CUs) sells when at most k
of them hold a killer defect and the rest of the die (the "support") holds none. Koren & Koren,
"Defect Tolerant VLSI Circuits: Techniques and Yield Analysis", Proc. IEEE 86(9), 1998, give the
yield under large-area clustering (one defect density for the whole die) as
    Y = Σ_{i=N−k}^{N} C(N,i) Σ_{j=0}^{N−i} (−1)^j C(N−i,j) L(λ_s + (i+j)·λ_c),
with L the model's yield function above, λ_c = λ of one core and λ_s of the support. Its
alternating sum loses every digit for GPU-sized N (C(144,12) ≈ 1.6e17), so ``sellable_yield``
evaluates the same expectation as a sum of positive terms over the number of defects on the die:
Y = Σ_x P(X = x) · (1 − s)^x · P(x defects hit at most k distinct cores), where s is the support's
share of the die area and the last factor comes from the occupancy recurrence (each defect lands
in a uniformly chosen core). Scope ``core`` is Koren & Koren's small-area clustering instead: each
core draws its own density, so cores fail independently with the model's yield at core area
(Hennessy & Patterson's case study 1.3 works it so).

A package adds its dies (known-good after test), HBM stacks, interposer (CoWoS) and assembly, test
and burn-in, divided by the packaging yield; mask sets and design NRE spread over a volume make
the unit cost.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from aistack_cli.calc.common import Step, fmt

YIELD_MODELS = ("poisson", "murphy", "seeds", "negative-binomial")
SCOPES = ("die", "core")
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
SRC_REDUNDANCY = ("Koren & Koren, 'Defect Tolerant VLSI Circuits: Techniques and Yield Analysis', Proc. IEEE "
                  "86(9), 1998: at most k of N cores defective, none in the support")
SRC_MATURITY = "D0 falls towards a mature floor after volume production starts (TSMC N7/N5 disclosures)"
FIT_EPS_MM = 1e-9  # a corner exactly on the circle counts as inside
OFFSET_RESOLUTION = 1e-4  # row offsets are refined to this fraction of the pitch
WORK_BUDGET_ROWS = 400  # row evaluations per count: keeps a 10,000-point sweep to seconds
TAIL = 1e-14  # defect counts beyond this much probability are not summed
MAX_SPARES_EXACT = 1000  # spare cores beyond which the occupancy recurrence is refused when it matters
MAX_DEFECTS = 100_000  # defect counts summed at most (a die this defective yields nothing anyway)


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
    given_yield: float | None = None  # overrides the defect model when set
    wafer_yield: float = 1.0  # share of wafers that reach the end of the line (H&P ch. 1)


@dataclass(frozen=True)
class Redundancy:
    """N cores of which ``cores_enabled`` must work; ``core_area_mm2`` None: the cores tile the die."""

    cores: int
    cores_enabled: int
    core_area_mm2: float | None = None
    scope: str = "die"  # die: one defect density per die (large-area clustering); core: per core

    @property
    def spares(self) -> int:
        return self.cores - self.cores_enabled


@dataclass(frozen=True)
class DieSpec:
    """One kind of die in a package, printed on its own wafer."""

    wafer: Wafer
    die: Die
    spec: YieldSpec
    count: int = 1
    redundancy: Redundancy | None = None
    label: str = "die"


@dataclass(frozen=True)
class Package:
    dies_per_package: int = 1
    hbm_stacks: int = 0
    hbm_stack_cost_usd: float = 0.0
    interposer_cost_usd: float = 0.0  # packaging: interposer or CoWoS, substrate
    assembly_cost_usd: float = 0.0  # assembly, test and burn-in
    packaging_yield: float = 1.0
    other_dies: tuple[DieSpec, ...] = ()  # further die types (I/O or base dies)


@dataclass(frozen=True)
class Nre:
    """One-off costs of a design, spread over the units made."""

    mask_cost_usd: float
    design_cost_usd: float
    volume: int


@dataclass(frozen=True)
class DieResult:
    usable_diameter_mm: float
    gross: int
    approx: float
    area_used: float
    die_yield: float  # defect-free (× wafer yield)
    sellable: float  # with the allowed cores disabled (× wafer yield)
    good: float
    cost_gross: float | None
    cost_good: float | None


@dataclass(frozen=True)
class FabResult:
    usable_diameter_mm: float
    gross_dies_per_wafer: int
    gross_dies_per_wafer_approx: float
    wafer_area_used_fraction: float
    die_yield: float
    sellable_die_yield: float
    harvested_fraction: float
    enabled_core_fraction: float | None
    good_dies_per_wafer: float
    cost_per_gross_die_usd: float | None
    cost_per_good_die_usd: float | None
    package_dies_cost_usd: float | None
    package_hbm_cost_usd: float | None
    package_packaging_cost_usd: float | None
    package_test_cost_usd: float | None
    package_yield_loss_usd: float | None
    package_cost_usd: float | None
    nre_cost_usd_per_unit: float | None
    unit_cost_usd: float | None
    logic_cost_fraction: float | None
    hbm_cost_fraction: float | None
    packaging_cost_fraction: float | None
    test_cost_fraction: float | None
    yield_loss_fraction: float | None
    nre_cost_fraction: float | None
    wafers_needed: int | None
    run_wafer_cost_usd: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- geometry ----------------------------------------------------------------------------

def usable_diameter_mm(diameter_mm: float, edge_exclusion_mm: float) -> float:
    """The patterned circle: wafer diameter less the edge ring on both sides."""
    return diameter_mm - 2 * edge_exclusion_mm


def pitch_fits(usable_mm: float, width_mm: float, height_mm: float, scribe_mm: float) -> bool:
    """Whether one die with its scribe lane fits in the usable circle (its diagonal does)."""
    return math.hypot(width_mm + scribe_mm, height_mm + scribe_mm) <= usable_mm


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


# ---- yield without redundancy ------------------------------------------------------------

def defect_free_yield(model: str, lam: float, alpha: float = 2.0) -> float:
    """E[e^(−λt)]: the chance of no killer defect when λ defects are expected (module docstring)."""
    if lam == 0:
        return 1.0
    if model == "poisson":
        return math.exp(-lam)
    if model == "murphy":
        return (-math.expm1(-lam) / lam) ** 2
    if model == "seeds":
        return 1.0 / (1.0 + lam)
    if model == "negative-binomial":
        return math.exp(-alpha * math.log1p(lam / alpha))
    raise ValueError(f"unknown yield model {model!r}")


def die_yield(model: str, area_cm2: float, defect_density_per_cm2: float, alpha: float = 2.0) -> float:
    """Fraction of dies with no killer defect under ``model`` (see the module docstring)."""
    return defect_free_yield(model, area_cm2 * defect_density_per_cm2, alpha)


YIELD_FORMULAS = {
    "poisson": "e^(−A·D0)",
    "murphy": "((1 − e^(−A·D0)) / (A·D0))²",
    "seeds": "1 / (1 + A·D0)",
    "negative-binomial": "(1 + A·D0/α)^(−α)",
}


# ---- defect counts -----------------------------------------------------------------------

def _poisson_terms(lam: float) -> list[float]:
    """Poisson(λ) probabilities past the mode until a term is below 1e-18 of the largest (the tail after it
    is smaller still: the terms fall faster than geometrically there)."""
    term = math.exp(-lam)
    terms = [term]
    x, peak = 0, term
    while x < lam or term > 1e-18 * peak:
        x += 1
        term = term * lam / x
        terms.append(term)
        if term > peak:
            peak = term
        elif term == 0.0:
            break
    return terms


def _murphy_terms(lam: float) -> Iterator[float]:
    """Counts under Murphy's triangular density on [0, 2λ].

    The triangle is the law of λ·(U1 + U2) for independent uniforms, so the count is the sum of
    two independent Poisson counts mixed over a uniform mean on [0, λ], each with probabilities
    q_x = P(Poisson(λ) > x) / λ. The tails are summed from the top, so no digit cancels; the
    convolution is formed term by term, as far as the caller reads.
    """
    poisson = _poisson_terms(lam)
    size = len(poisson)
    q = [0.0] * size
    tail = 0.0
    for x in range(size - 1, -1, -1):
        q[x] = tail / lam
        tail += poisson[x]
    q[0] = -math.expm1(-lam) / lam  # P(X1 = 0) exactly
    backwards = q[::-1]  # backwards[size - 1 - j] = q[j]
    mul = operator.mul
    for x in range(size):  # Σ_{i=0}^{x} q_i · q_(x−i)
        yield sum(map(mul, q[:x + 1], backwards[size - 1 - x:]))
    for x in range(size, 2 * size - 1):  # Σ_{i=x−size+1}^{size−1} q_i · q_(x−i)
        yield sum(map(mul, q[x - size + 1:], backwards[:2 * size - 1 - x]))


def defect_counts(model: str, lam: float, alpha: float = 2.0) -> Iterator[float]:
    """P(X = 0), P(X = 1), ...: killer defects on one die when λ are expected, under ``model``."""
    if model == "murphy":
        yield from _murphy_terms(lam)
        return
    if model == "poisson":
        p, ratio, shape = math.exp(-lam), lam, None
    else:
        shape = 1.0 if model == "seeds" else alpha
        p, ratio = math.exp(-shape * math.log1p(lam / shape)), lam / (shape + lam)
    x = 0
    while True:
        yield p
        p = p * ratio / (x + 1) if shape is None else p * (x + shape) / (x + 1) * ratio
        x += 1


# ---- yield with redundancy ---------------------------------------------------------------

@lru_cache(maxsize=4096)
def sellable_yield(model: str, lam: float, alpha: float, redundancy: Redundancy, die_area_mm2: float) -> float:
    """Share of dies that sell with at most ``spares`` cores disabled (module docstring)."""
    cores, spares = redundancy.cores, redundancy.spares
    core_area = redundancy.core_area_mm2 if redundancy.core_area_mm2 is not None else die_area_mm2 / cores
    support = max(0.0, 1.0 - cores * core_area / die_area_mm2)
    if redundancy.scope == "core":
        return _independent_cores(model, lam, alpha, cores, spares, core_area / die_area_mm2, support)
    return _clustered_die(model, lam, alpha, cores, spares, support)


def _independent_cores(model, lam, alpha, cores, spares, core_share, support) -> float:
    """Support defect-free, then at most ``spares`` of ``cores`` independent cores bad (binomial)."""
    good = defect_free_yield(model, lam * core_share, alpha)
    rest = defect_free_yield(model, lam * support, alpha)
    if good >= 1.0:
        return rest
    if good <= 0.0:
        return 0.0
    log_good, log_bad = math.log(good), math.log1p(-good)
    lg = math.lgamma
    total = sum(math.exp(lg(cores + 1) - lg(j + 1) - lg(cores - j + 1) + (cores - j) * log_good + j * log_bad)
                for j in range(spares + 1))
    return rest * min(1.0, total)


def _clustered_die(model, lam, alpha, cores, spares, support) -> float:
    """Σ_x P(X = x)·(1 − s)^x·P(x defects hit ≤ k cores): one defect density for the whole die."""
    if spares == 0 or lam == 0:
        return defect_free_yield(model, lam, alpha)
    keep = 1.0 - support
    track = spares <= MAX_SPARES_EXACT  # beyond: only counts up to k may matter (checked as they come)
    occupied = [1.0] + [0.0] * spares if track else []  # P(exactly d cores hit | x defects in cores)
    hit = [d / cores for d in range(spares + 1)] if track else []  # the defect lands in a core already hit
    new = [(cores - d + 1) / cores for d in range(spares + 1)] if track else []  # ... or in a fresh one
    inside, total, cdf, scale = 1.0, 0.0, 0.0, 1.0
    for x, p in enumerate(defect_counts(model, lam, alpha)):
        h = scale * inside  # P(sellable | x defects): never rises with x, so what is left is below h · P(X > x)
        total += p * h
        cdf += p
        if (1.0 - cdf) * h < TAIL or x > MAX_DEFECTS:
            break
        scale *= keep
        if not track:
            if x + 1 > spares:
                raise ValueError(f"cores: {spares:,} spare cores with this many defects expected cannot be "
                                 "evaluated exactly")
            continue
        top = x + 1 if x < spares else spares
        for d in range(top, 0, -1):  # one more defect lands in a uniformly chosen core
            occupied[d] = occupied[d] * hit[d] + occupied[d - 1] * new[d]
        occupied[0] = 0.0
        if x + 1 > spares:
            inside = sum(occupied)
    return min(1.0, total)


def matured_defect_density(d0: float, sheet_quarter: float, quarter: float, mature_ratio: float,
                           learning_quarters: float) -> float:
    """D0 moved along the learning curve D(q) ∝ r + (1 − r)·e^(−q/τ), q in quarters from the start of
    volume production: the sheet's D0 at its own stage, rescaled to ``quarter``."""
    def shape(q: float) -> float:
        return mature_ratio + (1.0 - mature_ratio) * math.exp(-q / learning_quarters)

    return d0 * shape(quarter) / shape(sheet_quarter)


# ---- package parts -----------------------------------------------------------------------

def hbm_stack_cost_usd(price_usd: float, price_capacity_bytes: float, stack_bytes: float) -> float:
    """A stack's price at the quoted stack's $/GB."""
    return price_usd / price_capacity_bytes * stack_bytes


def interposer_cost_usd(price_usd: float, price_area_mm2: float, area_mm2: float) -> float:
    """An interposer's price at the quoted package's $/mm² of interposer."""
    return price_usd / price_area_mm2 * area_mm2


def nre_per_unit_usd(nre: Nre) -> float:
    return (nre.mask_cost_usd + nre.design_cost_usd) / nre.volume


# ---- one die type ------------------------------------------------------------------------

def die_economics(d: DieSpec, steps: list[Step] | None, assumptions: list[str], warnings: list[str]) -> DieResult:
    """Geometry, yield and cost of one die type (the steps are labelled unless it is the main die)."""
    wafer, die, spec = d.wafer, d.die, d.spec
    tag = "" if d.label == "die" else f" ({d.label})"
    usable = usable_diameter_mm(wafer.diameter_mm, wafer.edge_exclusion_mm)
    pw, ph = die.width_mm + die.scribe_mm, die.height_mm + die.scribe_mm
    gross, examined, proven = gross_dies(usable, pw, ph)
    approx = gross_dies_approx(usable, pw * ph)
    if steps is not None and not tag:
        search = "best grid offset" if proven else f"best of {examined} grid offsets searched"
        steps += _geometry_steps(wafer, die, usable, pw, ph, gross, approx, search)
    elif steps is not None:
        steps.append(Step(f"gross_dies_per_wafer{tag}", "whole pitch cells inside the circle",
                          f"{pw:.4g} × {ph:.4g} mm cells in d = {fmt(usable)} mm", gross, "dies", SRC_EXACT))
    used = gross * die.area_mm2 / (math.pi * (wafer.diameter_mm / 2) ** 2)
    clean, sellable = _yields(d, steps, assumptions, tag)
    good = gross * sellable
    if steps is not None:
        steps.append(Step(f"good_dies_per_wafer{tag}", "gross_dies_per_wafer · sellable_die_yield",
                          f"{gross} · {sellable:.4g}", good, "dies", "dies that can be sold"))
    costs = _costs(wafer, gross, good, steps, warnings, tag)
    return DieResult(usable, gross, approx, used, clean, sellable, good, costs.get("gross"), costs.get("good"))


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


def _yields(d: DieSpec, steps: list, assumptions: list, tag: str) -> tuple[float, float]:
    """(defect-free, sellable) yield, both times the wafer yield."""
    die, spec, red = d.die, d.spec, d.redundancy
    wafer_yield = spec.wafer_yield
    if spec.given_yield is not None:
        if not tag:
            assumptions.append(f"die yield {spec.given_yield:.1%} given (--die-yield); no defect model applied")
        value = spec.given_yield * wafer_yield
        if steps is not None:
            steps.append(Step(f"die_yield{tag}", "given · wafer_yield",
                              f"{fmt(spec.given_yield)} · {fmt(wafer_yield)}", value, "fraction", "--die-yield"))
        return value, value
    area_cm2 = die.area_mm2 / 100
    lam = area_cm2 * spec.defect_density_per_cm2
    if red is not None and red.scope == "core":  # no core defective, under the same independence
        whole = Redundancy(red.cores, red.cores, red.core_area_mm2, "core")
        clean = sellable_yield(spec.model, lam, spec.clustering_alpha, whole, die.area_mm2) * wafer_yield
    else:
        clean = defect_free_yield(spec.model, lam, spec.clustering_alpha) * wafer_yield
    if steps is not None:
        steps.append(_yield_step(spec, red, lam, area_cm2, clean, tag))
    if red is None or red.spares == 0:
        if not tag:
            assumptions.append("die yield counts defect-free dies only (give --cores and --cores-enabled for "
                               "harvesting: GH100 sells with 132 of 144 SMs)")
        return clean, clean
    sellable = sellable_yield(spec.model, lam, spec.clustering_alpha, red, die.area_mm2) * wafer_yield
    core_area = red.core_area_mm2 if red.core_area_mm2 is not None else die.area_mm2 / red.cores
    if steps is not None:
        scope = ("one defect density per die (large-area clustering)" if red.scope == "die"
                 else "each core independent (small-area clustering)")
        steps.append(Step(f"sellable_die_yield{tag}", "P(no defect in the support, ≤ k of N cores hit)",
                          f"N = {red.cores}, k = {red.spares}, core {core_area:.4g} mm², λ = {lam:.4g}, {scope}",
                          sellable, "fraction", SRC_REDUNDANCY))
    if not tag and red.core_area_mm2 is None:
        assumptions.append(f"the {red.cores} cores are taken to tile the whole die ({core_area:.3g} mm² each, as "
                           "Cerebras's H100 comparison does); logic that cannot be disabled lowers the yield "
                           "(give --core-area)")
    return clean, sellable


def _yield_step(spec: YieldSpec, red: Redundancy | None, lam: float, area_cm2: float, clean: float, tag: str) -> Step:
    product = f"{area_cm2:.4g}·{fmt(spec.defect_density_per_cm2)}"
    substituted = YIELD_FORMULAS[spec.model].replace("A·D0", product).replace("α", fmt(spec.clustering_alpha))
    formula = YIELD_FORMULAS[spec.model] + " (A in cm², D0 per cm²)"
    if spec.wafer_yield != 1.0:
        formula, substituted = f"wafer_yield · {formula}", f"{fmt(spec.wafer_yield)} · {substituted}"
    if red is not None and red.scope == "core":
        formula, substituted = "y_support · y_core^N (cores independent)", f"N = {red.cores}, λ = {lam:.4g}"
    return Step(f"die_yield{tag}", formula, substituted, clean, "fraction", SRC_YIELD[spec.model])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _costs(wafer: Wafer, gross: int, good: float, steps: list, warnings: list, tag: str = "") -> dict:
    if wafer.cost_usd is None:
        return {}
    per_gross = wafer.cost_usd / gross
    per_good = _finite(wafer.cost_usd / good) if good > 0 else None
    if steps is not None:
        steps.append(Step(f"cost_per_gross_die_usd{tag}", "wafer_cost / gross_dies_per_wafer",
                          f"{fmt(wafer.cost_usd)} / {gross}", per_gross, "USD", "wafer cost spread over every die"))
    if per_good is None:
        warnings.append(f"no die{tag} is expected to be sellable: the cost of a good die is unbounded")
        return {"gross": per_gross}
    if steps is not None:
        steps.append(Step(f"cost_per_good_die_usd{tag}", "wafer_cost / good_dies_per_wafer",
                          f"{fmt(wafer.cost_usd)} / {good:.4g}", per_good, "USD",
                          "bad dies are paid for by good ones"))
    return {"gross": per_gross, "good": per_good}


# ---- the whole calculation ---------------------------------------------------------------

def fab_cost(wafer: Wafer, die: Die, spec: YieldSpec, package: Package | None = None,
             units: int | None = None, redundancy: Redundancy | None = None, nre: Nre | None = None,
             explain: bool = True) -> FabResult:
    """Dies per wafer, yields, cost per sellable die, package cost and its parts, NRE, wafers for ``units``.

    ``explain`` False skips writing the working (``steps`` comes back empty): sweeps need only the numbers.
    """
    steps: list[Step] | None = [] if explain else None
    assumptions: list[str] = []
    warnings: list[str] = []
    main = die_economics(DieSpec(wafer, die, spec, package.dies_per_package if package else 1, redundancy),
                         steps, assumptions, warnings)
    others = [(d, die_economics(d, steps, assumptions, warnings)) for d in (package.other_dies if package else ())]
    parts = _package(package, main, others, steps, assumptions) if package else {}
    parts.update(_nre(nre, parts.get("package_cost_usd"), steps))
    parts.update(shares(parts))
    run = _run(wafer, units, main.good, package, steps, warnings) if units else {}
    _reticle_warning(die, warnings)
    return FabResult(
        usable_diameter_mm=main.usable_diameter_mm, gross_dies_per_wafer=main.gross,
        gross_dies_per_wafer_approx=main.approx, wafer_area_used_fraction=main.area_used,
        die_yield=main.die_yield, sellable_die_yield=main.sellable,
        harvested_fraction=max(0.0, main.sellable - main.die_yield),
        enabled_core_fraction=redundancy.cores_enabled / redundancy.cores if redundancy else None,
        good_dies_per_wafer=main.good,
        cost_per_gross_die_usd=main.cost_gross, cost_per_good_die_usd=main.cost_good,
        package_dies_cost_usd=parts.get("package_dies_cost_usd"),
        package_hbm_cost_usd=parts.get("package_hbm_cost_usd"),
        package_packaging_cost_usd=parts.get("package_packaging_cost_usd"),
        package_test_cost_usd=parts.get("package_test_cost_usd"),
        package_yield_loss_usd=parts.get("package_yield_loss_usd"),
        package_cost_usd=parts.get("package_cost_usd"),
        nre_cost_usd_per_unit=parts.get("nre_cost_usd_per_unit"), unit_cost_usd=parts.get("unit_cost_usd"),
        logic_cost_fraction=parts.get("logic_cost_fraction"), hbm_cost_fraction=parts.get("hbm_cost_fraction"),
        packaging_cost_fraction=parts.get("packaging_cost_fraction"),
        test_cost_fraction=parts.get("test_cost_fraction"), yield_loss_fraction=parts.get("yield_loss_fraction"),
        nre_cost_fraction=parts.get("nre_cost_fraction"),
        wafers_needed=run.get("wafers"), run_wafer_cost_usd=run.get("cost"),
        assumptions=tuple(assumptions), warnings=tuple(warnings), steps=tuple(steps or ()),
    )


def _package(package: Package, main: DieResult, others, steps: list, assumptions: list) -> dict:
    """Logic, HBM, packaging, test and yield loss of one working package."""
    hbm = package.hbm_stacks * package.hbm_stack_cost_usd
    dies = [(package.dies_per_package, main.cost_good, "die")] + [(d.count, r.cost_good, d.label) for d, r in others]
    if any(cost is None for _, cost, _ in dies):
        return {"package_hbm_cost_usd": hbm}
    logic = sum(count * cost for count, cost, _ in dies)
    parts = logic + hbm + package.interposer_cost_usd + package.assembly_cost_usd
    total = _finite(parts / package.packaging_yield)
    if steps is not None:
        steps += _package_steps(package, dies, logic, hbm, total)
    if package.packaging_yield == 1:
        assumptions.append("packaging yield 100% (give --packaging-yield, or --interposer for a packaging part "
                           "with a published yield)")
    for name, value in (("interposer (packaging)", package.interposer_cost_usd),
                        ("assembly, test and burn-in", package.assembly_cost_usd)):
        if value == 0:
            assumptions.append(f"{name} cost not given: counted as $0")
    if total is None:
        return {"package_dies_cost_usd": logic, "package_hbm_cost_usd": hbm}
    return {"package_dies_cost_usd": logic, "package_hbm_cost_usd": hbm,
            "package_packaging_cost_usd": package.interposer_cost_usd,
            "package_test_cost_usd": package.assembly_cost_usd, "package_yield_loss_usd": total - parts,
            "package_cost_usd": total}


def _package_steps(package: Package, dies, logic: float, hbm: float, total: float | None) -> list[Step]:
    logic_terms = " + ".join(f"{count} · {cost:.4g}" for count, cost, _ in dies)
    return [
        Step("package_dies_cost_usd", "Σ dies · cost per good die", logic_terms, logic, "USD",
             "known-good dies: each tested before assembly"),
        Step("package_hbm_cost_usd", "stacks · stack_cost", f"{package.hbm_stacks} · {fmt(package.hbm_stack_cost_usd)}",
             hbm, "USD", "HBM stacks bought from the memory maker"),
        Step("package_cost_usd", "(logic + HBM + packaging + test) / packaging_yield",
             f"({logic:.4g} + {fmt(hbm)} + {fmt(package.interposer_cost_usd)} + {fmt(package.assembly_cost_usd)}) / "
             f"{fmt(package.packaging_yield)}", total if total is not None else math.inf, "USD",
             "a failed assembly scraps its known-good dies and HBM"),
    ]


def _nre(nre: Nre | None, package_cost: float | None, steps: list) -> dict:
    """NRE per unit, the unit cost and every part's share of it."""
    per_unit = None
    if nre is not None:
        per_unit = nre_per_unit_usd(nre)
        if steps is not None:
            steps.append(Step("nre_cost_usd_per_unit", "(mask set + design NRE) / volume",
                              f"({fmt(nre.mask_cost_usd)} + {fmt(nre.design_cost_usd)}) / {fmt(nre.volume)}",
                              per_unit, "USD", "one-off costs spread over the units made"))
    if package_cost is None:
        return {"nre_cost_usd_per_unit": per_unit}
    unit = package_cost + (per_unit or 0.0)
    if steps is not None:
        steps.append(Step("unit_cost_usd", "package_cost + NRE per unit",
                          f"{package_cost:.4g} + {fmt(per_unit or 0.0)}", unit, "USD",
                          "what one working unit costs its maker"))
    return {"nre_cost_usd_per_unit": per_unit, "unit_cost_usd": unit}


def shares(result: dict) -> dict:
    """Each part's share of the unit cost (logic, HBM, packaging, test, yield loss, NRE)."""
    unit = result.get("unit_cost_usd")
    if not unit:
        return {}
    pairs = (("logic_cost_fraction", "package_dies_cost_usd"), ("hbm_cost_fraction", "package_hbm_cost_usd"),
             ("packaging_cost_fraction", "package_packaging_cost_usd"), ("test_cost_fraction", "package_test_cost_usd"),
             ("yield_loss_fraction", "package_yield_loss_usd"), ("nre_cost_fraction", "nre_cost_usd_per_unit"))
    return {share: (result.get(part) or 0.0) / unit for share, part in pairs}


def _run(wafer: Wafer, units: int, good: float, package: Package | None, steps: list, warnings: list) -> dict:
    per_unit = package.dies_per_package / package.packaging_yield if package else 1.0
    dies_needed = units * per_unit
    ratio = dies_needed / good if good > 0 else math.inf
    if not math.isfinite(ratio):
        warnings.append("no good dies expected: the production run cannot be sized")
        return {}
    wafers = math.ceil(ratio - 1e-9)
    if steps is not None:
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
