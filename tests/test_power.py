"""cluster-power: hand-checked numbers, published figures, invariants and the CLI contract."""

import csv
import io
import math
import tomllib

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from aistack_cli.calc.power import (
    Fabric, Site, SystemSpec, cluster_power, fabric_tiers, optical_ends, rack_layout, switch_count,
)
from conftest import ROOT, assert_usage_error

# DGX H100: 8 x 700 W GPUs, rated 10.2 kW -> host overhead 10,200 - 5,600 = 4,600 W; 8 NICs; 4 per rack.
DGX_H100 = SystemSpec(gpus_per_system=8, nodes_per_system=1, gpu_power_w=700.0, host_overhead_w=4600.0,
                      nics_per_system=8, systems_per_rack=4)
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
    assert "MW" in run.out and "assumption: --pue 1.15 (given)" in run.out


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
    assert steps[0] == "systems" and "fabric_tiers" in steps and steps[-1] == "water_l_per_year"


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


def test_sheet_without_switch_figures_asks_for_them(cli):
    assert_usage_error(cli("cluster-power", "--gpu", "a100-80gb", "--gpus", "1000"), "--switch-radix", "ib-hdr")
    run = cli("cluster-power", "--gpu", "gb300", "--gpus", "1000", "--switch-radix", "144", "--switch-power", "2kW",
              "--format", "json")
    assert run.code == 0 and run.json()["results"]["fabric_tiers"] == 2


def test_accelerator_without_tdp_asks_for_its_power(cli):
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
    (["--system", "dgx-h100", "--gpus-per-node", "8", "--node-overhead", "1kW"], ["--gpus-per-node"]),
    (["--gpu", "h100-sxm", "--price-per-kwh", "-1"], ["--price-per-kwh"]),
    (["--gpu", "h100-sxm", "--gpu-power", "12XB"], ["--gpu-power", "12XB"]),
    (["--gpu", "h100-sxm", "--years", "0"], ["--years"]),
    (["--system", "dgx-h1000"], ["unknown system", "dgx-h100"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("cluster-power", *args), *fragments)
