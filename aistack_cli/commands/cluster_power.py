"""``aistack cluster-power``: megawatts, racks, network gear, energy, money, carbon and water."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.common import host_overhead_w, result_values
from aistack_cli.calc.power import TOPOLOGIES, Fabric, Site, SystemSpec, cluster_power as compute
from aistack_cli.commands import common as site_defaults
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

Text = Optional[str]
NETWORKS = (*TOPOLOGIES, "none")
SCALE_OUT_FAMILIES = ("infiniband", "ethernet", "gaudi-roce")

# Defaults, each with the evidence it rests on (listed under every table as an assumption).
LOAD = f"{site_defaults.LOAD_FRACTION:g}"
LOAD_NOTE = "load {load:g} of the rated maximum on average (default " + LOAD + ": " + site_defaults.LOAD_EVIDENCE + ")"
PUE = f"{site_defaults.PUE:g}"
PUE_NOTE = "PUE {pue:g} (default " + PUE + ": " + site_defaults.PUE_EVIDENCE + ")"
PRICE = "0.0806"
PRICE_NOTE = "electricity ${price:g}/kWh (default $0.0806: US industrial average 2023, EIA)"
CARBON = f"{site_defaults.CARBON_G_PER_KWH:g}"
CARBON_NOTE = "grid carbon {carbon:g} g/kWh (default " + CARBON + ": " + site_defaults.CARBON_EVIDENCE + ")"
WUE = "1.8"
WUE_NOTE = ("WUE {wue:g} L/kWh of IT energy (default 1.8: US data-centre average on-site water, "
            "Shehabi et al. 2016, LBNL-1005775)")
RACK_LIMIT_W = 40_000.0
RACK_NOTE = ("rack power limit {limit} (default 40 kW when the system sheet gives no rack: "
             "NVIDIA DGX SuperPOD H100, 4 DGX H100 of 10.2 kW per rack)")
DEFAULT_INTER = "ib-ndr"
DEFAULT_INTER_NOTE = ("scale-out link ib-ndr (default for a custom build: 400 Gb/s NDR InfiniBand, one port per "
                      "accelerator, as in DGX H100 and GB200 NVL72; give --inter)")


@calculator("cluster-power",
            help="Power at the meter, racks, network gear, energy, cost, carbon and water of a GPU cluster.",
            columns=["gpus_installed", "racks", "it_power_w", "it_power_peak_w", "facility_power_w",
                     "energy_cost_usd_per_year", "co2_kg_per_year"])
def cluster_power(
    catalog,
    gpu: Annotated[Text, typer.Option(help="Accelerator id, e.g. gb200 (its system sheet is used when there is one).")] = None,
    gpus: Annotated[Text, typer.Option(help="Accelerators in the cluster, e.g. 100k (default: one system).")] = None,
    system: Annotated[Text, typer.Option(help="System id: accelerators, host overhead and rack, e.g. dgx-h100, gb200-nvl72.")] = None,
    gpus_per_node: Annotated[Text, typer.Option(help="Custom build: accelerators per node.")] = None,
    node_overhead: Annotated[Text, typer.Option(help="Custom build (or override): power of a node besides its accelerators at full load, e.g. 4.6kW.")] = None,
    gpu_power: Annotated[Text, typer.Option(help="Power per accelerator at full load (default: its TDP), e.g. a cap of 960W.")] = None,
    load: Annotated[str, typer.Option(help="Average draw as a fraction of the rated maximum (0.76, measured).")] = LOAD,
    network: Annotated[str, typer.Option(help="Scale-out fabric: rail-optimized, fat-tree or none.")] = "rail-optimized",
    inter: Annotated[Text, typer.Option(help="Scale-out link id, e.g. ib-ndr, roce-400g (default: the system's).")] = None,
    switch_radix: Annotated[Text, typer.Option(help="Switch ports at that link speed (default: the link's sheet).")] = None,
    switch_power: Annotated[Text, typer.Option(help="Power per switch (default: the link's sheet), e.g. 1.7kW.")] = None,
    transceiver_power: Annotated[Text, typer.Option(help="Power per optical module port (default: the link's sheet); 0W for copper.")] = None,
    storage_power: Annotated[str, typer.Option(help="Storage systems' power, e.g. 2MW.")] = "0",
    pue: Annotated[str, typer.Option(help="Power usage effectiveness: facility / IT power (1.58 industry average).")] = PUE,
    rack_power_limit: Annotated[Text, typer.Option(help="Power a rack may draw at peak, e.g. 40kW.")] = None,
    price_per_kwh: Annotated[str, typer.Option(help="Electricity price in USD per kWh.")] = PRICE,
    carbon_intensity: Annotated[str, typer.Option(help="Grid carbon intensity in g CO2 per kWh.")] = CARBON,
    wue: Annotated[str, typer.Option(help="Water usage effectiveness in litres per IT kWh.")] = WUE,
    years: Annotated[str, typer.Option(help="Years of operation for the totals.")] = "1",
) -> Point:
    spec, inputs, notes, warnings = _system(catalog, gpu, system, gpus_per_node, node_overhead, gpu_power)
    count = units.integer(gpus, "--gpus") if gpus is not None else inputs["gpus_per_system"]
    load_fraction = units.fraction(load, "--load")
    fabric, net_inputs, net_notes, net_warnings = _fabric(catalog, network, inter, switch_radix, switch_power,
                                                          transceiver_power, inputs)
    site, site_inputs, site_notes = _site(spec, storage_power, pue, rack_power_limit, price_per_kwh,
                                          carbon_intensity, wue, years)
    result = compute(count, spec, load_fraction, fabric, site)
    all_inputs = {**inputs, "gpus": count, "load": load_fraction, **net_inputs, **site_inputs}
    assumptions = [*notes, LOAD_NOTE.format(load=load_fraction), *net_notes, *site_notes, *result.assumptions]
    return Point(all_inputs, result_values(result), assumptions,
                 [*warnings, *net_warnings, *result.warnings], list(result.steps))


# ---- the building block ------------------------------------------------------------------

def _system(catalog, gpu_id, system_id, per_node_text, overhead_text, power_text):
    """The system the cluster is built of: a catalog sheet, or a custom node."""
    if per_node_text is not None:
        if system_id:
            raise InputError("--gpus-per-node: give either --system or a custom build, not both")
        return _custom(catalog, gpu_id, per_node_text, overhead_text, power_text)
    if system_id is None and gpu_id is None:
        raise InputError("--gpu: give an accelerator id (e.g. --gpu h100-sxm), a --system, or a custom build "
                         "with --gpus-per-node, --node-overhead and --gpu-power")
    sheet, chosen_note = (catalog.get("system", system_id), None) if system_id else _system_for(catalog, gpu_id)
    accelerator = catalog.get("accelerator", sheet.accelerator)
    if gpu_id and catalog.resolve("accelerator", gpu_id) != accelerator.id:
        raise InputError(f"--gpu: {gpu_id} does not match --system {sheet.id}, which holds {accelerator.id}")
    power_w = _gpu_power(accelerator, power_text)
    overhead_w, notes, warnings = _overhead(sheet, accelerator, power_w, overhead_text)
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


def _gpu_power(accelerator, power_text) -> float:
    if power_text is not None:
        return units.positive(power_text, "watts", "--gpu-power")
    if accelerator is None or accelerator.tdp_w is None:
        name = accelerator.id + "'s sheet has no TDP" if accelerator else "no --gpu was given"
        raise InputError(f"--gpu-power: {name}; give the power per accelerator at full load, e.g. --gpu-power 700W")
    return accelerator.tdp_w


def _overhead(sheet, accelerator, power_w, overhead_text):
    """Host overhead per system: the rated maximum minus the accelerators at TDP (or the override)."""
    what = (f"system {sheet.id}: rated {units.format_si(sheet.max_power_w, 'W')} includes its CPUs, memory, NICs "
            "and their optics, fans and its own scale-up switches; only gear outside it is added")
    if overhead_text is not None:
        overhead = units.non_negative(overhead_text, "watts", "--node-overhead")
        return overhead, [f"host overhead {units.format_si(overhead, 'W')} per system (--node-overhead)"], []
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


def _custom(catalog, gpu_id, per_node_text, overhead_text, power_text):
    accelerator = catalog.get("accelerator", gpu_id) if gpu_id else None
    per_node = units.integer(per_node_text, "--gpus-per-node")
    if overhead_text is None:
        raise InputError("--node-overhead: a custom build needs the power of a node besides its accelerators, "
                         "e.g. --node-overhead 4.6kW (DGX H100: 10.2 kW − 8 × 700 W)")
    overhead = units.non_negative(overhead_text, "watts", "--node-overhead")
    power_w = _gpu_power(accelerator, power_text)
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

def _fabric(catalog, network, inter_id, radix_text, switch_text, optics_text, inputs):
    topology = network.strip().lower()
    if topology not in NETWORKS:
        raise InputError(f"--network: expected one of {', '.join(NETWORKS)}, got {network!r}")
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
    radix = _sheet_or_option(radix_text, link.switch_radix, "--switch-radix", link.id, "switch radix", "64", int)
    if radix < 4:
        raise InputError(f"--switch-radix: a fat tree needs switches of at least 4 ports, got {radix}")
    switch_w = _sheet_or_option(switch_text, link.switch_power_w, "--switch-power", link.id, "switch power",
                                "1.7kW")
    optics_w = _sheet_or_option(optics_text, link.transceiver_power_w, "--transceiver-power", link.id,
                                "transceiver power", "15W (0W for copper)")
    if nic_speed and abs(nic_speed - link.link_bandwidth_bytes_per_s) > 1e-6 * nic_speed:
        warnings.append(f"the system's NICs run at {units.format_si(nic_speed * 8, 'b/s')} but {link.id} ports "
                        f"at {units.format_si(link.link_bandwidth_bytes_per_s * 8, 'b/s')}; "
                        "one switch port per NIC is counted")
    inputs_out = {"network": topology, "inter": link.id, "switch_radix": radix,
                  "power_per_switch_w": switch_w, "power_per_transceiver_w": optics_w}
    return Fabric(topology, radix, switch_w, optics_w), inputs_out, notes, warnings


def _sheet_or_option(text, sheet_value, flag, link_id, what, example, kind=float):
    if text is not None:
        if kind is int:
            return units.integer(text, flag)
        return units.non_negative(text, "watts", flag)
    if sheet_value is None:
        raise InputError(f"{flag}: the {link_id} sheet has no {what}; give it, e.g. {flag} {example}")
    return kind(sheet_value)


# ---- site --------------------------------------------------------------------------------

def _site(spec, storage_text, pue_text, limit_text, price_text, carbon_text, wue_text, years_text):
    pue = units.parse(pue_text, "count", "--pue")
    if not 1 <= pue <= 10:
        raise InputError(f"--pue: facility power over IT power, from 1 to 10 (1.1 hyperscale, 1.58 average), "
                         f"got {pue_text!r}")
    storage = units.non_negative(storage_text, "watts", "--storage-power")
    price = units.non_negative(price_text, "usd_per_kwh", "--price-per-kwh")
    carbon = units.non_negative(carbon_text, "g_per_kwh", "--carbon-intensity")
    water = units.non_negative(wue_text, "l_per_kwh", "--wue")
    years = units.positive(years_text, "count", "--years")
    limit = units.positive(limit_text, "watts", "--rack-power-limit") if limit_text is not None else None
    notes = [PUE_NOTE.format(pue=pue), PRICE_NOTE.format(price=price), CARBON_NOTE.format(carbon=carbon),
             WUE_NOTE.format(wue=water)]
    limit = _rack_limit(spec, limit, notes)
    if storage == 0:
        notes.append("storage not counted (give --storage-power)")
    site = Site(pue, price, carbon, water, years, limit, storage)
    inputs = {"storage_w": storage, "pue": pue, "rack_power_limit_w": limit, "price_usd_per_kwh": price,
              "carbon_intensity_g_per_kwh": carbon, "wue_l_per_kwh": water, "years": years}
    return site, inputs, notes


def _rack_limit(spec: SystemSpec, limit: float | None, notes: list[str]) -> float | None:
    """The rack power limit, checked against one system: a server cannot be split across racks."""
    peak = spec.gpus_per_system * spec.gpu_power_w + spec.host_overhead_w
    default = limit is None and spec.systems_per_rack is None
    if default:
        limit = RACK_LIMIT_W
        notes.append(RACK_NOTE.format(limit=units.format_si(limit, "W")))
    if limit is None or limit >= peak or (spec.systems_per_rack is None and spec.nodes_per_system > 1):
        return limit
    if default:
        notes.append(f"one system ({units.format_si(peak, 'W')} at peak) exceeds the 40 kW default: one per rack")
        return None
    whole = "is one rack" if spec.systems_per_rack == 1 else "is one server"
    raise InputError(f"--rack-power-limit: one system draws {units.format_si(peak, 'W')} at peak, more than "
                     f"{units.format_si(limit, 'W')}, and it {whole}")
