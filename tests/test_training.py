"""train-cost: hand-checked formulas, the CLI contract, invariants, and published training runs."""

import csv
import io
import math
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aistack_cli.calc.training import (Cluster, Device, Failures, Memory, Power, Shape, activation_bytes,
                                       attention_flop_per_token, checkpoint_interval_s, gpus_for_target,
                                       default_layout, host_w_per_gpu, lost_fraction, memory_per_gpu_bytes,
                                       model_state_bytes, smallest_fitting_layout, total_flop, train_cost,
                                       wall_clock_s)
from aistack_cli.errors import InputError
from conftest import assert_usage_error

ROOT = Path(__file__).resolve().parents[1]

# Llama 3.1 405B from its config: 126 layers, width 16,384, 128 heads of 128; 405.9B parameters.
LLAMA_405B = Shape(405.9e9, 405.9e9, layers=126, hidden_size=16_384, heads=128, head_dim=128)
H100 = Device("h100-sxm", 989.5e12, 81_559 * 2**20, 700.0, 2.49)
DONE = ["train-cost", "--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm", "--gpus", "16384"]
GIB = 2**30


# ---- formulas, by hand ---------------------------------------------------------------------

def test_six_n_d():
    # GPT-3: 6 * 175e9 * 300e9 = 3.15e23 (Brown et al. report 3.14e23 with 174.6B parameters).
    assert total_flop(175e9, 300e9) == pytest.approx(3.15e23)
    # Llama 3.1 405B: 6 * 405.9e9 * 15.6e12 = 3.799224e25.
    assert total_flop(405.9e9, 15.6e12) == pytest.approx(3.799224e25)


def test_moe_counts_active_parameters_for_flop_and_total_for_memory():
    # DeepSeek-V3: 6 * 37e9 per token, not 6 * 671e9; memory holds all 671B.
    shape = Shape(671e9, 37e9)
    result = train_cost(shape, 14.8e12, 4096)
    assert result.flop_per_token == 6 * 37e9
    weights, grads, optimizer = model_state_bytes(671e9, "bf16", 1, 1, 1, 0)
    assert (weights, grads, optimizer) == (2 * 671e9, 2 * 671e9, 12 * 671e9)
    assert any("every expert" in a for a in result.assumptions)


def test_palm_attention_term_is_reported_not_added():
    # 12 * L * a * h * s = 12 * 126 * 128 * 128 * 8192 = 202,937,204,736 FLOP per token;
    # against 6N = 2.4354e12 it is 202.937e9 / (2435.4e9 + 202.937e9) = 7.692 % of the total.
    assert attention_flop_per_token(LLAMA_405B, 8192) == 202_937_204_736
    result = train_cost(LLAMA_405B, 15.6e12, 8192)
    assert result.attention_flop_fraction == pytest.approx(202.937204736 / (2435.4 + 202.937204736))
    assert result.total_flop == pytest.approx(6 * 405.9e9 * 15.6e12)


def test_wall_clock_and_gpu_hours():
    # 3.799224e25 / (16,384 * 989.5e12 * 0.40) = 5,858,671.8 s = 67.8 days;
    # GPU-hours = 16,384 * 5,858,671.8 / 3600 = 26,663,466 (independent of the GPU count).
    assert wall_clock_s(3.799224e25, 16_384, 989.5e12, 0.40) == pytest.approx(5_858_671.8, rel=1e-7)
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, Cluster(0.40, gpus=16_384, tp=8, pp=16))
    assert result.gpu_hours == pytest.approx(26_663_466.4, rel=1e-7)
    assert result.cost_usd == pytest.approx(26_663_466.4 * 2.49, rel=1e-7)
    assert result.tokens_per_s == pytest.approx(15.6e12 / 5_858_671.8, rel=1e-7)


def test_target_days_solves_for_a_whole_multiple_of_tp_pp():
    # 1e24 FLOP in 10 days at 1e15 * 0.5: 1e24 / (864,000 * 5e14) = 2,314.8 -> 2,315 GPUs,
    # and with tp * pp = 128 -> 19 * 128 = 2,432.
    assert gpus_for_target(1e24, 864_000, 1e15, 0.5) == 2315
    assert gpus_for_target(1e24, 864_000, 1e15, 0.5, 128) == 2432
    # An exact answer is not bumped by floating-point noise: 1e20 / (1000 * 1e15 * 0.1) = 1000.
    assert gpus_for_target(1e20, 1000, 1e15, 0.1) == 1000


