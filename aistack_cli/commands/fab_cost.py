"""``aistack fab-cost``: dies per wafer, die yield, cost of a good die and of a package."""

from __future__ import annotations

import math
import re
from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.common import result_values
from aistack_cli.calc.fab import YIELD_MODELS, Die, Package, Wafer, YieldSpec, fab_cost as compute
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

Text = Optional[str]
DEFAULT_DIAMETER_MM = 300.0
MAX_DIAMETER_MM = 1000.0
MIN_DIE_SIDE_MM = 0.1
DEFAULT_EDGE = "3mm"
DEFAULT_SCRIBE = "0.1mm"
DEFAULT_ALPHA = "2"
SRC_EDGE = "edge exclusion 3 mm (usual 300 mm value; die-per-wafer calculators use 2–5 mm)"
SRC_SCRIBE = "scribe lane 0.1 mm (Wikipedia 'Wafer dicing': the scribe is typically around 100 µm wide)"
SRC_ALPHA = ("clustering α = 2 (negative-binomial yield, Stapper, IBM J. Res. Dev. 1983: clustering typically "
             "α ≈ 0.3–5; 2–3 is the usual planning value; α → ∞ is Poisson)")
SRC_MODEL = ("Murphy yield model (the default): between Poisson (pessimistic for large dies) and Seeds; "
             "AnandTech's N5 die-yield figures (32.0% at 100 mm², 1.271/cm²) follow it")
_SIZE = re.compile(r"^\s*([^x×X*]+?)\s*[x×X*]\s*([^x×X*]+?)\s*$")


@calculator("fab-cost", help="Dies per wafer, die yield, cost of a good die and of a packaged accelerator.",
            columns=["gross_dies_per_wafer", "die_yield", "good_dies_per_wafer", "cost_per_good_die_usd"])
def fab_cost(
    catalog,
    node: Annotated[Text, typer.Option(help="Process-node id, e.g. n4: wafer cost, diameter and defect density.")] = None,
    die_area: Annotated[Text, typer.Option(help="Die area, e.g. 814 or 814mm2 (assumed square).")] = None,
    die_size: Annotated[Text, typer.Option(help="Die width × height in mm, e.g. 26x33 or 26×33.")] = None,
    wafer_cost: Annotated[Text, typer.Option(help="Price of one processed wafer in USD (overrides the node's).")] = None,
    wafer_diameter: Annotated[Text, typer.Option(help="Wafer diameter (default: the node's, else 300mm).")] = None,
    edge_exclusion: Annotated[str, typer.Option(help="Unusable ring at the wafer edge.")] = DEFAULT_EDGE,
    scribe: Annotated[str, typer.Option(help="Scribe lane (saw street) width between dies.")] = DEFAULT_SCRIBE,
    defect_density: Annotated[Text, typer.Option(help="Killer defects per cm², e.g. 0.1 (default: the node's).")] = None,
    yield_model: Annotated[str, typer.Option(help="Yield model: " + ", ".join(YIELD_MODELS) + ".")] = "murphy",
    clustering: Annotated[str, typer.Option(help="Negative-binomial clustering α (2–3 typical).")] = DEFAULT_ALPHA,
    die_yield: Annotated[Text, typer.Option(help="Known die yield, e.g. 0.8 (replaces the defect model).")] = None,
    dies_per_package: Annotated[Text, typer.Option(help="Package: logic dies (chiplets) per package.")] = None,
    hbm_stacks: Annotated[Text, typer.Option(help="Package: HBM stacks, e.g. 5 for H100 SXM (80 GB).")] = None,
    hbm_stack_cost: Annotated[Text, typer.Option(help="Package: USD per HBM stack.")] = None,
    interposer_cost: Annotated[Text, typer.Option(help="Package: interposer / CoWoS cost in USD.")] = None,
    assembly_cost: Annotated[Text, typer.Option(help="Package: substrate, assembly and test cost in USD.")] = None,
    packaging_yield: Annotated[Text, typer.Option(help="Package: fraction of assemblies that work (default 1).")] = None,
    units: Annotated[Text, typer.Option(help="Finished units (packages, or dies) to size a production run.")] = None,
) -> Point:
    sheet = catalog.get("process-node", node) if node else None
    wafer, wafer_inputs, notes = _wafer(sheet, wafer_cost, wafer_diameter, edge_exclusion)
    die, die_inputs = _die(die_area, die_size, scribe, wafer)
    spec, yield_inputs, yield_notes = _yield_spec(sheet, defect_density, yield_model, clustering, die_yield)
    package, package_inputs = _package(dies_per_package, hbm_stacks, hbm_stack_cost, interposer_cost,
                                       assembly_cost, packaging_yield)
    run_units = _run_units(units)
    result = compute(wafer, die, spec, package, run_units)
    inputs = {**wafer_inputs, **die_inputs, **yield_inputs, **package_inputs, "units": run_units}
    inputs = {k: v for k, v in inputs.items() if v is not None or k == "node"}
    assumptions = notes["assumptions"] + yield_notes["assumptions"] + list(result.assumptions)
    if scribe == DEFAULT_SCRIBE:
        assumptions.insert(0, SRC_SCRIBE)
    if die_size is None:
        assumptions.insert(0, "die assumed square (side = √area) as only --die-area was given; "
                              "give --die-size W×H for the count of the real shape")
    warnings = notes["warnings"] + yield_notes["warnings"] + list(result.warnings)
    return Point(inputs, _results(result, package, run_units), assumptions, warnings, list(result.steps))


