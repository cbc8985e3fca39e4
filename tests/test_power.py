"""cluster-power: hand-checked numbers, published figures, invariants and the CLI contract."""

import csv
import io
import math
import tomllib

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from aistack_cli.calc.power import (
    Draw, Electrical, Fabric, Site, SitePower, SitePowerTooSmall, SystemSpec, cluster_power, cooling_for_rack,
    fabric_tiers, network_power_w, optical_ends, performance_at_cap, rack_layout, switch_count, system_peak_w,
    systems_for_site_power, ups_capacity_w,
)
from conftest import ROOT, assert_usage_error

# DGX H100: 8 x 700 W GPUs, rated 10.2 kW -> host overhead 10,200 - 5,600 = 4,600 W; 8 NICs; 4 per rack.
DGX_H100 = SystemSpec(gpus_per_system=8, nodes_per_system=1, gpu_power_w=700.0, host_overhead_w=4600.0,
                      nics_per_system=8, systems_per_rack=4, gpu_tdp_w=700.0)
# GB200 NVL72: 72 x 1,200 W GPUs, rack ~120 kW -> 120,000 - 86,400 = 33,600 W of Grace CPUs, NICs,
# NVLink switch trays, fans and power shelves; 72 NICs; the system is the rack.
NVL72 = SystemSpec(gpus_per_system=72, nodes_per_system=18, gpu_power_w=1200.0, host_overhead_w=33600.0,
                   nics_per_system=72, systems_per_rack=1)
NDR = Fabric("rail-optimized", radix=64, switch_power_w=1720.0, transceiver_power_w=8.0)
SITE = Site(pue=1.58, price_usd_per_kwh=0.0806, carbon_g_per_kwh=481.0, wue_l_per_kwh=1.8, years=1.0)


# ---- fabric arithmetic ---------------------------------------------------------------------

def test_fat_tree_reach_per_tier():
    # Radix 64: one switch serves 64; two tiers r^2/2 = 2,048; three tiers r^3/4 = 65,536.
    assert [fabric_tiers(n, 64) for n in (1, 64, 65, 2048, 2049, 65_536, 65_537)] == [1, 1, 2, 2, 3, 3, 4]
    assert fabric_tiers(0, 64) == 0


def test_switch_counts_match_the_k_ary_fat_tree():
    # Al-Fares et al. 2008: a full 3-tier k-ary fat tree has 5k^2/4 switches for k^3/4 hosts:
    # k = 64 -> 5,120 switches for 65,536 hosts. Two tiers full: 64 leaves + 32 spines = 96.
    assert switch_count(65_536, 64, 3) == 5 * 64**2 // 4
    assert switch_count(2048, 64, 2) == 96
    # Partial two-tier build, 1,024 ports: 1,024 / 32 = 32 leaves + 1,024 / 64 = 16 spines.
    assert switch_count(1024, 64, 2) == 48
    assert switch_count(40, 64, 1) == 1


def test_optics_per_port_match_the_published_ratios():
    # FiberMall (A100 SuperPOD, 3-tier fat tree): 6 modules per GPU all-optical, 4 with copper to
    # the server. Rail-optimized puts 5 of the 6 in switches (the 6th is in the server).
    assert optical_ends(1000, 3, "rail-optimized") == (6000, 5000)
    assert optical_ends(1000, 3, "fat-tree") == (4000, 4000)
    assert optical_ends(1000, 1, "fat-tree") == (0, 0)


def test_rack_layout():
    assert rack_layout(DGX_H100, 10_200.0, None) == (4, 1)
    assert rack_layout(DGX_H100, 10_200.0, 25_000.0) == (2, 1)  # floor(25 / 10.2) = 2
    pod = SystemSpec(8960, 2240, 192.0, 0.0, 2240, None)
    assert rack_layout(pod, 1_720_320.0, 40_000.0) == (1, 44)  # ceil(1,720,320 / 40,000) = 44


# ---- whole clusters, by hand -------------------------------------------------------------

def test_one_dgx_h100_is_its_rating():
    # NVIDIA DGX H100 datasheet: ~10.2 kW max; average at load 0.76 = 7,752 W.
    result = cluster_power(8, DGX_H100, 0.76, None, SITE)
    assert result.it_power_peak_w == pytest.approx(10_200)
    assert result.it_power_w == pytest.approx(7_752)
    assert (result.switches, result.transceivers, result.racks) == (0, 0, 1)


def test_one_nvl72_rack_counts_its_nvlink_switches_once():
    # ~120 kW per rack with its 9 NVLink switch trays inside: nothing is added for them.
    result = cluster_power(72, NVL72, 0.76, None, SITE)
    assert result.it_power_peak_w == pytest.approx(120_000)
    assert result.nodes == 18 and result.racks == 1 and result.switches == 0


