"""``aistack fab-cost``: dies per wafer, die yield, cost of a good die and of a package."""

from __future__ import annotations

import math
import re

from aistack_cli import units
from aistack_cli.calc.common import result_values
from aistack_cli.calc.fab import YIELD_MODELS, Die, Package, Wafer, YieldSpec, fab_cost as compute
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

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
    Opt("yield_model", "word", "Yield model.", default="murphy", choices=YIELD_MODELS),
    Opt("clustering", "ratio", "Negative-binomial clustering α (2–3 typical).", default=DEFAULT_ALPHA,
        field="clustering_alpha", lo=0, lo_open=True, hi=1e3),
    Opt("die_yield", "fraction", "Known die yield, e.g. 0.8 (replaces the defect model).", field="given_die_yield",
        lo=0, lo_open=True, hi=1),
    Opt("dies_per_package", "int", "Package: logic dies (chiplets) per package.", lo=1, hi=1e3),
    Opt("hbm_stacks", "int", "Package: HBM stacks, e.g. 5 for H100 SXM (80 GB).", lo=0, hi=1e3),
    Opt("hbm_stack_cost", "usd", "Package: USD per HBM stack.", field="hbm_stack_cost_usd", lo=0, hi=1e6),
    Opt("interposer_cost", "usd", "Package: interposer / CoWoS cost in USD.", field="interposer_cost_usd", lo=0,
        hi=1e7),
    Opt("assembly_cost", "usd", "Package: substrate, assembly and test cost in USD.", field="assembly_cost_usd", lo=0,
        hi=1e7),
    Opt("packaging_yield", "fraction", "Package: fraction of assemblies that work (default 1).", lo=0, lo_open=True,
        hi=1),
    Opt("units", "int", "Finished units (packages, or dies) to size a production run.", field="production_units",
        lo=1, hi=1e10),
]
EXAMPLES = (
    "aistack fab-cost --node n4 --die-area 814 --defect-density 0.1",
    "aistack fab-cost --node n4 --die-size 26x31.3 --hbm-stacks 5 --hbm-stack-cost 300 --interposer-cost 700",
    "aistack fab-cost --node n3 --die-area 100:800:+100 --yield-model poisson -f csv",
)


