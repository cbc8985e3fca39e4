"""tco: capital recovery and the cost of a GPU-hour by hand, agreement with cluster-power and fab-cost
(one formula in one place), the CLI, and the chain into train-cost and inference-throughput."""

import json

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from aistack_cli.calc.tco import (Facility, Finance, Gear, Hardware, break_even_utilization, capital_recovery_factor,
                                  price_from_cost, tco, usd_per_gpu_hour)
from conftest import assert_usage_error

H100 = ["tco", "--gpu", "h100-sxm", "--gpus", "1024"]


# ---- calc: by hand -------------------------------------------------------------------------

def test_capital_recovery_factor_by_hand():
    # 10% over 10 years: 0.1 · 1.1^10 / (1.1^10 − 1) = 0.1 · 2.59374 / 1.59374 = 0.162745 (annuity tables: 0.16275).
    assert capital_recovery_factor(0.10, 10) == pytest.approx(0.162745, abs=1e-6)
    # No interest: straight-line, 1/n.
    assert capital_recovery_factor(0.0, 4) == 0.25
    # One year at 11%: repay 1.11 at the end.
    assert capital_recovery_factor(0.11, 1) == pytest.approx(1.11)


def test_price_from_cost_and_the_rates_by_hand():
    assert price_from_cost(3000.0, 0.75) == pytest.approx(12000.0)  # 3,000 / (1 − 0.75)
    # $8,760,000 a year over 1,000 GPUs used half the time: 8.76e6 / (1000 · 8760 · 0.5) = $2 per GPU-hour.
    assert usd_per_gpu_hour(8.76e6, 1000, 0.5) == pytest.approx(2.0)
    assert break_even_utilization(8.76e6, 1000, 2.0) == pytest.approx(0.5)


def _small(mode="build", utilization=1.0, rent=2.0):
    gear = Gear(gpus_installed=8, switches=1, transceivers=10, it_power_peak_w=10_000.0, facility_power_w=12_000.0,
                energy_price_usd_per_kwh=0.10)
    hardware = Hardware(gpu_price_usd=20_000.0, host_ratio=0.5, switch_price_usd=30_000.0, transceiver_price_usd=500.0)
    finance = Finance(gpu_life_years=4.0, facility_life_years=20.0, cost_of_capital=0.0, maintenance_fraction=0.05,
                      operations_fraction=0.02)
    facility = Facility(mode, construction_usd_per_w=10.0, colocation_usd_per_kw_month=200.0)
    return tco(gear, hardware, finance, facility, utilization, rent)


def test_tco_by_hand():
    # Capex: GPUs 8 · 20,000 = 160,000; host 0.5 of it = 80,000; network 30,000 + 10 · 500 = 35,000;
    # building 10 kW · $10/W = 100,000. Total 375,000; per GPU 46,875; per W 37.5.
    r = _small()
    assert (r.gpu_capex_usd, r.host_capex_usd, r.network_capex_usd, r.facility_capex_usd) == (160e3, 80e3, 35e3, 100e3)
    assert r.capex_usd == 375e3 and r.capex_usd_per_gpu == 46_875 and r.capex_usd_per_w == 37.5
    # Yearly at r = 0: hardware 275,000 / 4 = 68,750 (GPU 40,000, host 20,000, network 8,750); building
    # 100,000 / 20 = 5,000; operations 2% of it = 2,000; maintenance 5% of 275,000 = 13,750; energy
    # 12 kW · 8,760 h · $0.10 = 10,512. Total 100,012.
    assert r.gpu_cost_usd_per_year == 40_000 and r.network_cost_usd_per_year == 8_750
    assert r.facility_cost_usd_per_year == 5_000 and r.operations_cost_usd_per_year == 2_000
    assert r.maintenance_cost_usd_per_year == pytest.approx(13_750)
    assert r.energy_cost_usd_per_year == pytest.approx(10_512)
    assert r.cost_usd_per_year == pytest.approx(100_012)
    # Per GPU-hour: 100,012 / (8 · 8,760) = $1.4271; against $2 rent, owning pays above 71.4% use.
    assert r.usd_per_gpu_hour == pytest.approx(100_012 / 70_080)
    assert r.break_even_utilization == pytest.approx(100_012 / 70_080 / 2.0)


def test_colocation_replaces_the_building_with_rent():
    # 10 kW of critical IT at $200/kW-month = $24,000 a year; no building capex, no building operations.
    r = _small("colo")
    assert r.facility_capex_usd == 0 and r.facility_capex_usd_per_w is None
    assert r.facility_cost_usd_per_year == pytest.approx(24_000) and r.operations_cost_usd_per_year == 0


def test_renting_cheaper_even_at_full_use_is_a_warning():
    r = _small(rent=1.0)
    assert r.break_even_utilization > 1 and any("renting" in w for w in r.warnings)


