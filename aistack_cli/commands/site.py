"""What train-cost and cluster-power share about power: the site, the grid, the accounting, the
system the accelerators sit in and its network. Options are declared once here; the look-ups read
the cited defaults (specs/defaults/) by convention, so no number is restated in code.

Not a calculator: imported by the commands that need it.
"""

from __future__ import annotations

from functools import lru_cache

from aistack_cli import units
from aistack_cli.calc.common import host_overhead_w
from aistack_cli.calc.power import (
    ACCOUNTINGS, COOLINGS, TOPOLOGIES, Fabric, SystemSpec, cooling_for_rack, custom_system_max_w, rating_share_w,
    switch_power_from_capacity,
)
from aistack_cli.errors import InputError, UnknownIdError
from aistack_cli.runner.options import Opt

SITES = ("hyperscale", "colo", "average")
WORKLOADS = ("training", "inference")
NETWORKS = (*TOPOLOGIES, "none")
SCALE_OUT_FAMILIES = ("infiniband", "ethernet", "gaudi-roce")
DEFAULT_INTER = "ib-ndr"
DEFAULT_INTER_NOTE = ("scale-out link ib-ndr (default for a custom build: 400 Gb/s NDR InfiniBand, one port per "
                      "accelerator, as in DGX H100 and GB200 NVL72; give --inter)")
CAP_CURVE_PREFIX = "power-cap-performance-"

# ---- options, declared once -------------------------------------------------------------------

ACCOUNTING = Opt("accounting", "word", "How energy is counted: metered (accelerators at their average load plus "
                 "hosts, network and storage, x PUE: the meter's view) or tdp (accelerator TDP x hours x PUE, as "
                 "model cards count).", default="metered", choices=ACCOUNTINGS)
SITE = Opt("site", "word", "Site class, for PUE, WUE and market-based carbon.", default="average", choices=SITES,
           aliases=(("colocation", "colo"), ("hyperscaler", "hyperscale")))
COOLING = Opt("cooling", "word", "Cooling, for PUE and WUE (default: liquid when a rack draws more at peak than "
              "air cooling removes, else air).", choices=COOLINGS)
GRID = Opt("grid", "id", "Grid region for the location-based carbon intensity (and, in the US, the price), e.g. "
           "world (default), us, us-virginia, us-texas, eu, france, nordics, china, japan.")
PUE = Opt("pue", "ratio", "Power usage effectiveness: facility / IT power (default: by --site and --cooling).",
          lo=1, hi=3)
CARBON = Opt("carbon_intensity", "g_per_kwh", "Location-based grid carbon intensity, g CO2 per kWh (default: "
             "--grid's).", field="carbon_intensity_g_per_kwh", lo=0, hi=2000)
CARBON_MARKET = Opt("carbon_market", "g_per_kwh", "Market-based carbon intensity after renewable contracts, g CO2 "
                    "per kWh (default: 0 at --site hyperscale, else the location-based figure).",
                    field="carbon_market_g_per_kwh", lo=0, hi=2000)
LOAD = Opt("load", "fraction", "Average draw as a fraction of rated power (default: by --workload, "
           "measured).", field="load_fraction", lo=0, lo_open=True, hi=1)
NETWORK = Opt("network", "word", "Scale-out fabric.", default="rail-optimized", choices=NETWORKS)

# ---- site class, cooling, grid ------------------------------------------------------------------


@lru_cache(maxsize=256)
def default(catalog, default_id: str):
    """A default sheet, built once per catalog (sweeps ask for the same few thousands of times)."""
    return catalog.get("default", default_id)


@lru_cache(maxsize=8)
def _ids_and_aliases(catalog) -> frozenset[str]:
    return frozenset(catalog.sheets.get("default", {})) | frozenset(catalog.aliases.get("default", {}))


def has_default(catalog, default_id: str) -> bool:
    return default_id in _ids_and_aliases(catalog)


def default_value(catalog, given, default_id: str, describe, notes: list[str]) -> float:
    """The option when given, else the cited default, with an assumption line either way."""
    if given is not None:
        notes.append(describe(given) + " (given)")
        return given
    sheet = default(catalog, default_id)
    notes.append(sheet.note(describe(sheet.value)))
    return sheet.value