def test_energy_with_host_share_from_the_system_sheet():
    # DGX H100: (10,200 W - 8 * 700 W) / 8 = 575 W of host per GPU.
    assert host_w_per_gpu(10_200, 8, 700) == 575
    # 1,024 GPUs * (700 + 575) W * 0.76 * PUE 1.1 = 1,091,481.6 W; for 10 h = 10,914,816 Wh;
    # at 400 g/kWh: 10,914.816 kWh * 0.4 kg = 4,365.93 kg.
    shape = Shape(1e9, 1e9)
    flop = 1024 * 1e15 * 0.5 * 36_000  # exactly 10 h on 1,024 GPUs of 1 PFLOP/s at MFU 0.5
    device = Device("x", 1e15, 80e9, 700.0, None)
    result = train_cost(shape, flop / 6e9, 2048, device, Cluster(0.5, gpus=1024),
                        power=Power(0.76, 1.1, 400.0, 10_200.0, 8))
    assert result.wall_clock_s == pytest.approx(36_000)
    assert result.average_power_w == pytest.approx(1_091_481.6)
    assert result.energy_wh == pytest.approx(10_914_816)
    assert result.co2_kg == pytest.approx(4_365.9264)


def test_no_price_means_no_cost_and_a_warning():
    device = Device("x", 1e15, 80e9, 700.0, None)
    result = train_cost(Shape(1e9, 1e9), 1e12, 2048, device, Cluster(0.4, gpus=8))
    assert result.cost_usd is None
    assert any("no price" in w for w in result.warnings)


def test_young_daly_first_order():
    # Llama 3: 16,384 * 54 d * 24 h / 419 = 50,677 GPU-hours per GPU; on 16,384 GPUs the cluster
    # MTBF is 54 * 24 / 419 h = 11,135.08 s. With 60 s checkpoints: tau = sqrt(2 * 60 * 11,135.08)
    # = 1,155.95 s; lost = 60/1155.95 + 1155.95/(2 * 11135.08) + 600/11135.08
    # = 0.05191 + 0.05191 + 0.05388 = 0.15769.
    mtbf_s = 54 * 24 * 3600 / 419
    tau = checkpoint_interval_s(60, mtbf_s)
    assert tau == pytest.approx(1155.95, rel=1e-5)
    assert lost_fraction(60, tau, mtbf_s, 600) == pytest.approx(0.15769, rel=1e-4)
    failures = Failures(16_384 * 54 * 24 / 419, 60.0, 600.0)
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, Cluster(0.4, gpus=16_384, tp=8, pp=16),
                        failures=failures)
    assert result.goodput_fraction == pytest.approx(1 - 0.15769, rel=1e-4)
    assert result.wall_clock_with_failures_s == pytest.approx(result.wall_clock_s / result.goodput_fraction)
    # 419 interruptions in 54 days is 7.76 a day; over the run's days with failures:
    assert result.interruptions_expected == pytest.approx(419 / 54 * result.wall_clock_with_failures_s / 86400)


def test_a_run_that_cannot_finish_is_bad_input():
    # Cluster MTBF of 1 GPU-hour / 100,000 GPUs = 0.036 s, shorter than a 60 s checkpoint.
    with pytest.raises(InputError, match="never finishes"):
        train_cost(LLAMA_405B, 1e12, 8192, H100, Cluster(0.4, gpus=100_000), failures=Failures(1.0, 60.0))


def test_zero_stages_shard_what_the_paper_says():
    # 7.5B parameters (ZeRO paper's example) on 64-way data parallelism:
    # stage 0: 2 + 2 + 12 = 16 B/param = 120 GB; stage 1: 2 + 2 + 12/64 -> 31.4 GB;
    # stage 2: 2 + (2 + 12)/64 -> 16.6 GB; stage 3: 16/64 -> 1.875 GB (ZeRO paper Figure 1).
    totals = [sum(model_state_bytes(7.5e9, "bf16", 1, 1, 64, z)) for z in range(4)]
    assert totals == pytest.approx([120e9, 31.40625e9, 16.640625e9, 1.875e9])


