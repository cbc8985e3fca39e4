"""``aistack cluster-power``: megawatts, racks, network gear, energy, money, carbon and water; or,
given a site's power, how many accelerators and racks it holds."""

from __future__ import annotations

from aistack_cli import units
from aistack_cli.calc.common import RESULT_META
from aistack_cli.calc.power import (
    BASES, REDUNDANCIES, ClusterPowerResult, Draw, Electrical, Site, SitePower, SitePowerTooSmall, SystemSpec,
    cluster_power as compute,
    rack_power_peak_w, system_peak_w,
)
from aistack_cli.commands import site
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

OPTIONS = [
    Opt("gpu", "id", "Accelerator id, e.g. gb200 (its system sheet is used when there is one).", ids="accelerator"),
    Opt("gpus", "int", "Accelerators in the cluster, e.g. 100k (default: one system).", lo=1, hi=1e7),
    Opt("system", "id", "System id: accelerators, host overhead and rack, e.g. dgx-h100, gb200-nvl72.", ids="system"),
    Opt("site_power", "watts", "Size the cluster for a site's power instead of --gpus, e.g. 150MW: the most whole "
        "systems whose PEAK power fits.", field="site_power_w", lo=1e3, hi=1e11),
    Opt("site_power_basis", "word", "What --site-power measures: facility (at the meter, peak IT x PUE) or it "
        "(the critical IT load).", default="facility", choices=BASES,
        aliases=(("critical-it", "it"), ("meter", "facility"), ("grid", "facility"))),
    Opt("gpus_per_node", "int", "Custom build: accelerators per node.", field="gpus_per_system", lo=1, hi=1e4),
    Opt("node_overhead", "watts", "Custom build (or override): power of a node besides its accelerators at full load, "
        "e.g. 4.6kW.", field="host_overhead_per_system_w", lo=0, hi=1e7),
    Opt("gpu_power", "watts", "Rated power per accelerator at full load (default: its TDP), e.g. a cap of 960W.",
        field="power_per_gpu_w", lo=1, hi=1e5),
    Opt("power_cap", "fraction", "Cap every accelerator at this fraction of its rated power, e.g. 0.8: more fit a "
        "site's power, each a little slower (measured curve).", field="power_cap_fraction", lo=0.1, hi=1),
    Opt("workload", "word", "What the cluster runs: sets the default load, and training shows its power swings.",
        default="training", choices=site.WORKLOADS),
    site.ACCOUNTING,
    site.LOAD,
    site.NETWORK,
    Opt("inter", "id", "Scale-out link id, e.g. ib-ndr, roce-400g (default: the system's).", ids="interconnect"),
    Opt("switch_radix", "int", "Switch ports at that link speed (default: the link's sheet).", lo=4, hi=1e4),
    Opt("switch_power", "watts", "Power per switch (default: the link's sheet), e.g. 1.7kW.",
        field="power_per_switch_w", lo=0, hi=1e6),
    Opt("transceiver_power", "watts", "Power per optical module port (default: the link's sheet); 0W for copper.",
        field="power_per_transceiver_w", lo=0, hi=1e4),
    Opt("storage_power", "watts", "Storage systems' power, e.g. 2MW.", default=0.0, field="storage_power_w", lo=0,
        hi=1e10),
    site.SITE,
    site.COOLING,
    site.PUE,
    Opt("rack_power_limit", "watts", "Power a rack may draw at peak, e.g. 40kW.", field="rack_power_limit_w", lo=1e3,
        hi=2e6),
    site.GRID,
    Opt("price_per_kwh", "usd_per_kwh", "Electricity price, e.g. 0.07, 7c/kWh or $70/MWh (default: --grid's, else "
        "the US industrial average).", field="price_usd_per_kwh", lo=0, hi=10),
    site.CARBON,
    site.CARBON_MARKET,
    Opt("wue", "l_per_kwh", "Water usage effectiveness in litres per IT kWh (default: by --site and --cooling).",
        field="wue_l_per_kwh", lo=0, hi=100),
    Opt("redundancy", "word", "UPS redundancy for the installed capacity: n, n+1 or 2n.", default="n+1",
        choices=REDUNDANCIES, aliases=(("2n+0", "2n"),)),
    Opt("ups_efficiency", "fraction", "UPS efficiency (default: by --site).", lo=0.5, hi=1),
    Opt("transformer_efficiency", "fraction", "Distribution transformer efficiency.", lo=0.5, hi=1, default_id="transformer-efficiency"),
    Opt("ups_module", "watts", "Power of one UPS module.", field="ups_module_w", lo=1e3, hi=1e9, default_id="ups-module-power"),
    Opt("years", "count", "Years of operation for the totals.", default=1.0, lo=0, lo_open=True, hi=100),
    Opt("gpu_hours", "count", "Accelerator-hours the totals cover, instead of --years, e.g. 30.84M (a model card's "
        "figure).", field="accounted_gpu_hours", lo=0, lo_open=True, hi=1e13),
]
EXAMPLES = (
    "aistack cluster-power --system gb200-nvl72 --site-power 150MW",
    "aistack cluster-power --gpu gb200 --gpus 100000 --site hyperscale --grid us-virginia",
    "aistack cluster-power --system dgx-h100 --gpus 16384 --accounting tdp --gpu-hours 30.84M --site hyperscale",
    "aistack cluster-power --gpu h100-sxm --gpus 8k:64k:x2 -f csv",
)