def test_1024_h100_rail_optimized_by_hand():
    # 128 DGX H100, 1,024 NDR ports: 2 tiers (64 < 1,024 <= 2,048), 32 leaves + 16 spines = 48
    # switches x 1,720 W = 82,560 W. Optics: 2 x 2 x 1,024 = 4,096 modules, 3 x 1,024 = 3,072 in
    # switches x 8 W = 24,576 W. Network 107,136 W.
    # GPUs 0.76 x 1,024 x 700 = 544,768 W; hosts 0.76 x 128 x 4,600 = 447,488 W.
    # IT 1,099,392 W; peak 128 x 10,200 + 107,136 = 1,412,736 W; facility x 1.58 = 1,737,039.36 W.
    # Energy x 8,760 h = 15,216,464,793.6 Wh; cost x $0.0806/kWh = $1,226,447.06;
    # CO2 x 481 g/kWh = 7,319,119.6 kg; water 1,099,392 x 8.76 x 1.8 = 17,335,213 L.
    r = cluster_power(1024, DGX_H100, 0.76, NDR, SITE)
    assert (r.systems, r.racks, r.fabric_tiers, r.switches, r.transceivers) == (128, 32, 2, 48, 4096)
    assert r.switch_power_w == pytest.approx(82_560) and r.transceiver_power_w == pytest.approx(24_576)
    assert r.gpu_power_w == pytest.approx(544_768) and r.host_power_w == pytest.approx(447_488)
    assert r.it_power_w == pytest.approx(1_099_392) and r.it_power_peak_w == pytest.approx(1_412_736)
    assert r.facility_power_w == pytest.approx(1_737_039.36)
    assert r.energy_wh_per_year == pytest.approx(15_216_464_793.6)
    assert r.energy_cost_usd_per_year == pytest.approx(1_226_447.06, abs=0.01)
    assert r.co2_kg_per_year == pytest.approx(7_319_119.6, abs=0.1)
    assert r.water_l_per_year == pytest.approx(17_335_213.056)
    assert r.watts_per_gpu_all_in == pytest.approx(1_737_039.36 / 1024)


def test_fat_tree_with_copper_to_the_server():
    # Same cluster, ToR leaves on copper: 2 x (2 - 1) x 1,024 = 2,048 modules, all in switches.
    r = cluster_power(1024, DGX_H100, 0.76, Fabric("fat-tree", 64, 1720.0, 8.0), SITE)
    assert r.transceivers == 2048 and r.transceiver_power_w == pytest.approx(2048 * 8)


def test_partial_system_rounds_up_and_warns():
    # 100,000 GB200 in NVL72 racks: ceil(100,000 / 72) = 1,389 racks = 100,008 GPUs.
    r = cluster_power(100_000, NVL72, 0.76, None, SITE)
    assert (r.systems, r.gpus_installed, r.racks) == (1389, 100_008, 1389)
    assert any("100,008" in w for w in r.warnings)


def test_years_multiply_the_totals():
    site = Site(1.2, 0.1, 400.0, 1.0, years=5.0)
    r = cluster_power(64, DGX_H100, 0.8, NDR, site)
    assert r.energy_cost_usd_total == pytest.approx(5 * r.energy_cost_usd_per_year)
    assert r.water_l_total == pytest.approx(5 * r.water_l_per_year)


def test_storage_is_added_flat():
    site = Site(1.2, 0.1, 400.0, 1.0, 1.0, storage_power_w=2e6)
    with_storage = cluster_power(1024, DGX_H100, 0.76, NDR, site)
    without = cluster_power(1024, DGX_H100, 0.76, NDR, Site(1.2, 0.1, 400.0, 1.0, 1.0))
    assert with_storage.it_power_w - without.it_power_w == pytest.approx(2e6)
    assert with_storage.it_power_peak_w - without.it_power_peak_w == pytest.approx(2e6)


def test_steps_follow_the_order_applied():
    names = [s.quantity for s in cluster_power(1024, DGX_H100, 0.76, NDR, SITE).steps]
    assert names.index("systems") < names.index("it_power_w") < names.index("facility_power_w") \
        < names.index("energy_wh_per_year")


# ---- accounting, carbon, swings, the electrical chain, caps (by hand) -------------------------

def test_tdp_accounting_counts_accelerators_only_for_the_gpu_hours():
    # Model-card arithmetic: 1,024 x 700 W = 716,800 W, x PUE 1.1 = 788,480 W = 770 W per GPU;
    # 1e6 GPU-hours x 770 W = 7.7e8 Wh; x 400 g/kWh = 308,000 kg. Hosts, network, storage: not counted.
    # The physical peak and the network gear stay: 1,412,736 W and 48 switches (as metered).
    site = Site(1.1, 0.1, 400.0, 1.0, storage_power_w=1e5, gpu_hours=1e6)
    r = cluster_power(1024, DGX_H100, Draw(accounting="tdp"), NDR, site)
    assert r.gpu_power_w == pytest.approx(716_800) and r.it_power_w == pytest.approx(716_800)
    assert r.host_power_w == 0 and r.network_power_w == 0 and r.switches == 48
    assert r.watts_per_gpu_all_in == pytest.approx(770)
    assert r.hours_total == pytest.approx(1e6 / 1024)
    assert r.energy_wh_total == pytest.approx(7.7e8) and r.co2_kg_total == pytest.approx(308_000)
    assert r.it_power_peak_w == pytest.approx(1_412_736 + 1e5)
    assert any("tdp accounting" in a for a in r.assumptions)


