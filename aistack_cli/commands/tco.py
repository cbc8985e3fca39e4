"""``aistack tco``: what owning accelerators costs: capex by part, annual cost by part, the owner's cost
of a GPU-hour, and the utilisation at which owning beats renting.

Also the home of the chain (``--cost-basis own``) that train-cost and inference-throughput price their
runs and tokens with: the options declared here are added to theirs, and ``owned`` is the one
resolution every command uses. The power and network figures come from the cluster-power model
(commands/site.py, calc/power.py); the arithmetic is in calc/tco.py.
"""

from __future__ import annotations

from typing import NamedTuple

from aistack_cli import units
from aistack_cli.calc.common import RESULT_META, Step
from aistack_cli.calc.power import Draw, rack_power_peak_w
from aistack_cli.calc.tco import (FACILITIES, Facility, Finance, Hardware, TcoResult, cluster_gear, price_from_cost,
                                  tco as compute)
from aistack_cli.commands import site
from aistack_cli.commands.common import LazySteps
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

PRICE_BASES = ("list", "bom")

# The options that set the owner's cost of a GPU-hour: tco's own, and added to train-cost and
# inference-throughput for --cost-basis own (their scenario files may give any of them).
CHAIN_OPTIONS = [
    Opt("gpu_price", "text", "Accelerator price: list (the sheet's purchase price), bom (the fab chain's unit cost "
        "over 1 − --vendor-margin) or USD, e.g. 30000.", default="list", sweep=False, field="gpu_price_usd"),
    Opt("vendor_margin", "fraction", "Vendor gross margin for --gpu-price bom.", default_id="vendor-gross-margin",
        lo=0, hi=1, hi_open=True),
    Opt("host_ratio", "ratio", "The rest of a system (host, NICs, scale-up switches) per accelerator, as a ratio of "
        "its price.", field="host_capex_ratio", lo=0, hi=20, default_id="host-capex-ratio"),
    Opt("switch_price", "usd", "Price of one scale-out switch.",
        field="switch_price_usd", lo=0, hi=1e7, default_id="switch-price"),
    Opt("transceiver_price", "usd", "Price of one optical module.", field="transceiver_price_usd",
        lo=0, hi=1e6, default_id="transceiver-price"),
    Opt("facility", "word", "build (construction per W of critical IT, paid off over --facility-life) or colo "
        "(rent per kW-month).", default="build", choices=FACILITIES, aliases=(("colocation", "colo"),)),
    Opt("construction_cost", "usd_per_w", "Building cost per W of critical IT, e.g. 12 or $12/W.",
        field="construction_usd_per_w", lo=0, hi=1e3, default_id="construction-cost-per-w"),
    Opt("colocation_price", "usd_per_kw_month", "Colocation rent per kW of critical IT per month.",
        field="colocation_usd_per_kw_month", lo=0, hi=1e5, default_id="colocation-price"),
    Opt("gpu_life", "ratio", "Years the hardware is paid off over.", field="gpu_life_years", lo=0.1,
        lo_open=False, hi=30, default_id="gpu-life-years"),
    Opt("facility_life", "ratio", "Years the building is paid off over.", field="facility_life_years",
        lo=0.1, hi=100, default_id="facility-life-years"),
    Opt("cost_of_capital", "fraction", "Annual cost of capital, e.g. 0.1 or 10%.",
        lo=0, hi=1, default_id="cost-of-capital"),
    Opt("maintenance", "fraction", "Hardware maintenance and operations per year, as a fraction of the hardware "
        "capex.", field="maintenance_fraction", lo=0, hi=1, default_id="maintenance-fraction"),
    Opt("operations", "fraction", "Operating the building per year, as a fraction of its construction cost.",
        field="operations_fraction", lo=0, hi=1, default_id="facility-operations-fraction"),
    Opt("utilization", "fraction", "Share of the owned hours that do useful work (default 1).", lo=0, lo_open=True,
        hi=1),
]
PRICE_PER_KWH = Opt("price_per_kwh", "usd_per_kwh", "Electricity price, e.g. 0.07, 7c/kWh or $70/MWh (default: "
                    "--grid's, else the US industrial average).", field="price_usd_per_kwh", lo=0, hi=10)
INTER = Opt("inter", "id", "Scale-out link id, e.g. ib-ndr, roce-400g (default: the system's).", ids="interconnect")
SITE_OPTIONS = [site.SITE, site.COOLING, site.PUE, site.GRID, PRICE_PER_KWH, site.LOAD, site.NETWORK, INTER,
                Opt("switch_radix", "int", "Switch ports at that link speed (default: the link's sheet).", lo=4,
                    hi=1e4)]
