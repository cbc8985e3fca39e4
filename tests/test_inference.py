"""inference-throughput: roofline serving maths, hand-checked; the CLI; published measurements."""

import csv
import io
import json
import math
import subprocess
import sys
import tomllib
from dataclasses import replace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistack_cli.calc.inference import (Deployment, Hardware, ModelShape, Targets, Workload, attention_flop_prefill,
                                        comm_s, experts_touched, plan, ring_allreduce_s, serve, timing,
                                        weight_params_read)
from aistack_cli.calc.kvcache import Attention, kv_bytes_per_sequence
from conftest import ROOT, assert_usage_error


# Llama 3.1 70B (config.json): 80 layers, hidden 8192, 64 heads, 8 KV heads, head_dim 128, 70.6B parameters.
LLAMA_70B = ModelShape(70.6e9, 70.6e9, 80, 8192, 64, 128, Attention(80, 8, 128, "gqa"))
# Mixtral 8x7B: 32 layers, hidden 4096, 8 experts of SwiGLU width 14336, top-2; 46.7B total, 12.9B active.
MIXTRAL = ModelShape(46.7e9, 12.9e9, 32, 4096, 32, 128, Attention(32, 8, 128, "gqa"),
                     experts_routed=8, experts_active=2, moe_layers=32, expert_ffn_size=14336)
# An H100-SXM-like device (3.35 TB/s, 989.5 dense bf16 TFLOP/s, NVLink 4: 450 GB/s, 3.4 µs) with
# memory large enough that a 70B model in bf16 fits on one, to isolate the bandwidth bound.
BIG_H100 = Hardware(memory_bytes=1e12, bandwidth_bytes_per_s=3.35e12, peak_flop_per_s=989.5e12,
                    link_bytes_per_s=450e9, link_latency_s=3.4e-6, scale_up_domain=8, price_usd_per_gpu_hour=2.0)
H100 = replace(BIG_H100, memory_bytes=80e9)
BF16 = Deployment(gpus=1, tp=1, pp=1, weight_bytes_per_param=2.0, kv_bytes_per_element=2.0, mbu=0.7, mfu=0.6)


# ---- decode: the bandwidth bound --------------------------------------------------------

def test_batch1_decode_of_70b_bf16_is_bandwidth_over_weight_bytes():
    # 70.6e9 params * 2 B = 141.2 GB read per token; at the full 3.35 TB/s that is
    # 3.35e12 / 141.2e9 = 23.73 tokens/s (FORMULAS.md: "about 24"). Two tokens of context add
    # 2 * 327,680 B of KV, and the compute (141.2 GFLOP at 594 TFLOP/s = 0.24 ms) hides under 42 ms.
    ideal = replace(BF16, mbu=1.0)
    result = serve(LLAMA_70B, Workload(1, 1, 2), ideal, BIG_H100)
    assert result.tokens_per_s_per_user == pytest.approx(3.35e12 / 141.2e9, rel=1e-4)
    assert result.decode_bound == "memory"
    # With the default MBU 0.7: 0.7 * 23.73 = 16.6 tokens/s.
    assert serve(LLAMA_70B, Workload(1, 1, 2), BF16, BIG_H100).tokens_per_s_per_user == pytest.approx(16.61, rel=1e-3)


def test_doubling_bandwidth_at_batch1_doubles_tokens_per_s():
    slow = serve(LLAMA_70B, Workload(1, 128, 128), BF16, BIG_H100)
    fast = serve(LLAMA_70B, Workload(1, 128, 128), BF16, replace(BIG_H100, bandwidth_bytes_per_s=6.7e12))
    assert fast.tokens_per_s_per_user / slow.tokens_per_s_per_user == pytest.approx(2.0, rel=0.01)


def test_large_batch_turns_decode_compute_bound():
    # Ridge: weight bytes W = 2N are read once per step while FLOP = B * 2N, so compute wins once
    # B > peak * MFU / (BW * MBU) = 989.5e12 * 0.6 / (3.35e12 * 0.7) = 253 sequences (short contexts).
    assert serve(LLAMA_70B, Workload(64, 16, 16), BF16, BIG_H100).decode_bound == "memory"
    assert serve(LLAMA_70B, Workload(512, 16, 16), BF16, BIG_H100).decode_bound == "compute"