def test_market_based_carbon_follows_the_contracts():
    # Same energy; 0 g/kWh market-based gives 0 kg; no market figure means location-based.
    contracted = cluster_power(8, DGX_H100, 0.76, None, Site(1.1, 0.1, 400.0, 1.0, carbon_market_g_per_kwh=0.0))
    uncontracted = cluster_power(8, DGX_H100, 0.76, None, Site(1.1, 0.1, 400.0, 1.0))
    assert contracted.co2_market_kg_per_year == 0 and contracted.co2_kg_per_year > 0
    assert uncontracted.co2_market_kg_per_year == pytest.approx(uncontracted.co2_kg_per_year)


def test_training_swing_by_hand():
    # 128 DGX H100: compute peak 128 x 10,200 = 1,305,600 W; network 107,136 W (see above).
    # High 0.85 x 1,305,600 + 107,136 = 1,216,896 W; low 0.15 x ... + 107,136 = 302,976 W;
    # swing = 0.70 x 1,305,600 = 913,920 W.
    r = cluster_power(1024, DGX_H100, Draw(0.76, swing=(0.15, 0.85)), NDR, SITE)
    assert r.it_power_swing_high_w == pytest.approx(1_216_896)
    assert r.it_power_swing_low_w == pytest.approx(302_976)
    assert r.power_swing_w == pytest.approx(913_920)
    assert r.peak_to_average_ratio == pytest.approx(1_412_736 / 1_099_392)
    assert cluster_power(1024, DGX_H100, 0.76, NDR, SITE).power_swing_w is None  # not training


def test_electrical_chain_by_hand():
    # Peak IT 1,412,736 W; UPS 0.95 x transformer 0.99 = 0.9405: losses 1,412,736 x (1/0.9405 - 1)
    # = 89,375.64 W; the rest of PUE 1.58's overhead: 1,412,736 x 0.58 - 89,375.64 = 730,011.24 W.
    # UPS modules of 1 MW: ceil(1.4127) = 2 carry it; N+1 = 3 MW.
    r = cluster_power(1024, DGX_H100, 0.76, NDR, SITE, Electrical(0.95, 0.99, "n+1", 1e6))
    assert r.electrical_losses_peak_w == pytest.approx(89_375.64, abs=0.01)
    assert r.cooling_and_other_peak_w == pytest.approx(730_011.24, abs=0.01)
    assert r.ups_capacity_w == pytest.approx(3e6)
    for redundancy, capacity in (("n", 2e6), ("n+1", 3e6), ("2n", 4e6)):
        assert ups_capacity_w(1_412_736, Electrical(0.95, 0.99, redundancy, 1e6)) == capacity
    assert ups_capacity_w(2e6, Electrical(0.95, 0.99, "n", 1e6)) == 2e6  # exactly two modules, no third


def test_a_pue_below_the_electrical_losses_warns():
    r = cluster_power(8, DGX_H100, 0.76, None, Site(1.03, 0.1, 400.0, 1.0), Electrical(0.95, 0.99, "n", 1e6))
    assert r.cooling_and_other_peak_w < 0 and any("leaves nothing for cooling" in w for w in r.warnings)


CURVE = ((0.4, 0.531), (0.5, 0.695), (0.6, 0.842), (0.7, 0.903), (0.8, 0.942), (0.9, 0.978))


def test_performance_follows_the_measured_curve():
    # On a point: its value; between points: linear (0.85 -> (0.942 + 0.978) / 2 = 0.96);
    # above 0.9: towards (1, 1); below 0.4: the line to (0, 0) (0.2 -> 0.531 / 2 = 0.2655).
    assert performance_at_cap(0.8, CURVE) == pytest.approx(0.942)
    assert performance_at_cap(0.85, CURVE) == pytest.approx(0.96)
    assert performance_at_cap(0.95, CURVE) == pytest.approx(0.989)
    assert performance_at_cap(1.0, CURVE) == 1.0
    assert performance_at_cap(0.2, CURVE) == pytest.approx(0.2655)


def test_a_cap_lowers_power_and_keeps_most_of_the_throughput():
    # Cap 0.8: GPUs 0.76 x 1,024 x 560 W = 435,814.4 W; each system peaks at 8 x 560 + 4,600 = 9,080 W.
    r = cluster_power(1024, DGX_H100, Draw(0.76, power_cap=0.8, cap_curve=CURVE), NDR, SITE)
    assert r.gpu_power_w == pytest.approx(435_814.4)
    assert r.it_power_peak_w == pytest.approx(128 * 9080 + 107_136)
    assert r.performance_at_cap_fraction == pytest.approx(0.942)
    assert r.uncapped_gpu_equivalents == pytest.approx(1024 * 0.942)
    assert cluster_power(1024, DGX_H100, 0.76, NDR, SITE).performance_at_cap_fraction is None


def test_cooling_follows_rack_power():
    assert cooling_for_rack(40_800, 50_000) == "air" and cooling_for_rack(120_000, 50_000) == "liquid"


