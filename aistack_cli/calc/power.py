"""Cluster power: accelerators, hosts, network gear, facility, energy, money, carbon and water.

IT power is what the racks and the network draw: accelerators at their power each, plus every
system's host overhead (CPUs, memory, NICs and the optics plugged into them, fans, power
conversion and the system's own scale-up switches), plus the scale-out switches and the optics
plugged into them, plus storage. A system's rated maximum already holds everything inside the
box, so only gear outside it is added: no watt is counted twice.

Facility power = IT power x PUE (The Green Grid; ISO/IEC 30134-2). Energy = average facility
power x hours; cost = energy x price; CO2 = energy x grid carbon intensity, location-based (the
grid's average) and market-based (after the buyer's contracts), as the GHG Protocol Scope 2
Guidance (2015) asks; water = IT energy x WUE (The Green Grid's water usage effectiveness is per
IT kWh).

Two accountings of the same run (``ACCOUNTINGS``):
- ``metered``: what the site's meter sees: accelerators and hosts at the average load fraction,
  plus the network and storage, times PUE;
- ``tdp``: what model cards publish (Llama 2/3/4 cards, Luccioni et al. 2023 for BLOOM, Patterson
  et al. 2021): accelerator TDP x accelerator-hours x PUE, nothing else.
The rated peak, the racks and the network gear are the physical cluster in both.

The scale-out fabric is a non-blocking folded-Clos fat tree of radix-r switches: t tiers serve
2(r/2)^t endpoints (r^2/2 for two tiers, r^3/4 for three; Al-Fares et al., SIGCOMM 2008). Every
tier boundary carries one link per endpoint.

Sizing uses the PEAK: every system at its rated maximum (with any power cap) plus the network and
storage. ``systems_for_site_power`` inverts it for a site's power, at the IT load or at the meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, fmt

HOURS_PER_YEAR = 8760.0
TOPOLOGIES = ("fat-tree", "rail-optimized")
ACCOUNTINGS = ("metered", "tdp")
REDUNDANCIES = ("n", "n+1", "2n")
BASES = ("it", "facility")
COOLINGS = ("air", "liquid")

SRC_SYSTEM = "system sheet: rated maximum minus its accelerators at TDP is the host overhead"
SRC_CLOS = "non-blocking folded Clos: t tiers of radix-r switches serve 2·(r/2)^t endpoints (Al-Fares et al. 2008)"
SRC_OPTICS = ("one module per optical link end: all-optical 3-tier fabric = 6 per GPU, copper to the "
              "server = 4 (FiberMall, 'A100/H100/GH200 cluster: optical module requirements')")
SRC_PUE = "PUE = facility power / IT power (The Green Grid; ISO/IEC 30134-2)"
SRC_WUE = "WUE = site water (L) / IT energy (kWh) (The Green Grid; ISO/IEC 30134-9)"
SRC_SCOPE2 = "GHG Protocol Scope 2 Guidance (2015): location-based and market-based methods"
SRC_TDP = "model-card accounting: TDP x accelerator-hours x PUE (Llama model cards; Luccioni et al. 2023)"
SRC_CAP = "performance-versus-cap curve measured on V100 training (Zeus, NSDI 2023), linear between points"
SRC_UPS = "UPS designs N, N+1, 2N (Schneider Electric White Paper 75)"
SRC_SWING = "synchronised training swings between low and high fractions of rated power (OLMo, arXiv 2503.05804)"


@dataclass(frozen=True)
class SystemSpec:
    """One building block of the cluster: a server or a rack-scale system."""

    gpus_per_system: int
    nodes_per_system: int
    gpu_power_w: float  # rated full-load power per accelerator (TDP, or as given), before any cap
    host_overhead_w: float  # per system at full load: everything that is not an accelerator
    nics_per_system: int  # scale-out endpoints (one switch port each)
    systems_per_rack: int | None
    gpu_tdp_w: float | None = None  # the accelerator's TDP, against which a cap's performance is read


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
    carbon_g_per_kwh: float  # location-based
    wue_l_per_kwh: float
    years: float = 1.0
    rack_power_limit_w: float | None = None
    storage_power_w: float = 0.0
    carbon_market_g_per_kwh: float | None = None  # None: no contracts, the location-based figure
    gpu_hours: float | None = None  # totals over these accelerator-hours instead of the years


@dataclass(frozen=True)
class Draw:
    """How the cluster draws power and how its energy is counted.

    ``cap_curve`` is the measured (cap, throughput) points, caps as fractions of TDP; ``swing`` the
    (low, high) fractions of rated power a synchronised training job swings between (None: not
    training).
    """

    load: float = 1.0
    accounting: str = "metered"
    power_cap: float = 1.0
    cap_curve: tuple[tuple[float, float], ...] = ()
    swing: tuple[float, float] | None = None


@dataclass(frozen=True)
class Electrical:
    """The chain between the grid and the IT load, and its redundancy."""

    ups_efficiency: float
    transformer_efficiency: float
    redundancy: str  # n | n+1 | 2n
    module_w: float  # one UPS module (a cited default sheet)


@dataclass(frozen=True)
class SitePower:
    """A site's power budget: at the IT load (critical IT) or at the meter (facility)."""

    power_w: float
    basis: str  # it | facility