def test_decode_step_reads_weights_once_plus_every_cache():
    # 32 sequences at mean context 2000 + 512/2 = 2256 tokens: 32 * 2256 * 327,680 B of KV
    # = 23,655,874,560 B on top of 141.2e9 B of weights, over 4 GPUs at 3.35 TB/s * 0.7.
    dep = replace(BF16, gpus=4, tp=4)
    step = timing(LLAMA_70B, Workload(32, 2000, 512), dep, BIG_H100).step
    assert step.bytes == pytest.approx(141.2e9 + 23_655_874_560)
    assert step.memory_s == pytest.approx((141.2e9 + 23_655_874_560) / (4 * 3.35e12 * 0.7))


# ---- fit: KV sizes come from kv-cache ---------------------------------------------------

def test_model_that_does_not_fit_says_so_with_the_shortfall_in_bytes():
    # One 80 GB GPU: usable 0.9 * 80e9 = 72e9 B; weights 141.2e9 B leave -69.2e9 B. One sequence of
    # 1000 + 24 = 1024 tokens (whole 16-token blocks) holds 1024 * 327,680 = 335,544,320 B.
    result = serve(LLAMA_70B, Workload(1, 1000, 24), BF16, H100)
    assert result.fits is False and result.max_sequences == 0
    assert result.shortfall_bytes == pytest.approx(69.2e9 + 335_544_320)
    assert result.cost_per_million_output_tokens_usd is None
    assert any("weights alone exceed" in w for w in result.warnings)


def test_kv_bytes_are_kv_cache_bytes_at_the_full_context():
    # 2000 + 512 = 2512 tokens (157 whole blocks of 16) * 327,680 B * 32 sequences = 26,340,229,120 B.
    result = serve(LLAMA_70B, Workload(32, 2000, 512), replace(BF16, gpus=4, tp=4), H100)
    per_sequence = kv_bytes_per_sequence(LLAMA_70B.attention, 2512, 2.0, 16)
    assert result.kv_total_bytes == 32 * per_sequence == 26_340_229_120
    # Per GPU: 72e9 - 141.2e9/4 = 36.7e9 free; a quarter of a sequence is 205,783,040 B -> 178.
    assert result.max_sequences == math.floor(36.7e9 / (per_sequence / 4)) == 178


def test_pipeline_stages_split_weights_and_cache_but_add_no_speed():
    # tp 2 x pp 2 holds the same bytes per GPU as tp 4 (KV heads split by 2, layers by 2) ...
    tp4 = serve(LLAMA_70B, Workload(8, 2000, 512), replace(BF16, gpus=4, tp=4), H100)
    tp2pp2 = serve(LLAMA_70B, Workload(8, 2000, 512), replace(BF16, gpus=4, tp=2, pp=2), H100)
    assert tp2pp2.max_sequences == tp4.max_sequences
    # ... but its stages run one after another: the step streams the weights over only 2 GPUs.
    assert tp2pp2.step_memory_s == pytest.approx(2 * tp4.step_memory_s)


# ---- FLOP, experts and communication -------------------------------------------------------

def test_causal_prefill_attention_flop():
    # 2 * heads * head_dim * layers * T^2 = 2 * 64 * 128 * 80 * 2000^2 = 5.24288e12 FLOP.
    assert attention_flop_prefill(LLAMA_70B, 2000) == pytest.approx(5.24288e12)


def test_sliding_window_caps_prefill_attention():
    # Window 4096, T = 8192: sum of min(i, w) gives 2*w*T - w^2 = 50,331,648 instead of T^2 = 67,108,864.
    windowed = replace(LLAMA_70B, attention=Attention(80, 8, 128, "gqa", sliding_window=4096, sliding_window_layers=80))
    assert attention_flop_prefill(windowed, 8192) == pytest.approx(2 * 64 * 128 * 80 * 50_331_648)