@calculator("cluster-power",
            help="Power at the meter (average and peak), racks, network gear, energy, cost, carbon and water of a "
                 "GPU cluster; or how many accelerators a site's power holds.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["gpus_installed", "racks", "it_power_w", "facility_power_w", "facility_power_peak_w",
                     "energy_cost_usd_per_year", "co2_kg_per_year"])
def cluster_power(catalog, o) -> Point:
    _check_exclusive(o)
    spec, inputs, notes, warnings, draw, fabric, figures, electrical = _setup(catalog, o)
    place = Site(figures["pue"], figures["price_usd_per_kwh"], figures["carbon_intensity_g_per_kwh"],
                 figures["wue_l_per_kwh"], o.years, inputs["rack_power_limit_w"], o.storage_power,
                 figures["carbon_market_g_per_kwh"], o.gpu_hours)
    sized = SitePower(o.site_power, o.site_power_basis) if o.site_power is not None else None
    count = o.gpus if o.gpus is not None else inputs["gpus_per_system"]
    try:
        result = compute(count, spec, draw, fabric, place, electrical, sized)
    except SitePowerTooSmall as small:
        raise InputError(f"--site-power: {units.format_si(o.site_power, 'W')} holds no whole system; one needs "
                         f"{units.format_si(small.needed_w, 'W')} at peak ({o.site_power_basis} basis)") from None
    all_inputs = {**inputs, "gpus": o.gpus if sized is None else None, "storage_power_w": o.storage_power,
                  "site_power_w": o.site_power, "site_power_basis": o.site_power_basis if sized else None,
                  "years": o.years if o.gpu_hours is None else None, "accounted_gpu_hours": o.gpu_hours}
    point_notes = []
    if o.storage_power == 0:
        point_notes.append("storage not counted (give --storage-power)")
    if sized is not None:
        point_notes.append(f"sized for {units.format_si(o.site_power, 'W')} at "
                           f"{'the meter (peak IT × PUE)' if o.site_power_basis == 'facility' else 'the critical IT load'}"
                           ": every system at its rated maximum fits (give --site-power-basis it or facility)")
    return Point(all_inputs, {key: getattr(result, key) for key in RESULT_KEYS}, [*notes, *point_notes, *result.assumptions],
                 [*warnings, *result.warnings], list(result.steps))


RESULT_KEYS = tuple(name for name in ClusterPowerResult.__dataclass_fields__ if name not in RESULT_META)
# Options that only the calc uses per point; everything else resolves once per distinct value set
# (a 10,000-point sweep over --gpus looks the system, fabric and site up once).
PER_POINT = ("gpus", "site_power", "site_power_basis", "years", "gpu_hours", "storage_power")
RESOLVED = tuple(opt.name for opt in OPTIONS if opt.name not in PER_POINT)
_SETUPS: dict[tuple, tuple] = {}


def _setup(catalog, o) -> tuple:
    key = (id(catalog), *(getattr(o, name) for name in RESOLVED))
    hit = _SETUPS.get(key)
    if hit is None:
        if len(_SETUPS) > 4096:
            _SETUPS.clear()
        hit = _SETUPS[key] = (catalog, _resolve(catalog, o))  # the catalog is kept, so its id stays unique
    return hit[1]


