"""``aistack cluster-power``: megawatts, racks, network gear, energy, money, carbon and water."""

from __future__ import annotations

from aistack_cli import units
from aistack_cli.calc.common import host_overhead_w, result_values
from aistack_cli.calc.power import TOPOLOGIES, Fabric, Site, SystemSpec, cluster_power as compute
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

NETWORKS = (*TOPOLOGIES, "none")
SCALE_OUT_FAMILIES = ("infiniband", "ethernet", "gaudi-roce")
DEFAULT_INTER = "ib-ndr"
DEFAULT_INTER_NOTE = ("scale-out link ib-ndr (default for a custom build: 400 Gb/s NDR InfiniBand, one port per "
                      "accelerator, as in DGX H100 and GB200 NVL72; give --inter)")

OPTIONS = [
    Opt("gpu", "id", "Accelerator id, e.g. gb200 (its system sheet is used when there is one).", ids="accelerator"),
    Opt("gpus", "int", "Accelerators in the cluster, e.g. 100k (default: one system).", lo=1, hi=1e7),
    Opt("system", "id", "System id: accelerators, host overhead and rack, e.g. dgx-h100, gb200-nvl72.", ids="system"),
    Opt("gpus_per_node", "int", "Custom build: accelerators per node.", field="gpus_per_system", lo=1, hi=1e4),
    Opt("node_overhead", "watts", "Custom build (or override): power of a node besides its accelerators at full load, "
        "e.g. 4.6kW.", field="host_overhead_per_system_w", lo=0, hi=1e7),
    Opt("gpu_power", "watts", "Power per accelerator at full load (default: its TDP), e.g. a cap of 960W.",
        field="power_per_gpu_w", lo=1, hi=1e5),
    Opt("load", "fraction", "Average draw as a fraction of the rated maximum.", field="load_fraction", lo=0,
        lo_open=True, hi=1, default_id="load-fraction"),
    Opt("network", "word", "Scale-out fabric.", default="rail-optimized", choices=NETWORKS),
    Opt("inter", "id", "Scale-out link id, e.g. ib-ndr, roce-400g (default: the system's).", ids="interconnect"),
    Opt("switch_radix", "int", "Switch ports at that link speed (default: the link's sheet).", lo=4, hi=1e4),
    Opt("switch_power", "watts", "Power per switch (default: the link's sheet), e.g. 1.7kW.",
        field="power_per_switch_w", lo=0, hi=1e6),
    Opt("transceiver_power", "watts", "Power per optical module port (default: the link's sheet); 0W for copper.",
        field="power_per_transceiver_w", lo=0, hi=1e4),
    Opt("storage_power", "watts", "Storage systems' power, e.g. 2MW.", default=0.0, field="storage_power_w", lo=0,
        hi=1e10),
    Opt("pue", "ratio", "Power usage effectiveness: facility / IT power.", lo=1, hi=3, default_id="pue"),
    Opt("rack_power_limit", "watts", "Power a rack may draw at peak, e.g. 130kW (when the system sheet gives no "
        "racks: the cited default).", field="rack_power_limit_w", lo=1e3, hi=2e6, default_id="rack-power-limit"),
    Opt("price_per_kwh", "usd_per_kwh", "Electricity price, e.g. 0.08, 8c/kWh or $80/MWh.",
        field="price_usd_per_kwh", lo=0, hi=10, default_id="electricity-price"),
    Opt("carbon_intensity", "g_per_kwh", "Grid g CO2 per kWh.", field="carbon_intensity_g_per_kwh", lo=0, hi=2000,
        default_id="carbon-intensity"),
    Opt("wue", "l_per_kwh", "Water usage effectiveness in litres per IT kWh.", field="wue_l_per_kwh",
        lo=0, hi=100, default_id="wue"),
    Opt("years", "count", "Years of operation for the totals.", default=1.0, lo=0, lo_open=True, hi=100),
]
EXAMPLES = (
    "aistack cluster-power --gpu gb200 --gpus 100000 --pue 1.15 --price-per-kwh 0.08",
    "aistack cluster-power --system dgx-h100 --gpus 1024 --inter ib-ndr",
    "aistack cluster-power --gpu h100-sxm --gpus 8k:64k:x2 -f csv",
)


@calculator("cluster-power",
            help="Power at the meter, racks, network gear, energy, cost, carbon and water of a GPU cluster.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["gpus_installed", "racks", "it_power_w", "it_power_peak_w", "facility_power_w",
                     "energy_cost_usd_per_year", "co2_kg_per_year"])
