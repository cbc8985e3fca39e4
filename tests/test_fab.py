"""fab-cost: die counts checked by hand and by brute force, yield models, costs, the CLI, and
published figures (benchmarks/references/fab-cost.yaml) through the real entry point."""

import csv
import io
import json
import math
import tomllib

import pytest
import yaml
from hypothesis import assume, given, settings, strategies as st

from aistack_cli.calc.fab import (YIELD_MODELS, Die, Package, Wafer, YieldSpec, die_yield, fab_cost,
                                  gross_dies, gross_dies_approx)
from aistack_cli.commands.fab_cost import parse_die_size
from conftest import ROOT, assert_usage_error

H100 = ["fab-cost", "--node", "n4", "--die-area", "814", "--defect-density", "0.1"]
H100_PACKAGE = H100 + ["--hbm-stacks", "5", "--hbm-stack-cost", "280", "--interposer-cost", "750",
                       "--assembly-cost", "920"]


def brute_count(diameter, w, h, dx, dy):
    """O(dies) reference: whole w×h cells of the grid offset by (dx, dy) inside the circle."""
    r = diameter / 2
    cols = range(math.floor((-r - dx) / w) - 1, math.ceil((r - dx) / w) + 1)
    rows = range(math.floor((-r - dy) / h) - 1, math.ceil((r - dy) / h) + 1)
    inside = 0
    for i in cols:
        for j in rows:
            x0, y0 = dx + i * w, dy + j * h
            corners = ((x0, y0), (x0 + w, y0), (x0, y0 + h), (x0 + w, y0 + h))
            inside += all(x * x + y * y <= r * r + 1e-9 for x, y in corners)
    return inside


# ---- geometry: hand-checked cases -------------------------------------------------------

def test_one_5mm_square_in_a_10mm_circle():
    # Two adjacent 5×5 cells make a 5×10 block whose diagonal √125 = 11.2 mm exceeds the
    # 10 mm diameter, so at most one fits; a centred one has corners at 3.54 mm. Answer: 1.
    assert gross_dies(10.0, 5.0, 5.0)[0] == 1


def test_four_5mm_squares_touch_a_circle_of_diameter_10_root_2():
    # A centred 2×2 block has its outer corners at √(5² + 5²) = 7.07 mm = the radius: it fits,
    # exactly. Five cells need a bounding box of at least 15 × 5 mm (diagonal 15.8 > 14.14). Answer: 4.
    assert gross_dies(10 * math.sqrt(2), 5.0, 5.0)[0] == 4


def test_three_8x2_dies_in_a_10mm_circle():
    # Rows 2 mm high with the offset at 1 mm: band [-1, 1] has half-chord √(25 − 1) = 4.90, room
    # for one 8 mm die; bands [1, 3] and [-3, -1] have half-chord √(25 − 9) = 4: exactly one die
    # each, left edge at −4, which the middle row also allows. A fourth row would reach 5 mm,
    # where the chord is 0. Answer: 3, in either orientation.
    assert gross_dies(10.0, 8.0, 2.0)[0] == 3
    assert gross_dies(10.0, 2.0, 8.0)[0] == 3


def test_approximation_by_hand():
    # H&P 5th ed. case study 1.2a: π·15²/1.5 − π·30/√3 = 471.24 − 54.41 = 416.82 (cm units).
    assert gross_dies_approx(300.0, 150.0) == pytest.approx(416.82, abs=0.01)
    # Sandy Bridge, 216 mm²: 327.25 − 45.34 = 281.90; H&P print 282.
    assert gross_dies_approx(300.0, 216.0) == pytest.approx(281.90, abs=0.01)
    # A die as big as the wafer: the edge term overshoots, reported as 0, not negative.
    assert gross_dies_approx(300.0, 60_000.0) == 0.0


@pytest.mark.parametrize("area_mm2", [10, 25, 50, 100, 200, 400, 600, 814, 858])
def test_exact_count_against_the_approximation(area_mm2):
    # The formula discounts the edge by a smooth estimate, so it undercounts whole dies; the
    # gap is small for small dies and grows towards the reticle size (about 12% at 814 mm²).
    side = math.sqrt(area_mm2) + 0.1
    exact = gross_dies(294.0, side, side)[0]
    approx = gross_dies_approx(294.0, side * side)
    assert exact >= approx - 1
    assert (exact - approx) / exact <= (0.03 if area_mm2 <= 100 else 0.15)