COST_BASIS = Opt("cost_basis", "word", "rent (a price per GPU-hour) or own (the tco cost of an owned GPU-hour, "
                 "chained from wafer to run; tco options through --config).", default="rent", choices=("rent", "own"))

OPTIONS = [
    Opt("gpu", "id", "Accelerator id, e.g. h100-sxm (its system sheet is used when there is one).", ids="accelerator"),
    Opt("system", "id", "System id, e.g. dgx-h100 or gb200-nvl72.", ids="system"),
    Opt("gpus", "int", "Accelerators owned, e.g. 1024 (default: one system).", lo=1, hi=1e7),
    Opt("workload", "word", "What the cluster runs: sets its average draw.", default="training",
        choices=site.WORKLOADS),
    *CHAIN_OPTIONS,
    Opt("price_per_gpu_hour", "usd_per_hour", "Rental price to compare with (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    *SITE_OPTIONS,
    Opt("storage_power", "watts", "Storage systems' power, e.g. 2MW.", default=0.0, field="storage_power_w", lo=0,
        hi=1e10),
]
EXAMPLES = (
    "aistack tco --gpu h100-sxm --gpus 1024",
    "aistack tco --system gb200-nvl72 --gpus 100k --facility colo --site hyperscale",
    "aistack tco --gpu b200 --gpus 1024 --gpu-price bom --vendor-margin 0.6",
    "aistack tco --gpu h100-sxm --gpus 1024 --utilization 0.5:1:+0.1 -f csv",
)
RESULT_KEYS = tuple(name for name in TcoResult.__dataclass_fields__ if name not in RESULT_META)


@calculator("tco", help="Total cost of owning accelerators: capex and annual cost by part, the owner's cost of a "
                        "GPU-hour, and the break-even utilisation against renting.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["gpus_installed", "capex_usd", "cost_usd_per_year", "usd_per_gpu_hour", "break_even_utilization"])
def tco(catalog, o) -> Point:
    got = owned(catalog, o, o.gpu, o.system, o.gpus, o.workload, o.price_per_gpu_hour)
    results = {**got.results, **got.chain}
    return Point({**got.inputs, "storage_power_w": o.storage_power}, results, list(got.assumptions),
                 list(got.warnings), LazySteps(lambda: chain_steps(got)))


class Owned(NamedTuple):
    """The owner's cost of a GPU-hour and everything it rests on."""

    rate_usd_per_gpu_hour: float
    inputs: dict
    results: dict  # the tco results
    chain: dict  # wafer, package, unit cost, the price paid and the implied margin
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    working: object  # () -> the steps of --explain (the calculation again, with its working)


CHAIN_INPUTS = ("gpu_price_basis", "gpu_price_usd", "vendor_margin", "host_capex_ratio", "switch_price_usd",
                "transceiver_price_usd", "facility", "construction_usd_per_w", "colocation_usd_per_kw_month",
                "gpu_life_years", "facility_life_years", "cost_of_capital", "maintenance_fraction",
                "operations_fraction", "utilization", "price_usd_per_kwh")
CHAIN_RESULTS = ("wafer_cost_usd", "package_cost_usd", "unit_cost_usd_per_gpu", "implied_margin_fraction",
                 "capex_usd_per_gpu", "usd_per_gpu_hour")


def chain_inputs(got: Owned) -> dict:
    """The inputs of the owner's GPU-hour a run's output carries (so a saved output reads back)."""
    return {key: got.inputs.get(key) for key in CHAIN_INPUTS}


def with_chain(point: Point, got: Owned | None, what: str) -> Point:
    """A run's point with the chain's links among its results and inputs, its notes and its working (``what``:
    run or token). Rented: the links are null."""
    point.results = {**point.results, **chain_results(got)}
    if got is None:
        point.inputs = {**point.inputs, "cost_basis": "rent"} if point.inputs.get("gpu") else point.inputs
        return point
    point.inputs = {**point.inputs, "cost_basis": "own", "price_usd_per_gpu_hour": None, **chain_inputs(got)}
    point.assumptions = [f"owned GPU-hour ${got.rate_usd_per_gpu_hour:,.2f} for {got.results['gpus_installed']:,} "
                         f"GPUs owned (aistack tco; give --gpus for the cluster's size): the chain wafer → package → "
                         f"price → capex → GPU-hour → {what} is in the results", *point.assumptions, *got.assumptions]
    point.warnings = [*point.warnings, *got.warnings]
    before = point.steps
    point.steps = LazySteps(lambda: [*chain_steps(got), *before])
    return point


def chain_results(got: Owned | None) -> dict:
    """The chain's links as results: wafer, package and unit cost, the margin over it, capex per GPU, $/GPU-hour."""
    if got is None:
        return dict.fromkeys(CHAIN_RESULTS)
    return {**got.chain, "capex_usd_per_gpu": got.results["capex_usd_per_gpu"],
            "usd_per_gpu_hour": got.rate_usd_per_gpu_hour}


def chain_options(existing) -> list[Opt]:
    """The options --cost-basis own needs that a command does not already declare."""
    names = {opt.name for opt in existing}
    return [COST_BASIS, *(opt for opt in [*CHAIN_OPTIONS, *SITE_OPTIONS] if opt.name not in names)]


def option(o, name: str):
    """An option's value, or None when the command does not declare it."""
    return o.__dict__.get(name)


_SETUPS: dict[tuple, tuple] = {}
SETUP_NAMES = tuple(opt.name for opt in [*CHAIN_OPTIONS, *SITE_OPTIONS, *OPTIONS[-1:]] if opt.name != "utilization")


class _Setup(NamedTuple):
    """Everything of an owned cluster but its size, utilisation and rental price, resolved once per distinct
    set of options (a sweep over --gpus or --utilization looks the sheets and defaults up once)."""

    accelerator: object
    spec: object
    draw: Draw
    fabric: object
    figures: dict
    storage_w: float
    hardware: Hardware
    finance: Finance
    facility: Facility
    chain: dict
    inputs: dict
    notes: tuple
    warnings: tuple


def owned(catalog, o, gpu_id, system_id, gpus, workload, rent) -> Owned:
    """The tco of ``gpus`` accelerators with the options ``o`` declares (the defaults for those it does not)."""
    values = o.__dict__
    key = (id(catalog), gpu_id, system_id, workload, *(values.get(name) for name in SETUP_NAMES))
    hit = _SETUPS.get(key)
    if hit is None:
        if len(_SETUPS) > 4096:
            _SETUPS.clear()
        hit = _SETUPS[key] = (catalog, _setup(catalog, o, gpu_id, system_id, workload))  # keeps the id unique
    return _owned(catalog, hit[1], gpus, option(o, "utilization"), rent)


def chain_steps(got: Owned) -> list:
    """The chain's working: the fab chain's unit cost, then capex, annual cost and the GPU-hour."""
    unit = got.chain.get("unit_cost_usd_per_gpu")
    head = [] if unit is None else [Step(
        "unit_cost_usd_per_gpu", "fab-cost --package (package cost + NRE share) / GPUs per package",
        f"wafer ${got.chain['wafer_cost_usd']:,.0f} → package ${got.chain['package_cost_usd']:,.0f}", unit, "USD",
        "the fab chain (aistack fab-cost --package)")]
    return [*head, *got.working()]


def _setup(catalog, o, gpu_id, system_id, workload) -> _Setup:
    notes: list[str] = []
    spec, inputs, system_notes, warnings = site.system(catalog, gpu_id, system_id)
    accelerator = catalog.get("accelerator", inputs["gpu"])
    fabric, net_inputs, net_notes, net_warnings = site.fabric(
        catalog, option(o, "network") or "rail-optimized", option(o, "inter"), inputs, option(o, "switch_radix"),
        required=bool(inputs.get("nics_per_system")))
    load = site.load_fraction(catalog, option(o, "load"), workload, accelerator.id, notes)
    figures, site_inputs = _site(catalog, o, spec, notes)
    hardware, chain, price_inputs = _hardware(catalog, o, accelerator, fabric, notes)
    finance, facility, money_inputs = _money(catalog, o, notes)
    unit = chain.get("unit_cost_usd_per_gpu")
    chain["implied_margin_fraction"] = 1 - unit / hardware.gpu_price_usd if unit else None
    all_inputs = {"gpu": accelerator.id, "system": inputs["system"], "gpus_per_system": inputs["gpus_per_system"],
                  "workload": workload, "load_fraction": load, **net_inputs, **site_inputs, **price_inputs,
                  **money_inputs}
    return _Setup(accelerator, spec, Draw(load, "metered"), fabric, figures, option(o, "storage_power") or 0.0,
                  hardware, finance, facility, chain, all_inputs, (*system_notes, *net_notes, *notes),
                  (*warnings, *net_warnings))


def _owned(catalog, setup: _Setup, gpus, utilization_given, rent) -> Owned:
    """One cluster size, utilisation and rental price on a resolved setup."""
    notes: list[str] = []
    count = gpus if gpus is not None else setup.spec.gpus_per_system
    figures = setup.figures
    gear = cluster_gear(count, setup.spec, setup.draw, setup.fabric, figures["pue"], setup.storage_w,
                        figures["price_usd_per_kwh"])
    utilization = _value(catalog, utilization_given, "owned-utilization", "utilization {:g}", notes)
    rent_price = _rent(setup.accelerator, rent, notes)
    hardware, finance, facility = setup.hardware, setup.finance, setup.facility
    result = compute(gear, hardware, finance, facility, utilization, rent_price, explain=False)
    inputs = {**setup.inputs, "gpus": gpus, "utilization": utilization, "price_usd_per_gpu_hour": rent_price}
    results = {key: getattr(result, key) for key in RESULT_KEYS}
    warnings = setup.warnings
    if gear.gpus_installed != count:
        warnings = (*warnings, f"{count:,} accelerators round up to whole systems: {gear.gpus_installed:,} are "
                               "bought and costed")
    results.update(gpus_installed=gear.gpus_installed, switches=gear.switches, transceivers=gear.transceivers,
                   it_power_peak_w=gear.it_power_peak_w, facility_power_w=gear.facility_power_w)

    def working():
        return list(compute(gear, hardware, finance, facility, utilization, rent_price).steps)

    return Owned(result.usd_per_gpu_hour, inputs, results, dict(setup.chain), (*setup.notes, *notes,
                 *result.assumptions), (*warnings, *result.warnings), working)


def _site(catalog, o, spec, notes: list[str]) -> tuple[dict, dict]:
    """PUE and electricity price as cluster-power resolves them (site class, cooling, grid)."""
    limit = None if spec.systems_per_rack is not None else site.default(catalog, "rack-power-limit").value
    chosen = site.cooling(catalog, option(o, "cooling"), rack_power_peak_w(spec, limit), notes)
    region = site.grid_region(catalog, option(o, "grid"))
    where = option(o, "site") or "average"
    found: list[str] = []
    figures = site.site_figures(catalog, _SiteView(o), where, chosen, region, found)
    notes += [n for n in found if "CO2" not in n and "market-based" not in n]  # carbon is not on the bill
    return figures, {"site": where, "cooling": chosen, "grid": region, "pue": figures["pue"],
                     "price_usd_per_kwh": figures["price_usd_per_kwh"]}


class _SiteView:
    """What site.site_figures reads: PUE and the electricity price from the command, no carbon options."""

    def __init__(self, o):
        self.pue = option(o, "pue")
        self.price_per_kwh = option(o, "price_per_kwh")
        self.carbon_intensity = None
        self.carbon_market = None


def _value(catalog, given, default_id: str, text: str, notes: list[str]) -> float:
    return site.default_value(catalog, given, default_id, lambda v: text.format(v), notes)


def _hardware(catalog, o, accelerator, fabric, notes: list[str]) -> tuple[Hardware, dict, dict]:
    basis, price, chain, margin = _gpu_price(catalog, option(o, "gpu_price") or "list", option(o, "vendor_margin"),
                                             accelerator, notes)
    ratio = _value(catalog, option(o, "host_ratio"), "host-capex-ratio",
                   "the rest of each system (host, NICs, scale-up switches) {:g} x the accelerator's price", notes)
    switch = _value(catalog, option(o, "switch_price"), "switch-price", "scale-out switch ${:,.0f}", notes) \
        if fabric is not None else 0.0
    optics = _value(catalog, option(o, "transceiver_price"), "transceiver-price", "optical module ${:,.0f}", notes) \
        if fabric is not None else 0.0
    inputs = {"gpu_price_basis": basis, "gpu_price_usd": price, "vendor_margin": margin, "host_capex_ratio": ratio,
              "switch_price_usd": switch, "transceiver_price_usd": optics}
    return Hardware(price, ratio, switch, optics), chain, inputs


def _gpu_price(catalog, text: str, margin_given, accelerator, notes: list[str]):
    """(basis, USD per accelerator, the fab chain's figures, the margin used)."""
    from aistack_cli.commands.fab_cost import package_chain

    chain_sheet = package_chain(catalog, accelerator.id)
    chain = {"wafer_cost_usd": None, "package_cost_usd": None, "unit_cost_usd_per_gpu": None}
    if chain_sheet is not None and chain_sheet.unit_cost_usd is not None:
        chain = {"wafer_cost_usd": chain_sheet.wafer_cost_usd, "package_cost_usd": chain_sheet.package_cost_usd,
                 "unit_cost_usd_per_gpu": chain_sheet.unit_cost_usd / chain_sheet.gpus_per_package}
    word = text.strip().lower()
    if word == "bom":
        if chain_sheet is None:
            raise InputError(f"--gpu-price: no bill of materials for {accelerator.id} (aistack specs list --kind "
                             "package); give list or a price in USD")
        margin = _value(catalog, margin_given, "vendor-gross-margin", "vendor gross margin {:.1%}", notes)
        price = price_from_cost(chain["unit_cost_usd_per_gpu"], margin)
        notes.append(f"accelerator price ${price:,.0f} = unit cost ${chain['unit_cost_usd_per_gpu']:,.0f} (fab-cost --package "
                     f"{chain_sheet.package}) / (1 − {margin:.1%})")
        return "bom", price, chain, margin
    if margin_given is not None:
        raise InputError("--vendor-margin: applies only to --gpu-price bom")
    if word == "list":
        if accelerator.purchase_price_usd is None:
            raise InputError(f"--gpu-price: the {accelerator.id} sheet has no purchase price; give one in USD, or bom")
        notes.append(f"accelerator ${accelerator.purchase_price_usd:,.0f} each: the {accelerator.id} sheet's purchase "
                     f"price ({accelerator.purchase_price_as_of}; aistack specs show {accelerator.id})")
        return "list", accelerator.purchase_price_usd, chain, None
    price = units.positive(text, "usd", "--gpu-price")
    notes.append(f"accelerator ${price:,.0f} each (given)")
    return "given", price, chain, None


def _money(catalog, o, notes: list[str]) -> tuple[Finance, Facility, dict]:
    mode = option(o, "facility") or "build"
    life = _value(catalog, option(o, "gpu_life"), "gpu-life-years", "hardware paid off over {:g} years", notes)
    rate = _value(catalog, option(o, "cost_of_capital"), "cost-of-capital", "cost of capital {:.1%} a year", notes)
    upkeep = _value(catalog, option(o, "maintenance"), "maintenance-fraction",
                    "maintenance and operations {:.1%} of the hardware capex a year", notes)
    inputs = {"facility": mode, "gpu_life_years": life, "cost_of_capital": rate, "maintenance_fraction": upkeep}
    if mode == "build":
        for flag, value in (("--colocation-price", option(o, "colocation_price")),):
            if value is not None:
                raise InputError(f"{flag}: applies to --facility colo, not build")
        cost = _value(catalog, option(o, "construction_cost"), "construction-cost-per-w",
                      "building ${:g} per W of critical IT", notes)
        years = _value(catalog, option(o, "facility_life"), "facility-life-years", "building paid off over {:g} years",
                       notes)
        running = _value(catalog, option(o, "operations"), "facility-operations-fraction",
                         "building operations {:.1%} of its cost a year", notes)
        inputs.update(construction_usd_per_w=cost, facility_life_years=years, operations_fraction=running)
        return Finance(life, years, rate, upkeep, running), Facility("build", construction_usd_per_w=cost), inputs
    for flag, name in (("--construction-cost", "construction_cost"), ("--facility-life", "facility_life"),
                       ("--operations", "operations")):
        if option(o, name) is not None:
            raise InputError(f"{flag}: applies to --facility build, not colo (the rent covers the building)")
    rent = _value(catalog, option(o, "colocation_price"), "colocation-price", "colocation ${:,.2f} per kW-month of "
                  "critical IT (the building, its operation and power infrastructure; electricity billed apart)",
                  notes)
    inputs["colocation_usd_per_kw_month"] = rent
    return Finance(life, life, rate, upkeep, 0.0), Facility("colo", colocation_usd_per_kw_month=rent), inputs


def _rent(accelerator, given, notes: list[str]) -> float | None:
    if given is not None:
        notes.append(f"rental price ${given:,.2f} per GPU-hour to compare with (given)")
        return given
    notes.append(accelerator.price_note())
    return accelerator.price_usd_per_hour