class SitePowerTooSmall(ValueError):
    """The site's power does not hold one whole system at its peak."""

    def __init__(self, needed_w: float):
        self.needed_w = needed_w
        super().__init__(f"site_power: one system needs {needed_w:,.0f} W at peak on this basis")


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
    performance_at_cap_fraction: float | None
    uncapped_gpu_equivalents: float | None
    gpu_power_w: float
    host_power_w: float
    switch_power_w: float
    transceiver_power_w: float
    network_power_w: float
    it_power_w: float
    it_power_peak_w: float
    facility_power_w: float
    facility_power_peak_w: float
    peak_to_average_ratio: float
    it_power_swing_high_w: float | None
    it_power_swing_low_w: float | None
    power_swing_w: float | None
    electrical_losses_peak_w: float | None
    cooling_and_other_peak_w: float | None
    ups_capacity_w: float | None
    site_power_used_fraction: float | None
    watts_per_gpu_all_in: float
    energy_wh_per_year: float
    energy_cost_usd_per_year: float
    co2_kg_per_year: float
    co2_market_kg_per_year: float
    water_l_per_year: float
    hours_total: float
    energy_wh_total: float
    energy_cost_usd_total: float
    co2_kg_total: float
    co2_market_kg_total: float
    water_l_total: float
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- small formulas -----------------------------------------------------------------------

def co2_kg(energy_wh: float, carbon_g_per_kwh: float) -> float:
    """Emissions of ``energy_wh`` at a grid intensity in g/kWh, in kg."""
    return energy_wh / 1000.0 * carbon_g_per_kwh / 1000.0


def custom_system_max_w(gpus_per_node: int, gpu_power_w: float, host_overhead_w: float) -> float:
    """Rated maximum of a custom node: its accelerators at full load plus the rest."""
    return gpus_per_node * gpu_power_w + host_overhead_w


def rating_share_w(system_max_w: float, accelerators: int) -> float:
    """A system's rating shared out among its accelerators (when no per-accelerator power is known)."""
    return system_max_w / accelerators


def system_peak_w(system: SystemSpec, cap: float = 1.0) -> float:
    """One system at its rated maximum, accelerators at ``cap`` x their rated power."""
    return system.gpus_per_system * system.gpu_power_w * cap + system.host_overhead_w


def switch_power_from_capacity(radix: int, port_bits_per_s: float, w_per_bit_per_s: float) -> float:
    """A switch's power from its switching capacity (radix x port rate) at a power per b/s."""
    return radix * port_bits_per_s * w_per_bit_per_s


