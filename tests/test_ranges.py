"""--ranges and --sensitivity: the cited defaults' published P10-P90 carried through to the results.

Hand derivations use the bundled default sheets: mfu-training 0.40 (P10 0.30, P90 0.50),
load-fraction 0.76 (0.60-0.85), pue 1.58 (1.10-1.80); carbon-intensity has no published spread.
"""

import json
import math
import statistics

import pytest

from conftest import ROOT, assert_usage_error

from aistack_cli import catalog
from aistack_cli.runner import ranges

DONE = ("train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024")
SHEETS = catalog.load(None)


def sheet(default_id):
    return SHEETS.raw("default", default_id)


# ---- the distribution ----------------------------------------------------------------------

def test_spread_puts_p10_and_p90_exactly_where_the_sheet_says():
    for default_id in SHEETS.ids("default"):
        s = ranges.spread(sheet(default_id))
        raw = sheet(default_id)
        if raw["p10"] is None:
            assert s is None, default_id  # no published spread: held at its value
            continue
        assert s.at(0.0) == pytest.approx(raw["value"], rel=1e-12), default_id  # the median is the value
        if raw["p10"] < raw["p90"]:
            assert s.at(-ranges.Z90) == pytest.approx(raw["p10"], rel=1e-9), default_id
            assert s.at(ranges.Z90) == pytest.approx(raw["p90"], rel=1e-9), default_id


def test_pue_spread_is_a_two_piece_log_normal():
    # The average-site PUE sheet: 1.56, P10 1.30, P90 1.63. Below the median s = ln(1.56 / 1.30) / 1.28155
    # = 0.18232 / 1.28155 = 0.14227, so z = -1 gives 1.56 · exp(-0.14227) = 1.3531. Above: s = ln(1.63 / 1.56)
    # / 1.28155 = 0.04390 / 1.28155 = 0.03425; z = +1 gives 1.56 · exp(0.03425) = 1.6144.
    s = ranges.spread(sheet("pue-average-air"))
    assert s.below == pytest.approx(math.log(1.56 / 1.30) / 1.2815516, rel=1e-6)
    assert s.at(-1.0) == pytest.approx(1.3531, rel=1e-4)
    assert s.at(1.0) == pytest.approx(1.6144, rel=1e-4)
    assert s.at(-40.0) == 1.0  # a PUE is never below 1 (facility power includes the IT power)


def test_fractions_never_exceed_one():
    s = ranges.spread({"id": "x", "value": 0.9, "p10": 0.8, "p90": 0.98, "unit": "fraction"})
    assert s.at(8.0) == 1.0 and 0 < s.at(-8.0) < 0.8


def test_draws_reproduce_the_sheet_percentiles():
    # 10,000 stratified draws of mfu-training: their 10th/50th/90th percentiles are the sheet's
    # P10/value/P90 to within the stratum width.
    s = ranges.spread(sheet("mfu-training"))
    values = sorted(d["mfu-training"] for d in ranges.draws([s], 10_000, seed=3))
    assert ranges.percentile(values, 0.1) == pytest.approx(0.30, rel=2e-3)
    assert ranges.percentile(values, 0.5) == pytest.approx(0.40, rel=2e-3)
    assert ranges.percentile(values, 0.9) == pytest.approx(0.50, rel=2e-3)


def test_draws_are_seeded():
    s = [ranges.spread(sheet("pue")), ranges.spread(sheet("load-fraction"))]
    assert ranges.draws(s, 50, 7) == ranges.draws(s, 50, 7)
    assert ranges.draws(s, 50, 7) != ranges.draws(s, 50, 8)


# ---- through the CLI -----------------------------------------------------------------------