# ---- the inverse: a site's power ---------------------------------------------------------------

def test_site_power_by_hand():
    # 3 MW at the meter, PUE 1.5: 2 MW of peak IT. 181 DGX H100: 181 x 10,200 = 1,846,200 W plus
    # 1,448 NDR ports (2 tiers: 46 leaves + 23 spines = 69 x 1,720 = 118,680 W; 3 x 1,448 x 8 W =
    # 34,752 W of optics) = 1,999,632 W <= 2 MW. 182: 1,856,400 + 118,680 + 34,944 = 2,010,024 W > 2 MW.
    site = Site(1.5, 0.1, 400.0, 1.0)
    assert systems_for_site_power(SitePower(3e6, "facility"), DGX_H100, Draw(0.76), NDR, site) == 181
    assert systems_for_site_power(SitePower(2e6, "it"), DGX_H100, Draw(0.76), NDR, site) == 181
    r = cluster_power(0, DGX_H100, 0.76, NDR, site, site_power=SitePower(3e6, "facility"))
    assert (r.systems, r.gpus_installed) == (181, 1448)
    assert r.site_power_used_fraction == pytest.approx(1_999_632 * 1.5 / 3e6)


def test_site_power_below_one_system_is_an_error_with_the_need():
    with pytest.raises(SitePowerTooSmall) as raised:
        cluster_power(0, DGX_H100, 0.76, None, SITE, site_power=SitePower(10e3, "it"))
    assert raised.value.needed_w == pytest.approx(10_200)


# ---- invariants --------------------------------------------------------------------------

SYSTEMS = st.builds(SystemSpec, gpus_per_system=st.integers(1, 128), nodes_per_system=st.integers(1, 32),
                    gpu_power_w=st.floats(50, 3000), host_overhead_w=st.floats(0, 100_000),
                    nics_per_system=st.integers(0, 128), systems_per_rack=st.one_of(st.none(), st.integers(1, 8)))
FABRICS = st.one_of(st.none(), st.builds(Fabric, topology=st.sampled_from(["fat-tree", "rail-optimized"]),
                                         radix=st.integers(4, 256), switch_power_w=st.floats(0, 5000),
                                         transceiver_power_w=st.floats(0, 40)))
SITES = st.builds(Site, pue=st.floats(1.0, 3.0), price_usd_per_kwh=st.floats(0, 1), carbon_g_per_kwh=st.floats(0, 1200),
                  wue_l_per_kwh=st.floats(0, 5), years=st.floats(0.1, 20),
                  rack_power_limit_w=st.one_of(st.none(), st.floats(1000, 500_000)),
                  storage_power_w=st.floats(0, 1e7))
LOADS = st.floats(0.01, 1.0)


@settings(max_examples=200, deadline=None)
@given(gpus=st.integers(1, 2_000_000), system=SYSTEMS, load=LOADS, fabric=FABRICS, site=SITES)
def test_facility_never_below_it_and_all_finite(gpus, system, load, fabric, site):
    r = cluster_power(gpus, system, load, fabric, site)
    assert r.facility_power_w >= r.it_power_w and r.facility_power_peak_w >= r.it_power_peak_w
    assert r.it_power_peak_w >= r.it_power_w * (1 - 1e-12)  # equal at load 1, up to rounding
    assert r.racks >= 1 and r.gpus_installed >= gpus
    numbers = [v for k, v in vars(r).items() if isinstance(v, (int, float))]
    assert all(math.isfinite(v) for v in numbers)


@settings(max_examples=200, deadline=None)
@given(systems=st.integers(1, 5000), factor=st.integers(2, 10), system=SYSTEMS, load=LOADS, fabric=FABRICS,
       site=SITES)
def test_power_is_linear_in_whole_systems(systems, factor, system, load, fabric, site):
    # At a fixed node type, k times the systems draw k times the power once the network, which
    # grows by tiers, and the flat storage figure are taken out.
    small = cluster_power(systems * system.gpus_per_system, system, load, fabric, site)
    large = cluster_power(factor * systems * system.gpus_per_system, system, load, fabric, site)

    def compute_only(r, key):
        return getattr(r, key) - r.network_power_w - site.storage_power_w

    for key in ("it_power_w", "it_power_peak_w"):
        assert compute_only(large, key) == pytest.approx(factor * compute_only(small, key), rel=1e-9)
    assert large.network_power_w >= small.network_power_w


@settings(max_examples=200, deadline=None)
@given(gpus=st.integers(1, 500_000), system=SYSTEMS, load=LOADS, fabric=FABRICS, site=SITES,
       extra=st.floats(0.0, 2.0))
def test_a_higher_pue_never_lowers_the_bill(gpus, system, load, fabric, site, extra):
    worse = Site(site.pue + extra, site.price_usd_per_kwh, site.carbon_g_per_kwh, site.wue_l_per_kwh,
                 site.years, site.rack_power_limit_w, site.storage_power_w)
    a, b = cluster_power(gpus, system, load, fabric, site), cluster_power(gpus, system, load, fabric, worse)
    assert b.energy_cost_usd_per_year >= a.energy_cost_usd_per_year
    assert b.co2_kg_per_year >= a.co2_kg_per_year
    assert b.it_power_w == a.it_power_w  # PUE is a facility factor: IT power does not move