PACKAGE_KEYS = ("package_dies_cost_usd", "package_hbm_cost_usd", "package_cost_usd")
RUN_KEYS = ("wafers_needed", "run_wafer_cost_usd")


def _results(result, package, run_units) -> dict:
    """Every result, less the package and production-run keys when those were not asked for."""
    skip = (PACKAGE_KEYS if package is None else ()) + (RUN_KEYS if run_units is None else ())
    return {k: v for k, v in result_values(result).items() if k not in skip}


def _wafer(sheet, cost_text, diameter_text, edge_text):
    """Wafer diameter, usable area and price: the sheet's unless overridden."""
    notes: dict[str, list[str]] = {"assumptions": [], "warnings": []}
    sheet_diameter = sheet.wafer_diameter_mm if sheet else None
    diameter = (units.positive(diameter_text, "mm", "--wafer-diameter") if diameter_text
                else sheet_diameter or DEFAULT_DIAMETER_MM)
    if diameter > MAX_DIAMETER_MM:
        raise InputError(f"--wafer-diameter: {diameter_text!r} is larger than {MAX_DIAMETER_MM:g} mm; "
                         "production wafers are 150, 200 or 300 mm")
    edge = units.non_negative(edge_text, "mm", "--edge-exclusion")
    if 2 * edge >= diameter:
        raise InputError(f"--edge-exclusion: {edge:g} mm on each side leaves nothing of a {diameter:g} mm wafer")
    if edge_text == DEFAULT_EDGE:
        notes["assumptions"].append(SRC_EDGE)
    cost = _wafer_cost(sheet, cost_text, notes)
    if sheet and cost_text is None and diameter != sheet_diameter:
        notes["warnings"].append(f"the {sheet.id} wafer price is for a {sheet_diameter:g} mm wafer and is not "
                                 f"rescaled to {diameter:g} mm; give --wafer-cost")
    inputs = {"node": sheet.id if sheet else None, "wafer_cost_usd": cost,
              "wafer_cost_year": sheet.wafer_cost_year if sheet and cost_text is None else None,
              "wafer_diameter_mm": diameter, "edge_exclusion_mm": edge}
    return Wafer(diameter, edge, cost), inputs, notes


def _wafer_cost(sheet, cost_text, notes) -> float | None:
    if cost_text is not None:
        return units.positive(cost_text, "usd", "--wafer-cost")
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


def _die(area_text, size_text, scribe_text, wafer: Wafer):
    if (area_text is None) == (size_text is None):
        raise InputError("--die-area/--die-size: give exactly one, e.g. --die-area 814 or --die-size 26x33")
    if size_text is not None:
        width, height = parse_die_size(size_text)
    else:
        width = height = math.sqrt(units.positive(area_text, "mm2", "--die-area"))
    flag = "--die-size" if size_text is not None else "--die-area"
    if min(width, height) < MIN_DIE_SIDE_MM:
        raise InputError(f"{flag}: a die side of {min(width, height):.3g} mm is below {MIN_DIE_SIDE_MM:g} mm")
    scribe = units.non_negative(scribe_text, "mm", "--scribe")
    usable = wafer.diameter_mm - 2 * wafer.edge_exclusion_mm
    if math.hypot(width + scribe, height + scribe) > usable:
        raise InputError(f"{flag}: a {width:.4g} × {height:.4g} mm die (+{scribe:g} mm scribe) does not fit "
                         f"in the {usable:g} mm usable circle of the wafer")
    inputs = {"die_area_mm2": width * height, "die_width_mm": width, "die_height_mm": height,
              "die_shape": "given" if size_text is not None else "assumed square", "scribe_mm": scribe}
    return Die(width, height, scribe, shape_given=size_text is not None), inputs