@settings(max_examples=80, deadline=None)
@given(rate=st.floats(0.0, 0.5), years=st.floats(0.5, 40), more=st.floats(0.0, 20), extra_rate=st.floats(0.0, 0.3))
def test_capital_recovery_is_monotone(rate, years, more, extra_rate):
    # Paying off over longer never costs more a year; a dearer capital never costs less; never below 1/n.
    crf = capital_recovery_factor(rate, years)
    assert capital_recovery_factor(rate, years + more) <= crf * (1 + 1e-12)
    assert capital_recovery_factor(rate + extra_rate, years) >= crf * (1 - 1e-12)
    assert crf >= 1 / years * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.01, 1.0), v=st.floats(0.01, 1.0))
def test_a_busier_cluster_never_costs_more_per_used_hour(u, v):
    low, high = sorted((u, v))
    assert _small(utilization=high).usd_per_gpu_hour <= _small(utilization=low).usd_per_gpu_hour * (1 + 1e-12)


# ---- one formula in one place ----------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--pue", "1.2", "--price-per-kwh", "0.12", "--load", "0.6"],
                                   ["--site", "hyperscale", "--network", "fat-tree"]])
def test_power_network_and_energy_are_cluster_powers(cli, extra):
    own = cli(*H100, *extra, "--format", "json").json()
    power = cli("cluster-power", "--gpu", "h100-sxm", "--gpus", "1024", *extra, "--format", "json").json()
    for key in ("gpus_installed", "switches", "it_power_peak_w", "facility_power_w", "energy_cost_usd_per_year"):
        assert own["results"][key] == pytest.approx(power["results"][key], rel=1e-12), key
    assert own["inputs"]["pue"] == power["inputs"]["pue"]


def test_bom_price_is_the_fab_chains_unit_cost_over_the_margin(cli):
    fab = cli("fab-cost", "--package", "b200", "--format", "json").json()["results"]
    own = cli("tco", "--gpu", "b200", "--gpus", "8", "--gpu-price", "bom", "--vendor-margin", "0.6",
              "--format", "json").json()
    assert own["results"]["unit_cost_usd_per_gpu"] == pytest.approx(fab["unit_cost_usd"])
    assert own["results"]["package_cost_usd"] == pytest.approx(fab["package_cost_usd"])
    assert own["inputs"]["gpu_price_usd"] == pytest.approx(fab["unit_cost_usd"] / 0.4)
    assert own["results"]["implied_margin_fraction"] == pytest.approx(0.6)
    assert own["inputs"]["gpu_price_basis"] == "bom"


# ---- the CLI ---------------------------------------------------------------------------------