def performance_at_cap(cap: float, curve: tuple[tuple[float, float], ...]) -> float:
    """Throughput at a power cap (fraction of TDP), linear between the measured points.

    The curve runs to (1, 1); below its lowest point the line to (0, 0) is used.
    """
    points = sorted({*curve, (1.0, 1.0)})
    if cap >= 1.0:
        return 1.0
    low = (0.0, 0.0)
    for point in points:
        if cap <= point[0]:
            return low[1] + (point[1] - low[1]) * (cap - low[0]) / (point[0] - low[0])
        low = point
    return 1.0


def cooling_for_rack(rack_peak_w: float, air_limit_w: float) -> str:
    """Liquid when one rack draws more at peak than air cooling removes."""
    return "liquid" if rack_peak_w > air_limit_w else "air"


def ups_capacity_w(critical_w: float, electrical: Electrical) -> float:
    """Installed UPS capacity: N modules carry the load; N+1 adds one; 2N doubles the N."""
    modules = math.ceil(critical_w / electrical.module_w - 1e-9)
    spare = {"n": 0, "n+1": 1, "2n": modules}[electrical.redundancy]
    return (modules + spare) * electrical.module_w


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


def network_power_w(endpoints: int, fabric: Fabric | None) -> float:
    """Switches plus the optics plugged into them, for ``endpoints`` NIC ports."""
    if fabric is None or endpoints <= 0:
        return 0.0
    tiers = fabric_tiers(endpoints, fabric.radix)
    in_switches = optical_ends(endpoints, tiers, fabric.topology)[1]
    return switch_count(endpoints, fabric.radix, tiers) * fabric.switch_power_w + in_switches * fabric.transceiver_power_w


# ---- racks ------------------------------------------------------------------------------

def rack_layout(system: SystemSpec, system_peak: float, limit_w: float | None) -> tuple[int, int]:
    """(systems per rack, racks per system): the sheet's rack, capped by a rack power limit.

    Without a rack in the sheet, as many systems as the limit allows share a rack; a system that
    draws more than the limit (a pod of many hosts) spans ceil(peak / limit) racks.
    """
    fits = math.floor(limit_w / system_peak) if limit_w else None
    if system.systems_per_rack is not None:
        sheet = system.systems_per_rack
        return max(1, min(sheet, fits if fits is not None else sheet)), 1
    if fits is None:
        return 1, 1
    if fits >= 1:
        return fits, 1
    return 1, math.ceil(system_peak / limit_w)


def rack_power_peak_w(system: SystemSpec, limit_w: float | None, cap: float = 1.0) -> float:
    """Peak power of one full rack (a system spanning several racks shares its peak among them)."""
    peak = system_peak_w(system, cap)
    per_rack, racks_each = rack_layout(system, peak, limit_w)
    return per_rack * peak / racks_each


# ---- the inverse: a site's power -----------------------------------------------------------

def systems_for_site_power(site_power: SitePower, system: SystemSpec, draw: Draw, fabric: Fabric | None,
                           site: Site) -> int:
    """Most whole systems whose PEAK fits the site's power (0 when not even one does).

    Peak IT = k · system peak + network(k · NICs) + storage; at the meter, x PUE. The network never
    shrinks as k grows, so with g(k) = floor((budget − storage − network(k)) / system peak): every
    k' ≤ g(k) fits, and no k' > g(k) fits when k ≤ k'. The answer lies between g(upper bound) and g of
    that, and a short bisection settles it.
    """
    budget = site_power.power_w / (site.pue if site_power.basis == "facility" else 1.0) * (1 + 1e-12)
    peak = system_peak_w(system, draw.power_cap)
    nics = system.nics_per_system

    def room(systems: int) -> int:  # g(k): systems that fit beside the network of k systems
        return math.floor((budget - site.storage_power_w - network_power_w(systems * nics, fabric)) / peak)

    def fits(systems: int) -> bool:
        return systems * peak + network_power_w(systems * nics, fabric) + site.storage_power_w <= budget

    high = max(0, room(0))
    if fits(high):
        return high
    low = max(0, room(high))
    if not fits(low):
        low = 0
    high = min(high - 1, room(low))
    while high > low:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low if fits(low) else 0