def _resolve(catalog, o) -> tuple:
    notes: list[str] = []
    spec, inputs, system_notes, warnings = site.system(catalog, o.gpu, o.system, o.gpus_per_node, o.node_overhead,
                                                       o.gpu_power)
    cap = o.power_cap if o.power_cap is not None else 1.0
    draw, draw_inputs = _draw(catalog, o, inputs["gpu"], cap, notes)
    fabric, net_inputs, net_notes, net_warnings = site.fabric(catalog, o.network, o.inter, inputs, o.switch_radix,
                                                              o.switch_power, o.transceiver_power)
    figures, place_inputs = _site(catalog, o, spec, cap, notes)
    electrical, electrical_inputs = _electrical(catalog, o, notes)
    inputs = {**inputs, **draw_inputs, **net_inputs, **place_inputs, **electrical_inputs}
    return (spec, inputs, (*system_notes, *notes, *net_notes), (*warnings, *net_warnings), draw, fabric, figures,
            electrical)


def _check_exclusive(o) -> None:
    if o.site_power is not None and o.gpus is not None:
        raise InputError("--site-power: give either --gpus or --site-power (which finds the GPU count), not both")
    if o.gpu_hours is not None and o.given("years"):
        raise InputError("--gpu-hours: give either --years or --gpu-hours for the totals, not both")


def _draw(catalog, o, gpu_id, cap: float, notes: list[str]) -> tuple[Draw, dict]:
    """Load, accounting, cap and swings."""
    if o.accounting == "tdp" and o.load is not None:
        raise InputError("--load: tdp accounting counts accelerators at their rated power all the time; "
                         "use --accounting metered to set a load")
    load = None if o.accounting == "tdp" else site.load_fraction(catalog, o.load, o.workload, gpu_id, notes)
    swing = site.swing(catalog, notes) if o.workload == "training" else None
    draw = Draw(load if load is not None else 1.0, o.accounting, cap, site.cap_curve(catalog), swing)
    return draw, {"workload": o.workload, "accounting": o.accounting, "load_fraction": load,
                  "power_cap_fraction": o.power_cap}


def _site(catalog, o, spec: SystemSpec, cap: float, notes: list[str]) -> tuple[dict, dict]:
    limit = _rack_limit(catalog, spec, o.rack_power_limit, cap, notes)
    chosen = site.cooling(catalog, o.cooling, rack_power_peak_w(spec, limit, cap), notes)
    region = site.grid_region(catalog, o.grid)
    figures = site.site_figures(catalog, o, o.site, chosen, region, notes)
    return figures, {"site": o.site, "cooling": chosen, "rack_power_limit_w": limit, "grid": region, **figures}


def _electrical(catalog, o, notes: list[str]) -> tuple[Electrical, dict]:
    ups_id = f"ups-efficiency-{o.site}" if site.has_default(catalog, f"ups-efficiency-{o.site}") else "ups-efficiency"
    ups = site.default_value(catalog, o.ups_efficiency, ups_id, lambda v: f"UPS efficiency {v:g}", notes)
    transformer = site.default_value(catalog, o.transformer_efficiency, "transformer-efficiency",
                                     lambda v: f"transformer efficiency {v:g}", notes)
    module = site.default_value(catalog, o.ups_module, "ups-module-power",
                                lambda v: f"UPS modules of {units.format_si(v, 'W')}, {o.redundancy.upper()}", notes)
    return Electrical(ups, transformer, o.redundancy, module), {
        "redundancy": o.redundancy, "ups_efficiency": ups, "transformer_efficiency": transformer, "ups_module_w": module}


def _rack_limit(catalog, spec: SystemSpec, limit: float | None, cap: float, notes: list[str]) -> float | None:
    """The rack power limit, checked against one system: a server cannot be split across racks."""
    peak = system_peak_w(spec, cap)
    default = limit is None and spec.systems_per_rack is None
    if default:
        sheet = site.default(catalog, "rack-power-limit")
        limit = sheet.value
        notes.append(sheet.note(f"rack power limit {units.format_si(limit, 'W')} when the system sheet gives no rack"))
    if limit is None or limit >= peak or (spec.systems_per_rack is None and spec.nodes_per_system > 1):
        return limit
    if default:
        notes.append(f"one system ({units.format_si(peak, 'W')} at peak) exceeds the default rack power limit: "
                     "one per rack")
        return None
    whole = "is one rack" if spec.systems_per_rack == 1 else "is one server"
    raise InputError(f"--rack-power-limit: one system draws {units.format_si(peak, 'W')} at peak, more than "
                     f"{units.format_si(limit, 'W')}, and it {whole}")