def cooling(catalog, given: str | None, rack_peak_w: float, notes: list[str]) -> str:
    """The cooling given, or the one a rack of this power needs."""
    if given is not None:
        return given
    limit = default(catalog, "air-cooling-rack-limit")
    chosen = cooling_for_rack(rack_peak_w, limit.value)
    notes.append(f"{chosen} cooling: one rack draws {units.format_si(rack_peak_w, 'W')} at peak, "
                 f"{'above' if chosen == 'liquid' else 'within'} the ~{units.format_si(limit.value, 'W')} air "
                 "cooling removes (give --cooling)")
    return chosen


def grid_region(catalog, grid: str | None) -> str:
    """The region id (``world`` when not given); a usage error listing the presets when unknown."""
    region = (grid or "world").strip().lower()
    try:
        catalog.resolve("default", f"carbon-intensity-{region}")
    except UnknownIdError:
        known = sorted(i.removeprefix("carbon-intensity-") for i in _ids_and_aliases(catalog)
                       if i.startswith("carbon-intensity-"))
        raise InputError(f"--grid: no preset for {grid!r}; presets: {', '.join(known)} "
                         "(or give --carbon-intensity)") from None
    return region


def site_figures(catalog, o, site: str, chosen_cooling: str, region: str, notes: list[str]) -> dict:
    """PUE, WUE, carbon (location and market) and price for the site class, cooling and region."""
    pue = default_value(catalog, o.pue, f"pue-{site}-{chosen_cooling}", lambda v: f"PUE {v:g} ({site}, "
                        f"{chosen_cooling})", notes)
    carbon = default_value(catalog, o.carbon_intensity, f"carbon-intensity-{region}",
                           lambda v: f"grid {v:g} g CO2/kWh ({region}, location-based)", notes)
    market = _market(catalog, o.carbon_market, site, carbon, notes)
    values = {"pue": pue, "carbon_intensity_g_per_kwh": carbon, "carbon_market_g_per_kwh": market}
    if hasattr(o, "wue"):
        values["wue_l_per_kwh"] = default_value(catalog, o.wue, f"wue-{site}-{chosen_cooling}",
                                                lambda v: f"WUE {v:g} L/kWh of IT energy", notes)
    if hasattr(o, "price_per_kwh"):
        values["price_usd_per_kwh"] = _price(catalog, o.price_per_kwh, region, notes)
    return values


def _market(catalog, given, site: str, location: float, notes: list[str]) -> float:
    if given is not None:
        notes.append(f"market-based {given:g} g CO2/kWh (given)")
        return given
    if f"carbon-market-{site}" in _ids_and_aliases(catalog):
        sheet = default(catalog, f"carbon-market-{site}")
        notes.append(sheet.note(f"market-based {sheet.value:g} g CO2/kWh"))
        return sheet.value
    notes.append("market-based = location-based: no renewable contracts assumed (give --carbon-market)")
    return location


def _price(catalog, given, region: str, notes: list[str]) -> float:
    if given is not None:
        notes.append(f"electricity ${given:g}/kWh (given)")
        return given
    if f"electricity-price-{region}" in _ids_and_aliases(catalog):
        return default_value(catalog, None, f"electricity-price-{region}", lambda v: f"electricity ${v:g}/kWh", notes)
    value = default_value(catalog, None, "electricity-price", lambda v: f"electricity ${v:g}/kWh", notes)
    if region != "world":
        notes.append(f"no electricity price preset for {region}: the US industrial average is used "
                     "(give --price-per-kwh)")
    return value


def load_fraction(catalog, given: float | None, workload: str, accelerator_id: str | None,
                  notes: list[str]) -> float:
    """The load given, else the workload's measured default (per accelerator when one is published)."""
    ids = _ids_and_aliases(catalog)
    specific = f"load-fraction-{workload}-{accelerator_id}"
    default_id = specific if accelerator_id and specific in ids else f"load-fraction-{workload}"
    return default_value(catalog, given, default_id, lambda v: f"average draw {v:g} of rated power ({workload})",
                         notes)


@lru_cache(maxsize=8)
def cap_curve(catalog) -> tuple[tuple[float, float], ...]:
    """The measured performance-versus-cap points: one default sheet per cap."""
    return tuple(sorted((float(i.removeprefix(CAP_CURVE_PREFIX)), default(catalog, i).value)
                        for i in catalog.ids("default") if i.startswith(CAP_CURVE_PREFIX)))