def cluster_power(catalog, o) -> Point:
    spec, inputs, notes, warnings = _system(catalog, o.gpu, o.system, o.gpus_per_node, o.node_overhead, o.gpu_power)
    count = o.gpus if o.gpus is not None else inputs["gpus_per_system"]
    load = o.default("load")  # the option or its cited default, with one wording in every command
    fabric, net_inputs, net_notes, net_warnings = _fabric(catalog, o, inputs)
    site, site_inputs, site_notes = _site(catalog, spec, o)
    result = compute(count, spec, load, fabric, site)
    all_inputs = {**inputs, "gpus": count, "load_fraction": load, **net_inputs, **site_inputs}
    assumptions = [*notes, *net_notes, *site_notes, *result.assumptions]
    return Point(all_inputs, result_values(result), assumptions,
                 [*warnings, *net_warnings, *result.warnings], list(result.steps))


# ---- the building block ------------------------------------------------------------------

def _system(catalog, gpu_id, system_id, per_node, overhead, power):
    """The system the cluster is built of: a catalog sheet, or a custom node."""
    if per_node is not None:
        if system_id:
            raise InputError("--gpus-per-node: give either --system or a custom build, not both")
        return _custom(catalog, gpu_id, per_node, overhead, power)
    if system_id is None and gpu_id is None:
        raise InputError("--gpu: give an accelerator id (e.g. --gpu h100-sxm), a --system, or a custom build "
                         "with --gpus-per-node, --node-overhead and --gpu-power")
    sheet, chosen_note = (catalog.get("system", system_id), None) if system_id else _system_for(catalog, gpu_id)
    accelerator = catalog.get("accelerator", sheet.accelerator)
    if gpu_id and catalog.resolve("accelerator", gpu_id) != accelerator.id:
        raise InputError(f"--gpu: {gpu_id} does not match --system {sheet.id}, which holds {accelerator.id}")
    power_w = _gpu_power(accelerator, power)
    overhead_w, notes, warnings = _overhead(sheet, accelerator, power_w, overhead)
    spec = SystemSpec(sheet.accelerators, sheet.nodes, power_w, overhead_w, sheet.nics, sheet.systems_per_rack)
    inputs = {"gpu": accelerator.id, "system": sheet.id, "gpus_per_system": sheet.accelerators,
              "nodes_per_system": sheet.nodes, "gpu_tdp_w": accelerator.tdp_w, "power_per_gpu_w": power_w,
              "system_max_power_w": sheet.max_power_w, "host_overhead_per_system_w": overhead_w,
              "nics_per_system": sheet.nics, "nic_bandwidth_bytes_per_s": sheet.nic_bandwidth_bytes_per_s,
              "default_inter": sheet.network_interconnect}
    notes = [*(n for n in [chosen_note] if n), *notes]
    return spec, inputs, notes, warnings


def _system_for(catalog, gpu_id):
    """The one system sheet built of ``gpu_id``; a usage error when there are none or several."""
    wanted = catalog.resolve("accelerator", gpu_id)
    found = sorted(sid for sid, sheet in catalog.sheets.get("system", {}).items() if sheet["accelerator"] == wanted)
    if not found:
        raise InputError(f"--system: no system sheet holds {wanted}; give --system, or a custom build with "
                         "--gpus-per-node and --node-overhead")
    if len(found) > 1:
        raise InputError(f"--system: {wanted} is in several systems ({', '.join(found)}); choose one with --system")
    return catalog.get("system", found[0]), f"system {found[0]}: the only system sheet built of {wanted}"


def _gpu_power(accelerator, power) -> float:
    if power is not None:
        return power
    if accelerator is None or accelerator.tdp_w is None:
        name = accelerator.id + "'s sheet has no TDP" if accelerator else "no --gpu was given"
        raise InputError(f"--gpu-power: {name}; give the power per accelerator at full load, e.g. --gpu-power 700W")
    return accelerator.tdp_w


def _overhead(sheet, accelerator, power_w, given):
    """Host overhead per system: the rated maximum minus the accelerators at TDP (or the override)."""
    what = (f"system {sheet.id}: rated {units.format_si(sheet.max_power_w, 'W')} includes its CPUs, memory, NICs "
            "and their optics, fans and its own scale-up switches; only gear outside it is added")
    if given is not None:
        return given, [f"host overhead {units.format_si(given, 'W')} per system (--node-overhead)"], []
    tdp = accelerator.tdp_w if accelerator.tdp_w is not None else power_w
    overhead = host_overhead_w(sheet.max_power_w, sheet.accelerators, tdp)
    if overhead >= 0:
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
    power_w = _gpu_power(accelerator, power)
    spec = SystemSpec(per_node, 1, power_w, overhead, per_node, None)
    inputs = {"gpu": accelerator.id if accelerator else None, "system": None, "gpus_per_system": per_node,
              "nodes_per_system": 1, "gpu_tdp_w": accelerator.tdp_w if accelerator else None,
              "power_per_gpu_w": power_w, "system_max_power_w": per_node * power_w + overhead,
              "host_overhead_per_system_w": overhead, "nics_per_system": per_node,
              "nic_bandwidth_bytes_per_s": None, "default_inter": None}
    notes = [f"custom node: {per_node} accelerators, {units.format_si(overhead, 'W')} besides them at full load "
             "(include CPUs, memory, NICs and their optics, fans), one scale-out NIC per accelerator"]
    return spec, inputs, notes, []