def test_done_train_cost_json_has_ranges_for_time_and_cost(cli):
    run = cli(*DONE, "--ranges", "-f", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert list(doc["ranges"]) == list(doc["results"])  # keyed like results
    assert doc["rows"][0]["ranges"] == doc["ranges"]
    for key in ("wall_clock_s", "gpu_hours", "cost_usd", "energy_wh"):
        r = doc["ranges"][key]
        assert r["p10"] < r["p50"] < r["p90"], key
    assert doc["ranges"]["fits"] is None  # not a number
    assert doc["ranges"]["total_flop"]["p10"] == doc["ranges"]["total_flop"]["p90"] == doc["results"]["total_flop"]


def test_energy_range_follows_the_load_alone(cli):
    # With --mfu and --pue given, time is C / (n · peak · MFU) and of the sampled defaults only the
    # load fraction moves the energy (GPUs and hosts at load, the network flat): energy's P10 is the
    # energy at the load's P10 (0.60), its P90 the energy at its P90 (0.85), its P50 the point value.
    doc = cli(*DONE, "--mfu", "0.4", "--pue", "1.2", "--ranges", "-f", "json").json()
    energy, r = doc["results"]["energy_wh"], doc["ranges"]["energy_wh"]
    at = {load: cli(*DONE, "--mfu", "0.4", "--pue", "1.2", "--load", load, "-f", "json").json()["results"]["energy_wh"]
          for load in ("0.60", "0.85")}
    assert r["p10"] == pytest.approx(at["0.60"], rel=0.01)
    assert r["p90"] == pytest.approx(at["0.85"], rel=0.01)
    assert r["p50"] == pytest.approx(energy, rel=0.01)
    wall = doc["ranges"]["wall_clock_s"]
    assert wall["p10"] == wall["p90"] == doc["results"]["wall_clock_s"]  # no sampled default moves it


def test_modelled_time_has_a_range(cli):
    # Without --mfu the step is modelled from per-family efficiencies, each with its published spread.
    doc = cli(*DONE, "--ranges", "-f", "json").json()
    wall = doc["ranges"]["wall_clock_s"]
    assert wall["p10"] < doc["results"]["wall_clock_s"] < wall["p90"]
    assert 1.05 < wall["p90"] / wall["p10"] < 3


def test_given_options_are_not_sampled(cli):
    doc = cli(*DONE, "--mfu", "0.45", "--pue", "1.2", "--ranges", "-f", "json").json()
    r = doc["ranges"]
    assert r["wall_clock_s"]["p10"] == r["wall_clock_s"]["p90"] == doc["results"]["wall_clock_s"]
    assert r["energy_wh"]["p10"] < r["energy_wh"]["p90"]  # the load fraction is still a default
    note = next(a for a in doc["assumptions"] if a.startswith("ranges:"))
    assert "load-fraction" in note and "pue 1.1" not in note  # --pue given: not sampled


def test_same_seed_same_ranges_and_samples_change_them(cli):
    first = cli(*DONE, "--ranges", "--seed", "11", "-f", "json").json()["ranges"]
    again = cli(*DONE, "--ranges", "--seed", "11", "-f", "json").json()["ranges"]
    other = cli(*DONE, "--ranges", "--seed", "12", "--samples", "200", "-f", "json").json()["ranges"]
    assert first == again
    assert other["cost_usd"] != first["cost_usd"]


def test_a_calculator_with_no_uncertain_default_says_so(cli):
    doc = cli("kv-cache", "--model", "llama-3.1-70b", "--context", "8k", "--ranges", "-f", "json").json()
    r = doc["ranges"]["kv_bytes_per_token"]
    assert r == {"p10": 327680, "p50": 327680, "p90": 327680}
    assert any(a.startswith("ranges: no default with a published P10-P90") for a in doc["assumptions"])


def test_sweep_rows_carry_ranges_and_the_top_level_is_null(cli):
    doc = cli("train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "512,1024",
              "--ranges", "--samples", "100", "-f", "json").json()
    assert doc["ranges"] is None and doc["results"] is None
    assert all(row["ranges"]["cost_usd"]["p10"] < row["ranges"]["cost_usd"]["p90"] for row in doc["rows"])


def test_without_ranges_the_document_has_no_ranges_key(cli):
    doc = cli(*DONE, "-f", "json").json()
    assert "ranges" not in doc and "ranges" not in doc["rows"][0] and "sensitivity" not in doc


def test_table_shows_value_and_p10_to_p90(cli):
    run = cli(*DONE, "--ranges")
    assert run.code == 0
    line = next(line for line in run.out.splitlines() if line.strip().startswith("wall_clock_s"))
    assert "(" in line and "–" in line and "days)" in line  # 181 days (145–242 days)
    assert "ranges: P10-P90 of 1,000 Latin-hypercube draws (seed 0)" in " ".join(run.out.split())


def test_csv_adds_quantile_columns(cli):
    run = cli(*DONE, "--ranges", "--samples", "100", "-f", "csv")
    header, row = run.out.splitlines()[:2]
    names = header.split(",")
    assert {"cost_usd.p10", "cost_usd.p50", "cost_usd.p90"} <= set(names) and names[-1] == "error"
    assert "fits.p10" not in names
    values = dict(zip(names, row.split(",")))
    assert float(values["cost_usd.p10"]) < float(values["cost_usd"]) < float(values["cost_usd.p90"])


def test_yaml_and_toml_carry_ranges(cli):
    import tomllib

    import yaml

    assert "wall_clock_s" in yaml.safe_load(cli(*DONE, "--ranges", "--samples", "50", "-f", "yaml").out)["ranges"]
    assert "wall_clock_s" in tomllib.loads(cli(*DONE, "--ranges", "--samples", "50", "-f", "toml").out)["ranges"]


@pytest.mark.parametrize("args, fragment", [
    (("--samples", "100"), "--samples: goes with --ranges"),
    (("--ranges", "--samples", "5"), "--samples: expected a whole number from 20"),
    (("--ranges", "--seed", "-1"), "--seed"),
    (("--ranges", "--samples", "1e9"), "--samples"),
    (("--target", "cost_usd"), "--target: names the result for --sensitivity or --plot"),
    (("--sensitivity", "--target", "cost"), "--target: cost is not a numeric result of train-cost"),
    (("--sensitivity", "--target", "fits"), "--target: fits is not a numeric result"),
])
def test_bad_analysis_options_are_usage_errors(cli, args, fragment):
    assert_usage_error(cli(*DONE, *args), fragment)


def test_scenario_file_may_ask_for_ranges(cli, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: llama-3.1-70b\ntokens: 15T\ngpu: h100-sxm\ngpus: 1024\nranges: true\nsamples: 100\n")
    doc = cli("train-cost", "--config", str(path), "-f", "json").json()
    assert doc["ranges"]["cost_usd"]["p10"] < doc["ranges"]["cost_usd"]["p90"]


def test_every_calculator_accepts_ranges(cli):
    from aistack_cli import commands, runner

    commands.load([])
    for name, calc in runner.REGISTRY.items():
        words = calc.examples[0].split()[2:]
        run = cli(name, *words, "--ranges", "--samples", "50", "-f", "json")
        assert run.code in (0, 1), (name, run.err)
        doc = run.json()
        rows = doc["rows"]
        assert all(set(r["ranges"]) == set(r["results"]) for r in rows if r["error"] is None), name
        for r in rows:
            for key, spread in r["ranges"].items():
                if spread is not None:
                    assert spread["p10"] <= spread["p50"] <= spread["p90"], (name, key)


# ---- sensitivity ---------------------------------------------------------------------------

def test_sensitivity_of_energy_follows_load_and_pue(cli):
    doc = cli(*DONE, "--mfu", "0.4", "--sensitivity", "--target", "energy_wh", "-f", "json").json()
    sens = doc["sensitivity"]
    bars = {b["default"]: b for b in sens["inputs"]}
    base = doc["results"]["energy_wh"]
    assert sens["target"] == "energy_wh" and sens["value"] == base
    # energy ∝ load · PUE at a given MFU: each default alone scales it by its end over its value.
    # energy ∝ PUE at a given load: the PUE bar scales it by its end over its value
    assert bars["pue-average-air"]["at_p10"] == pytest.approx(base * 1.30 / 1.56, rel=1e-9)
    assert bars["pue-average-air"]["at_p90"] == pytest.approx(base * 1.63 / 1.56, rel=1e-9)
    loaded = cli(*DONE, "--mfu", "0.4", "--load", "0.85", "-f", "json").json()["results"]["energy_wh"]
    assert bars["load-fraction-training"]["at_p90"] == pytest.approx(loaded, rel=1e-9)
    # load (0.33 of the value) moves it most; the cooling limit (air vs liquid PUE) and PUE next
    assert sens["inputs"][0]["default"] == "load-fraction-training"
    moving = {b["default"] for b in sens["inputs"] if b["swing"] > 0}
    assert moving == {"load-fraction-training", "pue-average-air", "air-cooling-rack-limit"}  # not the step model


def test_sensitivity_ranks_by_swing_and_power_defaults_do_not_move_time(cli):
    doc = cli(*DONE, "--sensitivity", "--target", "wall_clock_s", "-f", "json").json()
    bars = doc["sensitivity"]["inputs"]
    swings = [b["swing"] for b in bars]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    by_id = {b["default"]: b["swing"] for b in bars}
    assert by_id["load-fraction-training"] == 0 and by_id["pue-average-air"] == 0


def test_sensitivity_without_target_picks_the_first_moving_column(cli):
    doc = cli(*DONE, "--sensitivity", "-f", "json").json()
    assert doc["sensitivity"]["target"] == "step_time_s"  # total_flop and gpus_solved do not move


def test_sensitivity_table_is_a_tornado(cli):
    run = cli(*DONE, "--sensitivity", "--target", "cost_usd")
    assert run.code == 0
    assert "what moves cost_usd" in run.out
    table = run.out.split("what moves cost_usd")[1].splitlines()[1:]
    first = next(line for line in table if line.strip() and not line.strip().startswith("default"))
    assert "█" in first and "│" in first  # the largest swing first, drawn as a bar around the value
    assert all(len(line) <= 120 for line in run.out.splitlines())


# ---- the JSON Schema -----------------------------------------------------------------------

def test_ranges_and_sensitivity_documents_match_the_schema(cli):
    jsonschema = pytest.importorskip("jsonschema")
    from aistack_cli.render.schema import all_schemas, command_schema

    for args in (DONE, ("kv-cache", "--model", "llama-3.1-70b", "--context", "8k")):
        for extra in ((), ("--ranges", "--samples", "50"), ("--sensitivity",), ("--ranges", "--sensitivity")):
            doc = cli(*args, *extra, "-f", "json").json()
            jsonschema.validate(doc, command_schema(args[0]))
    jsonschema.validate(cli(*DONE, "--ranges", "--samples", "50", "-f", "json").json(), all_schemas())
    broken = cli(*DONE, "--ranges", "--samples", "50", "-f", "json").json()
    broken["ranges"]["cost_usd"] = {"p10": 1}
    with pytest.raises(jsonschema.ValidationError):  # the schema does constrain the shape
        jsonschema.validate(broken, command_schema("train-cost"))


def test_benchmark_script_names_every_calculator():
    text = (ROOT / "benchmarks" / "ranges.py").read_text()
    from aistack_cli.commands import CALCULATORS

    for name in CALCULATORS:
        assert f'"{name.replace("_", "-")}"' in text


def test_runner_defaults_for_samples_and_seed_are_documented(cli):
    run = cli("train-cost", "--help")
    text = " ".join(run.out.split())
    assert "[default: 1,000]" in text and "--seed" in text
    doc = cli(*DONE, "--ranges", "-f", "json").json()
    assert any("1,000 Latin-hypercube draws (seed 0)" in a for a in doc["assumptions"])


def test_median_of_ranges_is_close_to_the_point(cli):
    doc = cli(*DONE, "--ranges", "-f", "json").json()
    ratios = [doc["ranges"][k]["p50"] / doc["results"][k] for k in ("wall_clock_s", "cost_usd", "energy_wh")]
    assert statistics.median(ratios) == pytest.approx(1.0, abs=0.1)
    json.dumps(doc, allow_nan=False)


# ---- calibration of the ranges (benchmarks/accuracy.py) ---------------------------------------

def _accuracy():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import accuracy

    return accuracy


def test_coverage_counts_published_figures_inside_the_band():
    accuracy = _accuracy()

    def outcome(published, p10, p90):
        case = {"id": f"c{published}", "command": "train-cost", "role": "validation", "published": published}
        return accuracy.Outcome(case, published, 0.0, "", {"p10": p10, "p50": (p10 + p90) / 2, "p90": p90})

    # Inside [80, 120], inside [50, 200] and outside [100, 150]: 2 of 3; widths 1.5, 4 and 1.5, median 1.5.
    row = accuracy.coverage([outcome(100, 80, 120), outcome(60, 50, 200), outcome(90, 100, 150)])["train-cost"]
    assert row["cases"] == 3 and row["inside"] == 2 and row["median_width"] == pytest.approx(1.5)
    # A zero-width band counts as a case without a spread.
    flat = accuracy.coverage([outcome(100, 100, 100), outcome(100, 80, 125)])["train-cost"]
    assert flat["with_spread"] == 1 and flat["inside"] == 2 and flat["median_width_with_spread"] == pytest.approx(1.5625)


def test_a_validation_case_runs_with_its_range():
    accuracy = _accuracy()
    case = next(c for c in accuracy.load() if c["role"] == "validation" and c["command"] == "train-cost")
    value, problem, spread = accuracy.run_case_with_range(case)
    assert value is not None, problem
    assert spread["p10"] < value < spread["p90"]  # the MFU spread moves every train-cost time and cost
    assert accuracy.run_case(case) == (value, "")


def test_accuracy_report_has_the_coverage_section():
    text = (ROOT / "docs" / "ACCURACY.md").read_text()
    assert "## Ranges: how often the published figure falls inside aistack's P10–P90" in text
    assert "| calculator | cases | inside P10–P90 | coverage | median P90 ÷ P10 |" in text


def test_checks_on_quantiles(cli):
    # cost P90 is about $14.8M (MFU at its P10), P10 about $8.9M.
    assert cli(*DONE, "--ranges", "--samples", "200", "--check", "cost_usd.p90 <= 20M", "-q").code == 0
    run = cli(*DONE, "--ranges", "--samples", "200", "--check", "cost_usd.p90 <= 12M", "-q")
    assert run.code == 1 and "cost_usd.p90 <= 12M" in run.err
    assert cli(*DONE, "--ranges", "--samples", "200", "--check", "wall_clock_s.p10 > 100d", "-q").code == 0
    assert_usage_error(cli(*DONE, "--check", "cost_usd.p90 <= 12M"), "give --ranges too")
    assert_usage_error(cli(*DONE, "--ranges", "--check", "fits.p90 == 1"), "not a number")