def swing(catalog, notes: list[str]) -> tuple[float, float]:
    low = default(catalog, "training-swing-low-fraction")
    high = default(catalog, "training-swing-high-fraction")
    notes.append(high.note(f"training swings between {low.value:.0%} and {high.value:.0%} of rated power"))
    return low.value, high.value


# ---- the system the accelerators sit in ----------------------------------------------------------

def system(catalog, gpu_id, system_id, per_node=None, overhead=None, power=None, required=True):
    """The system the cluster is built of: a catalog sheet, or a custom node.

    Returns (spec, inputs, notes, warnings); with ``required`` False, an accelerator in no (or
    several) system sheets stands alone (no host), with a note, instead of a usage error, and the
    spec is None when its power is unknown.
    """
    if per_node is not None and system_id:
        held = catalog.get("system", system_id).accelerators
        if per_node != held:
            raise InputError(f"--gpus-per-node: give either --system or a custom build, not both ({system_id} "
                             f"holds {held})")
        per_node = None  # the sheet's own count, as a saved output read back through --config gives it
    if per_node is not None:
        return _custom(catalog, gpu_id, per_node, overhead, power)
    if system_id is None and gpu_id is None:
        raise InputError("--gpu: give an accelerator id (e.g. --gpu h100-sxm), a --system, or a custom build "
                         "with --gpus-per-node, --node-overhead and --gpu-power")
    if system_id:
        sheet, chosen_note = catalog.get("system", system_id), None
    else:
        found = _systems_of(catalog, gpu_id)
        if len(found) != 1 and not required:
            return _alone(catalog, gpu_id, power, found)
        sheet, chosen_note = _system_for(catalog, gpu_id, found)
    accelerator = catalog.get("accelerator", sheet.accelerator)
    if gpu_id and catalog.resolve("accelerator", gpu_id) != accelerator.id:
        raise InputError(f"--gpu: {gpu_id} does not match --system {sheet.id}, which holds {accelerator.id}")
    power_w, power_notes, power_warnings = _gpu_power(accelerator, power, sheet)
    overhead_w, notes, warnings = _overhead(sheet, accelerator, power_w, overhead)
    spec = SystemSpec(sheet.accelerators, sheet.nodes, power_w, overhead_w, sheet.nics, sheet.systems_per_rack,
                      accelerator.tdp_w)
    inputs = {"gpu": accelerator.id, "system": sheet.id, "gpus_per_system": sheet.accelerators,
              "nodes_per_system": sheet.nodes, "gpu_tdp_w": accelerator.tdp_w, "power_per_gpu_w": power_w,
              "system_max_power_w": sheet.max_power_w, "host_overhead_per_system_w": overhead_w,
              "nics_per_system": sheet.nics, "nic_bandwidth_bytes_per_s": sheet.nic_bandwidth_bytes_per_s,
              "default_inter": sheet.network_interconnect}
    notes = [*(n for n in [chosen_note] if n), *power_notes, *notes]
    return spec, inputs, notes, [*power_warnings, *warnings]


def _systems_of(catalog, gpu_id) -> list[str]:
    wanted = catalog.resolve("accelerator", gpu_id)
    return sorted(sid for sid, sheet in catalog.sheets.get("system", {}).items() if sheet["accelerator"] == wanted)


def _system_for(catalog, gpu_id, found: list[str]):
    """The one system sheet built of ``gpu_id``; a usage error when there are none or several."""
    wanted = catalog.resolve("accelerator", gpu_id)
    if not found:
        raise InputError(f"--system: no system sheet holds {wanted}; give --system, or a custom build with "
                         "--gpus-per-node and --node-overhead")
    if len(found) > 1:
        raise InputError(f"--system: {wanted} is in several systems ({', '.join(found)}); choose one with --system")
    return catalog.get("system", found[0]), f"system {found[0]}: the only system sheet built of {wanted}"