# ---- network -----------------------------------------------------------------------------

def _fabric(catalog, o, inputs):
    topology, inter_id = o.network, o.inter
    default_inter = inputs.pop("default_inter")
    nic_speed = inputs.pop("nic_bandwidth_bytes_per_s")
    if topology == "none":
        return None, {"network": "none", "inter": None}, [], []
    link = catalog.get("interconnect", inter_id or default_inter or DEFAULT_INTER)
    notes = [] if inter_id or default_inter else [DEFAULT_INTER_NOTE]
    warnings = []
    if link.family not in SCALE_OUT_FAMILIES:
        raise InputError(f"--inter: {link.id} is a {link.family} link, not a scale-out network; "
                         "give an InfiniBand or Ethernet id such as ib-ndr or roce-400g")
    radix = int(_sheet_or_option(o.switch_radix, link.switch_radix, "--switch-radix", link.id, "switch radix", "64"))
    switch_w = _sheet_or_option(o.switch_power, link.switch_power_w, "--switch-power", link.id, "switch power",
                                "1.7kW")
    optics_w = _sheet_or_option(o.transceiver_power, link.transceiver_power_w, "--transceiver-power", link.id,
                                "transceiver power", "15W (0W for copper)")
    if nic_speed and abs(nic_speed - link.link_bandwidth_bytes_per_s) > 1e-6 * nic_speed:
        warnings.append(f"the system's NICs run at {units.format_si(nic_speed * 8, 'b/s')} but {link.id} ports "
                        f"at {units.format_si(link.link_bandwidth_bytes_per_s * 8, 'b/s')}; "
                        "one switch port per NIC is counted")
    inputs_out = {"network": topology, "inter": link.id, "switch_radix": radix,
                  "power_per_switch_w": switch_w, "power_per_transceiver_w": optics_w}
    return Fabric(topology, radix, switch_w, optics_w), inputs_out, notes, warnings


def _sheet_or_option(given, sheet_value, flag, link_id, what, example) -> float:
    if given is not None:
        return given
    if sheet_value is None:
        raise InputError(f"{flag}: the {link_id} sheet has no {what}; give it, e.g. {flag} {example}")
    return sheet_value


# ---- site --------------------------------------------------------------------------------

def _site(catalog, spec, o):
    notes: list[str] = []
    pue, price = o.default("pue"), o.default("price_per_kwh")
    carbon, water = o.default("carbon_intensity"), o.default("wue")
    limit = _rack_limit(catalog, spec, o.rack_power_limit, notes)
    if o.storage_power == 0:
        notes.append("storage not counted (give --storage-power)")
    site = Site(pue, price, carbon, water, o.years, limit, o.storage_power)
    inputs = {"storage_power_w": o.storage_power, "pue": pue, "rack_power_limit_w": limit, "price_usd_per_kwh": price,
              "carbon_intensity_g_per_kwh": carbon, "wue_l_per_kwh": water, "years": o.years}
    return site, inputs, notes


def _rack_limit(catalog, spec: SystemSpec, limit: float | None, notes: list[str]) -> float | None:
    """The rack power limit, checked against one system: a server cannot be split across racks."""
    peak = spec.gpus_per_system * spec.gpu_power_w + spec.host_overhead_w
    default = limit is None and spec.systems_per_rack is None
    if default:
        sheet = catalog.get("default", "rack-power-limit")
        limit = sheet.value
        notes.append(sheet.note(f"rack power limit {units.format_si(limit, 'W')} when the system sheet gives no rack"))
    if limit is None or limit >= peak or (spec.systems_per_rack is None and spec.nodes_per_system > 1):
        return limit
    if default:
        notes.append(f"one system ({units.format_si(peak, 'W')} at peak) exceeds the default rack limit: one per rack")
        return None
    whole = "is one rack" if spec.systems_per_rack == 1 else "is one server"
    raise InputError(f"--rack-power-limit: one system draws {units.format_si(peak, 'W')} at peak, more than "
                     f"{units.format_si(limit, 'W')}, and it {whole}")