@calculator("fab-cost", help="Dies per wafer, die yield, cost of a good die and of a packaged accelerator.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["gross_dies_per_wafer", "die_yield", "good_dies_per_wafer", "cost_per_good_die_usd"])
def fab_cost(catalog, o) -> Point:
    sheet = catalog.get("process-node", o.node) if o.node else None
    wafer, wafer_inputs, notes = _wafer(sheet, o)
    die, die_inputs = _die(o, wafer)
    spec, yield_inputs, yield_notes = _yield_spec(sheet, o)
    package, package_inputs = _package(o)
    result = compute(wafer, die, spec, package, o.units)
    inputs = {**wafer_inputs, **die_inputs, **yield_inputs, **package_inputs, "production_units": o.units}
    assumptions = notes["assumptions"] + yield_notes["assumptions"] + list(result.assumptions)
    if not o.given("scribe"):
        assumptions.insert(0, SRC_SCRIBE)
    if o.die_size is None:
        assumptions.insert(0, "die assumed square (side = √area) as only --die-area was given; "
                              "give --die-size W×H for the count of the real shape")
    warnings = notes["warnings"] + yield_notes["warnings"] + list(result.warnings)
    return Point(inputs, _results(result, package, o.units), assumptions, warnings, list(result.steps))


PACKAGE_KEYS = ("package_dies_cost_usd", "package_hbm_cost_usd", "package_cost_usd")
RUN_KEYS = ("wafers_needed", "run_wafer_cost_usd")


def _results(result, package, run_units) -> dict:
    """Every result, less the package and production-run keys when those were not asked for."""
    skip = (PACKAGE_KEYS if package is None else ()) + (RUN_KEYS if run_units is None else ())
    return {k: v for k, v in result_values(result).items() if k not in skip}


def _wafer(sheet, o):
    """Wafer diameter, usable area and price: the sheet's unless overridden."""
    notes: dict[str, list[str]] = {"assumptions": [], "warnings": []}
    sheet_diameter = sheet.wafer_diameter_mm if sheet else None
    diameter = o.wafer_diameter or sheet_diameter or DEFAULT_DIAMETER_MM
    edge = o.edge_exclusion
    if 2 * edge >= diameter:
        raise InputError(f"--edge-exclusion: {edge:g} mm on each side leaves nothing of a {diameter:g} mm wafer")
    if not o.given("edge_exclusion"):
        notes["assumptions"].append(SRC_EDGE)
    cost = _wafer_cost(sheet, o.wafer_cost, notes)
    if sheet and o.wafer_cost is None and diameter != sheet_diameter:
        notes["warnings"].append(f"the {sheet.id} wafer price is for a {sheet_diameter:g} mm wafer and is not "
                                 f"rescaled to {diameter:g} mm; give --wafer-cost")
    inputs = {"node": sheet.id if sheet else None, "wafer_cost_usd": cost,
              "wafer_cost_year": sheet.wafer_cost_year if sheet and o.wafer_cost is None else None,
              "wafer_diameter_mm": diameter, "edge_exclusion_mm": edge}
    return Wafer(diameter, edge, cost), inputs, notes


def _wafer_cost(sheet, given, notes) -> float | None:
    if given is not None:
        return given
    if sheet is None:
        notes["assumptions"].append("no wafer price: give --node or --wafer-cost for the costs")
        return None
    notes["assumptions"].append(f"wafer ${sheet.wafer_cost_usd:,.0f} ({sheet.wafer_cost_year} estimate) from "
                                f"{sheet.id}: {sheet.sources.get('wafer', 'no source in sheet')}")
    return sheet.wafer_cost_usd


def parse_die_size(text: str) -> tuple[float, float]:
    """``26x33``, ``26×33``, ``26mm x 33mm`` -> (26.0, 33.0) in mm."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"--die-size: cannot read {text!r}; expected width×height in mm such as 26x33 or 26×33")
    return (units.positive(match.group(1), "mm", "--die-size"), units.positive(match.group(2), "mm", "--die-size"))


def _die(o, wafer: Wafer):
    if (o.die_area is None) == (o.die_size is None):
        raise InputError("--die-area/--die-size: give exactly one, e.g. --die-area 814 or --die-size 26x33")
    if o.die_size is not None:
        width, height = parse_die_size(o.die_size)
    else:
        width = height = math.sqrt(o.die_area)
    flag = "--die-size" if o.die_size is not None else "--die-area"
    if min(width, height) < MIN_DIE_SIDE_MM:
        raise InputError(f"{flag}: a die side of {min(width, height):.3g} mm is below {MIN_DIE_SIDE_MM:g} mm")
    scribe = o.scribe
    usable = wafer.diameter_mm - 2 * wafer.edge_exclusion_mm
    if math.hypot(width + scribe, height + scribe) > usable:
        raise InputError(f"{flag}: a {width:.4g} × {height:.4g} mm die (+{scribe:g} mm scribe) does not fit "
                         f"in the {usable:g} mm usable circle of the wafer")
    inputs = {"die_area_mm2": width * height, "die_width_mm": width, "die_height_mm": height,
              "die_shape": "given" if o.die_size is not None else "assumed square", "scribe_mm": scribe}
    return Die(width, height, scribe, shape_given=o.die_size is not None), inputs


def _yield_spec(sheet, o):
    notes: dict[str, list[str]] = {"assumptions": [], "warnings": []}
    model, alpha, given = o.yield_model, o.clustering, o.die_yield
    density = _defect_density(sheet, o.defect_density, given, notes)
    if given is None and model == "murphy":
        notes["assumptions"].append(SRC_MODEL)
    if model == "negative-binomial" and not o.given("clustering"):
        notes["assumptions"].append(SRC_ALPHA)
    if model != "negative-binomial" and o.given("clustering"):
        notes["warnings"].append(f"--clustering applies only to --yield-model negative-binomial, not {model}")
    inputs = {"defect_density_per_cm2": density, "yield_model": model if given is None else None,
              "clustering_alpha": alpha if model == "negative-binomial" and given is None else None,
              "given_die_yield": given}
    return YieldSpec(model, density or 0.0, alpha, given), inputs, notes


def _defect_density(sheet, density, given, notes) -> float | None:
    if density is not None:
        return density
    if given is not None:
        return None
    if sheet is None:
        raise InputError("--defect-density: give the defects per cm² (or --node, or --die-yield)")
    notes["assumptions"].append(f"defect density {sheet.defect_density_per_cm2:g}/cm² from {sheet.id}: "
                                f"{sheet.sources.get('defect_density', 'no source in sheet')}")
    return sheet.defect_density_per_cm2


def _package(o):
    names = ("dies_per_package", "hbm_stacks", "hbm_stack_cost", "interposer_cost", "assembly_cost", "packaging_yield")
    if all(getattr(o, n) is None for n in names):
        return None, {}
    stacks = o.hbm_stacks or 0
    if stacks and o.hbm_stack_cost is None:
        raise InputError("--hbm-stack-cost: give the USD per HBM stack for --hbm-stacks (published "
                         "estimates for a 16 GB HBM3 stack: ~$240 at $15/GB, ~$280 from $1.4k for H100's five)")
    if o.hbm_stack_cost is not None and not stacks:
        raise InputError("--hbm-stacks: give how many stacks the --hbm-stack-cost applies to")
    package = Package(
        dies_per_package=o.dies_per_package or 1,
        hbm_stacks=stacks,
        hbm_stack_cost_usd=o.hbm_stack_cost or 0.0,
        interposer_cost_usd=o.interposer_cost or 0.0,
        assembly_cost_usd=o.assembly_cost or 0.0,
        packaging_yield=o.packaging_yield or 1.0,
    )
    inputs = {"dies_per_package": package.dies_per_package, "hbm_stacks": package.hbm_stacks,
              "hbm_stack_cost_usd": package.hbm_stack_cost_usd, "interposer_cost_usd": package.interposer_cost_usd,
              "assembly_cost_usd": package.assembly_cost_usd, "packaging_yield": package.packaging_yield}
    return package, inputs