def test_moe_batch_touches_more_experts():
    # Top-2 of 8: one token hits 2; two tokens 8 * (1 - 0.75^2) = 3.5; a large batch hits all 8.
    assert experts_touched(8, 2, 1) == pytest.approx(2.0)
    assert experts_touched(8, 2, 2) == pytest.approx(3.5)
    assert experts_touched(8, 2, 1000) == pytest.approx(8.0)
    # One expert is 3 * 4096 * 14336 = 176,160,768 params; 32 layers * 8 = 45,097,156,608 routed; the
    # rest is 1,602,843,392. One token reads that plus 32 * 2 experts (11,274,289,152) = 12,877,132,544,
    # i.e. the published 12.9B active parameters.
    assert weight_params_read(MIXTRAL, 1) == pytest.approx(12_877_132_544)
    assert weight_params_read(MIXTRAL, 10_000) == pytest.approx(46.7e9)


def test_ring_allreduce_and_two_per_layer():
    # 32 * 8192 * 2 B = 524,288 B over 4 ranks: 6 * 3.4 µs + 6/4 * 524,288 / 450e9 = 22.148 µs.
    assert ring_allreduce_s(524_288, 4, H100) == pytest.approx(6 * 3.4e-6 + 1.5 * 524_288 / 450e9)
    assert ring_allreduce_s(524_288, 1, H100) == 0.0
    dep = replace(BF16, gpus=4, tp=4)
    assert comm_s(LLAMA_70B, 32, dep, H100) == pytest.approx(160 * ring_allreduce_s(524_288, 4, H100))


# ---- throughput, cost and planning -------------------------------------------------------

def test_costs_split_gpu_time_between_prompt_and_output_tokens():
    work, dep = Workload(16, 1000, 200), replace(BF16, gpus=2, tp=2)
    result = serve(LLAMA_70B, work, dep, BIG_H100)
    t = timing(LLAMA_70B, work, dep, BIG_H100)
    usd_per_s = 2 * 2.0 / 3600
    assert result.cost_per_million_output_tokens_usd == pytest.approx(usd_per_s * t.step.seconds / 16 * 1e6)
    # Input and output charges together pay for every second of the batch's GPU time.
    paid = (result.cost_per_million_input_tokens_usd * 16 * 1000
            + result.cost_per_million_output_tokens_usd * 16 * 199) / 1e6
    assert paid == pytest.approx(usd_per_s * t.cycle_s)
    assert result.output_tokens_per_s == pytest.approx(16 * 200 / t.cycle_s)


def test_target_itl_finds_the_largest_batch_that_meets_it():
    dep = replace(BF16, gpus=4, tp=4)
    found_dep, found = plan(LLAMA_70B, Workload(1, 2000, 512), dep, H100, Targets(itl_s=0.03), choose_gpus=False)
    assert serve(LLAMA_70B, found, found_dep, H100).itl_s <= 0.03
    assert serve(LLAMA_70B, replace(found, batch=found.batch + 1), found_dep, H100).itl_s > 0.03


def test_unreachable_target_falls_back_to_batch_1_with_a_warning():
    result_dep, work = plan(LLAMA_70B, Workload(1, 2000, 512), replace(BF16, gpus=4, tp=4), H100,
                            Targets(itl_s=1e-4), choose_gpus=False)
    result = serve(LLAMA_70B, work, result_dep, H100, Targets(itl_s=1e-4))
    assert work.batch == 1 and result.meets_targets is False
    assert any("no batch meets" in w for w in result.warnings)


# ---- invariants ---------------------------------------------------------------------------

sizes = st.sampled_from([1, 2, 4, 8])
batches = st.integers(min_value=1, max_value=2048)
lengths = st.integers(min_value=1, max_value=32_768)
models = st.sampled_from([LLAMA_70B, MIXTRAL])