def _alone(catalog, gpu_id, power, found: list[str]):
    """An accelerator counted on its own (train-cost without a unique system sheet)."""
    accelerator = catalog.get("accelerator", gpu_id)
    inputs = {"gpu": accelerator.id, "system": None, "gpus_per_system": 1, "nodes_per_system": 1,
              "gpu_tdp_w": accelerator.tdp_w, "power_per_gpu_w": power, "system_max_power_w": None,
              "host_overhead_per_system_w": 0.0, "nics_per_system": 0, "nic_bandwidth_bytes_per_s": None,
              "default_inter": None}
    if power is None and accelerator.tdp_w is None:
        return None, inputs, [], []  # the caller says that energy cannot be computed
    power_w, notes, warnings = _gpu_power(accelerator, power, None)
    inputs["power_per_gpu_w"] = power_w
    why = f"it is in several systems ({', '.join(found)})" if found else "no system sheet holds it"
    notes.append(f"accelerators only: {why}, so host CPUs, memory, NICs, fans and the network are not counted "
                 "(give --system)")
    return SystemSpec(1, 1, power_w, 0.0, 0, None, accelerator.tdp_w), inputs, notes, warnings


def _gpu_power(accelerator, power, sheet) -> tuple[float, list[str], list[str]]:
    """Rated power per accelerator: given, the TDP, or (fallback) the system rating shared out."""
    if power is not None:
        return power, [], []
    if accelerator is not None and accelerator.tdp_w is not None:
        return accelerator.tdp_w, [], []
    if sheet is not None:
        shared = rating_share_w(sheet.max_power_w, sheet.accelerators)
        return shared, [f"{accelerator.id} has no TDP in its sheet: each accelerator is taken as the {sheet.id} "
                        f"rating / {sheet.accelerators:,} = {units.format_si(shared, 'W')}, with no host power "
                        "beyond it (a fallback until the catalog gives its power; give --gpu-power)"], \
            [f"{accelerator.id} power is a placeholder ({sheet.id}'s rating shared out): treat the result as a "
             "low estimate"]
    name = accelerator.id + "'s sheet has no TDP" if accelerator else "no --gpu was given"
    raise InputError(f"--gpu-power: {name}; give the power per accelerator at full load, e.g. --gpu-power 700W")


def _overhead(sheet, accelerator, power_w, given):
    """Host overhead per system: the rated maximum minus the accelerators at TDP (or the override)."""
    what = (f"system {sheet.id}: rated {units.format_si(sheet.max_power_w, 'W')} includes its CPUs, memory, NICs "
            "and their optics, fans and its own scale-up switches; only gear outside it is added. Host power is "
            "the rating minus the accelerators at TDP (no measured host power is published for it)")
    if given is not None:
        return given, [f"host overhead {units.format_si(given, 'W')} per system (--node-overhead)"], []
    basis = getattr(sheet, "max_power_basis", "rated")
    if basis != "rated":
        what += f"; the sheet's power is {'an ' if basis == 'estimate' else ''}{basis}, not a vendor rating"
    tdp = accelerator.tdp_w if accelerator.tdp_w is not None else power_w
    overhead = host_overhead_w(sheet.max_power_w, sheet.accelerators, tdp)
    if overhead > 0.01 * sheet.max_power_w:
        return overhead, [what], []
    if overhead >= -0.01 * sheet.max_power_w:
        return 0.0, [what], [f"system {sheet.id}: its rated power is the accelerators alone; host overhead taken as 0 "
                             "(give --node-overhead)"]
    raise InputError(f"--node-overhead: {sheet.id} is rated {units.format_si(sheet.max_power_w, 'W')}, less than "
                     f"its {sheet.accelerators:,} accelerators at {units.format_si(tdp, 'W')}; "
                     "give the host power per system")


def _custom(catalog, gpu_id, per_node, overhead, power):
    accelerator = catalog.get("accelerator", gpu_id) if gpu_id else None
    if overhead is None:
        raise InputError("--node-overhead: a custom build needs the power of a node besides its accelerators, "
                         "e.g. --node-overhead 4.6kW (DGX H100: 10.2 kW − 8 × 700 W)")
    power_w = _gpu_power(accelerator, power, None)[0]
    tdp = accelerator.tdp_w if accelerator else None
    spec = SystemSpec(per_node, 1, power_w, overhead, per_node, None, tdp)
    inputs = {"gpu": accelerator.id if accelerator else None, "system": None, "gpus_per_system": per_node,
              "nodes_per_system": 1, "gpu_tdp_w": tdp, "power_per_gpu_w": power_w,
              "system_max_power_w": custom_system_max_w(per_node, power_w, overhead),
              "host_overhead_per_system_w": overhead, "nics_per_system": per_node,
              "nic_bandwidth_bytes_per_s": None, "default_inter": None}
    notes = [f"custom node: {per_node} accelerators, {units.format_si(overhead, 'W')} besides them at full load "
             "(include CPUs, memory, NICs and their optics, fans), one scale-out NIC per accelerator"]
    return spec, inputs, notes, []