def test_done_example_json(cli):
    run = cli(*H100, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    res, inp = doc["results"], doc["inputs"]
    for key in ("gpu_capex_usd", "host_capex_usd", "network_capex_usd", "facility_capex_usd", "capex_usd",
                "gpu_cost_usd_per_year", "host_cost_usd_per_year", "network_cost_usd_per_year",
                "facility_cost_usd_per_year", "energy_cost_usd_per_year", "maintenance_cost_usd_per_year",
                "cost_usd_per_year", "usd_per_gpu_hour", "break_even_utilization"):
        assert isinstance(res[key], (int, float)), key
    capex = sum(res[k] for k in ("gpu_capex_usd", "host_capex_usd", "network_capex_usd", "facility_capex_usd"))
    assert res["capex_usd"] == pytest.approx(capex)
    assert inp["gpu_price_usd"] == 25000 and inp["gpu_price_basis"] == "list"  # the sheet's purchase price
    assert res["gpu_capex_usd"] == 1024 * 25000
    # The break-even is where the owned GPU-hour costs the sheet's rental price.
    assert res["break_even_utilization"] == pytest.approx(res["usd_per_gpu_hour"] / inp["price_usd_per_gpu_hour"])
    assert res["wafer_cost_usd"] == 16000 and res["package_cost_usd"] > 0  # the fab chain rides along
    assert any("Cushman" in a or "critical IT" in a for a in doc["assumptions"])


def test_utilization_divides_the_same_year(cli):
    full = cli(*H100, "--format", "json").json()["results"]
    half = cli(*H100, "--utilization", "0.5", "--format", "json").json()["results"]
    assert half["usd_per_gpu_hour"] == pytest.approx(2 * full["usd_per_gpu_hour"])
    assert half["cost_usd_per_year"] == pytest.approx(full["cost_usd_per_year"])


def test_given_price_and_colocation(cli):
    doc = cli(*H100, "--gpu-price", "30000", "--facility", "colo", "--colocation-price", "150", "--format",
              "json").json()
    res = doc["results"]
    assert doc["inputs"]["gpu_price_basis"] == "given" and res["gpu_capex_usd"] == 1024 * 30000
    assert res["facility_capex_usd"] == 0
    assert res["facility_cost_usd_per_year"] == pytest.approx(res["it_power_peak_w"] / 1000 * 150 * 12)


def test_sweep_and_table(cli):
    doc = cli(*H100, "--utilization", "0.5,1", "--format", "json").json()
    assert [r["inputs"]["utilization"] for r in doc["rows"]] == [0.5, 1]
    table = cli(*H100).out
    assert "usd_per_gpu_hour" in table and "break_even_utilization" in table and "$/W" not in table


def test_explain_shows_the_capital_recovery(cli):
    out = cli(*H100, "--explain").out
    assert "r·(1 + r)^n / ((1 + r)^n − 1)" in out and "unit_cost_usd_per_gpu" in out


@pytest.mark.parametrize("args, fragments", [
    (["--gpu", "h200", "--gpus", "8"], ["--gpu-price", "purchase price"]),
    (["--gpu", "h100-sxm", "--gpu-price", "cheap"], ["--gpu-price"]),
    (["--gpu", "h100-sxm", "--vendor-margin", "0.5"], ["--vendor-margin", "bom"]),
    (["--gpu", "gb200", "--gpu-price", "bom"], ["--gpu-price", "bill of materials"]),
    (["--gpu", "h100-sxm", "--facility", "colo", "--construction-cost", "10"], ["--construction-cost", "colo"]),
    (["--gpu", "h100-sxm", "--colocation-price", "150"], ["--colocation-price", "build"]),
    (["--gpu", "h100-sxm", "--utilization", "0"], ["--utilization"]),
    (["--gpu", "h100-sxm", "--cost-of-capital", "2"], ["--cost-of-capital"]),
    (["--gpus", "8"], ["--gpu"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("tco", *args), *fragments)


# ---- the chain: train-cost and inference-throughput ------------------------------------------

TRAIN = ["train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024"]
CHAIN = ("wafer_cost_usd", "package_cost_usd", "unit_cost_usd_per_gpu", "implied_margin_fraction",
         "capex_usd_per_gpu", "usd_per_gpu_hour")


def test_train_cost_own_prices_the_run_from_the_chain(cli):
    doc = cli(*TRAIN, "--cost-basis", "own", "--format", "json").json()
    res, inp = doc["results"], doc["inputs"]
    own = cli(*H100, "--format", "json").json()["results"]
    assert inp["cost_basis"] == "own" and inp["price_usd_per_gpu_hour"] is None
    assert all(res[k] is not None for k in CHAIN)
    assert res["usd_per_gpu_hour"] == pytest.approx(own["usd_per_gpu_hour"])  # the same cluster, the same site
    assert res["cost_usd"] == pytest.approx(res["gpu_hours"] * res["usd_per_gpu_hour"])
    explained = cli(*TRAIN, "--cost-basis", "own", "--explain").out
    assert "unit_cost_usd_per_gpu" in explained and "capex" in explained


def test_rented_runs_carry_empty_links(cli):
    doc = cli(*TRAIN, "--format", "json").json()
    assert doc["inputs"]["cost_basis"] == "rent" and all(doc["results"][k] is None for k in CHAIN)
    assert_usage_error(cli(*TRAIN, "--cost-basis", "own", "--price-per-gpu-hour", "2"), "--price-per-gpu-hour")


def test_tco_options_reach_train_cost_through_config(cli, tmp_path):
    scenario = tmp_path / "own.yaml"
    scenario.write_text(yaml.safe_dump({"cost_basis": "own", "gpu_life": 4, "cost_of_capital": 0.08,
                                        "facility": "colo"}))
    doc = cli(*TRAIN, "--config", str(scenario), "--format", "json").json()
    assert doc["inputs"]["gpu_life_years"] == 4 and doc["inputs"]["facility"] == "colo"
    own = cli(*H100, "--gpu-life", "4", "--cost-of-capital", "0.08", "--facility", "colo", "--format", "json").json()
    assert doc["results"]["usd_per_gpu_hour"] == pytest.approx(own["results"]["usd_per_gpu_hour"])
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(doc))
    again = cli("train-cost", "--config", str(saved), "--format", "json").json()
    assert again["results"]["cost_usd"] == pytest.approx(doc["results"]["cost_usd"])


def test_inference_own_prices_tokens_from_the_chain(cli):
    args = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "8",
            "--concurrency", "64", "--format", "json"]
    own = cli(*args, "--cost-basis", "own").json()["results"]
    assert all(own[k] is not None for k in CHAIN)
    # The serving model prices tokens with the owned GPU-hour exactly as with a rented one at that price.
    rented = cli(*args, "--price-per-gpu-hour", repr(own["usd_per_gpu_hour"])).json()["results"]
    for key in ("cost_usd_per_hour", "cost_per_million_output_tokens_usd", "cost_per_million_input_tokens_usd"):
        assert own[key] == pytest.approx(rented[key], rel=1e-12), key
    assert own["cost_usd_per_hour"] == pytest.approx(own["total_gpus"] * own["usd_per_gpu_hour"])