@settings(max_examples=60, deadline=None)
@given(models, sizes, batches, lengths, lengths, st.floats(0.5e12, 10e12))
def test_more_bandwidth_never_slows_anything(model, tp, batch, prompt, output, bandwidth):
    dep, work = replace(BF16, gpus=tp, tp=tp), Workload(batch, prompt, output)
    slow = serve(model, work, dep, replace(H100, bandwidth_bytes_per_s=bandwidth))
    fast = serve(model, work, dep, replace(H100, bandwidth_bytes_per_s=bandwidth * 1.5))
    assert fast.itl_s <= slow.itl_s and fast.ttft_s <= slow.ttft_s and fast.e2e_latency_s <= slow.e2e_latency_s


@settings(max_examples=60, deadline=None)
@given(models, sizes, batches, lengths, lengths)
def test_bigger_batch_never_lowers_itl_or_throughput(model, tp, batch, prompt, output):
    dep = replace(BF16, gpus=tp, tp=tp)
    small = serve(model, Workload(batch, prompt, output), dep, H100)
    big = serve(model, Workload(batch + 1, prompt, output), dep, H100)
    assert big.itl_s >= small.itl_s
    assert big.output_tokens_per_s >= small.output_tokens_per_s * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(models, sizes, batches, lengths, lengths, st.floats(0.05, 1.0), st.floats(0.05, 1.0))
def test_results_are_finite_and_under_the_bandwidth_ceiling(model, tp, batch, prompt, output, mbu, mfu):
    dep = replace(BF16, gpus=tp, tp=tp, mbu=mbu, mfu=mfu)
    result = serve(model, Workload(batch, prompt, output), dep, H100)
    numbers = [v for v in vars(result).values() if isinstance(v, float)]
    assert all(math.isfinite(v) and v >= 0 for v in numbers)
    # A step cannot beat streaming the weights it reads over the group's full bandwidth.
    ceiling = tp * H100.bandwidth_bytes_per_s / (weight_params_read(model, math.ceil(batch)) * 2.0)
    assert result.tokens_per_s_per_user <= ceiling


@settings(max_examples=40, deadline=None)
@given(models, batches, lengths, lengths)
def test_more_gpus_never_hold_fewer_sequences(model, batch, prompt, output):
    work = Workload(batch, prompt, output)
    held = [serve(model, work, replace(BF16, gpus=n, tp=n), H100).max_sequences for n in (1, 2, 4, 8)]
    assert held == sorted(held)


# ---- the command line ---------------------------------------------------------------------

DONE = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--batch", "32",
        "--prompt", "2k", "--output", "512"]
COMPARE = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm,h200,b200,mi300x", "--target-itl", "50ms"]
REQUIRED = ["weights_bytes", "kv_total_bytes", "fits", "shortfall_bytes", "max_sequences", "prefill_s", "ttft_s", "itl_s",
            "tokens_per_s_per_user", "output_tokens_per_s", "requests_per_s", "e2e_latency_s", "decode_bound",
            "cost_per_million_output_tokens_usd", "cost_per_million_input_tokens_usd"]


def test_done_example_json(cli):
    run = cli(*DONE, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command"] == "inference-throughput"
    assert all(key in doc["results"] for key in REQUIRED)
    results, inputs = doc["results"], doc["inputs"]
    assert inputs["gpus"] == 4 and inputs["tp"] is None and inputs["batch"] == 32 and inputs["prompt_tokens"] == 2000
    assert results["tensor_parallel"] == 4 and results["concurrent_sequences"] == 32
    assert results["fits"] is True and results["decode_bound"] == "memory"
    assert results["kv_total_bytes"] == 26_340_229_120  # 32 * 2512 tokens * 327,680 B, as kv-cache gives
    assert results["weights_bytes"] == pytest.approx(141.2e9)
    assert not set(inputs) & set(results)
    assert any(a.startswith("MBU 0.7") for a in doc["assumptions"])


def test_done_example_table_reads_in_human_units(cli):
    run = cli(*DONE)
    assert run.code == 0, run.err
    for text in ("131.5 GiB", "24.5 GiB", "tokens/s", "ms", "$", "memory"):
        assert text in run.out, text
    assert "assumption: MBU 0.7" in run.out and "average context during decode" in run.out


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads)])
def test_machine_formats_parse(cli, fmt, load):
    run = cli(*DONE, "--format", fmt)
    assert run.code == 0, run.err
    assert load(run.out)["results"]["fits"] is True