# ---- the whole cluster --------------------------------------------------------------------

def cluster_power(gpus: int, system: SystemSpec, draw: Draw | float, fabric: Fabric | None, site: Site,
                  electrical: Electrical | None = None, site_power: SitePower | None = None) -> ClusterPowerResult:
    """Power, racks, network gear, energy, money, carbon and water of ``gpus`` accelerators.

    ``draw`` may be a plain load fraction (metered, no cap). With ``site_power`` the cluster is the
    largest that fits it (``gpus`` is then ignored).
    """
    if not isinstance(draw, Draw):
        draw = Draw(load=float(draw))
    steps: list[Step] = []
    assumptions: list[str] = []
    warnings: list[str] = []
    if site_power is not None:
        systems = _sized(site_power, system, draw, fabric, site, steps)
        installed = systems * system.gpus_per_system
    else:
        systems, installed = _systems(gpus, system, steps, warnings)
    peak_each = system_peak_w(system, draw.power_cap)
    cap = _cap(system, draw, installed, steps, assumptions, warnings)
    racks = _racks(system, systems, peak_each, site.rack_power_limit_w, steps, assumptions)
    network = _network(system, systems, fabric, steps, assumptions, warnings)
    physical_others = network["network_power_w"] + site.storage_power_w
    it_peak_w = systems * peak_each + physical_others
    counted = _counted(system, systems, installed, draw, network, site, steps, assumptions)
    steps.append(Step("it_power_peak_w", "systems · system peak + (network + storage)",
                      f"{systems} · {fmt(peak_each)} + ({fmt(physical_others)})", it_peak_w, "W",
                      "every system at its rated maximum"))
    _check_overhead(system, warnings)
    swing = _swing(draw, systems * peak_each, physical_others, steps)
    chain = _electrical(it_peak_w, site.pue, electrical, steps, warnings)
    facility = _facility(counted["it_power_w"], it_peak_w, installed, site, steps)
    used = None
    if site_power is not None:
        on_basis = facility["facility_power_peak_w"] if site_power.basis == "facility" else it_peak_w
        used = on_basis / site_power.power_w
    return ClusterPowerResult(
        gpus_installed=installed, systems=systems, nodes=systems * system.nodes_per_system, **racks, **cap,
        **counted, it_power_peak_w=it_peak_w, switches=network["switches"], fabric_tiers=network["fabric_tiers"],
        transceivers=network["transceivers"], **swing, **chain, site_power_used_fraction=used, **facility,
        assumptions=tuple(assumptions), warnings=tuple(warnings), steps=tuple(steps),
    )


def _sized(site_power: SitePower, system: SystemSpec, draw: Draw, fabric: Fabric | None, site: Site,
           steps: list[Step]) -> int:
    systems = systems_for_site_power(site_power, system, draw, fabric, site)
    if systems == 0:
        one = system_peak_w(system, draw.power_cap) + network_power_w(system.nics_per_system, fabric) \
            + site.storage_power_w
        raise SitePowerTooSmall(one * (site.pue if site_power.basis == "facility" else 1.0))
    where = "peak IT power · PUE" if site_power.basis == "facility" else "peak IT power"
    steps.append(Step("systems", f"largest whole number with {where} ≤ site power",
                      f"{where} ≤ {fmt(site_power.power_w)}", systems, "",
                      "sizing uses the peak: every system at its rated maximum, plus network and storage"))
    return systems


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