def _yield_spec(sheet, density_text, model_text, alpha_text, given_text):
    notes: dict[str, list[str]] = {"assumptions": [], "warnings": []}
    model = model_text.strip().lower()
    if model not in YIELD_MODELS:
        raise InputError(f"--yield-model: unknown model {model_text!r}; expected one of {', '.join(YIELD_MODELS)}")
    alpha = units.positive(alpha_text, "count", "--clustering")
    given = units.fraction(given_text, "--die-yield") if given_text is not None else None
    density = _defect_density(sheet, density_text, given, notes)
    if given is None and model == "murphy":
        notes["assumptions"].append(SRC_MODEL)
    if model == "negative-binomial" and alpha_text == DEFAULT_ALPHA:
        notes["assumptions"].append(SRC_ALPHA)
    if model != "negative-binomial" and alpha_text != DEFAULT_ALPHA:
        notes["warnings"].append(f"--clustering applies only to --yield-model negative-binomial, not {model}")
    inputs = {"defect_density_per_cm2": density, "yield_model": model if given is None else None,
              "clustering_alpha": alpha if model == "negative-binomial" and given is None else None,
              "given_die_yield": given}
    return YieldSpec(model, density or 0.0, alpha, given), inputs, notes


def _defect_density(sheet, density_text, given, notes) -> float | None:
    if density_text is not None:
        return units.non_negative(density_text, "per_cm2", "--defect-density")
    if given is not None:
        return None
    if sheet is None:
        raise InputError("--defect-density: give the defects per cm² (or --node, or --die-yield)")
    notes["assumptions"].append(f"defect density {sheet.defect_density_per_cm2:g}/cm² from {sheet.id}: "
                                f"{sheet.sources.get('defect_density', 'no source in sheet')}")
    return sheet.defect_density_per_cm2


def _package(dies_text, stacks_text, stack_cost_text, interposer_text, assembly_text, yield_text):
    given = [dies_text, stacks_text, stack_cost_text, interposer_text, assembly_text, yield_text]
    if all(v is None for v in given):
        return None, {}
    stacks = units.integer(stacks_text, "--hbm-stacks", minimum=0) if stacks_text is not None else 0
    if stacks and stack_cost_text is None:
        raise InputError("--hbm-stack-cost: give the USD per HBM stack for --hbm-stacks (published "
                         "estimates for a 16 GB HBM3 stack: ~$240 at $15/GB, ~$280 from $1.4k for H100's five)")
    if stack_cost_text is not None and not stacks:
        raise InputError("--hbm-stacks: give how many stacks the --hbm-stack-cost applies to")
    package = Package(
        dies_per_package=units.integer(dies_text, "--dies-per-package") if dies_text is not None else 1,
        hbm_stacks=stacks,
        hbm_stack_cost_usd=_usd(stack_cost_text, "--hbm-stack-cost"),
        interposer_cost_usd=_usd(interposer_text, "--interposer-cost"),
        assembly_cost_usd=_usd(assembly_text, "--assembly-cost"),
        packaging_yield=units.fraction(yield_text, "--packaging-yield") if yield_text is not None else 1.0,
    )
    inputs = {"dies_per_package": package.dies_per_package, "hbm_stacks": package.hbm_stacks,
              "hbm_stack_cost_usd": package.hbm_stack_cost_usd, "interposer_cost_usd": package.interposer_cost_usd,
              "assembly_cost_usd": package.assembly_cost_usd, "packaging_yield": package.packaging_yield}
    return package, inputs


def _usd(text: str | None, what: str) -> float:
    return units.non_negative(text, "usd", what) if text is not None else 0.0


def _run_units(text: str | None) -> int | None:
    return units.integer(text, "--units") if text is not None else None
