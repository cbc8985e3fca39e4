"""Cluster power: accelerators, hosts, network gear, facility, energy, money, carbon and water.

IT power is what the racks and the network draw: accelerators at their power each, plus every
system's host overhead (CPUs, memory, NICs and the optics plugged into them, fans, power
conversion and the system's own scale-up switches), plus the scale-out switches and the optics
plugged into them, plus storage. A system's rated maximum already holds everything inside the
box, so only gear outside it is added: no watt is counted twice.

Facility power = IT power x PUE (The Green Grid; ISO/IEC 30134-2). Energy per year = average
facility power x 8,760 h; cost = energy x price; CO2 = energy x grid carbon intensity; water =
IT energy x WUE (The Green Grid's water usage effectiveness is per IT kWh).

The scale-out fabric is a non-blocking folded-Clos fat tree of radix-r switches: t tiers serve
2(r/2)^t endpoints (r^2/2 for two tiers, r^3/4 for three; Al-Fares et al., SIGCOMM 2008). Every
tier boundary carries one link per endpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, fmt

HOURS_PER_YEAR = 8760.0
TOPOLOGIES = ("fat-tree", "rail-optimized")

SRC_SYSTEM = "system sheet: rated maximum minus its accelerators at TDP is the host overhead"
SRC_CLOS = "non-blocking folded Clos: t tiers of radix-r switches serve 2·(r/2)^t endpoints (Al-Fares et al. 2008)"
SRC_OPTICS = ("one module per optical link end: all-optical 3-tier fabric = 6 per GPU, copper to the "
              "server = 4 (FiberMall, 'A100/H100/GH200 cluster: optical module requirements')")
SRC_PUE = "PUE = facility power / IT power (The Green Grid; ISO/IEC 30134-2)"
SRC_WUE = "WUE = site water (L) / IT energy (kWh) (The Green Grid; ISO/IEC 30134-9)"


@dataclass(frozen=True)
class SystemSpec:
    """One building block of the cluster: a server or a rack-scale system."""

    gpus_per_system: int
    nodes_per_system: int
    gpu_power_w: float  # per accelerator at full load: TDP, or a power cap
    host_overhead_w: float  # per system at full load: everything that is not an accelerator
    nics_per_system: int  # scale-out endpoints (one switch port each)
    systems_per_rack: int | None


@dataclass(frozen=True)
class Fabric:
    """The scale-out network: topology, switch radix and the power of each part."""

    topology: str  # fat-tree | rail-optimized
    radix: int
    switch_power_w: float
    transceiver_power_w: float


@dataclass(frozen=True)
class Site:
    pue: float
    price_usd_per_kwh: float
    carbon_g_per_kwh: float
    wue_l_per_kwh: float
    years: float
    rack_power_limit_w: float | None = None
    storage_power_w: float = 0.0


@dataclass(frozen=True)
class ClusterPowerResult:
    gpus_installed: int
    systems: int
    nodes: int
    racks: int
    rack_power_peak_w: float
    switches: int
    fabric_tiers: int
    transceivers: int
    gpu_power_w: float
    host_power_w: float
    switch_power_w: float
    transceiver_power_w: float
    network_power_w: float
    it_power_w: float
    it_power_peak_w: float
    facility_power_w: float
    facility_power_peak_w: float
    watts_per_gpu_all_in: float
    energy_wh_per_year: float
    energy_cost_usd_per_year: float
    co2_kg_per_year: float
    water_l_per_year: float
    energy_wh_total: float
    energy_cost_usd_total: float
    co2_kg_total: float
    water_l_total: float
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- network ----------------------------------------------------------------------------

def fat_tree_capacity(radix: int, tiers: int) -> int:
    """Endpoints a non-blocking fat tree of ``tiers`` tiers serves: r for one switch, else 2·(r/2)^t."""
    if tiers <= 1:
        return radix
    return 2 * (radix // 2) ** tiers


def fabric_tiers(endpoints: int, radix: int) -> int:
    """Fewest tiers whose non-blocking fat tree reaches ``endpoints`` (0 when there are none).

    Needs radix >= 4, so that each added tier multiplies the reach.
    """
    if endpoints <= 0:
        return 0
    tiers = 1
    while fat_tree_capacity(radix, tiers) < endpoints:
        tiers += 1
    return tiers


def switch_count(endpoints: int, radix: int, tiers: int) -> int:
    """Switches of a non-blocking fat tree sized by ports.

    Each lower tier puts r/2 ports down and r/2 up, so it needs ceil(E / (r/2)) switches; the top
    tier puts all r ports down and needs ceil(E / r). One tier is a single switch.
    """
    if tiers == 0:
        return 0
    if tiers == 1:
        return math.ceil(endpoints / radix)
    return (tiers - 1) * math.ceil(endpoints / (radix // 2)) + math.ceil(endpoints / radix)


def optical_ends(endpoints: int, tiers: int, topology: str) -> tuple[int, int]:
    """(all optical link ends, those plugged into switches), one module per port.

    Rail-optimized (NVIDIA DGX SuperPOD): leaves sit at the end of the row, one per rail, so every
    link is optical: 2·t modules per endpoint, 2·t − 1 of them in switches. Fat tree with the leaf
    on top of the rack: server-to-leaf links are copper, so 2·(t − 1) per endpoint, all in switches.
    """
    if tiers == 0:
        return 0, 0
    if topology == "rail-optimized":
        return 2 * tiers * endpoints, (2 * tiers - 1) * endpoints
    return 2 * (tiers - 1) * endpoints, 2 * (tiers - 1) * endpoints


# ---- racks ------------------------------------------------------------------------------

def rack_layout(system: SystemSpec, system_peak_w: float, limit_w: float | None) -> tuple[int, int]:
    """(systems per rack, racks per system): the sheet's rack, capped by a rack power limit.

    Without a rack in the sheet, as many systems as the limit allows share a rack; a system that
    draws more than the limit (a pod of many hosts) spans ceil(peak / limit) racks.
    """
    fits = math.floor(limit_w / system_peak_w) if limit_w else None
    if system.systems_per_rack is not None:
        sheet = system.systems_per_rack
        return max(1, min(sheet, fits if fits is not None else sheet)), 1
    if fits is None:
        return 1, 1
    if fits >= 1:
        return fits, 1
    return 1, math.ceil(system_peak_w / limit_w)


# ---- the whole cluster --------------------------------------------------------------------

def cluster_power(gpus: int, system: SystemSpec, load: float, fabric: Fabric | None,
                  site: Site) -> ClusterPowerResult:
    """Power, racks, network gear, energy, money, carbon and water of ``gpus`` accelerators."""
    steps: list[Step] = []
    assumptions: list[str] = []
    warnings: list[str] = []
    systems, installed = _systems(gpus, system, steps, warnings)
    system_peak_w = system.gpus_per_system * system.gpu_power_w + system.host_overhead_w
    gpu_w, host_w = _compute_power(system, systems, installed, load, steps)
    racks = _racks(system, systems, system_peak_w, site.rack_power_limit_w, steps, assumptions)
    network = _network(system, systems, fabric, steps, assumptions, warnings)
    others_w = network["network_power_w"] + site.storage_power_w
    it_w = gpu_w + host_w + others_w
    it_peak_w = systems * system_peak_w + others_w
    steps += _it_steps(system, systems, gpu_w, host_w, others_w, it_w, it_peak_w)
    _check_overhead(system, warnings)
    facility = _facility(it_w, it_peak_w, installed, site, steps)
    return ClusterPowerResult(
        gpus_installed=installed, systems=systems, nodes=systems * system.nodes_per_system, **racks,
        gpu_power_w=gpu_w, host_power_w=host_w,
        it_power_w=it_w, it_power_peak_w=it_peak_w, **network, **facility,
        assumptions=tuple(assumptions), warnings=tuple(warnings), steps=tuple(steps),
    )


def _systems(gpus: int, system: SystemSpec, steps: list[Step], warnings: list[str]) -> tuple[int, int]:
    """Whole systems needed, and the accelerators they hold."""
    systems = math.ceil(gpus / system.gpus_per_system)
    installed = systems * system.gpus_per_system
    steps.append(Step("systems", "ceil(gpus / gpus_per_system)", f"ceil({gpus} / {system.gpus_per_system})",
                      systems, "", "whole systems are bought"))
    if installed != gpus:
        plural = "s" if systems > 1 else ""
        warnings.append(f"{gpus:,} accelerators round up to {systems:,} whole system{plural} "
                        f"= {installed:,} accelerators; power counts all of them")
    return systems, installed


def _compute_power(system: SystemSpec, systems: int, installed: int, load: float,
                   steps: list[Step]) -> tuple[float, float]:
    """Average draw of accelerators and hosts: the load fraction applies to the whole system."""
    gpu_w = load * installed * system.gpu_power_w
    host_w = load * systems * system.host_overhead_w
    steps += [
        Step("gpu_power_w", "load · gpus_installed · power_per_gpu",
             f"{fmt(load)} · {installed} · {fmt(system.gpu_power_w)}",
             gpu_w, "W", "load = average draw as a fraction of the rated maximum"),
        Step("host_power_w", "load · systems · host_overhead",
             f"{fmt(load)} · {systems} · {fmt(system.host_overhead_w)}", host_w, "W", SRC_SYSTEM),
    ]
    return gpu_w, host_w


def _it_steps(system, systems, gpu_w, host_w, others_w, it_w, it_peak_w) -> list[Step]:
    return [
        Step("it_power_w", "gpu_power + host_power + (network_power + storage_power)",
             f"{fmt(gpu_w)} + {fmt(host_w)} + ({fmt(others_w)})", it_w, "W", "average IT draw"),
        Step("it_power_peak_w", "systems · (gpus_per_system · power_per_gpu + host_overhead) + (network + storage)",
             f"{systems} · ({system.gpus_per_system} · {fmt(system.gpu_power_w)} + {fmt(system.host_overhead_w)})"
             f" + ({fmt(others_w)})", it_peak_w, "W", "every system at its rated maximum"),
    ]


def _racks(system: SystemSpec, systems: int, system_peak_w: float, limit_w: float | None,
           steps: list[Step], assumptions: list[str]) -> dict:
    per_rack, racks_each = rack_layout(system, system_peak_w, limit_w)
    racks = math.ceil(systems / per_rack) * racks_each
    if racks_each > 1:
        steps.append(Step("racks", "systems · ceil(system peak / rack_power_limit)",
                          f"{systems} · ceil({fmt(system_peak_w)} / {fmt(limit_w)})", racks, "",
                          "a system larger than a rack spans several"))
    else:
        if limit_w and (system.systems_per_rack is None or per_rack < system.systems_per_rack):
            steps.append(Step("systems_per_rack", "floor(rack_power_limit / system peak)",
                              f"floor({fmt(limit_w)} / {fmt(system_peak_w)})", per_rack, "", "rack power limit"))
        steps.append(Step("racks", "ceil(systems / systems_per_rack)", f"ceil({systems} / {per_rack})",
                          racks, "", "compute racks only; network and storage racks are not counted"))
    assumptions.append("racks count compute racks only (switch and storage racks are extra)")
    return {"racks": racks, "rack_power_peak_w": per_rack * system_peak_w / racks_each}


def _network(system: SystemSpec, systems: int, fabric: Fabric | None, steps: list[Step],
             assumptions: list[str], warnings: list[str]) -> dict:
    """Scale-out switches and the optics plugged into them (host-end optics are in the systems)."""
    endpoints = systems * system.nics_per_system
    if fabric is None or endpoints == 0:
        assumptions.append("no scale-out network counted")
        return {"fabric_tiers": 0, "switches": 0, "transceivers": 0, "switch_power_w": 0.0,
                "transceiver_power_w": 0.0, "network_power_w": 0.0}
    tiers = fabric_tiers(endpoints, fabric.radix)
    switches = switch_count(endpoints, fabric.radix, tiers)
    modules, in_switches = optical_ends(endpoints, tiers, fabric.topology)
    switch_w = switches * fabric.switch_power_w
    optics_w = in_switches * fabric.transceiver_power_w
    steps += _network_steps(fabric, endpoints, tiers, switches, modules, in_switches, switch_w, optics_w)
    assumptions.append(f"{fabric.topology} fabric, non-blocking, {tiers} tier{'s' if tiers > 1 else ''} of "
                       f"radix-{fabric.radix} switches for {endpoints:,} NIC ports; "
                       f"{_optics_rule(fabric.topology, tiers)}")
    assumptions.append("network power is the same at average and peak: switches and optics draw "
                       "nearly constant power whatever the GPUs do")
    if tiers >= 4:
        warnings.append(f"{endpoints:,} ports need a {tiers}-tier non-blocking fat tree of radix-{fabric.radix} "
                        "switches; builds this large usually use higher-radix switches (--switch-radix), "
                        "several planes or oversubscription, which need fewer switches")
    return {"fabric_tiers": tiers, "switches": switches, "transceivers": modules, "switch_power_w": switch_w,
            "transceiver_power_w": optics_w, "network_power_w": switch_w + optics_w}


def _optics_rule(topology: str, tiers: int) -> str:
    if topology == "rail-optimized":
        return (f"every link optical: {2 * tiers} modules per NIC port, {2 * tiers - 1} of them in switches "
                "(the one in the server is inside its rated power)")
    return f"copper from server to leaf: {2 * (tiers - 1)} modules per NIC port, all in switches"


def _tiers_working(radix: int, endpoints: int, tiers: int) -> str:
    if tiers == 1:
        return f"{endpoints} ports ≤ r = {radix}, so t"
    below = f"{fat_tree_capacity(radix, tiers - 1)} < " if tiers > 2 else f"r = {radix} < "
    return f"{below}{endpoints} ≤ 2·{radix // 2}^{tiers} = {fat_tree_capacity(radix, tiers)}, so t"


def _network_steps(fabric, endpoints, tiers, switches, modules, in_switches, switch_w, optics_w) -> list[Step]:
    r, rail = fabric.radix, fabric.topology == "rail-optimized"
    return [
        Step("fabric_tiers", "fewest t with 2·(r/2)^t ≥ NIC ports (t = 1 if ports ≤ r)",
             _tiers_working(r, endpoints, tiers), tiers, "", SRC_CLOS),
        Step("switches", "(t − 1) · ceil(ports / (r/2)) + ceil(ports / r)" if tiers > 1 else "ceil(ports / r)",
             f"({tiers} − 1) · ceil({endpoints} / {r // 2}) + ceil({endpoints} / {r})" if tiers > 1
             else f"ceil({endpoints} / {r})", switches, "", SRC_CLOS),
        Step("switch_power_w", "switches · power_per_switch", f"{switches} · {fmt(fabric.switch_power_w)}",
             switch_w, "W", "interconnect sheet (switch power)"),
        Step("transceivers", "2·t · ports" if rail else "2·(t − 1) · ports",
             f"2·{tiers} · {endpoints}" if rail else f"2·({tiers} − 1) · {endpoints}", modules, "", SRC_OPTICS),
        Step("transceiver_power_w", "(2·t − 1) · ports · power_per_transceiver" if rail
             else "2·(t − 1) · ports · power_per_transceiver",
             f"{in_switches} · {fmt(fabric.transceiver_power_w)}", optics_w, "W",
             "modules plugged into switches (the server's own are in its rated power); interconnect sheet"),
    ]


def _check_overhead(system: SystemSpec, warnings: list[str]) -> None:
    per_gpu = system.host_overhead_w / system.gpus_per_system
    if per_gpu > system.gpu_power_w:
        warnings.append(f"host overhead ({per_gpu:,.0f} W per accelerator) exceeds the accelerator's own power "
                        f"({system.gpu_power_w:,.0f} W): check the system's rated maximum (a PSU capacity "
                        "overstates it) or --node-overhead")


# ---- facility, energy, money, carbon, water -----------------------------------------------

def _facility(it_w: float, it_peak_w: float, installed: int, site: Site, steps: list[Step]) -> dict:
    facility_w = it_w * site.pue
    energy_wh = facility_w * HOURS_PER_YEAR
    kwh = energy_wh / 1000
    values = {
        "facility_power_w": facility_w, "facility_power_peak_w": it_peak_w * site.pue,
        "watts_per_gpu_all_in": facility_w / installed,
        "energy_wh_per_year": energy_wh, "energy_cost_usd_per_year": kwh * site.price_usd_per_kwh,
        "co2_kg_per_year": kwh * site.carbon_g_per_kwh / 1000,
        "water_l_per_year": it_w * HOURS_PER_YEAR / 1000 * site.wue_l_per_kwh,
    }
    steps += _facility_steps(it_w, it_peak_w, installed, kwh, site, values)
    for key in ("energy_wh", "energy_cost_usd", "co2_kg", "water_l"):
        values[f"{key}_total"] = values[f"{key}_per_year"] * site.years
    return values


def _facility_steps(it_w, it_peak_w, installed, kwh, site: Site, v: dict) -> list[Step]:
    facility_w = v["facility_power_w"]
    return [
        Step("facility_power_w", "it_power · PUE", f"{fmt(it_w)} · {fmt(site.pue)}", facility_w, "W", SRC_PUE),
        Step("facility_power_peak_w", "it_power_peak · PUE", f"{fmt(it_peak_w)} · {fmt(site.pue)}",
             v["facility_power_peak_w"], "W", SRC_PUE),
        Step("watts_per_gpu_all_in", "facility_power / gpus_installed", f"{fmt(facility_w)} / {installed}",
             v["watts_per_gpu_all_in"], "W", "average draw at the meter per accelerator"),
        Step("energy_wh_per_year", "facility_power · 8760 h", f"{fmt(facility_w)} · 8760",
             v["energy_wh_per_year"], "Wh", "a year of average draw"),
        Step("energy_cost_usd_per_year", "energy_kwh · price", f"{fmt(kwh)} · {fmt(site.price_usd_per_kwh)}",
             v["energy_cost_usd_per_year"], "USD", "price per kWh"),
        Step("co2_kg_per_year", "energy_kwh · carbon_intensity / 1000",
             f"{fmt(kwh)} · {fmt(site.carbon_g_per_kwh)} / 1000", v["co2_kg_per_year"], "kg",
             "grid carbon intensity (g/kWh)"),
        Step("water_l_per_year", "it_power · 8760 h / 1000 · WUE",
             f"{fmt(it_w)} · 8760 / 1000 · {fmt(site.wue_l_per_kwh)}", v["water_l_per_year"], "L", SRC_WUE),
    ]