@settings(max_examples=150, deadline=None)
@given(gpus=st.integers(1, 500_000), more=st.integers(0, 500_000), system=SYSTEMS, load=LOADS,
       fabric=FABRICS, site=SITES)
def test_more_gpus_never_draw_less(gpus, more, system, load, fabric, site):
    a, b = cluster_power(gpus, system, load, fabric, site), cluster_power(gpus + more, system, load, fabric, site)
    assert b.it_power_w >= a.it_power_w and b.it_power_peak_w >= a.it_power_peak_w and b.racks >= a.racks


@settings(max_examples=200, deadline=None)
@given(budget=st.floats(1e4, 5e8), system=SYSTEMS, fabric=FABRICS, site=SITES,
       basis=st.sampled_from(["it", "facility"]))
def test_the_inverse_finds_the_largest_cluster_that_fits(budget, system, fabric, site, basis):
    # Whole systems whose peak fits; one more system does not.
    def peak(systems):
        it = systems * system_peak_w(system) + network_power_w(systems * system.nics_per_system, fabric) \
            + site.storage_power_w
        return it * (site.pue if basis == "facility" else 1.0)

    systems = systems_for_site_power(SitePower(budget, basis), system, Draw(0.76), fabric, site)
    if systems:
        assert peak(systems) <= budget * (1 + 1e-9)
    assert peak(systems + 1) > budget * (1 - 1e-9)


@settings(max_examples=100, deadline=None)
@given(budget=st.floats(1e5, 1e8), more=st.floats(0, 1e8), system=SYSTEMS, fabric=FABRICS, site=SITES)
def test_more_site_power_never_holds_fewer_gpus(budget, more, system, fabric, site):
    a = systems_for_site_power(SitePower(budget, "it"), system, Draw(0.76), fabric, site)
    b = systems_for_site_power(SitePower(budget + more, "it"), system, Draw(0.76), fabric, site)
    assert b >= a


# ---- the command line --------------------------------------------------------------------

DONE = ["cluster-power", "--gpu", "gb200", "--gpus", "100000", "--pue", "1.15", "--price-per-kwh", "0.08"]


def test_done_command_json(cli):
    run = cli(*DONE, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command"] == "cluster-power" and doc["inputs"]["system"] == "gb200-nvl72"
    results = doc["results"]
    for key in ("gpu_power_w", "host_power_w", "network_power_w", "it_power_w", "it_power_peak_w",
                "facility_power_w", "watts_per_gpu_all_in", "nodes", "racks", "switches", "transceivers",
                "energy_wh_per_year", "energy_cost_usd_per_year", "co2_kg_per_year", "water_l_per_year"):
        assert isinstance(results[key], (int, float)), key
    # 1,389 racks x 120 kW plus the network; the breakdown adds up.
    assert results["racks"] == 1389 and results["nodes"] == 1389 * 18
    parts = results["gpu_power_w"] + results["host_power_w"] + results["network_power_w"] + doc["inputs"]["storage_power_w"]
    assert results["it_power_w"] == pytest.approx(parts)
    assert results["facility_power_w"] == pytest.approx(1.15 * results["it_power_w"])
    assert results["energy_cost_usd_per_year"] == pytest.approx(results["energy_wh_per_year"] / 1000 * 0.08)
    assert not set(doc["inputs"]) & set(results)
    # The NVL72's NVLink switch trays are inside its rated 120 kW: said, and not added again.
    assert any("own scale-up switches; only gear outside it is added" in a for a in doc["assumptions"])


def test_done_command_table_shows_the_breakdown(cli):
    run = cli(*DONE)
    assert run.code == 0, run.err
    for row in ("gpu_power_w", "host_power_w", "switch_power_w", "transceiver_power_w", "network_power_w",
                "it_power_peak_w", "facility_power_w", "racks", "switches"):
        assert row in run.out
    assert "MW" in run.out and "assumption: PUE 1.15 (average, liquid) (given)" in run.out


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads)])
def test_machine_formats(cli, fmt, load):
    run = cli("cluster-power", "--system", "dgx-h100", "--gpus", "1Ki", "--format", fmt)
    assert run.code == 0, run.err
    # ib-ndr optics are 8.5 W per 400G port (NVIDIA twin-port OSFP datasheet: 17 W per 2 ports), catalog v2
    assert load(run.out)["results"]["it_power_peak_w"] == pytest.approx(1_414_272)


