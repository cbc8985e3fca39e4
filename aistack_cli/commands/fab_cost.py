"""``aistack fab-cost``: dies per wafer, die yield with harvesting, the cost of a good die, and the cost
of a finished package from its parts (logic, HBM, packaging, test, NRE), alone or from a bundled bill of
materials (``--package b200``)."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import NamedTuple

from aistack_cli import units
from aistack_cli.calc.common import RESULT_META
from aistack_cli.calc.fab import (
    SCOPES, YIELD_MODELS, Die, DieSpec, FabResult, Nre, Package, Redundancy, Wafer, YieldSpec, fab_cost as compute,
    hbm_stack_cost_usd, interposer_cost_usd, matured_defect_density, pitch_fits, usable_diameter_mm,
)
from aistack_cli.commands.common import LazySteps
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt, Options

DEFAULT_DIAMETER_MM = 300.0
MIN_DIE_SIDE_MM = 0.1
DEFAULT_EDGE_MM = 3.0
DEFAULT_SCRIBE_MM = 0.1
DEFAULT_ALPHA = 2.0
SRC_EDGE = "edge exclusion 3 mm (usual 300 mm value; die-per-wafer calculators use 2–5 mm)"
SRC_SCRIBE = "scribe lane 0.1 mm (Wikipedia 'Wafer dicing': the scribe is typically around 100 µm wide)"
SRC_ALPHA = ("clustering α = 2 (negative-binomial yield, Stapper, IBM J. Res. Dev. 1983: clustering typically "
             "α ≈ 0.3–5; 2–3 is the usual planning value; α → ∞ is Poisson)")
SRC_MODEL = ("Murphy yield model (the default): between Poisson (pessimistic for large dies) and Seeds; "
             "AnandTech's N5 die-yield figures (32.0% at 100 mm², 1.271/cm²) follow it")
_SIZE = re.compile(r"^\s*([^x×X*]+?)\s*[x×X*]\s*([^x×X*]+?)\s*$")

OPTIONS = [
    Opt("package", "id", "Bundled bill of materials, e.g. b200, h100-sxm, mi300x: its parts are the defaults of "
        "every option below.", ids="package"),
    Opt("node", "id", "Process-node id, e.g. n4: wafer cost, diameter and defect density.", ids="process-node"),
    Opt("die_area", "mm2", "Die area, e.g. 814 or 814mm2 (assumed square).", field="die_area_mm2", lo=0.01, hi=1e5),
    Opt("die_size", "text", "Die width × height in mm, e.g. 26x33 or 26×33."),
    Opt("wafer_cost", "usd", "Price of one processed wafer in USD (overrides the node's).", field="wafer_cost_usd",
        lo=0, lo_open=True, hi=1e7),
    Opt("wafer_diameter", "mm", "Wafer diameter (default: the node's, else 300mm).", field="wafer_diameter_mm",
        lo=10, hi=1000),
    Opt("edge_exclusion", "mm", "Unusable ring at the wafer edge.", default=DEFAULT_EDGE_MM, default_text="3mm",
        field="edge_exclusion_mm", lo=0, hi=500),
    Opt("scribe", "mm", "Scribe lane (saw street) width between dies.", default=DEFAULT_SCRIBE_MM,
        default_text="0.1mm", field="scribe_mm", lo=0, hi=10),
    Opt("defect_density", "per_cm2", "Killer defects per cm², e.g. 0.1 (default: the node's).",
        field="defect_density_per_cm2", lo=0, hi=100),
    Opt("ramp_quarters", "ratio", "Quarters since the node started volume production (negative: before), e.g. 8: "
        "the node's defect density moves along the learning curve.", lo=-3, hi=200),
    Opt("yield_model", "word", "Yield model.", default="murphy", choices=YIELD_MODELS),
    Opt("clustering", "ratio", "Negative-binomial clustering α (2–3 typical).", default=DEFAULT_ALPHA,
        field="clustering_alpha", lo=0, lo_open=True, hi=1e3),
    Opt("die_yield", "fraction", "Known die yield, e.g. 0.8 (replaces the defect model).", field="given_die_yield",
        lo=0, lo_open=True, hi=1),
    Opt("wafer_yield", "fraction", "Share of wafers that finish the line (multiplies the die yield).", default=1.0,
        lo=0, lo_open=True, hi=1),
    Opt("cores", "int", "Harvesting: identical cores per die (SMs, CUs), e.g. 144 for GH100.", field="cores_per_die",
        lo=1, hi=1e7),
    Opt("cores_enabled", "int", "Harvesting: cores a sellable die must have working, e.g. 132 (H100 SXM).", lo=1,
        hi=1e7),
    Opt("core_area", "mm2", "Harvesting: area of one core (default: the cores tile the whole die); the rest of the "
        "die must be defect-free.", field="core_area_mm2", lo=0.0001, hi=1e5),
    Opt("clustering_scope", "word", "Harvesting: die (one defect density per die, Koren & Koren's large-area "
        "clustering) or core (each core independent, as H&P's case study).", default="die", choices=SCOPES),
    Opt("dies", "int", "Logic dies per package, e.g. 2 for B200.", field="dies_per_package", lo=1, hi=1e3,
        flags=("--dies-per-package",)),
    Opt("d2d_area", "mm2", "Die-to-die link (PHY) area added to each logic die, e.g. 20.", field="d2d_area_mm2", lo=0,
        hi=1e4),
    Opt("io_dies", "int", "A second die type per package (I/O or base dies), e.g. 4 for MI300X.", lo=0, hi=1e3),
    Opt("io_die_area", "mm2", "Area of one I/O die.", field="io_die_area_mm2", lo=0.01, hi=1e5),
    Opt("io_node", "id", "Process node of the I/O dies, e.g. n7 (N6).", ids="process-node"),
    Opt("hbm", "id", "HBM stack part for the $/GB, e.g. hbm3e-stack-24gb (aistack specs list --kind part).",
        ids="part"),
    Opt("hbm_stacks", "int", "HBM stacks per package, e.g. 5 for H100 SXM (80 GB).", lo=0, hi=1e3),
    Opt("hbm_capacity", "bytes", "Capacity of one stack, e.g. 36GiB (default: the part's).", field="hbm_stack_bytes",
        lo=1e6, hi=1e13),
    Opt("hbm_stack_cost", "usd", "USD per HBM stack (overrides the part's $/GB).", field="hbm_stack_cost_usd", lo=0,
        hi=1e6),
    Opt("interposer", "id", "Packaging part (interposer / CoWoS), e.g. cowos-l-b200: price, area and yield.",
        ids="part"),
    Opt("interposer_area", "mm2", "Interposer area: the packaging part's price scaled by area, e.g. 3300.",
        field="interposer_area_mm2", lo=1, hi=1e5),
    Opt("interposer_cost", "usd", "Packaging (interposer / CoWoS) cost per package in USD.",
        field="interposer_cost_usd", lo=0, hi=1e7),
    Opt("assembly_cost", "usd", "Assembly, test and burn-in cost per package in USD.", field="assembly_cost_usd",
        lo=0, hi=1e7),
    Opt("packaging_yield", "fraction", "Share of assemblies that work (default: the packaging part's, else 1).",
        lo=0, lo_open=True, hi=1),
    Opt("volume", "count", "Units the design's NRE (mask set, design) is spread over, e.g. 2M.", lo=1, hi=1e12),
    Opt("mask_cost", "usd", "Mask set cost in USD (default with --volume: the node's mask-set part).",
        field="mask_cost_usd", lo=0, hi=1e10),
    Opt("design_cost", "usd", "Design NRE in USD (default with --volume: the node's design-nre part).",
        field="design_cost_usd", lo=0, hi=1e11),
    Opt("units", "int", "Finished units (packages, or dies) to size a production run.", field="production_units",
        lo=1, hi=1e10),
]
EXAMPLES = (
    "aistack fab-cost --package b200",
    "aistack fab-cost --node n4 --die-area 814 --cores 144 --cores-enabled 132",
    "aistack fab-cost --node n4 --die-size 26x31.3 --hbm hbm3-stack-16gb --hbm-stacks 5 --interposer cowos-s-h100",
    "aistack fab-cost --node n3 --die-area 100:800:+100 --yield-model poisson -f csv",
)


@calculator("fab-cost", help="Dies per wafer, yield with harvesting, cost of a good die and of a packaged "
                             "accelerator from its parts (logic, HBM, packaging, test, NRE).",
            options=OPTIONS, examples=EXAMPLES,
            columns=["gross_dies_per_wafer", "die_yield", "sellable_die_yield", "cost_per_good_die_usd",
                     "package_cost_usd", "unit_cost_usd"])
def fab_cost(catalog, o) -> Point:
    setup = _setup(catalog, o)
    pkg = setup.pkg
    v = _DieValues(o, pkg)
    die, die_inputs = _die(o, v, setup.wafer)
    spec, yield_inputs, yield_notes, yield_warnings = _yield_spec(catalog, setup.sheet, o)
    redundancy, red_inputs = _redundancy(o, v, die)
    wafer, package, nre, units = setup.wafer, setup.package, setup.nre, o.units
    result = compute(wafer, die, spec, package, units, redundancy, nre, explain=False)
    steps = LazySteps(lambda: compute(wafer, die, spec, package, units, redundancy, nre).steps)
    inputs = {"package": pkg.id if pkg else None, **setup.wafer_inputs, **die_inputs, **yield_inputs, **red_inputs,
              **setup.package_inputs, **setup.nre_inputs, "production_units": units}
    lead = [SQUARE] if die_inputs["die_shape"] == "assumed square" else []
    assumptions = [*setup.lead, *lead, *setup.wafer_notes, *yield_notes, *setup.package_notes, *result.assumptions]
    return Point(inputs, _results(result, package, units, nre), assumptions,
                 [*setup.warnings, *yield_warnings, *result.warnings], steps)


SQUARE = ("die assumed square (side = √area) as only its area is known; give --die-size W×H for the count of the "
          "real shape")


class _Setup:
    """Everything a point needs that its die and yield options do not change, resolved once per distinct set
    (a 10,000-point sweep over die area looks the node, parts and bill of materials up once)."""

    def __init__(self, catalog, o):
        notes = _Notes()
        self.pkg = pkg = catalog.get("package", o.package) if o.package else None
        self.sheet = catalog.get("process-node", o.node or pkg.compute_node) if (o.node or pkg) else None
        self.wafer, self.wafer_inputs = _wafer(self.sheet, o, notes)
        self.wafer_notes = tuple(notes.assumptions)
        v = _PackageValues(o, pkg)
        notes.assumptions = []
        self.package, self.package_inputs = _package(catalog, o, v, notes)
        self.nre, self.nre_inputs = _nre(catalog, o, v, self.sheet, self.package_inputs.get("io_node"), notes)
        self.package_notes = tuple(notes.assumptions)
        self.warnings = tuple(notes.warnings)
        lead = [] if o.given("scribe") else [SRC_SCRIBE]
        if pkg is not None:
            lead.insert(0, f"bill of materials {pkg.id}: {pkg.name}; each part's price and source in its sheet "
                           "(aistack specs show PART)")
        self.lead = tuple(lead)


# Options that only the die, its yield and the run use; every other option resolves once per distinct set.
PER_POINT = ("die_area", "die_size", "d2d_area", "defect_density", "ramp_quarters", "yield_model", "clustering",
             "die_yield", "cores", "cores_enabled", "core_area", "clustering_scope", "units")
RESOLVED = tuple(opt.name for opt in OPTIONS if opt.name not in PER_POINT)
_SETUPS: dict[tuple, tuple] = {}


def _setup(catalog, o) -> _Setup:
    key = (id(catalog), o.given("scribe"), o.given("edge_exclusion"), o.yield_model, o.clustering, o.die_yield,
           *(getattr(o, name) for name in RESOLVED))
    hit = _SETUPS.get(key)
    if hit is None:
        if len(_SETUPS) > 4096:
            _SETUPS.clear()
        hit = _SETUPS[key] = (catalog, _Setup(catalog, o))  # the catalog is kept, so its id stays unique
    return hit[1]


class _Notes:
    def __init__(self) -> None:
        self.assumptions: list[str] = []
        self.warnings: list[str] = []


class _DieValues:
    """The logic die's figures: the option when given, else the bundled bill of materials'."""

    def __init__(self, o, pkg):
        own_shape = o.die_area is not None or o.die_size is not None
        self.die_area = o.die_area if own_shape or pkg is None or pkg.die_width_mm else pkg.die_area_mm2
        self.die_size = o.die_size
        self.sheet_size = (pkg.die_width_mm, pkg.die_height_mm) if pkg and not own_shape and pkg.die_width_mm else None
        self.cores = _first(o.cores, pkg.cores if pkg else None)
        self.cores_enabled = _first(o.cores_enabled, pkg.cores_enabled if pkg else None)
        self.core_area = _first(o.core_area, pkg.core_area_mm2 if pkg and o.cores is None else None)


class _PackageValues:
    """The package's figures: the option when given, else the bundled bill of materials'."""

    def __init__(self, o, pkg):
        self.pkg = pkg
        self.dies = _first(o.dies, pkg.compute_dies if pkg else None)
        self.io_dies = _first(o.io_dies, pkg.io_dies if pkg else None)
        self.io_die_area = _first(o.io_die_area, pkg.io_die_area_mm2 if pkg else None)
        self.io_node = o.io_node or (pkg.io_node if pkg else None)
        self.hbm = o.hbm or (pkg.hbm_part if pkg else None)
        self.hbm_stacks = _first(o.hbm_stacks, pkg.hbm_stacks if pkg else None)
        self.hbm_capacity = _first(o.hbm_capacity, pkg.hbm_stack_bytes if pkg else None)
        self.interposer = o.interposer or (pkg.packaging_part if pkg else None)
        self.test_part = pkg.test_part if pkg and o.assembly_cost is None else None
        self.volume = _first(o.volume, pkg.volume if pkg else None)
        self.design_parts = pkg.design_parts if pkg else []
        self.mask_parts = pkg.mask_parts if pkg else []


def _first(given, fallback):
    return given if given is not None else fallback


RESULT_KEYS = tuple(name for name in FabResult.__dataclass_fields__ if name not in RESULT_META)
PACKAGE_KEYS = ("package_dies_cost_usd", "package_hbm_cost_usd", "package_packaging_cost_usd",
                "package_test_cost_usd", "package_yield_loss_usd", "package_cost_usd")
RUN_KEYS = ("wafers_needed", "run_wafer_cost_usd")


def _results(result, package, run_units, nre) -> dict:
    """Every result, less the package, NRE and production-run keys when those were not asked for."""
    skip = (PACKAGE_KEYS if package is None else ()) + (RUN_KEYS if run_units is None else ()) + \
        (("nre_cost_usd_per_unit",) if nre is None else ())
    return {k: getattr(result, k) for k in RESULT_KEYS if k not in skip}


# ---- wafer and die ------------------------------------------------------------------------------

def _wafer(sheet, o, notes: _Notes):
    """Wafer diameter, usable area and price: the sheet's unless overridden."""
    sheet_diameter = sheet.wafer_diameter_mm if sheet else None
    diameter = o.wafer_diameter or sheet_diameter or DEFAULT_DIAMETER_MM
    edge = o.edge_exclusion
    if usable_diameter_mm(diameter, edge) <= 0:
        raise InputError(f"--edge-exclusion: {edge:g} mm on each side leaves nothing of a {diameter:g} mm wafer")
    if not o.given("edge_exclusion"):
        notes.assumptions.append(SRC_EDGE)
    cost = _wafer_cost(sheet, o.wafer_cost, notes)
    if sheet and o.wafer_cost is None and diameter != sheet_diameter:
        notes.warnings.append(f"the {sheet.id} wafer price is for a {sheet_diameter:g} mm wafer and is not "
                              f"rescaled to {diameter:g} mm; give --wafer-cost")
    inputs = {"node": sheet.id if sheet else None, "wafer_cost_usd": cost,
              "wafer_cost_year": sheet.wafer_cost_year if sheet and o.wafer_cost is None else None,
              "wafer_diameter_mm": diameter, "edge_exclusion_mm": edge}
    return Wafer(diameter, edge, cost), inputs