def test_activations_per_korthikanti():
    # Llama 3.1 405B, s 8192, b 1, tp 8 with sequence parallelism, selective recompute:
    # 126 * 8192 * 1 * 16384 / 8 * 34 = 71,873,593,344 B. Without recompute the coefficient is
    # 34 + 5 * 128 * 8192 / 16384 = 354; full recompute keeps 2.
    assert activation_bytes(LLAMA_405B, 8192, 1, 8, "selective") == 71_873_593_344
    assert activation_bytes(LLAMA_405B, 8192, 1, 8, "none") == 126 * 8192 * 16384 / 8 * 354
    assert activation_bytes(LLAMA_405B, 8192, 1, 8, "full") == 126 * 8192 * 16384 / 8 * 2


def test_llama_3_layout_just_fits_and_is_the_one_suggested():
    # Llama 3 405B ran tp 8, pp 16 on 16,384 H100 (arXiv 2407.21783 Table 4). Per GPU with ZeRO-1:
    # weights 2 * 405.9e9 / 128 = 6.342 GB, gradients the same, optimizer 12 * 3.171e9 / 128
    # = 0.297 GB, activations 71.87 GB: 84.86 GB against 81,559 MiB = 85.52 GB.
    total = memory_per_gpu_bytes(LLAMA_405B, 8192, Memory(), 8, 16, 128)
    assert total == pytest.approx(84_855_258_383, rel=1e-9)
    assert total <= H100.memory_bytes
    assert smallest_fitting_layout(LLAMA_405B, 8192, Memory(), 16_384, H100.memory_bytes, 8) == (8, 16)


def test_layout_search_rounds_a_solved_count_and_respects_the_heads():
    # 60 days solve to 18,517 GPUs (see the --target-days CLI test): odd, so no tp·pp > 1 splits it,
    # and tp 1 · pp 1 needs 2 TiB. Rounded up per layout, tp 8 · pp 16 fits as on 16,384 GPUs.
    assert smallest_fitting_layout(LLAMA_405B, 8192, Memory(), 18_517, H100.memory_bytes) is None
    assert smallest_fitting_layout(LLAMA_405B, 8192, Memory(), 18_517, H100.memory_bytes, round_up=True) == (8, 16)
    target = Cluster(0.4, target_s=60 * 86400)
    assert default_layout(LLAMA_405B, 15.6e12, 8192, H100, target, Memory()) == (8, 16)
    # 30B parameters on 8 GPUs, ZeRO-0: 16 B * 30e9 = 480 GB; 4 ranks hold 120 GB each, 8 ranks
    # 60 GB + activations 12 * 1024 * 768 / tp * 34 B (tens of MB) each. With 16 heads that is
    # tp 8 · pp 1; 12 heads do not split over 8, so tp 4 · pp 2.
    shape = Shape(30e9, 30e9, layers=12, hidden_size=768, heads=16, head_dim=48)
    assert smallest_fitting_layout(shape, 1024, Memory(zero=0), 8, H100.memory_bytes) == (8, 1)
    shape = Shape(30e9, 30e9, layers=12, hidden_size=768, heads=12, head_dim=64)
    assert smallest_fitting_layout(shape, 1024, Memory(zero=0), 8, H100.memory_bytes) == (4, 2)
    # Without the architecture there is no memory to check, so no layout is chosen.
    assert default_layout(Shape(7e9, 7e9), 1e12, 2048, H100, Cluster(0.4, gpus=8), Memory()) is None


def test_no_fit_warns_by_how_much():
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, Cluster(0.4, gpus=16_384))
    assert result.fits is False
    assert result.shortfall_bytes_per_gpu == pytest.approx(result.memory_used_bytes_per_gpu - H100.memory_bytes)
    warning = next(w for w in result.warnings if "does not fit" in w)
    assert "GiB more than" in warning and "--tp 8 --pp 16" in warning


def test_full_precision_state_is_4_4_8():
    assert model_state_bytes(1e9, "fp32", 1, 1, 1, 0) == (4e9, 4e9, 8e9)


# ---- invariants ------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.floats(1e18, 1e27), st.integers(1, 200_000), st.integers(1, 200_000),
       st.floats(1e12, 1e16), st.floats(0.01, 1.0))