# ---- network ----------------------------------------------------------------------------------

def fabric(catalog, topology: str, inter_id, inputs: dict, radix=None, switch_power=None, transceiver_power=None,
           required=True):
    """The scale-out fabric: the system's link (or --inter) with its sheet's switch figures, the
    cited fallbacks when the sheet has none, or the options. Pops the system's link hints from
    ``inputs``. With ``required`` False, a fabric without figures is left out (with a note)."""
    default_inter = inputs.pop("default_inter")
    nic_speed = inputs.pop("nic_bandwidth_bytes_per_s")
    if topology == "none" or (not required and not inputs.get("nics_per_system")):
        return None, {"network": "none", "inter": None}, ["no scale-out network counted"] if not required else [], []
    link = catalog.get("interconnect", inter_id or default_inter or DEFAULT_INTER)
    notes = [] if inter_id or default_inter else [DEFAULT_INTER_NOTE]
    if link.family not in SCALE_OUT_FAMILIES:
        raise InputError(f"--inter: {link.id} is a {link.family} link, not a scale-out network; "
                         "give an InfiniBand or Ethernet id such as ib-ndr or roce-400g")
    try:
        radix_n = int(_radix(catalog, link, radix, notes))
        switch_w = _switch_power(catalog, link, radix_n, switch_power, notes)
        optics_w = _figure(transceiver_power, link.transceiver_power_w, "--transceiver-power", link.id,
                           "transceiver power", "15W (0W for copper)")
    except InputError:
        if required:
            raise
        return None, {"network": "none", "inter": None}, [f"no scale-out network counted: the {link.id} sheet "
                                                          "has no switch figures"], []
    warnings = []
    if nic_speed and abs(nic_speed - link.link_bandwidth_bytes_per_s) > 1e-6 * nic_speed:
        warnings.append(f"the system's NICs run at {units.format_si(nic_speed * 8, 'b/s')} but {link.id} ports "
                        f"at {units.format_si(link.link_bandwidth_bytes_per_s * 8, 'b/s')}; "
                        "one switch port per NIC is counted")
    inputs_out = {"network": topology, "inter": link.id, "switch_radix": radix_n,
                  "power_per_switch_w": switch_w, "power_per_transceiver_w": optics_w}
    return Fabric(topology, radix_n, switch_w, optics_w), inputs_out, notes, warnings


def _radix(catalog, link, given, notes: list[str]) -> float:
    if given is not None or link.switch_radix is not None:
        return given if given is not None else link.switch_radix
    fallback = f"switch-radix-{link.id}"
    if fallback not in _ids_and_aliases(catalog):
        return _figure(None, None, "--switch-radix", link.id, "switch radix", "64")
    sheet = default(catalog, fallback)
    notes.append(sheet.note(f"{sheet.value:g}-port {link.id} switches (fallback: the {link.id} sheet gives no "
                            "switch)"))
    return sheet.value


def _switch_power(catalog, link, radix: int, given, notes: list[str]) -> float:
    if given is not None or link.switch_power_w is not None:
        return given if given is not None else link.switch_power_w
    per_bit = default(catalog, "switch-power-per-bit")
    watts = switch_power_from_capacity(radix, link.link_bandwidth_bytes_per_s * 8, per_bit.value)
    notes.append(per_bit.note(f"{units.format_si(watts, 'W')} per {link.id} switch ({radix} ports × "
                              f"{units.format_si(link.link_bandwidth_bytes_per_s * 8, 'b/s')} at Quantum-2's power "
                              "per bit; fallback: the sheet gives no switch power)"))
    return watts


def _figure(given, sheet_value, flag, link_id, what, example) -> float:
    if given is not None:
        return given
    if sheet_value is None:
        raise InputError(f"{flag}: the {link_id} sheet has no {what}; give it, e.g. {flag} {example}")
    return sheet_value