def _cap(system: SystemSpec, draw: Draw, installed: int, steps: list[Step], assumptions: list[str],
         warnings: list[str]) -> dict:
    """Throughput kept under a power cap, read against TDP (a --gpu-power below TDP is a cap too)."""
    capped_w = system.gpu_power_w * draw.power_cap
    fraction = capped_w / system.gpu_tdp_w if system.gpu_tdp_w else draw.power_cap
    if fraction >= 1.0 or not draw.cap_curve:
        return {"performance_at_cap_fraction": None, "uncapped_gpu_equivalents": None}
    performance = performance_at_cap(fraction, draw.cap_curve)
    steps.append(Step("performance_at_cap_fraction", "curve(capped power / TDP)", f"curve({fmt(fraction)})",
                      performance, "", SRC_CAP))
    assumptions.append(f"accelerators capped at {fraction:.0%} of TDP keep {performance:.1%} of their training "
                       "throughput (V100 measurements, Zeus NSDI 2023; newer GPUs at full load may lose more)")
    if fraction < min(c for c, _ in draw.cap_curve):
        warnings.append(f"a cap of {fraction:.0%} of TDP is below the measured curve: throughput extrapolated")
    return {"performance_at_cap_fraction": performance, "uncapped_gpu_equivalents": installed * performance}


def counted_power_w(system: SystemSpec, systems: int, draw: Draw, others_w: float) -> tuple[float, float, float]:
    """(accelerators, hosts, IT) average power as the accounting counts it.

    metered: load · (accelerators at their capped rated power + hosts) + network and storage;
    tdp: accelerators at their capped rated power, nothing else (model cards).
    """
    gpus_w = systems * system.gpus_per_system * system.gpu_power_w * draw.power_cap
    if draw.accounting == "tdp":
        return gpus_w, 0.0, gpus_w
    gpu_w = draw.load * gpus_w
    host_w = draw.load * systems * system.host_overhead_w
    return gpu_w, host_w, gpu_w + host_w + others_w


def average_facility_power(gpus: int, system: SystemSpec, draw: Draw, fabric: Fabric | None, pue: float,
                           storage_w: float = 0.0) -> tuple[float, float, int]:
    """(IT, facility, accelerators installed): the average draw of whole systems, their network and
    storage, as ``cluster_power`` counts it. Facility / installed is what a run's accelerator-hours
    are multiplied by (train-cost)."""
    systems = math.ceil(gpus / system.gpus_per_system)
    others_w = network_power_w(systems * system.nics_per_system, fabric) + storage_w
    it_w = counted_power_w(system, systems, draw, others_w)[2]
    return it_w, it_w * pue, systems * system.gpus_per_system


def _counted(system: SystemSpec, systems: int, installed: int, draw: Draw, network: dict, site: Site,
             steps: list[Step], assumptions: list[str]) -> dict:
    """Average draw as the accounting counts it."""
    capped_w = system.gpu_power_w * draw.power_cap
    others_w = network["network_power_w"] + site.storage_power_w
    gpu_w, host_w, it_w = counted_power_w(system, systems, draw, others_w)
    if draw.accounting == "tdp":
        steps.append(Step("gpu_power_w", "gpus_installed · rated power", f"{installed} · {fmt(capped_w)}", gpu_w, "W",
                          SRC_TDP))
        steps.append(Step("it_power_w", "gpu_power", fmt(gpu_w), gpu_w, "W", "tdp accounting: accelerators only"))
        assumptions.append("tdp accounting (as model cards count): accelerators at their rated power all the time; "
                           "hosts, network and storage are not counted (give --accounting metered for the meter's view)")
        return {"gpu_power_w": gpu_w, "host_power_w": 0.0, "switch_power_w": 0.0, "transceiver_power_w": 0.0,
                "network_power_w": 0.0, "it_power_w": it_w}
    steps += [
        Step("gpu_power_w", "load · gpus_installed · power_per_gpu", f"{fmt(draw.load)} · {installed} · {fmt(capped_w)}",
             gpu_w, "W", "load = average draw as a fraction of the rated maximum"),
        Step("host_power_w", "load · systems · host_overhead", f"{fmt(draw.load)} · {systems} · "
             f"{fmt(system.host_overhead_w)}", host_w, "W", SRC_SYSTEM),
        Step("it_power_w", "gpu_power + host_power + (network_power + storage_power)",
             f"{fmt(gpu_w)} + {fmt(host_w)} + ({fmt(others_w)})", it_w, "W", "average IT draw"),
    ]
    return {"gpu_power_w": gpu_w, "host_power_w": host_w, "switch_power_w": network["switch_power_w"],
            "transceiver_power_w": network["transceiver_power_w"], "network_power_w": network["network_power_w"],
            "it_power_w": it_w}