def test_more_gpus_never_lengthen_the_run(flop, a, b, peak, mfu):
    few, many = sorted((a, b))
    assert wall_clock_s(flop, many, peak, mfu) <= wall_clock_s(flop, few, peak, mfu)


@settings(max_examples=200, deadline=None)
@given(st.floats(1e8, 2e12), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4, 16]),
       st.integers(1, 4096), st.sampled_from(["bf16", "fp8", "fp32"]),
       st.sampled_from(["none", "selective", "full"]))
def test_zero_3_never_needs_more_memory_than_zero_0(params, tp, pp, dp, prec, recompute):
    shape = Shape(params, params, layers=32, hidden_size=4096, heads=32, head_dim=128)
    zero_0 = memory_per_gpu_bytes(shape, 4096, Memory(prec, 0, recompute), tp, pp, dp)
    zero_3 = memory_per_gpu_bytes(shape, 4096, Memory(prec, 3, recompute), tp, pp, dp)
    assert zero_3 <= zero_0


@settings(max_examples=300, deadline=None)
@given(st.floats(100, 1e7), st.floats(100, 1e7), st.integers(1, 100_000),
       st.floats(1, 3600), st.floats(0, 3600))
def test_higher_mtbf_never_lowers_goodput(mtbf_a, mtbf_b, gpus, checkpoint_s, restart_s):
    low, high = sorted((mtbf_a, mtbf_b))
    goodputs = []
    for mtbf in (low, high):
        try:
            result = train_cost(Shape(1e9, 1e9), 1e12, 2048, H100, Cluster(0.4, gpus=gpus),
                                failures=Failures(mtbf, checkpoint_s, restart_s))
        except InputError:
            goodputs.append(0.0)  # the run never finishes: no progress at all
            continue
        goodputs.append(result.goodput_fraction)
        assert 0 < result.goodput_fraction <= 1 and math.isfinite(result.wall_clock_with_failures_s)
    assert goodputs[1] >= goodputs[0]


# ---- the command line ----------------------------------------------------------------------------

def test_done_example_table_reads_at_a_glance(cli):
    run = cli(*DONE)
    assert run.code == 0, run.err
    # $75.19M = 16,384 GPUs x 67.8 days x 24 h x $2.82, the h100-sxm default price (catalog v2 basis)
    for fragment in ("67.8 days", "$75.19M", "GWh", "GiB", "3.8e+25 FLOP",
                     "assumption: MFU 40% of the dense bf16 peak (default;",
                     "assumption: price $2.82 per GPU-hour", "as of 2026-02", "dated 2025-04 to 2026-12",
                     "assumption: tp 8 · pp 16: the smallest tensor×pipeline layout that fits"):
        assert fragment in run.out, fragment
    assert "does not fit" not in run.out


def test_done_example_chooses_the_smallest_layout_that_fits(cli):
    # Llama 3's own layout (arXiv 2407.21783 Table 4); memory hand-checked in
    # test_llama_3_layout_just_fits_and_is_the_one_suggested: 84.86 GB of 85.52 GB.
    doc = cli(*DONE, "--format", "json").json()
    assert (doc["results"]["tensor_parallel"], doc["results"]["pipeline_parallel"], doc["results"]["data_parallel"]) == (8, 16, 128)
    assert doc["results"]["fits"] is True
    assert doc["results"]["memory_used_bytes_per_gpu"] == pytest.approx(84_855_258_383, rel=1e-9)
    assert any(a.startswith("tp 8 · pp 16: the smallest tensor×pipeline layout that fits") and "--tp/--pp" in a
               for a in doc["assumptions"])
    assert not any("does not fit" in w for w in doc["warnings"])
    # The layout changes memory only: wall-clock is the same as with an explicit tp 1 · pp 1.
    explicit = cli(*DONE, "--tp", "1", "--pp", "1", "--format", "json").json()
    assert doc["results"]["wall_clock_s"] == explicit["results"]["wall_clock_s"]


def test_explicit_tp_1_pp_1_still_does_not_fit_and_hints(cli):
    doc = cli(*DONE, "--tp", "1", "--pp", "1", "--format", "json").json()
    assert (doc["results"]["tensor_parallel"], doc["results"]["pipeline_parallel"], doc["results"]["data_parallel"]) == (1, 1, 16_384)
    assert doc["results"]["fits"] is False
    assert any("does not fit" in w and "--tp 8 --pp 16 would fit" in w for w in doc["warnings"])
    assert not any("smallest tensor×pipeline" in a for a in doc["assumptions"])