def test_csv_one_row(cli):
    run = cli("cluster-power", "--system", "dgx-h100", "--gpus", "1024", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 1 and float(rows[0]["switches"]) == 48


def test_explain_lists_the_working(cli):
    run = cli("cluster-power", "--system", "dgx-h100", "--gpus", "1024", "--explain", "--format", "json")
    steps = [s["quantity"] for s in run.json()["rows"][0]["explain"]]
    assert steps[0] == "systems" and "fabric_tiers" in steps and steps[-1] == "hours_total"
    assert steps.index("it_power_w") < steps.index("facility_power_w") < steps.index("water_l_per_year")


def test_sweep_over_gpu_counts(cli):
    run = cli("cluster-power", "--system", "dgx-h100", "--gpus", "1k,8k,64k", "--format", "json")
    rows = run.json()["rows"]
    assert [r["results"]["fabric_tiers"] for r in rows] == [2, 3, 3]


def test_power_cap_keeps_the_host_overhead(cli):
    # Meta provisions GB200 at 960 W: the rack's 33.6 kW besides its GPUs stays.
    doc = cli("cluster-power", "--system", "gb200-nvl72", "--gpu-power", "960W", "--network", "none",
              "--format", "json").json()
    assert doc["inputs"]["host_overhead_per_system_w"] == pytest.approx(33_600)
    assert doc["results"]["it_power_peak_w"] == pytest.approx(72 * 960 + 33_600)


def test_custom_build(cli):
    # 8 x 350 W + 2 kW = 4.8 kW per node; 40 kW default rack limit -> 8 nodes per rack.
    doc = cli("cluster-power", "--gpu", "h100-pcie", "--gpus", "64", "--gpus-per-node", "8",
              "--node-overhead", "2kW", "--network", "none", "--format", "json").json()
    assert doc["results"]["it_power_peak_w"] == pytest.approx(8 * 4800)
    assert doc["results"]["racks"] == 1


def test_fabric_without_switch_figures_uses_the_labelled_fallback(cli):
    # ib-hdr has no switch group: radix 40 (Quantum QM8700) from its fallback sheet, power from
    # Quantum-2's 1,720 W per 64 x 400 Gb/s = 6.72e-11 W per b/s: 40 x 200e9 x 6.72e-11 = 537.6 W.
    doc = cli("cluster-power", "--gpu", "a100-80gb", "--gpus", "1000", "--format", "json").json()
    assert doc["inputs"]["switch_radix"] == 40
    assert doc["inputs"]["power_per_switch_w"] == pytest.approx(537.6)
    assert any("fallback" in a and "ib-hdr" in a for a in doc["assumptions"])
    # A sheet's own figures win: ib-xdr (GB300) carries Quantum-X800's radix and power.
    gb300 = cli("cluster-power", "--gpu", "gb300", "--gpus", "1000", "--format", "json").json()
    assert gb300["inputs"]["switch_radix"] == 144 and not any("fallback" in a for a in gb300["assumptions"])


def test_fabric_with_no_figures_anywhere_asks_for_them(cli):
    # roce-100g has neither a switch radix nor a fallback radix: the flag is named.
    assert_usage_error(cli("cluster-power", "--gpu", "h100-sxm", "--gpus", "64", "--inter", "roce-100g"),
                       "--switch-radix", "roce-100g")
    assert_usage_error(cli("cluster-power", "--gpu", "h100-sxm", "--gpus", "64", "--inter", "roce-100g",
                           "--switch-radix", "64"), "--transceiver-power", "roce-100g")
    doc = cli("cluster-power", "--gpu", "h100-sxm", "--gpus", "64", "--inter", "roce-100g", "--switch-radix", "64",
              "--transceiver-power", "4W", "--format", "json").json()
    # 64 ports x 100 Gb/s x 6.72e-11 W per b/s = 430.08 W per switch (the per-bit fallback).
    assert doc["inputs"]["power_per_switch_w"] == pytest.approx(430.08)


def test_custom_node_without_tdp_asks_for_its_power(cli):
    assert_usage_error(cli("cluster-power", "--gpu", "tpu-v6e", "--gpus", "64", "--gpus-per-node", "4",
                           "--node-overhead", "1kW", "--network", "none"), "--gpu-power", "no TDP")


@pytest.mark.parametrize("args, fragments", [
    (["--gpus", "8"], ["--gpu"]),
    (["--gpu", "h100-sxm", "--gpus", "0"], ["--gpus"]),
    (["--gpu", "h100-sxm", "--load", "1.5"], ["--load"]),
    (["--gpu", "h100-sxm", "--pue", "0.9"], ["--pue"]),
    (["--gpu", "h100-sxm", "--network", "torus"], ["--network", "torus"]),
    (["--gpu", "h100-sxm", "--inter", "nvlink-4"], ["--inter", "scale-out"]),
    (["--gpu", "h100-sxm", "--switch-radix", "2"], ["--switch-radix"]),
    (["--gpu", "h100-sxm", "--rack-power-limit", "5kW"], ["--rack-power-limit", "10.2 kW"]),
    (["--gpu", "gb200", "--rack-power-limit", "100kW"], ["--rack-power-limit", "one rack"]),
    (["--gpu", "b200", "--system", "dgx-h100"], ["--gpu", "dgx-h100"]),
    (["--gpu", "h100-pcie"], ["--system", "h100-pcie"]),
    (["--gpu", "h100-sxm", "--gpus-per-node", "8"], ["--node-overhead"]),
    (["--system", "dgx-h100", "--gpus-per-node", "4", "--node-overhead", "1kW"], ["--gpus-per-node", "holds 8"]),
    (["--gpu", "h100-sxm", "--price-per-kwh", "-1"], ["--price-per-kwh"]),
    (["--gpu", "h100-sxm", "--gpu-power", "12XB"], ["--gpu-power", "12XB"]),
    (["--gpu", "h100-sxm", "--years", "0"], ["--years"]),
    (["--system", "dgx-h1000"], ["unknown system", "dgx-h100"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("cluster-power", *args), *fragments)


# ---- v2: defaults by site class, accounting, the inverse, bundled systems with no flags ---------

def test_site_power_done_command(cli):
    run = cli("cluster-power", "--system", "gb200-nvl72", "--site-power", "150MW", "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    results = doc["results"]
    assert results["gpus_installed"] == 72 * results["racks"] > 0
    assert results["facility_power_peak_w"] <= 150e6 and doc["inputs"]["gpus"] is None
    assert doc["inputs"]["site_power_w"] == 150e6 and doc["inputs"]["site_power_basis"] == "facility"
    # One rack more would not fit at the meter.
    more = cli("cluster-power", "--system", "gb200-nvl72", "--gpus", str(results["gpus_installed"] + 72),
               "--format", "json").json()
    assert more["results"]["facility_power_peak_w"] > 150e6
    assert any("sized for 150 MW" in a for a in doc["assumptions"])


def test_site_power_at_the_it_load_holds_more(cli):
    def gpus(*extra):
        return cli("cluster-power", "--system", "gb200-nvl72", "--site-power", "150MW", *extra,
                   "--format", "json").json()["results"]["gpus_installed"]

    assert gpus("--site-power-basis", "it") > gpus() and gpus("--power-cap", "0.8") > gpus()


@pytest.mark.parametrize("system", ["dgx-a100", "tpu-v5p-pod", "dgx-h100", "dgx-b200", "gb200-nvl72", "gb300-nvl72",
                                    "hgx-h200", "mi300x-platform"])
def test_every_bundled_system_computes_with_no_extra_flags(cli, system):
    run = cli("cluster-power", "--system", system, "--gpus", "1024", "--format", "json")
    assert run.code == 0, run.err
    assert run.json()["results"]["facility_power_w"] > 0


def test_tpu_pod_computes_and_says_its_rating_is_chips_only(cli):
    # tpu-v5p-pod: 8,960 chips x 320 W (the sheet's estimate) = 2.8672 MW, the pod's whole rating:
    # no host power is left, which the warning says; the estimate basis is named.
    doc = cli("cluster-power", "--system", "tpu-v5p-pod", "--format", "json").json()
    assert doc["inputs"]["power_per_gpu_w"] == 320 and doc["inputs"]["host_overhead_per_system_w"] == 0
    assert any("accelerators alone" in w for w in doc["warnings"])
    assert any("an estimate, not a vendor rating" in a for a in doc["assumptions"])


def test_accelerator_without_tdp_in_a_system_shares_the_rating(cli, tmp_path):
    # Fallback for a sheet with no TDP: the system rating shared out, labelled. A user system of
    # 4 tpu-v6e (no TDP in their sheet) rated 2 kW: 500 W each, no host.
    sheet = tmp_path / "pod.yaml"
    sheet.write_text(yaml.safe_dump({
        "id": "v6e-box", "kind": "system", "name": "test box", "vendor": "test", "accelerator": "tpu-v6e",
        "accelerators": 4, "nodes": 1, "composition_source": "a test box of four chips",
        "scale_up": {"interconnect": "ici-v6e", "domain": 4},
        "network": {"source": "a test network figure", "nics": 1, "nic_speed": "200 Gb/s", "interconnect": "roce-200g"},
        "power": {"source": "a test power rating", "max": "2 kW"}}))
    run = cli("cluster-power", "--system", "v6e-box", "--specs", str(sheet), "--network", "none", "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["inputs"]["power_per_gpu_w"] == 500
    assert any("fallback" in a for a in doc["assumptions"]) and any("placeholder" in w for w in doc["warnings"])


def test_site_class_and_cooling_pick_pue_and_wue(cli):
    def inputs(*args):
        return cli("cluster-power", *args, "--network", "none", "--format", "json").json()["inputs"]

    # Rack power picks the cooling: a 40.8 kW DGX H100 rack is air, a 120 kW NVL72 liquid.
    assert inputs("--system", "dgx-h100")["cooling"] == "air"
    assert inputs("--system", "gb200-nvl72")["cooling"] == "liquid"
    hyperscale = inputs("--system", "gb200-nvl72", "--site", "hyperscale")
    average_air = inputs("--system", "dgx-h100")
    assert hyperscale["pue"] < average_air["pue"] and hyperscale["wue_l_per_kwh"] < average_air["wue_l_per_kwh"]
    assert hyperscale["carbon_market_g_per_kwh"] == 0  # hyperscalers match with renewables
    assert inputs("--system", "dgx-h100", "--pue", "1.3", "--site", "hyperscale")["pue"] == 1.3  # given wins


def test_grid_presets(cli):
    def inputs(*args):
        return cli("cluster-power", "--system", "dgx-h100", "--network", "none", *args,
                   "--format", "json").json()

    virginia = inputs("--grid", "us-virginia")
    assert virginia["inputs"]["carbon_intensity_g_per_kwh"] == 322 and virginia["inputs"]["price_usd_per_kwh"] == 0.0892
    france = inputs("--grid", "france")
    assert france["inputs"]["carbon_intensity_g_per_kwh"] == 56
    assert any("no electricity price preset for france" in a for a in france["assumptions"])
    assert_usage_error(cli("cluster-power", "--system", "dgx-h100", "--grid", "atlantis"), "--grid", "us-virginia")


def test_bloom_model_card_arithmetic_under_tdp_accounting(cli):
    # Luccioni et al. 2023: 1,082,990 A100-hours x 400 W = 433,196 kWh; x 57 g/kWh = 24,692.17 kg.
    doc = cli("cluster-power", "--gpu", "a100-80gb", "--gpus", "384", "--gpu-hours", "1082990", "--accounting", "tdp",
              "--pue", "1", "--carbon-intensity", "57", "--format", "json").json()
    assert doc["results"]["energy_wh_total"] == pytest.approx(433_196_000)
    assert doc["results"]["co2_kg_total"] == pytest.approx(24_692.172)
    assert doc["inputs"]["load_fraction"] is None


@pytest.mark.parametrize("extra", [[], ["--accounting", "tdp"], ["--site", "hyperscale", "--grid", "us"],
                                   ["--network", "none", "--pue", "1.2"]])
def test_train_cost_and_cluster_power_agree_for_the_same_gpu_hours(cli, extra):
    # The same GPU-hours under the same accounting and site: the same energy and CO2 (one formula).
    train = cli("train-cost", "--params", "70B", "--tokens", "1.4T", "--gpu", "h100-sxm", "--gpus", "1024", *extra,
                "--format", "json").json()
    hours = train["results"]["gpu_hours"]
    power = cli("cluster-power", "--gpu", "h100-sxm", "--gpus", "1024", "--gpu-hours", repr(hours), *extra,
                "--format", "json").json()
    for train_key, power_key in (("energy_wh", "energy_wh_total"), ("co2_kg", "co2_kg_total"),
                                 ("co2_market_kg", "co2_market_kg_total")):
        assert train["results"][train_key] == pytest.approx(power["results"][power_key], rel=1e-9), train_key
    assert train["results"]["average_power_w"] == pytest.approx(power["results"]["facility_power_w"], rel=1e-9)


def test_inference_workload_uses_its_load_and_shows_no_swing(cli):
    doc = cli("cluster-power", "--system", "dgx-h100", "--workload", "inference", "--network", "none",
              "--format", "json").json()
    assert doc["inputs"]["load_fraction"] == 0.65 and doc["results"]["power_swing_w"] is None


def test_sweep_tables_show_peak_beside_average(cli):
    run = cli("cluster-power", "--system", "gb200-nvl72", "--site-power", "50MW,150MW")
    assert run.code == 0, run.err
    from aistack_cli.runner import REGISTRY

    columns = REGISTRY["cluster-power"].columns
    assert columns.index("facility_power_peak_w") == columns.index("facility_power_w") + 1
    assert "facility_power_w" in run.out and "peak_w" in run.out


@pytest.mark.parametrize("args, fragments", [
    (["--system", "dgx-h100", "--gpus", "64", "--site-power", "1MW"], ["--site-power", "--gpus"]),
    (["--system", "gb200-nvl72", "--site-power", "100kW"], ["--site-power", "holds no whole system"]),
    (["--system", "dgx-h100", "--accounting", "tdp", "--load", "0.5"], ["--load", "tdp"]),
    (["--system", "dgx-h100", "--years", "2", "--gpu-hours", "1M"], ["--gpu-hours", "--years"]),
    (["--system", "dgx-h100", "--site", "moon"], ["--site", "moon"]),
    (["--system", "dgx-h100", "--power-cap", "1.5"], ["--power-cap"]),
    (["--system", "dgx-h100", "--redundancy", "3n"], ["--redundancy"]),
])
def test_v2_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("cluster-power", *args), *fragments)


@pytest.mark.parametrize("args", [
    ["--system", "dgx-h100", "--gpus", "1024"],
    ["--system", "gb200-nvl72", "--site-power", "150MW", "--accounting", "tdp", "--site", "hyperscale"],
    ["--gpus-per-node", "8", "--gpu-power", "300W", "--node-overhead", "1.1kW", "--gpus", "64", "--gpu-hours", "1M"],
    ["--system", "dgx-h100", "--gpus", "64", "--power-cap", "0.8", "--workload", "inference", "--grid", "eu"],
])
def test_a_saved_output_reads_back_to_the_same_results(cli, tmp_path, args):
    first = cli("cluster-power", *args, "--format", "yaml")
    assert first.code == 0, first.err
    saved = tmp_path / "scenario.yaml"
    saved.write_text(first.out)
    again = cli("cluster-power", "--config", str(saved), "--format", "yaml")
    assert again.code == 0, again.err
    assert yaml.safe_load(again.out)["results"] == yaml.safe_load(first.out)["results"]