@settings(max_examples=60, deadline=None)
@given(w=st.floats(8, 45), h=st.floats(8, 45), fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_no_grid_offset_beats_a_proven_count(w, h, fx, fy):
    # When the search completes, a brute-force count at any offset can never exceed it.
    best, _, proven = gross_dies(294.0, w, h)
    assume(proven)
    assert brute_count(294.0, w, h, fx * w, fy * h) <= best


@pytest.mark.parametrize("w, h", [(28.63, 28.63), (26.1, 33.1), (20.8, 10.6), (25.5, 32.0), (33.0, 26.0)])
def test_large_dies_get_a_completed_search(w, h):
    assert gross_dies(294.0, w, h)[2]


@pytest.mark.parametrize("w, h", [(28.63, 28.63), (20.8, 10.6), (26.1, 33.1), (12.0, 7.0)])
def test_the_reported_count_is_reached_at_some_offset(w, h):
    # ...and the count is real: a fine brute-force grid of offsets finds a layout that holds it.
    best = gross_dies(294.0, w, h)[0]
    found = max(brute_count(294.0, w, h, w * i / 24, h * j / 24) for i in range(24) for j in range(24))
    assert found == best


def test_orientation_does_not_matter():
    assert gross_dies(294.0, 26.1, 33.1)[0] == gross_dies(294.0, 33.1, 26.1)[0]


# ---- yield models -----------------------------------------------------------------------

def test_yield_models_by_hand():
    # A·D0 = 8.14 cm² · 0.1 = 0.814. Poisson e^−0.814 = 0.44308; Murphy ((1 − 0.44308)/0.814)²
    # = 0.68417² = 0.46809; Seeds 1/1.814 = 0.55127; negative binomial α=2: 1.407^−2 = 0.50514.
    assert die_yield("poisson", 8.14, 0.1) == pytest.approx(0.44308, abs=1e-5)
    assert die_yield("murphy", 8.14, 0.1) == pytest.approx(0.46809, abs=1e-5)
    assert die_yield("seeds", 8.14, 0.1) == pytest.approx(0.55127, abs=1e-5)
    assert die_yield("negative-binomial", 8.14, 0.1, 2.0) == pytest.approx(0.50514, abs=1e-5)


@pytest.mark.parametrize("model", YIELD_MODELS)
def test_every_model_is_one_without_defects_and_falls_with_area(model):
    assert die_yield(model, 8.14, 0.0) == 1.0
    assert die_yield(model, 0.0, 0.1) == 1.0
    areas = [0.01, 0.1, 0.5, 1, 2, 4, 8.58, 20, 100]
    yields = [die_yield(model, a, 0.1, 2.0) for a in areas]
    assert all(a > b for a, b in zip(yields, yields[1:]))
    assert all(0 < y < 1 for y in yields)


def test_model_order_and_limits():
    # For the same A·D0 > 0: Poisson < Murphy < Seeds; negative binomial is Seeds at α = 1 and
    # tends to Poisson as α grows.
    for x in (0.05, 0.5, 2.0, 10.0):
        assert die_yield("poisson", x, 1) < die_yield("murphy", x, 1) < die_yield("seeds", x, 1)
        assert die_yield("negative-binomial", x, 1, 1.0) == pytest.approx(die_yield("seeds", x, 1))
        assert die_yield("negative-binomial", x, 1, 1e7) == pytest.approx(die_yield("poisson", x, 1), rel=1e-5)


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(YIELD_MODELS), area=st.floats(0.0, 700.0), d0=st.floats(0.0, 50.0),
       extra=st.floats(0.0, 50.0), alpha=st.floats(0.1, 50.0))
def test_higher_defect_density_never_raises_yield(model, area, d0, extra, alpha):
    low, high = die_yield(model, area, d0, alpha), die_yield(model, area, d0 + extra, alpha)
    assert high <= low
    assert 0.0 <= high <= 1.0 and math.isfinite(high)


@settings(max_examples=100, deadline=None)
@given(model=st.sampled_from(YIELD_MODELS), area=st.floats(0.0, 700.0), grow=st.floats(0.0, 100.0),
       d0=st.floats(0.0, 50.0))
def test_a_larger_die_never_yields_better(model, area, grow, d0):
    assert die_yield(model, area + grow, d0) <= die_yield(model, area, d0)


# ---- costs ------------------------------------------------------------------------------

def _h100(**package):
    wafer = Wafer(300.0, 3.0, 16_988.0)
    side = math.sqrt(814)
    return fab_cost(wafer, Die(side, side, 0.1, shape_given=False), YieldSpec("murphy", 0.1),
                    Package(**package) if package else None, units=1_000_000)