def test_csv_has_one_row(cli):
    rows = list(csv.DictReader(io.StringIO(cli(*DONE, "--format", "csv").out)))
    assert len(rows) == 1 and rows[0]["decode_bound"] == "memory"


def test_comparison_meets_the_target_and_ranks_by_cost(cli):
    run = cli(*COMPARE, "--format", "json")
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert [r["inputs"]["gpu"] for r in rows] and len(rows) == 4
    costs = [r["results"]["cost_per_million_output_tokens_usd"] for r in rows]
    assert costs == sorted(costs)
    for row in rows:
        assert row["results"]["itl_s"] <= 0.05 and row["results"]["meets_targets"] is True
        # The batch is the largest that meets the target or the most that fit in memory.
        assert row["inputs"]["batch"] is None  # what a plan finds is a result
        assert row["results"]["concurrent_sequences"] <= row["results"]["max_sequences"]
    table = cli(*COMPARE)
    assert table.code == 0 and "mi300x" in table.out and "cost_per_million" in table.out


def test_planning_on_a_fixed_layout_meets_both_targets(cli, tmp_path):
    scenario = tmp_path / "plan.yaml"
    scenario.write_text("model: llama-3.1-70b\ngpu: h100-sxm\ngpus: 8\ntarget-itl: 30ms\ntarget-ttft: 500ms\n")
    doc = cli("inference-throughput", "--config", str(scenario), "--format", "json").json()
    assert doc["inputs"]["gpus"] == 8 and doc["results"]["tensor_parallel"] == 8
    assert doc["results"]["itl_s"] <= 0.03 and doc["results"]["ttft_s"] <= 0.5 and doc["results"]["meets_targets"]
    assert doc["results"]["concurrent_sequences"] > 1


def test_rows_that_do_not_fit_stay_and_sort_last(cli):
    run = cli("inference-throughput", "--model", "llama-3.1-405b", "--gpu", "h100-sxm,b200", "--gpus", "8",
              "--format", "json")
    rows = run.json()["rows"]
    assert [r["inputs"]["gpu"] for r in rows] == ["b200", "h100-sxm"]
    assert rows[1]["results"]["fits"] is False and rows[1]["results"]["cost_per_million_output_tokens_usd"] is None
    assert rows[1]["results"]["shortfall_bytes"] > 0
    assert "no" in cli("inference-throughput", "--model", "llama-3.1-405b", "--gpu", "h100-sxm,b200",
                       "--gpus", "8").out


def test_default_gpu_count_is_smallest_power_of_two_that_fits(cli):
    # 141.2 GB of weights: 2 H100s leave 2 * (0.9 * 85.52e9 - 70.6e9) = 12.7 GB for KV, about 30
    # sequences of 2512 tokens at 411.6 MB each (half per GPU): batch 8 fits on 2, batch 64 needs 4.
    assert cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--batch", "8",
               "--format", "json").json()["results"]["replica_gpus"] == 2
    assert cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--batch", "64",
               "--format", "json").json()["results"]["replica_gpus"] == 4


def test_compute_precision_rule(cli):
    def doc(*args):
        return cli("inference-throughput", "--model", "llama-3.1-8b", *args, "--format", "json").json()
    assert doc("--gpu", "h100-sxm", "--weights-dtype", "fp8")["inputs"]["compute_precision"] == "fp8"
    fallback = doc("--gpu", "a100-80gb", "--weights-dtype", "fp8")
    assert fallback["inputs"]["compute_precision"] == "bf16"
    assert any("lists no fp8 peak" in w for w in fallback["warnings"])
    assert doc("--gpu", "h100-sxm", "--weights-dtype", "int4")["inputs"]["compute_precision"] == "bf16"
    assert doc("--gpu", "h100-sxm", "--weights-dtype", "fp8")["inputs"]["mfu"] == 0.4
    assert doc("--gpu", "h100-sxm")["inputs"]["mfu"] == 0.6