def _racks(system: SystemSpec, systems: int, peak_each: float, limit_w: float | None,
           steps: list[Step], assumptions: list[str]) -> dict:
    per_rack, racks_each = rack_layout(system, peak_each, limit_w)
    racks = math.ceil(systems / per_rack) * racks_each
    if racks_each > 1:
        steps.append(Step("racks", "systems · ceil(system peak / rack_power_limit)",
                          f"{systems} · ceil({fmt(peak_each)} / {fmt(limit_w)})", racks, "",
                          "a system larger than a rack spans several"))
    else:
        if limit_w and (system.systems_per_rack is None or per_rack < system.systems_per_rack):
            steps.append(Step("systems_per_rack", "floor(rack_power_limit / system peak)",
                              f"floor({fmt(limit_w)} / {fmt(peak_each)})", per_rack, "", "rack power limit"))
        steps.append(Step("racks", "ceil(systems / systems_per_rack)", f"ceil({systems} / {per_rack})",
                          racks, "", "compute racks only; network and storage racks are not counted"))
    assumptions.append("racks count compute racks only (switch and storage racks are extra)")
    return {"racks": racks, "rack_power_peak_w": per_rack * peak_each / racks_each}


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


# ---- swings and the electrical chain -------------------------------------------------------

def _swing(draw: Draw, compute_peak_w: float, others_w: float, steps: list[Step]) -> dict:
    """Synchronised training swings: every system moves between low and high together."""
    if draw.swing is None:
        return {"it_power_swing_high_w": None, "it_power_swing_low_w": None, "power_swing_w": None}
    low, high = draw.swing
    high_w = high * compute_peak_w + others_w
    low_w = low * compute_peak_w + others_w
    steps += [
        Step("it_power_swing_high_w", "high · compute peak + (network + storage)",
             f"{fmt(high)} · {fmt(compute_peak_w)} + ({fmt(others_w)})", high_w, "W", SRC_SWING),
        Step("power_swing_w", "(high − low) · compute peak", f"({fmt(high)} − {fmt(low)}) · {fmt(compute_peak_w)}",
             high_w - low_w, "W", "what the grid sees rise and fall within seconds"),
    ]
    return {"it_power_swing_high_w": high_w, "it_power_swing_low_w": low_w, "power_swing_w": high_w - low_w}