def test_h100_cost_per_good_die_by_hand():
    # 68 whole 28.63 mm cells in the 294 mm circle; Murphy yield 0.46809 → 31.83 good dies;
    # $16,988 / 68 = $249.82 per die, $16,988 / 31.83 = $533.70 per good die.
    r = _h100()
    assert r.gross_dies_per_wafer == 68
    assert r.good_dies_per_wafer == pytest.approx(68 * 0.46809, rel=1e-4)
    assert r.cost_per_gross_die_usd == pytest.approx(249.82, abs=0.01)
    assert r.cost_per_good_die_usd == pytest.approx(533.70, abs=0.05)
    # 1,000,000 dies / 31.83 per wafer = 31,416.6 → 31,417 wafers, $533.7M of wafers.
    assert r.wafers_needed == 31_417
    assert r.run_wafer_cost_usd == pytest.approx(31_417 * 16_988)


def test_package_cost_by_hand():
    # (1 · 533.70 + 5 · 280 + 750 + 920) / 0.9 = 3,603.70 / 0.9 = 4,004.11.
    r = _h100(hbm_stacks=5, hbm_stack_cost_usd=280, interposer_cost_usd=750, assembly_cost_usd=920,
              packaging_yield=0.9)
    assert r.package_hbm_cost_usd == 1400
    assert r.package_cost_usd == pytest.approx(3603.70 / 0.9, abs=0.1)
    # The run needs 1,000,000 / 0.9 good dies: ceil(1,111,111 / 31.83) = 34,907 wafers.
    assert r.wafers_needed == math.ceil(1e6 / 0.9 / r.good_dies_per_wafer)


def test_two_chiplets_double_the_die_cost():
    one = _h100(dies_per_package=1)
    two = _h100(dies_per_package=2)
    assert two.package_dies_cost_usd == pytest.approx(2 * one.package_dies_cost_usd)
    assert two.wafers_needed == math.ceil(2e6 / two.good_dies_per_wafer)


def test_reticle_warnings():
    spec, wafer = YieldSpec("murphy", 0.1), Wafer(300.0, 3.0, None)
    def warned(die):
        return any("reticle" in w for w in fab_cost(wafer, die, spec).warnings)
    assert not warned(Die(26.0, 33.0, 0.1))
    assert not warned(Die(33.0, 26.0, 0.1))
    assert warned(Die(27.0, 33.0, 0.1))
    assert warned(Die(30.0, 30.0, 0.1))  # 900 mm²
    assert not warned(Die(28.53, 28.53, 0.1, shape_given=False))  # 814 mm², real shape unknown
    assert warned(Die(28.53, 28.53, 0.1, shape_given=True))  # a given square 28.5 mm wide does not fit


def test_impossible_yield_gives_no_infinite_cost():
    r = fab_cost(Wafer(300.0, 3.0, 1e6), Die(29.0, 29.0, 0.1), YieldSpec("poisson", 1e4), None, units=10)
    assert r.die_yield == 0.0 and r.cost_per_good_die_usd is None and r.wafers_needed is None
    assert any("no die" in w for w in r.warnings)


# ---- CLI --------------------------------------------------------------------------------

def test_done_example_json(cli):
    run = cli(*H100, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command"] == "fab-cost" and doc["inputs"]["node"] == "n4"
    assert doc["inputs"]["wafer_cost_usd"] == 16000 and doc["inputs"]["die_shape"] == "assumed square"
    res = doc["results"]
    assert res["gross_dies_per_wafer"] == 68 and round(res["gross_dies_per_wafer_approx"]) == 60
    assert res["die_yield"] == pytest.approx(0.46809, abs=1e-5)
    assert res["cost_per_good_die_usd"] == pytest.approx(502.66, abs=0.05)  # $16,000 / (68 x 0.46809)
    assert res["package_cost_usd"] is None and res["wafers_needed"] is None  # not asked for: null
    assert any("assumed square" in a for a in doc["assumptions"])
    assert not set(doc["inputs"]) & set(res)


def test_done_example_table_reads_well(cli):
    run = cli(*H100)
    assert run.code == 0, run.err
    for text in ("gross_dies_per_wafer", "68", "46.8%", "$502.66", "294 mm", "0.1 /cm²", "assumption: die assumed square"):
        assert text in run.out, text


def test_packaged_example(cli):
    run = cli(*H100_PACKAGE, "--units", "100k", "--format", "json")
    res = run.json()["results"]
    assert res["package_cost_usd"] == pytest.approx(3572.66, abs=0.1)  # die $502.66 + the same parts as before
    assert res["package_hbm_cost_usd"] == 1400
    assert res["wafers_needed"] == math.ceil(100_000 / res["good_dies_per_wafer"])
    table = cli(*H100_PACKAGE).out
    assert "$3,573" in table and "packaging yield 100%" in table


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads), ("json", json.loads)])
def test_machine_formats_parse(cli, fmt, load):
    run = cli(*H100_PACKAGE, "--format", fmt)
    assert run.code == 0, run.err
    assert load(run.out)["results"]["gross_dies_per_wafer"] == 68