def test_price_from_the_option_or_the_sheet_or_null_with_a_warning(cli):
    base = ["inference-throughput", "--model", "llama-3.1-8b", "--format", "json"]
    sheet = cli(*base, "--gpu", "h100-sxm").json()
    from aistack_cli import catalog
    assert sheet["inputs"]["price_usd_per_gpu_hour"] == catalog.load().get("accelerator", "h100-sxm").price_usd_per_hour
    assert any("dated 2025-04 to 2026-12" in a for a in sheet["assumptions"])  # the price basis is stated
    doubled = 2 * sheet["inputs"]["price_usd_per_gpu_hour"]
    given_price = cli(*base, "--gpu", "h100-sxm", "--price-per-gpu-hour", f"${doubled}").json()
    assert given_price["results"]["cost_per_million_output_tokens_usd"] == pytest.approx(
        2 * sheet["results"]["cost_per_million_output_tokens_usd"])
    unpriced = cli(*base, "--gpu", "b300").json()  # b300 has no price on the default basis
    assert unpriced["results"]["cost_per_million_output_tokens_usd"] is None
    assert any("no price" in w for w in unpriced["warnings"])


def test_explain_shows_sheet_numbers_and_formulas(cli):
    run = cli(*DONE, "--explain")
    assert run.code == 0
    for text in ("memory_bandwidth_bytes_per_s = h100-sxm sheet", "itl_s = max(step_memory_s", "ring all-reduce"):
        assert text in run.out, text


def test_mixture_of_experts_reads_only_touched_experts(cli):
    one = cli("inference-throughput", "--model", "mixtral-8x7b", "--gpu", "h100-sxm", "--gpus", "2",
              "--explain", "--format", "json").json()
    touched = next(s for s in one["rows"][0]["explain"] if s["quantity"] == "experts_touched_per_step")
    assert touched["value"] == pytest.approx(2.0)


@pytest.mark.parametrize("args, fragments", [
    (["--gpu", "h100-sxm"], ["--model"]),
    (["--model", "llama-3.1-70b"], ["--gpu"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--tp", "3"], ["--tp"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "2", "--tp", "4"], ["--tp", "only 2 GPUs"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "6", "--pp", "4"], ["--pp"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--pp", "100"], ["--pp", "80 layers"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--batch", "8", "--target-itl", "50ms"], ["--batch"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--target-itl", "fast"], ["--target-itl"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--weights-dtype", "fp3"], ["--weights-dtype"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--kv-dtype", "fp64"], ["--kv-dtype"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--mbu", "1.5"], ["--mbu"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--mfu", "0"], ["--mfu"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--prompt", "0"], ["--prompt"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--output", "1.5"], ["--output"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--price-per-gpu-hour", "-2"], ["--price-per-gpu-hour"]),
    (["--model", "llama-3.1-70b", "--gpu", "h1OO"], ["unknown accelerator"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("inference-throughput", *args), *fragments)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["--batch", "--prompt", "--output", "--gpus", "--tp", "--mbu", "--target-itl",
                        "--price-per-gpu-hour"]),
       st.text(alphabet="0123456789.-+eEkKmMsGB%$ ", min_size=1, max_size=8))
def test_no_input_gives_a_traceback(cli, flag, value):
    run = cli("inference-throughput", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", flag, value, "--format", "json")
    assert run.code in (0, 2), run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    if run.code == 0:
        json.loads(run.out)  # finite numbers only: the renderer refuses NaN


def test_json_run_stays_off_the_heavy_imports():
    script = ("import sys; from aistack_cli.cli import main; "
              "main(['inference-throughput', '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--format', 'json']); "
              "print([m for m in ('rich', 'yaml', 'pydantic') if m in sys.modules], file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_gpu_comparisons_are_ranked_but_other_sweeps_keep_their_order(cli):
    ranked = cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm,mi300x",
                 "--format", "json", "--quiet").json()["rows"]
    costs = [row["results"]["cost_per_million_output_tokens_usd"] for row in ranked]
    assert costs == sorted(costs)
    swept = cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4",
                "--batch", "64,1", "--format", "json", "--quiet").json()["rows"]
    assert [row["inputs"]["batch"] for row in swept] == [64, 1]