@pytest.mark.parametrize("extra, layout", [(["--tp", "8"], (8, 1)), (["--pp", "16"], (1, 16)),
                                           (["--dp", "16384"], (1, 1))])
def test_one_layout_flag_keeps_the_others_at_1(cli, extra, layout):
    doc = cli(*DONE, *extra, "--format", "json").json()
    assert (doc["results"]["tensor_parallel"], doc["results"]["pipeline_parallel"]) == layout
    assert doc["results"]["fits"] is False


def test_nothing_fits_keeps_tp_1_pp_1_and_warns(cli):
    # 405B on 8 GPUs: weights and gradients alone are 4 B * 405.9e9 / 8 = 203 GB per GPU at best.
    doc = cli(*LLAMA, "--gpu", "h100-sxm", "--gpus", "8", "--format", "json").json()
    assert (doc["results"]["tensor_parallel"], doc["results"]["pipeline_parallel"]) == (1, 1)
    assert any("no tp (within the scale-up domain) x pp layout fits" in w for w in doc["warnings"])


def test_done_example_json(cli):
    run = cli(*DONE, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command"] == "train-cost" and doc["schema_version"] == 2
    results = doc["results"]
    for key in ("total_flop", "flop_per_token", "attention_flop_fraction", "gpu_hours", "wall_clock_s",
                "cost_usd", "energy_wh", "co2_kg", "weights_bytes_per_gpu", "gradients_bytes_per_gpu",
                "optimizer_bytes_per_gpu", "activations_bytes_per_gpu", "memory_used_bytes_per_gpu", "fits", "interruptions_expected",
                "checkpoint_interval_s", "goodput_fraction", "wall_clock_with_failures_s"):
        assert key in results, key
    assert results["total_flop"] == pytest.approx(3.799224e25)
    assert doc["inputs"]["peak_flop_per_s"] == 989.5e12  # DENSE bf16, not the 1,979 sparse figure
    assert not set(doc["inputs"]) & set(results)


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads)])
def test_machine_formats_parse(cli, fmt, load):
    run = cli(*DONE, "--format", fmt)
    assert run.code == 0, run.err
    assert load(run.out)["results"]["total_flop"] == pytest.approx(3.799224e25)