def _wafer_cost(sheet, given, notes: _Notes) -> float | None:
    if given is not None:
        return given
    if sheet is None:
        notes.assumptions.append("no wafer price: give --node or --wafer-cost for the costs")
        return None
    notes.assumptions.append(f"wafer ${sheet.wafer_cost_usd:,.0f} ({sheet.wafer_cost_year} estimate) from "
                             f"{sheet.id}: {sheet.sources.get('wafer', 'no source in sheet')}")
    return sheet.wafer_cost_usd


def parse_die_size(text: str) -> tuple[float, float]:
    """``26x33``, ``26×33``, ``26mm x 33mm`` -> (26.0, 33.0) in mm."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"--die-size: cannot read {text!r}; expected width×height in mm such as 26x33 or 26×33")
    return (units.positive(match.group(1), "mm", "--die-size"), units.positive(match.group(2), "mm", "--die-size"))


def _die(o, v: _DieValues, wafer: Wafer):
    if v.die_area is not None and v.die_size is not None:
        raise InputError("--die-area/--die-size: give exactly one, e.g. --die-area 814 or --die-size 26x33")
    if v.die_size is not None:
        width, height = parse_die_size(v.die_size)
    elif v.sheet_size is not None:
        width, height = v.sheet_size
    elif v.die_area is not None:
        width = height = math.sqrt(v.die_area)
    else:
        raise InputError("--die-area/--die-size: give exactly one, e.g. --die-area 814 or --die-size 26x33 "
                         "(or --package)")
    shaped = v.die_size is not None or v.sheet_size is not None
    flag = "--die-size" if v.die_size is not None else "--die-area"
    d2d = o.d2d_area or 0.0
    if d2d:
        height += d2d / width  # the link's PHY runs along one edge
    if min(width, height) < MIN_DIE_SIDE_MM:
        raise InputError(f"{flag}: a die side of {min(width, height):.3g} mm is below {MIN_DIE_SIDE_MM:g} mm")
    usable = usable_diameter_mm(wafer.diameter_mm, wafer.edge_exclusion_mm)
    if not pitch_fits(usable, width, height, o.scribe):
        raise InputError(f"{flag}: a {width:.4g} × {height:.4g} mm die (+{o.scribe:g} mm scribe) does not fit "
                         f"in the {usable:g} mm usable circle of the wafer")
    inputs = {"die_area_mm2": width * height, "die_width_mm": width, "die_height_mm": height,
              "die_shape": "given" if shaped else "assumed square", "d2d_area_mm2": o.d2d_area,
              "scribe_mm": o.scribe}
    return Die(width, height, o.scribe, shape_given=shaped), inputs


# ---- yield ---------------------------------------------------------------------------------------

def _yield_spec(catalog, sheet, o):
    model, alpha, given = o.yield_model, o.clustering, o.die_yield
    density, notes = _defect_density(catalog, sheet.id if sheet else None, o.defect_density, o.ramp_quarters, given)
    warnings = ()
    if given is None and model == "murphy":
        notes = (*notes, SRC_MODEL)
    if model == "negative-binomial" and not o.given("clustering"):
        notes = (*notes, SRC_ALPHA)
    if model != "negative-binomial" and o.given("clustering"):
        warnings = (f"--clustering applies only to --yield-model negative-binomial, not {model}",)
    inputs = {"defect_density_per_cm2": density, "ramp_quarters": o.ramp_quarters,
              "yield_model": model if given is None else None,
              "clustering_alpha": alpha if model == "negative-binomial" and given is None else None,
              "given_die_yield": given, "wafer_yield": o.wafer_yield}
    return YieldSpec(model, density or 0.0, alpha, given, o.wafer_yield), inputs, notes, warnings


@lru_cache(maxsize=1024)
def _defect_density(catalog, sheet_id, given, quarters, given_yield) -> tuple[float | None, tuple[str, ...]]:
    """The defect density and the notes it rests on (cached: sweeps ask for the same few)."""
    sheet = catalog.get("process-node", sheet_id) if sheet_id else None
    if given is not None:
        if quarters is not None:
            raise InputError("--ramp-quarters: moves the node's defect density along its learning curve; give it or "
                             "--defect-density, not both")
        return given, ()
    if given_yield is not None:
        return None, ()
    if sheet is None:
        raise InputError("--defect-density: give the defects per cm² (or --node, or --die-yield)")
    note = (f"defect density {sheet.defect_density_per_cm2:g}/cm² from {sheet.id} "
            f"({sheet.defect_density_stage or 'stage not stated'}): "
            f"{sheet.sources.get('defect_density', 'no source in sheet')}")
    if quarters is None:
        return sheet.defect_density_per_cm2, (note,)
    if sheet.defect_density_quarter is None:
        raise InputError(f"--ramp-quarters: the {sheet.id} sheet does not say at which stage its defect density "
                         "was measured (give --defect-density)")
    ratio = catalog.get("default", "defect-density-mature-ratio")
    tau = catalog.get("default", "defect-density-learning-quarters")
    density = matured_defect_density(sheet.defect_density_per_cm2, sheet.defect_density_quarter, quarters,
                                     ratio.value, tau.value)
    curve = ratio.note(f"{density:.3g}/cm² at {quarters:g} quarters from ramp on the learning curve "
                       f"D ∝ {ratio.value:g} + {1 - ratio.value:.2g}·e^(−q/{tau.value:g}), from "
                       f"{sheet.defect_density_per_cm2:g} at q = {sheet.defect_density_quarter:g}")
    return density, (note, curve)


def _redundancy(o, v: _DieValues, die: Die):
    if v.cores is None and v.cores_enabled is None:
        if o.core_area is not None:
            raise InputError("--core-area: give --cores and --cores-enabled too")
        return None, {"cores_per_die": None, "cores_enabled": None, "core_area_mm2": None, "clustering_scope": None}
    if v.cores is None or v.cores_enabled is None:
        raise InputError("--cores/--cores-enabled: give both, e.g. --cores 144 --cores-enabled 132")
    if v.cores_enabled > v.cores:
        raise InputError(f"--cores-enabled: {v.cores_enabled} is more than the {v.cores} cores of the die")
    if v.core_area is not None and v.cores * v.core_area > die.area_mm2 * (1 + 1e-9):
        raise InputError(f"--core-area: {v.cores} cores of {v.core_area:g} mm² do not fit in a "
                         f"{die.area_mm2:,.4g} mm² die")
    inputs = {"cores_per_die": v.cores, "cores_enabled": v.cores_enabled, "core_area_mm2": v.core_area,
              "clustering_scope": o.clustering_scope}
    return Redundancy(v.cores, v.cores_enabled, v.core_area, o.clustering_scope), inputs


# ---- package -------------------------------------------------------------------------------------

PACKAGE_OPTIONS = ("dies", "io_dies", "hbm", "hbm_stacks", "hbm_capacity", "hbm_stack_cost", "interposer",
                   "interposer_area", "interposer_cost", "assembly_cost", "packaging_yield", "volume")


def _package(catalog, o, v: _PackageValues, notes: _Notes):
    if v.pkg is None and all(getattr(o, n) is None for n in PACKAGE_OPTIONS):
        return None, {}
    stacks = v.hbm_stacks or 0
    stack_cost, hbm_inputs = _hbm(catalog, o, v, stacks, notes)
    interposer, packaging_yield, interposer_inputs = _interposer(catalog, o, v, notes)
    assembly = _assembly(catalog, o, v, notes)
    spec = YieldSpec(o.yield_model, 0.0, o.clustering, o.die_yield, o.wafer_yield)
    io, io_inputs = _io(catalog, o, v, spec, notes)
    package = Package(dies_per_package=v.dies or 1, hbm_stacks=stacks, hbm_stack_cost_usd=stack_cost,
                      interposer_cost_usd=interposer, assembly_cost_usd=assembly, packaging_yield=packaging_yield,
                      other_dies=(io,) if io else ())
    inputs = {"dies_per_package": package.dies_per_package, **io_inputs, **hbm_inputs, "hbm_stacks": stacks,
              "hbm_stack_cost_usd": stack_cost, **interposer_inputs, "interposer_cost_usd": interposer,
              "assembly_cost_usd": assembly, "packaging_yield": packaging_yield}
    return package, inputs


def _hbm(catalog, o, v: _PackageValues, stacks: int, notes: _Notes):
    part = catalog.get("part", v.hbm) if v.hbm else None
    if part is not None and part.category != "hbm-stack":
        raise InputError(f"--hbm: {part.id} is a {part.category} part, not an HBM stack")
    capacity = v.hbm_capacity if v.hbm_capacity is not None else (part.capacity_bytes if part else None)
    inputs = {"hbm": part.id if part else None, "hbm_stack_bytes": capacity if stacks else None}
    if o.hbm_stack_cost is not None:
        if not stacks:
            raise InputError("--hbm-stacks: give how many stacks the --hbm-stack-cost applies to")
        return o.hbm_stack_cost, inputs
    if not stacks:
        return 0.0, inputs
    if part is None:
        raise InputError("--hbm-stack-cost: give the USD per HBM stack for --hbm-stacks, or --hbm PART for its $/GB "
                         "(e.g. hbm3-stack-16gb: $280 for 16 GB)")
    cost = hbm_stack_cost_usd(part.price_usd, part.capacity_bytes, capacity)
    per_gb = part.price_usd / (part.capacity_bytes / 2**30)
    notes.assumptions.append(f"HBM {part.id}: ${per_gb:,.1f} per GiB ({part.price_as_of}) × "
                             f"{units.format_bytes(capacity)} = ${cost:,.0f} per stack: "
                             f"{part.sources.get('price', '')}")
    return cost, inputs


def _interposer(catalog, o, v: _PackageValues, notes: _Notes):
    part = catalog.get("part", v.interposer) if v.interposer else None
    if part is not None and part.category != "interposer":
        raise InputError(f"--interposer: {part.id} is a {part.category} part, not an interposer")
    if o.interposer_area is not None and (part is None or part.area_mm2 is None):
        what = f"{part.id} gives no area for its price" if part else "no packaging part to scale"
        raise InputError(f"--interposer-area: {what}; give --interposer PART with an area (e.g. cowos-s-h100)")
    inputs = {"interposer": part.id if part else None, "interposer_area_mm2": o.interposer_area}
    if o.interposer_cost is not None:
        cost = o.interposer_cost
    elif part is None:
        cost = 0.0
    elif o.interposer_area is not None:
        cost = interposer_cost_usd(part.price_usd, part.area_mm2, o.interposer_area)
        notes.assumptions.append(f"interposer {o.interposer_area:,.0f} mm² at {part.id}'s "
                                 f"${part.price_usd / part.area_mm2:.3f}/mm² = ${cost:,.0f}")
    else:
        cost = part.price_usd
        notes.assumptions.append(f"packaging {part.id}: ${cost:,.0f} per package ({part.price_as_of}): "
                                 f"{part.sources.get('price', '')}")
    if o.packaging_yield is not None:
        return cost, o.packaging_yield, inputs
    if part is not None and part.packaging_yield is not None:
        notes.assumptions.append(f"packaging yield {part.packaging_yield:.0%} ({part.packaging_yield_as_of}) from "
                                 f"{part.id}: {part.sources.get('packaging_yield', '')}")
        return cost, part.packaging_yield, inputs
    return cost, 1.0, inputs


def _assembly(catalog, o, v: _PackageValues, notes: _Notes) -> float:
    if o.assembly_cost is not None:
        return o.assembly_cost
    if v.test_part is None:
        return 0.0
    part = catalog.get("part", v.test_part)
    notes.assumptions.append(f"assembly, test and burn-in {part.id}: ${part.price_usd:,.0f} per package "
                             f"({part.price_as_of}): {part.sources.get('price', '')}")
    return part.price_usd


def _io(catalog, o, v: _PackageValues, spec: YieldSpec, notes: _Notes):
    count = v.io_dies or 0
    if not count:
        if o.io_die_area is not None or o.io_node is not None:
            raise InputError("--io-dies: give how many I/O dies --io-die-area and --io-node describe")
        return None, {"io_dies": 0 if v.io_dies is not None else None}
    if v.io_die_area is None or v.io_node is None:
        raise InputError("--io-die-area/--io-node: an I/O die type needs its area and process node, "
                         "e.g. --io-dies 4 --io-die-area 370 --io-node n7")
    sheet = catalog.get("process-node", v.io_node)
    side = math.sqrt(v.io_die_area)
    wafer = Wafer(sheet.wafer_diameter_mm, o.edge_exclusion, sheet.wafer_cost_usd)
    if not pitch_fits(usable_diameter_mm(wafer.diameter_mm, wafer.edge_exclusion_mm), side, side, o.scribe):
        raise InputError(f"--io-die-area: a {v.io_die_area:,.4g} mm² die does not fit on the {sheet.id} wafer")
    density = sheet.defect_density_per_cm2 if spec.given_yield is None else 0.0
    io_spec = YieldSpec(spec.model, density, spec.clustering_alpha, spec.given_yield, spec.wafer_yield)
    notes.assumptions.append(f"{count} I/O dies of {v.io_die_area:,.0f} mm² (square) on {sheet.id}: wafer "
                             f"${sheet.wafer_cost_usd:,.0f}, D0 {sheet.defect_density_per_cm2:g}/cm², no harvesting")
    die = DieSpec(wafer, Die(side, side, o.scribe, shape_given=False), io_spec, count, None, "I/O dies")
    return die, {"io_dies": count, "io_die_area_mm2": v.io_die_area, "io_node": sheet.id}


# ---- NRE -----------------------------------------------------------------------------------------

def _nre(catalog, o, v: _PackageValues, sheet, io_node, notes: _Notes):
    if v.volume is None:
        for flag, value in (("--mask-cost", o.mask_cost), ("--design-cost", o.design_cost)):
            if value is not None:
                raise InputError(f"--volume: give the units {flag} is spread over, e.g. --volume 2M")
        return None, {}
    nodes = [n for n in (sheet.id if sheet else None, io_node) if n]
    mask = _one_off(catalog, o.mask_cost, v.mask_parts, "mask-set", nodes, "--mask-cost", notes)
    design = _one_off(catalog, o.design_cost, v.design_parts, "design-nre", nodes, "--design-cost", notes)
    volume = int(v.volume)
    return Nre(mask, design, volume), {"volume": volume, "mask_cost_usd": mask, "design_cost_usd": design}


def _one_off(catalog, given, part_ids, category, nodes, flag, notes: _Notes) -> float:
    """The option, else the bill of materials' parts, else the part of that category for each node."""
    if given is not None:
        return given
    parts = [catalog.get("part", p) for p in part_ids] or [_part_for(catalog, category, n, flag) for n in nodes]
    if not parts:
        raise InputError(f"{flag}: no process node to look the {category} up by; give {flag} in USD")
    for part in parts:
        notes.assumptions.append(f"{category} {part.id}: ${part.price_usd:,.0f} ({part.price_as_of}): "
                                 f"{part.sources.get('price', '')}")
    return sum(p.price_usd for p in parts)


