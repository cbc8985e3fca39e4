"""Total cost of owning accelerators: capex by part, annual cost by part, the owner's cost of a
GPU-hour, the break-even utilisation against renting, and the chain into runs and tokens.

Capex: accelerators at their price (a list or purchase price, a given number, or the fab chain's unit
cost marked up by a vendor gross margin: price = cost / (1 − margin)); the rest of each system (host
CPUs, memory, NICs, scale-up switches, chassis) as a ratio of the accelerator price; the scale-out
switches and optical modules the cluster-power network model counts, at their prices; and the
facility at a construction cost per watt of critical IT (the peak IT load), or nothing when the
space is rented (colocation).

Annual cost: capex recovered over its life at a cost of capital r with the capital recovery
factor CRF(r, n) = r·(1 + r)^n / ((1 + r)^n − 1), 1/n at r = 0 (the level payment that repays a
loan of 1 over n years; e.g. NREL, 'Simple Levelized Cost of Energy (LCOE) Calculator
Documentation'); hardware over the accelerators' life, the building over the facility's; colocation
rent per kW of critical IT per month instead of the building; maintenance of the hardware and
operation of the building as fractions of their capex per year; electricity for a year of the power
model's average facility draw (calc.power) at the price per kWh.

Per GPU-hour at utilisation u: annual cost / (accelerators · 8,760 h · u). Against a rental price P
per GPU-hour, owning costs less above the break-even utilisation annual cost / (accelerators ·
8,760 h · P); above 1, renting is cheaper even at full use. Energy is charged for a whole year of
the average draw whatever the utilisation (an upper bound when the cluster idles).

The chain ends in the calculators that own those formulas: a run costs its GPU-hours at this rate
(calc.training), a million tokens the deployment's GPU-hours per token at it (calc.inference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, fmt
from aistack_cli.calc.power import (Draw, Fabric, SystemSpec, average_facility_power, fabric_tiers, network_power_w,
                                    optical_ends, switch_count, system_peak_w)

HOURS_PER_YEAR = 8760.0
MONTHS_PER_YEAR = 12.0
FACILITIES = ("build", "colo")
SRC_CRF = ("capital recovery factor r·(1 + r)^n / ((1 + r)^n − 1): the level yearly payment that repays the capex "
           "over n years at rate r (NREL, Simple LCOE Calculator Documentation)")
SRC_MARGIN = "price = cost / (1 − gross margin): the margin is the share of the price above the cost of goods"


@dataclass(frozen=True)
class Hardware:
    """Prices of what the cluster is made of."""

    gpu_price_usd: float  # per accelerator
    host_ratio: float  # the rest of a system, per accelerator, as a ratio of the accelerator price
    switch_price_usd: float  # one scale-out switch
    transceiver_price_usd: float  # one optical module


@dataclass(frozen=True)
class Gear:
    """What the power and network model counts for the cluster."""

    gpus_installed: int
    switches: int
    transceivers: int
    it_power_peak_w: float  # critical IT: every system at its rated maximum, plus network and storage
    facility_power_w: float  # average draw at the meter
    energy_price_usd_per_kwh: float


@dataclass(frozen=True)
class Finance:
    gpu_life_years: float
    facility_life_years: float
    cost_of_capital: float  # per year
    maintenance_fraction: float  # of hardware capex, per year
    operations_fraction: float  # of facility capex, per year


@dataclass(frozen=True)
class Facility:
    mode: str  # build | colo
    construction_usd_per_w: float | None = None  # per W of critical IT
    colocation_usd_per_kw_month: float | None = None


@dataclass(frozen=True)
class TcoResult:
    gpu_capex_usd: float
    host_capex_usd: float
    network_capex_usd: float
    facility_capex_usd: float
    capex_usd: float
    capex_usd_per_gpu: float
    capex_usd_per_w: float
    facility_capex_usd_per_w: float | None
    gpu_cost_usd_per_year: float
    host_cost_usd_per_year: float
    network_cost_usd_per_year: float
    facility_cost_usd_per_year: float
    energy_cost_usd_per_year: float
    maintenance_cost_usd_per_year: float
    operations_cost_usd_per_year: float
    cost_usd_per_year: float
    usd_per_gpu_hour: float
    break_even_utilization: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


def cluster_gear(gpus: int, system: SystemSpec, draw: Draw, fabric: Fabric | None, pue: float, storage_w: float,
                 price_usd_per_kwh: float) -> Gear:
    """What the cluster-power model counts for ``gpus`` accelerators: whole systems, the fat tree's switches
    and the optical modules plugged into them (a system's own NIC optics are in its price and rated power),
    the critical IT load (every system at its rated maximum plus network and storage: cluster-power's
    ``it_power_peak_w``) and the average facility draw (``calc.power.average_facility_power``, the formula
    cluster-power and train-cost use)."""
    systems = math.ceil(gpus / system.gpus_per_system)
    endpoints = systems * system.nics_per_system
    if fabric is None or endpoints == 0:
        switches = modules = 0
    else:
        tiers = fabric_tiers(endpoints, fabric.radix)
        switches = switch_count(endpoints, fabric.radix, tiers)
        modules = optical_ends(endpoints, tiers, fabric.topology)[1]
    peak = systems * system_peak_w(system, draw.power_cap) + network_power_w(endpoints, fabric) + storage_w
    _, facility_w, installed = average_facility_power(gpus, system, draw, fabric, pue, storage_w)
    return Gear(installed, switches, modules, peak, facility_w, price_usd_per_kwh)


def capital_recovery_factor(rate: float, years: float) -> float:
    """r·(1 + r)^n / ((1 + r)^n − 1); 1/n when r = 0 (see the module docstring)."""
    if rate * years < 1e-6:  # first order in r: 1/n + r·(n + 1)/(2n), exact to ~(r·n)² (no subnormal trouble)
        return 1.0 / years + rate * (years + 1.0) / (2.0 * years)
    gain = math.expm1(years * math.log1p(rate))  # (1 + r)^n − 1, without cancellation at small r
    return rate * (1.0 + gain) / gain


def price_from_cost(cost_usd: float, gross_margin: float) -> float:
    """The selling price that leaves ``gross_margin`` of it above the cost: cost / (1 − margin)."""
    return cost_usd / (1.0 - gross_margin)


def energy_cost_usd_per_year(facility_power_w: float, price_usd_per_kwh: float) -> float:
    """A year of the average facility draw at the price: W · 8,760 h / 1,000 · $/kWh."""
    return facility_power_w * HOURS_PER_YEAR / 1000.0 * price_usd_per_kwh


def usd_per_gpu_hour(cost_usd_per_year: float, gpus: int, utilization: float) -> float:
    """The owner's cost of one used accelerator-hour."""
    return cost_usd_per_year / (gpus * HOURS_PER_YEAR * utilization)


def break_even_utilization(cost_usd_per_year: float, gpus: int, rent_usd_per_gpu_hour: float) -> float:
    """The utilisation at which owning costs what renting at ``rent_usd_per_gpu_hour`` does."""
    return cost_usd_per_year / (gpus * HOURS_PER_YEAR * rent_usd_per_gpu_hour)


def tco(gear: Gear, hardware: Hardware, finance: Finance, facility: Facility, utilization: float,
        rent_usd_per_gpu_hour: float | None, explain: bool = True) -> TcoResult:
    """Capex and annual cost by part, the cost of a GPU-hour and the break-even utilisation."""
    steps: list[Step] | None = [] if explain else None
    assumptions: list[str] = []
    warnings: list[str] = []
    n = gear.gpus_installed
    capex = _capex(gear, hardware, facility, steps)
    annual = _annual(gear, capex, finance, facility, steps)
    total = sum(annual.values())
    rate = usd_per_gpu_hour(total, n, utilization)
    even = break_even_utilization(total, n, rent_usd_per_gpu_hour) if rent_usd_per_gpu_hour else None
    if steps is not None:
        steps += _rate_steps(total, n, utilization, rate, rent_usd_per_gpu_hour, even)
    if even is not None and even > 1:
        warnings.append(f"renting at ${rent_usd_per_gpu_hour:,.2f} per GPU-hour is cheaper than owning even at full "
                        f"use: owning costs ${total / (n * HOURS_PER_YEAR):,.2f} per installed GPU-hour")
    capex_total = sum(capex.values())
    return TcoResult(
        gpu_capex_usd=capex["gpu"], host_capex_usd=capex["host"], network_capex_usd=capex["network"],
        facility_capex_usd=capex["facility"], capex_usd=capex_total, capex_usd_per_gpu=capex_total / n,
        capex_usd_per_w=capex_total / gear.it_power_peak_w,
        facility_capex_usd_per_w=capex["facility"] / gear.it_power_peak_w if facility.mode == "build" else None,
        gpu_cost_usd_per_year=annual["gpu"], host_cost_usd_per_year=annual["host"],
        network_cost_usd_per_year=annual["network"], facility_cost_usd_per_year=annual["facility"],
        energy_cost_usd_per_year=annual["energy"], maintenance_cost_usd_per_year=annual["maintenance"],
        operations_cost_usd_per_year=annual["operations"], cost_usd_per_year=total, usd_per_gpu_hour=rate,
        break_even_utilization=even, assumptions=tuple(assumptions), warnings=tuple(warnings),
        steps=tuple(steps or ()),
    )


def _capex(gear: Gear, hw: Hardware, facility: Facility, steps: list | None) -> dict:
    n = gear.gpus_installed
    gpu = n * hw.gpu_price_usd
    host = gpu * hw.host_ratio
    network = gear.switches * hw.switch_price_usd + gear.transceivers * hw.transceiver_price_usd
    building = gear.it_power_peak_w * facility.construction_usd_per_w if facility.mode == "build" else 0.0
    if steps is not None:
        steps += [
            Step("gpu_capex_usd", "gpus_installed · gpu_price", f"{n} · {fmt(hw.gpu_price_usd)}", gpu, "USD",
                 "accelerators at their price"),
            Step("host_capex_usd", "gpu_capex · host_ratio", f"{fmt(gpu)} · {fmt(hw.host_ratio)}", host, "USD",
                 "the rest of each system (CPUs, memory, NICs, scale-up switches, chassis)"),
            Step("network_capex_usd", "switches · switch_price + transceivers · transceiver_price",
                 f"{gear.switches} · {fmt(hw.switch_price_usd)} + {gear.transceivers} · "
                 f"{fmt(hw.transceiver_price_usd)}", network, "USD", "scale-out gear counted by the network model"),
        ]
        if facility.mode == "build":
            steps.append(Step("facility_capex_usd", "it_power_peak · construction per W",
                              f"{fmt(gear.it_power_peak_w)} · {fmt(facility.construction_usd_per_w)}", building, "USD",
                              "building for the critical IT load"))
    return {"gpu": gpu, "host": host, "network": network, "facility": building}


def _annual(gear: Gear, capex: dict, fin: Finance, facility: Facility, steps: list | None) -> dict:
    crf_hw = capital_recovery_factor(fin.cost_of_capital, fin.gpu_life_years)
    hardware = capex["gpu"] + capex["host"] + capex["network"]
    if facility.mode == "build":
        crf_fac = capital_recovery_factor(fin.cost_of_capital, fin.facility_life_years)
        building = capex["facility"] * crf_fac
        operations = capex["facility"] * fin.operations_fraction
    else:
        crf_fac = None
        building = gear.it_power_peak_w / 1000.0 * facility.colocation_usd_per_kw_month * MONTHS_PER_YEAR
        operations = 0.0
    energy = energy_cost_usd_per_year(gear.facility_power_w, gear.energy_price_usd_per_kwh)
    annual = {"gpu": capex["gpu"] * crf_hw, "host": capex["host"] * crf_hw, "network": capex["network"] * crf_hw,
              "facility": building, "energy": energy, "maintenance": hardware * fin.maintenance_fraction,
              "operations": operations}
    if steps is not None:
        steps += _annual_steps(gear, capex, fin, facility, crf_hw, crf_fac, hardware, annual)
    return annual


def _annual_steps(gear, capex, fin, facility, crf_hw, crf_fac, hardware, annual) -> list[Step]:
    r = fmt(fin.cost_of_capital)
    out = [
        Step("hardware_crf", "r·(1 + r)^n / ((1 + r)^n − 1)", f"r = {r}, n = {fmt(fin.gpu_life_years)} years",
             crf_hw, "1/year", SRC_CRF),
        Step("gpu_cost_usd_per_year", "gpu_capex · CRF", f"{fmt(capex['gpu'])} · {crf_hw:.4g}", annual["gpu"], "USD",
             "accelerators paid off over their life"),
    ]
    if crf_fac is not None:
        out += [
            Step("facility_crf", "r·(1 + r)^n / ((1 + r)^n − 1)", f"r = {r}, n = {fmt(fin.facility_life_years)} years",
                 crf_fac, "1/year", SRC_CRF),
            Step("facility_cost_usd_per_year", "facility_capex · CRF", f"{fmt(capex['facility'])} · {crf_fac:.4g}",
                 annual["facility"], "USD", "the building paid off over its life"),
            Step("operations_cost_usd_per_year", "facility_capex · operations fraction",
                 f"{fmt(capex['facility'])} · {fmt(fin.operations_fraction)}", annual["operations"], "USD",
                 "running the building"),
        ]
    else:
        out.append(Step("facility_cost_usd_per_year", "it_power_peak_kw · rent per kW-month · 12",
                        f"{fmt(gear.it_power_peak_w / 1000)} · {fmt(facility.colocation_usd_per_kw_month)} · 12",
                        annual["facility"], "USD", "colocation rent for the critical IT load"))
    out += [
        Step("energy_cost_usd_per_year", "facility_power · 8760 h / 1000 · price",
             f"{fmt(gear.facility_power_w)} · 8760 / 1000 · {fmt(gear.energy_price_usd_per_kwh)}", annual["energy"],
             "USD", "the power model's average draw for a whole year"),
        Step("maintenance_cost_usd_per_year", "(gpu + host + network capex) · maintenance fraction",
             f"{fmt(hardware)} · {fmt(fin.maintenance_fraction)}", annual["maintenance"], "USD",
             "keeping the hardware running"),
    ]
    return out


def _rate_steps(total, n, utilization, rate, rent, even) -> list[Step]:
    out = [
        Step("cost_usd_per_year", "Σ annual costs", fmt(total), total, "USD", "amortised capex plus opex"),
        Step("usd_per_gpu_hour", "cost per year / (gpus · 8760 h · utilization)",
             f"{fmt(total)} / ({n} · 8760 · {fmt(utilization)})", rate, "USD/h", "the owner's cost of a used GPU-hour"),
    ]
    if even is not None:
        out.append(Step("break_even_utilization", "cost per year / (gpus · 8760 h · rent)",
                        f"{fmt(total)} / ({n} · 8760 · {fmt(rent)})", even, "fraction",
                        "above it owning costs less than renting"))
    return out