def test_csv(cli):
    rows = list(csv.DictReader(io.StringIO(cli(*H100, "--format", "csv").out)))
    assert len(rows) == 1 and rows[0]["gross_dies_per_wafer"] == "68" and rows[0]["node"] == "n4"


def test_die_size_accepts_x_and_times_sign(cli):
    assert parse_die_size("26x33") == parse_die_size("26×33") == parse_die_size("26 mm X 33mm") == (26.0, 33.0)
    a = cli("fab-cost", "--node", "n4", "--die-size", "26x33", "--format", "json").json()
    b = cli("fab-cost", "--node", "n4", "--die-size", "26×33", "--format", "json").json()
    assert a["results"] == b["results"] and a["inputs"]["die_shape"] == "given"
    assert not a["warnings"]


def test_over_reticle_warns_in_output(cli):
    doc = cli("fab-cost", "--node", "n4", "--die-size", "30x30", "--format", "json").json()
    assert any("858 mm² reticle limit" in w for w in doc["warnings"])


def test_sweep_over_die_sizes(cli):
    doc = cli("fab-cost", "--node", "n4", "--die-area", "100,400,814", "--format", "json").json()
    gross = [row["results"]["gross_dies_per_wafer"] for row in doc["rows"]]
    assert gross == sorted(gross, reverse=True) and doc["swept"][0] == "die_area_mm2"


def test_explain_shows_the_working(cli):
    out = cli(*H100, "--explain").out
    assert "π·(d/2)²/A − π·d/√(2·A)" in out and "((1 − e^(−8.14·0.1)) / (8.14·0.1))²" in out


def test_other_nodes_compile_in(cli):
    doc = cli("fab-cost", "--node", "n3", "--die-area", "100", "--format", "json").json()
    assert doc["inputs"]["node"] == "n3" and doc["results"]["cost_per_good_die_usd"] > 0


@pytest.mark.parametrize("args, fragments", [
    (["--die-size", "26by33"], ["--die-size", "26by33"]),
    (["--die-size", "26x"], ["--die-size"]),
    ([], ["--die-area/--die-size"]),
    (["--die-area", "814", "--die-size", "26x33"], ["give exactly one"]),
    (["--die-area", "814", "--yield-model", "gauss"], ["--yield-model", "gauss"]),
    (["--die-area", "814", "--edge-exclusion", "150mm"], ["--edge-exclusion"]),
    (["--die-size", "300x300"], ["does not fit"]),
    (["--die-area", "0.001"], ["--die-area", "[0.01, 100,000]"]),
    (["--die-area", "814", "--wafer-diameter", "5000"], ["--wafer-diameter"]),
    (["--die-area", "814", "--hbm-stacks", "5"], ["--hbm-stack-cost"]),
    (["--die-area", "814", "--hbm-stack-cost", "280"], ["--hbm-stacks"]),
    (["--die-area", "814", "--packaging-yield", "1.5"], ["--packaging-yield"]),
    (["--die-area", "814", "--die-yield", "0"], ["--die-yield"]),
    (["--die-area", "814", "--defect-density", "-1"], ["--defect-density"]),
    (["--die-area", "814", "--units", "0"], ["--units"]),
    (["--die-area", "814", "--clustering", "0"], ["--clustering"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("fab-cost", "--node", "n4", *args), *fragments)


def test_unknown_node_and_missing_defect_density(cli):
    assert_usage_error(cli("fab-cost", "--node", "n99", "--die-area", "100"), "unknown process-node")
    assert_usage_error(cli("fab-cost", "--die-area", "100"), "--defect-density")


def test_without_a_node_costs_are_absent_not_invented(cli):
    doc = cli("fab-cost", "--die-area", "100", "--defect-density", "0.1", "--format", "json").json()
    assert doc["results"]["cost_per_good_die_usd"] is None
    assert doc["results"]["gross_dies_per_wafer"] > 0