def _electrical(it_peak_w: float, pue: float, electrical: Electrical | None, steps: list[Step],
                warnings: list[str]) -> dict:
    """UPS and transformer losses at peak (inside PUE), the rest of the overhead, UPS capacity."""
    if electrical is None:
        return {"electrical_losses_peak_w": None, "cooling_and_other_peak_w": None, "ups_capacity_w": None}
    chain = electrical.ups_efficiency * electrical.transformer_efficiency
    losses = it_peak_w * (1.0 / chain - 1.0)
    rest = it_peak_w * (pue - 1.0) - losses
    capacity = ups_capacity_w(it_peak_w, electrical)
    steps += [
        Step("electrical_losses_peak_w", "it_power_peak · (1 / (η_UPS · η_transformer) − 1)",
             f"{fmt(it_peak_w)} · (1 / ({fmt(electrical.ups_efficiency)} · {fmt(electrical.transformer_efficiency)})"
             " − 1)", losses, "W", "losses are part of the facility overhead (inside PUE)"),
        Step("cooling_and_other_peak_w", "it_power_peak · (PUE − 1) − electrical losses",
             f"{fmt(it_peak_w)} · ({fmt(pue)} − 1) − {fmt(losses)}", rest, "W", SRC_PUE),
        Step("ups_capacity_w", f"{electrical.redundancy.upper()}: modules of {fmt(electrical.module_w)} W",
             f"ceil({fmt(it_peak_w)} / {fmt(electrical.module_w)}) modules, {electrical.redundancy.upper()}",
             capacity, "W", SRC_UPS),
    ]
    if rest < 0:
        warnings.append(f"PUE {pue:g} leaves nothing for cooling: the UPS and transformer alone lose "
                        f"{1.0 / chain - 1.0:.1%} of IT power; check --pue or the efficiencies")
    return {"electrical_losses_peak_w": losses, "cooling_and_other_peak_w": rest, "ups_capacity_w": capacity}


# ---- facility, energy, money, carbon, water -----------------------------------------------

def _facility(it_w: float, it_peak_w: float, installed: int, site: Site, steps: list[Step]) -> dict:
    facility_w = it_w * site.pue
    energy_wh = facility_w * HOURS_PER_YEAR
    kwh = energy_wh / 1000
    market = site.carbon_g_per_kwh if site.carbon_market_g_per_kwh is None else site.carbon_market_g_per_kwh
    hours = site.gpu_hours / installed if site.gpu_hours is not None else site.years * HOURS_PER_YEAR
    values = {
        "facility_power_w": facility_w, "facility_power_peak_w": it_peak_w * site.pue,
        "peak_to_average_ratio": it_peak_w / it_w if it_w > 0 else 1.0,
        "watts_per_gpu_all_in": facility_w / installed,
        "energy_wh_per_year": energy_wh, "energy_cost_usd_per_year": kwh * site.price_usd_per_kwh,
        "co2_kg_per_year": co2_kg(energy_wh, site.carbon_g_per_kwh),
        "co2_market_kg_per_year": co2_kg(energy_wh, market),
        "water_l_per_year": it_w * HOURS_PER_YEAR / 1000 * site.wue_l_per_kwh,
        "hours_total": hours,
    }
    steps += _facility_steps(it_w, it_peak_w, installed, kwh, site, market, values)
    scale = hours / HOURS_PER_YEAR
    for key in ("energy_wh", "energy_cost_usd", "co2_kg", "co2_market_kg", "water_l"):
        values[f"{key}_total"] = values[f"{key}_per_year"] * scale
    return values


def _facility_steps(it_w, it_peak_w, installed, kwh, site: Site, market: float, v: dict) -> list[Step]:
    facility_w = v["facility_power_w"]
    hours_formula = ("gpu_hours / gpus_installed", f"{fmt(site.gpu_hours)} / {installed}") \
        if site.gpu_hours is not None else ("years · 8760 h", f"{fmt(site.years)} · 8760")
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
             "location-based: the grid's average intensity (" + SRC_SCOPE2 + ")"),
        Step("co2_market_kg_per_year", "energy_kwh · market-based intensity / 1000",
             f"{fmt(kwh)} · {fmt(market)} / 1000", v["co2_market_kg_per_year"], "kg",
             "market-based: after the buyer's renewable contracts (" + SRC_SCOPE2 + ")"),
        Step("water_l_per_year", "it_power · 8760 h / 1000 · WUE",
             f"{fmt(it_w)} · 8760 / 1000 · {fmt(site.wue_l_per_kwh)}", v["water_l_per_year"], "L", SRC_WUE),
        Step("hours_total", hours_formula[0], hours_formula[1], v["hours_total"], "h", "what the totals cover"),
    ]