def _part_for(catalog, category: str, node: str, flag: str):
    found = [catalog.get("part", i) for i in catalog.ids("part")
             if catalog.sheets["part"][i]["category"] == category and node in catalog.sheets["part"][i]["nodes"]]
    if not found:
        raise InputError(f"{flag}: no {category} part covers {node}; give {flag} in USD")
    return found[0]


# ---- the fab chain for tco ----------------------------------------------------------------------

class Chain(NamedTuple):
    """What the fab chain says one accelerator costs its maker: the bundled bill of materials, priced with
    every default (fab-cost --package ID)."""

    package: str
    wafer_cost_usd: float | None
    package_cost_usd: float | None
    unit_cost_usd: float | None
    gpus_per_package: int
    assumptions: tuple[str, ...]


@lru_cache(maxsize=64)
def package_chain(catalog, accelerator_id: str) -> Chain | None:
    """The bill of materials of ``accelerator_id`` priced by fab-cost, or None when there is none."""
    found = sorted(pid for pid, sheet in catalog.sheets.get("package", {}).items()
                   if sheet["accelerator"] == accelerator_id)
    if not found:
        return None
    values = {opt.name: opt.default for opt in OPTIONS}
    values["package"] = found[0]
    point = fab_cost(catalog, Options(values, frozenset({"package"})))
    per = catalog.get("accelerator", accelerator_id).gpus_per_package
    return Chain(found[0], point.inputs["wafer_cost_usd"], point.results.get("package_cost_usd"),
                 point.results.get("unit_cost_usd"), per, tuple(point.assumptions))