def test_csv_sweep_over_gpus(cli):
    run = cli(*DONE[:-1], "4096,16384", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [int(r["gpus"]) for r in rows] == [4096, 16384]
    assert float(rows[0]["wall_clock_s"]) == pytest.approx(4 * float(rows[1]["wall_clock_s"]))


def test_target_days_reports_the_solved_count(cli):
    run = cli("train-cost", "--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--target-days", "60",
              "--tp", "8", "--pp", "16", "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    solved = doc["results"]["gpus_solved"]
    # 3.799224e25 / (60 d * 86400 * 989.5e12 * 0.4) = 18,516.3 -> 18,517 -> next multiple of 128: 18,560.
    assert solved == 18_560
    assert doc["results"]["wall_clock_s"] <= 60 * 86400
    assert any("tokens 15.6T from the llama-3.1-405b sheet" in a for a in doc["assumptions"])


def test_target_days_chooses_the_layout_after_solving(cli):
    # Without --tp/--pp the 18,517 solved GPUs get tp 8 · pp 16 and the same rounding to 18,560.
    doc = cli("train-cost", "--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--target-days", "60",
              "--format", "json").json()
    assert (doc["results"]["tensor_parallel"], doc["results"]["pipeline_parallel"]) == (8, 16)
    assert doc["results"]["gpus_solved"] == 18_560 and doc["results"]["fits"] is True


def test_goodput_and_failure_model(cli):
    base = DONE + ["--tp", "8", "--pp", "16", "--format", "json"]
    given = cli(*base, "--goodput", "0.9").json()["results"]
    assert given["wall_clock_with_failures_s"] == pytest.approx(given["wall_clock_s"] / 0.9)
    assert given["interruptions_expected"] is None
    modelled = cli(*base, "--checkpoint-time", "60s", "--restart-time", "10min")
    doc = modelled.json()
    assert doc["results"]["goodput_fraction"] == pytest.approx(1 - 0.15769, rel=1e-4)
    assert any("419 unexpected interruptions" in a for a in doc["assumptions"])


def test_flop_only_without_a_gpu(cli):
    doc = cli("train-cost", "--params", "70B", "--tokens-per-param", "chinchilla", "--format", "json").json()
    assert doc["results"]["total_flop"] == pytest.approx(6 * 70e9 * 1.4e12)
    assert doc["results"]["wall_clock_s"] is None


def test_tpu_without_tdp_or_price_says_so(cli):
    doc = cli("train-cost", "--params", "540.35B", "--tokens", "780B", "--gpu", "tpu-v4", "--gpus", "6144",
              "--format", "json").json()
    assert doc["results"]["energy_wh"] is None and doc["results"]["cost_usd"] is None
    assert any("no TDP" in w for w in doc["warnings"]) and any("no price" in w for w in doc["warnings"])


def test_explain_shows_the_working(cli):
    run = cli(*DONE, "--explain")
    assert "total_flop = flop_per_token · tokens" in run.out
    assert "Kaplan et al. 2020" in run.out and "Korthikanti" in run.out


LLAMA = ["train-cost", "--model", "llama-3.1-405b", "--tokens", "15.6T"]
ON_H100 = ["--gpu", "h100-sxm", "--gpus", "16384"]


@pytest.mark.parametrize("extra, fragments", [
    (["--gpu", "a100-80gb", "--gpus", "8", "--precision", "fp8"], ["--precision", "a100-80gb has no fp8"]),
    ([*ON_H100, "--tp", "3"], ["--gpus", "tp·pp groups of 3"]),
    (["--gpu", "h100-sxm", "--gpus", "8", "--tp", "16"], ["--tp/--pp", "only 8 GPUs"]),
    ([*ON_H100, "--target-days", "30"], ["--gpus", "--target-days"]),
    ([*ON_H100, "--dp", "100"], ["--dp"]),
    ([*ON_H100, "--pp", "200"], ["--pp", "126 layers"]),
    ([*ON_H100, "--goodput", "0.9", "--checkpoint-time", "60"], ["--checkpoint-time", "--goodput"]),
    ([*ON_H100, "--mtbf-gpu-hours", "50000"], ["--checkpoint-time"]),
    ([*ON_H100, "--zero", "4"], ["--zero"]),
    ([*ON_H100, "--recompute", "some"], ["--recompute", "selective"]),
    ([*ON_H100, "--mfu", "1.5"], ["--mfu"]),
    ([*ON_H100, "--pue", "0.9"], ["--pue"]),
    ([*ON_H100, "--system", "dgx-a100"], ["--system", "h100-sxm"]),
    ([*ON_H100, "--tokens-per-param", "20"], ["--tokens-per-param"]),
    ([*ON_H100, "--params", "70B"], ["--params", "--model"]),
    (["--gpu", "h100-sxm", "--gpus", "-5"], ["--gpus"]),
    (["--gpu", "h100-sxm", "--gpus", "8", "--seq-len", "4.5"], ["--seq-len"]),
    (["--gpu", "h200x", "--gpus", "8"], ["unknown accelerator"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, extra, fragments):
    assert_usage_error(cli(*LLAMA, *extra), *fragments)


def test_bad_quantity_names_the_flag(cli):
    assert_usage_error(cli("train-cost", "--model", "llama-3.1-405b", "--tokens", "12XB"), "--tokens", "12XB")


@pytest.mark.parametrize("args, fragments", [
    (["train-cost"], ["--model"]),
    (["train-cost", "--params", "7B"], ["--tokens"]),
    (["train-cost", "--params", "7B", "--tokens", "1T", "--gpus", "8"], ["--gpus", "--gpu"]),
    (["train-cost", "--params", "7B", "--tokens", "1T", "--gpu", "h100-sxm"], ["--gpus", "--target-days"]),
    (["train-cost", "--params", "7B", "--active-params", "9B", "--tokens", "1T"], ["--active-params"]),
    (["train-cost", "--params", "7B", "--layers", "32", "--tokens", "1T"], ["--hidden-size"]),
    (["train-cost", "--model", "lama-3.1-405b"], ["did you mean", "llama-3.1-405b"]),
])
def test_missing_or_inconsistent_inputs(cli, args, fragments):
    assert_usage_error(cli(*args), *fragments)
