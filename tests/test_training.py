"""train-cost: hand-checked formulas, the step model, the search, the CLI contract and invariants."""

import csv
import io
import math
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aistack_cli.calc.collectives import Efficiency, Fabric, Tier
from aistack_cli.calc.hardware import Chip, gemm_s
from aistack_cli.calc.layout import (Batch, Layout, Space, candidates, layer_activation_bytes, memory_per_gpu,
                                     micro_batches, model_state, transformer)
from aistack_cli.calc.step import Network, StepModel, search
from aistack_cli.calc.training import (Cluster, Device, Failures, Power, Shape, attention_flop_per_token,
                                       checkpoint_interval_s, default_global_batch, gpus_for_target, host_w_per_gpu,
                                       lost_fraction, mfu_of, plausible_batch_tokens, total_flop, train_cost,
                                       wall_clock_s)
from aistack_cli.errors import InputError
from conftest import assert_usage_error

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30

# Llama 3.1 8B and 405B from their configs (specs/models): gated MLP, untied embeddings.
LLAMA_8B, _ = transformer(32, 4096, 32, 8, 128, 14336, 128256, 8.03e9, 8.03e9)
LLAMA_405B_ARCH, _ = transformer(126, 16384, 128, 8, 128, 53248, 128256, 405.9e9, 405.9e9)
LLAMA_405B = Shape(405.9e9, 405.9e9, 126, 16_384, 128, 128, LLAMA_405B_ARCH)
# GPT-3 175B at the paper's own count (174.6B): plain MLP (4h), tied 50,257 vocabulary.
GPT3, _ = transformer(96, 12288, 96, 96, 128, 49152, 50257, 174.6e9, 174.6e9)
# An H100 with round numbers: GEMMs at half the 1 PFLOP/s peak, attention at 0.7 of that, HBM 2 TB/s.
CHIP = Chip(0.5e15, 0.5e15, 0.35e15, 2e12)
NVLINK = Tier("nvlink", 450e9, 3.4e-6, True)
IB = Tier("ib", 50e9, 14e-6, True)


def network(gpus: int) -> Network:
    return Network(Fabric(max(gpus, 8) // 8 * 8, 8, NVLINK, IB, 8, Efficiency(0.8, 0.96, 0.55)))


H100 = Device("h100-sxm", 989.5e12, 81_559 * 2**20, 700.0, 2.49, 8, CHIP, 0.08 * 81_559 * 2**20)
DONE = ["train-cost", "--model", "gpt-3-175b", "--tokens", "300B", "--gpu", "a100-80gb", "--gpus", "1024", "--tp", "8",
        "--pp", "8", "--global-batch", "1536"]
SEARCH = ["train-cost", "--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm", "--gpus", "16384",
          "--search"]


# ---- FLOP, by hand -----------------------------------------------------------------------------

def test_six_n_d():
    # GPT-3: 6 * 175e9 * 300e9 = 3.15e23 (Brown et al. report 3.14e23 with 174.6B parameters).
    assert total_flop(175e9, 300e9) == pytest.approx(3.15e23)
    # Llama 3.1 405B: 6 * 405.9e9 * 15.6e12 = 3.799224e25.
    assert total_flop(405.9e9, 15.6e12) == pytest.approx(3.799224e25)


def test_palm_attention_term_is_reported_not_added():
    # 12 * L * a * h * s = 12 * 126 * 128 * 128 * 8192 = 202,937,204,736 FLOP per token;
    # against 6N = 2.4354e12 it is 202.937e9 / (2435.4e9 + 202.937e9) = 7.692 % of the total.
    assert attention_flop_per_token(LLAMA_405B, 8192) == 202_937_204_736
    result = train_cost(LLAMA_405B, 15.6e12, 8192)
    assert result.attention_flop_fraction == pytest.approx(202.937204736 / (2435.4 + 202.937204736))
    assert result.total_flop == pytest.approx(6 * 405.9e9 * 15.6e12)


def test_mfu_is_six_n_tokens_over_time_and_peak():
    # 6 * 8e9 * 1e6 tokens / (10 s * 100 GPUs * 1e15) = 4.8e16 / 1e18 = 0.048.
    assert mfu_of(8e9, 1e6, 10.0, 100, 1e15) == pytest.approx(0.048)


def test_batch_rule():
    # DeepSeek LLM's fit: 0.292 * (3.8e25)^0.3271 = 0.292 * 2.33e8 = 68.0M tokens for Llama 3 405B
    # (Meta used 16.8M, 0.25 of it); 0.21 of it over 8,192-token sequences = 1,743 -> 2,048 (2^11).
    assert plausible_batch_tokens(3.8e25) == pytest.approx(68.0e6, rel=0.01)
    assert default_global_batch(3.8e25, 8192, 0.21) == 2048


# ---- the shape behind a parameter count ----------------------------------------------------------

def test_transformer_infers_gated_mlp_and_untied_embeddings():
    # Llama 3.1 8B: attention (2·32 + 2·8)·4096·128 = 41.9M, MLP 3·4096·14336 = 176.2M per layer;
    # 32 layers = 6.98B, embeddings 2·128256·4096 = 1.05B: 8.03B. Gated and untied land closest.
    assert LLAMA_8B.gated and not LLAMA_8B.tied
    assert LLAMA_8B.attention_params == 41_943_040
    assert LLAMA_8B.nonexpert_params == pytest.approx(8.03e9, rel=0.001)
    # GPT-3: 12·96·12288² + 50257·12288 = 174.6B with a plain MLP and one (tied) embedding.
    assert not GPT3.gated and GPT3.tied


def test_mla_attention_is_what_the_active_count_leaves():
    # DeepSeek-V3: 37B active = 2·129280·7168 (1.85B) + 3 dense MLPs 3·3·7168·18432 (1.19B)
    # + 58 MoE layers of (8 + 1) experts 3·7168·2048 and a 7168·256 router (23.07B) + 61 attention
    # blocks: (37 − 26.11)B / 61 = 178.5M each (the config's projections count 187M).
    arch, _ = transformer(61, 7168, 128, 128, 128, 18432, 129280, 671e9, 37e9, experts=256, experts_active=8,
                          experts_shared=1, moe_layers=58, expert_ffn=2048, mla_rope_dim=64)
    assert arch.attention_params == pytest.approx(178.5e6, rel=0.01)
    assert arch.qk_head_dim == 192 and arch.v_head_dim == 128


# ---- memory ------------------------------------------------------------------------------------

def test_gpt_layer_activations_reduce_to_korthikanti_without_dropout():
    # Korthikanti et al. §4.1: 34·s·b·h per layer, of which 2 are the two 1-byte dropout masks. With
    # flash attention (no s² term), MHA and a plain 4h MLP the adapted count is 2h + 2h + 2·3h + 2h
    # + 4a (attention) + 2h + 2h + 2·4h + 2·4h (MLP) = 32h + 4a bytes per token.
    d, a = GPT3.hidden, GPT3.heads
    assert layer_activation_bytes(GPT3, "none", False, False) == 32 * d + 4 * a
    assert layer_activation_bytes(GPT3, "full", False, False) == 2 * d
    # Selective recompute drops the two norm outputs (2h each) and the activation output (2·4h).
    assert layer_activation_bytes(GPT3, "selective", False, False) == 32 * d + 4 * a - 4 * d - 8 * d


def test_zero_stages_shard_what_the_paper_says():
    # GPT-3 on 64-way data parallelism, tp 1 pp 1: P = 174.6B. Stage 0: 2 + 2 + 12 B/param;
    # stage 1: 2 + 2 + 12/64; stage 2: 2 + (2 + 12)/64; stage 3: 16/64 plus two gathered layers
    # (2 · 2 B · 12h² = 7.2 GB).
    p = GPT3.nonexpert_params
    totals = [model_state(GPT3, Layout(dp=64, zero=z), "bf16").total for z in range(4)]
    layer = 2 * 2.0 * (GPT3.attention_params + GPT3.dense_mlp_params)
    assert totals == pytest.approx([16 * p, 4 * p + 12 * p / 64, 2 * p + 14 * p / 64, 16 * p / 64 + layer])


def test_fp8_keeps_a_one_byte_weight_copy_and_fp32_state_is_4_4_8():
    p = GPT3.nonexpert_params
    state = model_state(GPT3, Layout(zero=0), "fp8")
    assert (state.weights, state.gradients, state.optimizer) == pytest.approx((3 * p, 2 * p, 12 * p))
    state = model_state(GPT3, Layout(zero=0), "fp32")
    assert (state.weights, state.gradients, state.optimizer) == pytest.approx((4 * p, 4 * p, 8 * p))


def test_pipeline_first_stage_holds_p_micro_batches_and_interleaving_more():
    # 1F1B: 126 layers over 16 stages, 16 micro-batches in flight on the first: 126/16 · 16 = 126
    # layers' worth. Interleaved with v = 2: (1 + 15/32) times that = 185.06.
    seq, micro = 8192, 64
    plain = memory_per_gpu(LLAMA_405B_ARCH, Layout(8, 16, 128, recompute="selective"), seq, micro, "bf16", 0)
    inter = memory_per_gpu(LLAMA_405B_ARCH, Layout(8, 16, 128, vpp=2, recompute="selective"), seq, micro, "bf16", 0)
    per_layer = layer_activation_bytes(LLAMA_405B_ARCH, "selective", False, False) * seq / 8
    assert plain.activations == pytest.approx(126 * per_layer)
    assert inter.activations == pytest.approx(126 * (1 + 15 / 32) * per_layer)


def test_llama_3_layout_fits_an_h100():
    # Llama 3 405B ran tp 8, pp 16, micro-batch 1 on 80 GB H100s (arXiv 2407.21783 Table 4).
    use = memory_per_gpu(LLAMA_405B_ARCH, Layout(8, 16, 128, zero=2, recompute="selective"), 8192, 16, "bf16",
                         H100.reserve_bytes)
    assert use.total <= H100.memory_bytes


# ---- batches -----------------------------------------------------------------------------------

def test_micro_batches_exact_nearest_and_interleaved():
    layout = Layout(8, 16, 128)
    assert micro_batches(layout, 2048) == 16  # 2048 / 128
    assert micro_batches(layout, 2000) == 0  # does not split
    # A target of 1,743 sequences within [1,162, 2,991]: 1743/128 = 13.6 -> 14 micro-batches.
    assert micro_batches(layout, Batch(1743, 2991, low=1162)) == 14
    # Interleaved pipelines need a multiple of pp: 13.6 -> 16.
    assert micro_batches(replace(layout, vpp=2), Batch(1743, 2991, low=1162)) == 16
    # floor: the most micro-batches within the cap: 2991 // 128 = 23.
    assert micro_batches(layout, Batch(2991, 2991, floor=True)) == 23


# ---- the step -------------------------------------------------------------------------------------

def model(arch=LLAMA_8B, seq=8192, gpus=64, **kw) -> StepModel:
    return StepModel(arch, seq, CHIP, network(gpus), kw.pop("precision", "bf16"), **kw)


def test_gemm_roofline():
    # 8192 x 4096 x 4096: 2.75e11 FLOP / 5e14 = 0.55 ms; bytes 2·(33.6M + 16.8M) + 2·33.6M = 168 MB / 2e12
    # = 84 us: compute-bound. 8192 x 4096 x 8: memory-bound, (2·(33.6M + 32.8k) + 2·65.5k) / 2e12 = 33.7 us.
    assert gemm_s(CHIP, 8192, 4096, 4096) == pytest.approx(2 * 8192 * 4096 * 4096 / 0.5e15)
    assert gemm_s(CHIP, 8192, 4096, 8) == pytest.approx((2 * (8192 * 4096 + 4096 * 8) + 2 * 8192 * 8) / 2e12)


def test_bubble_is_p_minus_1_over_v_m():
    # Narayanan et al. §2.2: bubble / ideal = (p − 1) / (v · m).
    m_ = model(LLAMA_405B_ARCH, gpus=16384)
    for v in (1, 2, 4):
        step = m_.step(Layout(8, 16, 128, vpp=v, recompute="selective"), 32)
        ideal = step.step_s - step.pp_bubble_s - step.dp_s - step.optimizer_s
        assert step.pp_bubble_s / ideal == pytest.approx(15 / (v * 32), rel=1e-9)


def test_recompute_and_overlap_order_the_step():
    layout = Layout(8, 2, 4, recompute="none")
    m_ = model(gpus=64)
    none, sel, full = (m_.step(replace(layout, recompute=r), 8).step_s for r in ("none", "selective", "full"))
    assert none < sel < full
    # Full recompute reruns the forward: at least a third more compute than none.
    assert full > none * 1.25
    overlapped = model(gpus=64, tp_overlap=True).step(layout, 8)
    plain = m_.step(layout, 8)
    assert overlapped.tp_s < plain.tp_s and overlapped.compute_s == pytest.approx(plain.compute_s)


def test_fp8_speeds_up_the_gemms_only():
    # FP8 at twice the GEMM rate: GEMMs halve, attention and memory-bound kernels do not, so the step
    # is well short of twice as fast.
    fast = StepModel(LLAMA_8B, 8192, replace(CHIP, gemm_flop_per_s=1e15, gemm_bytes=1.0), network(8), "fp8")
    slow = model(gpus=8)
    layout = Layout(1, 1, 8, recompute="none")
    ratio = slow.step(layout, 16).step_s / fast.step(layout, 16).step_s
    assert 1.2 < ratio < 1.9


def test_long_context_pays_for_attention():
    # At 128k the attention FLOP per token (a·2h·s/2 forward) outweigh 6N: tokens/s falls several-fold.
    short = model(seq=8192, gpus=8).step(Layout(1, 1, 2, cp=4, recompute="full"), 16)
    long = model(seq=131072, gpus=8).step(Layout(1, 1, 2, cp=4, recompute="full"), 1)
    per_token_short = short.step_s / (16 * 2 * 8192)
    per_token_long = long.step_s / (2 * 131072)
    assert per_token_long > 3 * per_token_short


def test_expert_parallelism_costs_all_to_all():
    arch, _ = transformer(61, 7168, 128, 128, 128, 18432, 129280, 671e9, 37e9, experts=256, experts_active=8,
                          experts_shared=1, moe_layers=58, expert_ffn=2048, mla_rope_dim=64)
    m_ = StepModel(arch, 4096, CHIP, network(1024), "bf16")
    within = m_.step(Layout(1, 8, 128, ep=8, recompute="selective"), 8)
    across = m_.step(Layout(1, 8, 128, ep=64, recompute="selective"), 8)
    assert 0 < within.ep_s < across.ep_s
    padded = StepModel(arch, 4096, CHIP, network(1024), "bf16", capacity_factor=1.25)
    assert padded.step(Layout(1, 8, 128, ep=8, recompute="selective"), 8).step_s > within.step_s


# ---- the search ------------------------------------------------------------------------------------

def test_search_ranks_fitting_layouts_by_time():
    m_ = model(LLAMA_405B_ARCH, gpus=16384)
    found = search(m_, 16384, 2048, Space(max_tp=8), H100.memory_bytes, H100.reserve_bytes, keep=10)
    times = [c.step.step_s for c in found.ranked]
    assert len(times) == 10 and times == sorted(times)
    assert all(c.memory_bytes <= H100.memory_bytes for c in found.ranked)
    assert found.searched >= found.fitting >= 10
    # Every fitting candidate is no faster than the best.
    for layout, micro in candidates(LLAMA_405B_ARCH, 16384, 8192, 2048, Space(max_tp=8, tp=8, pp=16)):
        assert m_.step(layout, micro).step_s >= times[0] - 1e-9


def test_search_names_the_closest_when_nothing_fits():
    found = search(model(LLAMA_405B_ARCH, gpus=8), 8, 8, Space(max_tp=8), H100.memory_bytes, H100.reserve_bytes)
    assert not found.ranked and found.closest is not None
    assert found.closest.memory_bytes > H100.memory_bytes


# ---- time, money, failures ----------------------------------------------------------------------------

def test_wall_clock_from_a_given_mfu():
    # 3.799224e25 / (16,384 * 989.5e12 * 0.40) = 5,858,671.8 s = 67.8 days, not modelled.
    assert wall_clock_s(3.799224e25, 16_384, 989.5e12, 0.40) == pytest.approx(5_858_671.8, rel=1e-7)
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, Cluster(16_384, mfu=0.40, network=network(16384)))
    assert result.wall_clock_s == pytest.approx(5_858_671.8, rel=1e-7)
    assert result.step_compute_s is None and result.mfu == 0.40
    assert any("not modelled" in a for a in result.assumptions)


def test_modelled_run_is_steps_times_step_time():
    cluster = Cluster(16_384, layout=Layout(8, 16, 128, vpp=2, recompute="selective"), global_batch=2048,
                      network=network(16384))
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, cluster)
    steps = 15.6e12 / (2048 * 8192)
    assert result.wall_clock_s == pytest.approx(steps * result.step_time_s)
    parts = (result.step_compute_s + result.step_tp_comm_s + result.step_dp_comm_s + result.step_pp_bubble_s
             + result.step_pp_comm_s + result.step_ep_comm_s + result.step_cp_comm_s + result.step_optimizer_s)
    assert parts == pytest.approx(result.step_time_s)
    assert result.mfu == pytest.approx(6 * 405.9e9 * 2048 * 8192 / (result.step_time_s * 16384 * 989.5e12))
    assert result.hfu > result.mfu
    assert result.gpu_hours == pytest.approx(16_384 * result.wall_clock_s / 3600)


def test_target_days_solves_for_a_whole_multiple_of_tp_pp():
    # 1e24 FLOP in 10 days at 1e15 * 0.5: 1e24 / (864,000 * 5e14) = 2,314.8 -> 2,315 GPUs,
    # and with tp * pp = 128 -> 19 * 128 = 2,432.
    assert gpus_for_target(1e24, 864_000, 1e15, 0.5) == 2315
    assert gpus_for_target(1e24, 864_000, 1e15, 0.5, 128) == 2432


def test_energy_with_host_share_from_the_system_sheet():
    # DGX H100: (10,200 W - 8 * 700 W) / 8 = 575 W of host per GPU.
    assert host_w_per_gpu(10_200, 8, 700) == 575
    # 1,024 GPUs * (700 + 575) W * 0.76 * PUE 1.1 = 1,091,481.6 W; for 10 h = 10,914,816 Wh;
    # at 400 g/kWh: 10,914.816 kWh * 0.4 kg = 4,365.93 kg.
    flop = 1024 * 1e15 * 0.5 * 36_000  # exactly 10 h on 1,024 GPUs of 1 PFLOP/s at MFU 0.5
    device = Device("x", 1e15, 80e9, 700.0, None)
    result = train_cost(Shape(1e9, 1e9), flop / 6e9, 2048, device, Cluster(1024, mfu=0.5),
                        power=Power(0.76, 1.1, 400.0, 10_200.0, 8))
    assert result.wall_clock_s == pytest.approx(36_000)
    assert result.average_power_w == pytest.approx(1_091_481.6)
    assert result.energy_wh == pytest.approx(10_914_816)
    assert result.co2_kg == pytest.approx(4_365.9264)


def test_no_price_means_no_cost_and_a_warning():
    device = Device("x", 1e15, 80e9, 700.0, None)
    result = train_cost(Shape(1e9, 1e9), 1e12, 2048, device, Cluster(8, mfu=0.4))
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
    result = train_cost(LLAMA_405B, 15.6e12, 8192, H100, Cluster(16_384, mfu=0.4), failures=failures)
    assert result.goodput_fraction == pytest.approx(1 - 0.15769, rel=1e-4)
    assert result.wall_clock_with_failures_s == pytest.approx(result.wall_clock_s / result.goodput_fraction)


def test_a_run_that_cannot_finish_is_bad_input():
    # Cluster MTBF of 1 GPU-hour / 100,000 GPUs = 0.036 s, shorter than a 60 s checkpoint.
    with pytest.raises(InputError, match="never finishes"):
        train_cost(LLAMA_405B, 1e12, 8192, H100, Cluster(100_000, mfu=0.4), failures=Failures(1.0, 60.0))


# ---- invariants ---------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.floats(1e18, 1e27), st.integers(1, 200_000), st.integers(1, 200_000),
       st.floats(1e12, 1e16), st.floats(0.01, 1.0))
def test_more_gpus_never_lengthen_the_run_at_a_given_mfu(flop, a, b, peak, mfu):
    few, many = sorted((a, b))
    assert wall_clock_s(flop, many, peak, mfu) <= wall_clock_s(flop, few, peak, mfu)


LAYOUTS = st.builds(Layout, st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 8]),
                    st.sampled_from([1, 2]), st.just(1), st.sampled_from([1, 2]), st.sampled_from([1, 2, 4]),
                    st.integers(0, 3), st.sampled_from(["none", "selective", "full"]))


@settings(max_examples=150, deadline=None)
@given(LAYOUTS, st.sampled_from(["bf16", "fp8", "fp32"]))
def test_more_zero_and_more_recompute_never_need_more_memory(layout, precision):
    if layout.vpp > 1 and layout.pp < 2:
        layout = replace(layout, vpp=1)
    use = memory_per_gpu(LLAMA_8B, layout, 4096, 8, precision, 0).total
    if layout.zero < 3:
        assert memory_per_gpu(LLAMA_8B, replace(layout, zero=layout.zero + 1), 4096, 8, precision, 0).total <= use
    heavier = {"none": "selective", "selective": "full", "full": "full"}[layout.recompute]
    assert memory_per_gpu(LLAMA_8B, replace(layout, recompute=heavier), 4096, 8, precision, 0).total <= use


@settings(max_examples=100, deadline=None)
@given(LAYOUTS, st.integers(1, 64))
def test_step_terms_are_finite_and_add_up(layout, micro):
    if layout.vpp > 1 and layout.pp < 2:
        layout = replace(layout, vpp=1)
    step = model(gpus=layout.gpus).step(layout, micro)
    terms = [step.compute_s, step.tp_s, step.dp_s, step.pp_bubble_s, step.pp_comm_s, step.ep_s, step.cp_s,
             step.optimizer_s]
    assert all(math.isfinite(t) and t >= 0 for t in terms)
    assert sum(terms) == pytest.approx(step.step_s)
    assert step.compute_s > 0


@settings(max_examples=100, deadline=None)
@given(st.floats(100, 1e7), st.floats(100, 1e7), st.integers(1, 100_000), st.floats(1, 3600), st.floats(0, 3600))
def test_higher_mtbf_never_lowers_goodput(mtbf_a, mtbf_b, gpus, checkpoint_s, restart_s):
    low, high = sorted((mtbf_a, mtbf_b))
    goodputs = []
    for mtbf in (low, high):
        try:
            result = train_cost(Shape(1e9, 1e9), 1e12, 2048, H100, Cluster(gpus, mfu=0.4),
                                failures=Failures(mtbf, checkpoint_s, restart_s))
        except InputError:
            goodputs.append(0.0)  # the run never finishes: no progress at all
            continue
        goodputs.append(result.goodput_fraction)
        assert 0 < result.goodput_fraction <= 1 and math.isfinite(result.wall_clock_with_failures_s)
    assert goodputs[1] >= goodputs[0]


# ---- the command line ----------------------------------------------------------------------------

def test_done_example_has_the_step_and_its_breakdown(cli):
    run = cli(*DONE, "--format", "json")
    assert run.code == 0, run.err
    results = run.json()["results"]
    for key in ("step_time_s", "step_compute_s", "step_tp_comm_s", "step_dp_comm_s", "step_pp_bubble_s",
                "step_ep_comm_s", "step_cp_comm_s", "step_optimizer_s", "mfu", "hfu", "tokens_per_s_per_gpu",
                "limiting_term"):
        assert results[key] is not None, key
    assert (results["tensor_parallel"], results["pipeline_parallel"], results["data_parallel"]) == (8, 8, 16)
    assert results["step_sequences"] == 1536 and results["gradient_accumulation_steps"] == 96
    assert 0.2 < results["mfu"] < 0.7


def test_full_recompute_is_slower_than_none(cli):
    none = cli(*DONE, "--recompute", "none", "--format", "json").json()["results"]
    full = cli(*DONE, "--recompute", "full", "--format", "json").json()["results"]
    assert none["fits"] and full["fits"]
    assert full["step_time_s"] > none["step_time_s"]
    assert full["activations_bytes_per_gpu"] < none["activations_bytes_per_gpu"]


def test_search_prints_a_ranked_table_with_limiting_terms(cli):
    run = cli(*SEARCH)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "aistack train-cost: 10 points"
    assert "layout" in run.out and "limiting_term" in run.out and "tp8" in run.out
    assert "layouts searched" in run.out and "ranked by time, best first" in run.out
    assert max(len(line) for line in lines) <= 120
    doc = cli(*SEARCH, "--format", "json").json()
    rows = [r["results"] for r in doc["rows"]]
    assert [r["rank"] for r in rows] == list(range(1, 11))
    times = [r["step_time_s"] for r in rows]
    assert times == sorted(times)
    assert all(r["fits"] and r["layout"] and r["limiting_term"] for r in rows)
    assert doc["results"] is None and len(doc["rows"]) == 10


def test_search_ranks_by_memory(cli):
    doc = cli(*SEARCH, "--rank-by", "memory", "--format", "json").json()
    memory = [r["results"]["memory_used_bytes_per_gpu"] for r in doc["rows"]]
    assert memory == sorted(memory)


def test_default_run_uses_the_searched_layout_and_says_so(cli):
    doc = cli(*SEARCH[:-1], "--format", "json").json()
    best = cli(*SEARCH, "--format", "json").json()["rows"][0]["results"]
    assert doc["results"]["layout"] == best["layout"]
    assert doc["results"]["step_time_s"] == pytest.approx(best["step_time_s"])
    assert any(a.startswith(f"layout {best['layout']}: the fastest of") for a in doc["assumptions"])


def test_mfu_override_is_not_modelled(cli):
    doc = cli(*DONE, "--mfu", "0.4", "--format", "json").json()
    assert doc["results"]["mfu"] == 0.4 and doc["inputs"]["mfu_given"] == 0.4
    assert doc["results"]["step_compute_s"] is None
    assert any("step time was not modelled" in a for a in doc["assumptions"])


def test_batch_beyond_the_rule_warns(cli):
    # GPT-3's 3.15e23 FLOP: plausible 0.292·C^0.3271 = 14.3M tokens = 6,970 sequences of 2,048.
    doc = cli(*DONE[:-1], "16384", "--format", "json").json()
    assert any("above the plausible" in w for w in doc["warnings"])


def test_target_days_beyond_any_batch_says_so(cli):
    doc = cli("train-cost", "--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm",
              "--target-days", "2", "--format", "json").json()
    assert any("no layout meets the 2.0-day target" in w for w in doc["warnings"])
    assert doc["results"]["wall_clock_s"] > 2 * 86400


def test_target_days_meets_a_reachable_target(cli):
    doc = cli("train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--target-days",
              "30", "--format", "json").json()
    assert doc["results"]["wall_clock_s"] <= 30 * 86400
    assert doc["results"]["gpus_solved"] % 8 == 0
    assert not any("no layout meets" in w for w in doc["warnings"])


def test_fp8_no_longer_reads_twice_as_fast(cli):
    base = ["train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024",
            "--tp", "4", "--pp", "4", "--global-batch", "1024", "--format", "json"]
    bf16 = cli(*base).json()["results"]["wall_clock_s"]
    fp8 = cli(*base, "--precision", "fp8").json()["results"]["wall_clock_s"]
    assert 1.1 < bf16 / fp8 < 1.8


def test_long_context_no_longer_reads_twice_as_fast(cli):
    base = ["train-cost", "--model", "llama-3.1-8b", "--tokens", "1T", "--gpu", "h100-sxm", "--gpus", "64",
            "--cp", "8", "--global-batch", "8", "--format", "json"]
    short = cli(*base, "--seq-len", "8192", "--global-batch", "64").json()["results"]["tokens_per_s"]
    long = cli(*base, "--seq-len", "131072").json()["results"]["tokens_per_s"]
    assert long < short / 2


def test_machine_formats_parse(cli):
    for fmt, load in (("yaml", yaml.safe_load), ("toml", tomllib.loads)):
        run = cli(*DONE, "--format", fmt)
        assert run.code == 0, run.err
        assert load(run.out)["results"]["total_flop"] == pytest.approx(3.15e23)


def test_csv_sweep_over_gpus(cli):
    run = cli(*DONE[:8], "512,1024", *DONE[9:], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [int(r["gpus"]) for r in rows] == [512, 1024]
    assert float(rows[0]["wall_clock_s"]) > float(rows[1]["wall_clock_s"])


def test_goodput_and_failure_model(cli):
    given_ = cli(*DONE, "--goodput", "0.9", "--format", "json").json()["results"]
    assert given_["wall_clock_with_failures_s"] == pytest.approx(given_["wall_clock_s"] / 0.9)
    doc = cli(*DONE, "--checkpoint-time", "60s", "--restart-time", "10min", "--format", "json").json()
    assert 0 < doc["results"]["goodput_fraction"] < 1
    assert any("419 unexpected interruptions" in a for a in doc["assumptions"])


def test_flop_only_without_a_gpu(cli):
    doc = cli("train-cost", "--params", "70B", "--tokens-per-param", "chinchilla", "--format", "json").json()
    assert doc["results"]["total_flop"] == pytest.approx(6 * 70e9 * 1.4e12)
    assert doc["results"]["wall_clock_s"] is None


def test_without_architecture_time_comes_from_the_mfu_default(cli):
    doc = cli("train-cost", "--params", "540.35B", "--tokens", "780B", "--gpu", "tpu-v4", "--gpus", "6144",
              "--format", "json").json()
    assert doc["results"]["mfu"] == 0.40 and doc["results"]["step_compute_s"] is None
    assert any("architecture unknown" in a for a in doc["assumptions"])
    assert doc["results"]["energy_wh"] is None and doc["results"]["cost_usd"] is None


def test_sheet_figures_can_be_replaced(cli):
    doc = cli(*DONE, "--seq-len", "2048", "--vocab-size", "64000", "--format", "json").json()
    assert doc["inputs"]["vocab_size"] == 64000
    assert any("vocab size 64,000 given, replacing the gpt-3-175b sheet's 50,257" in a for a in doc["assumptions"])


def test_custom_moe_model_runs_with_expert_parallelism(cli):
    doc = cli("train-cost", "--params", "30.5B", "--active-params", "3.3B", "--layers", "48", "--hidden-size", "2048",
              "--heads", "32", "--kv-heads", "4", "--head-dim", "128", "--ffn-size", "6144", "--vocab-size", "151936",
              "--experts", "128", "--experts-active", "8", "--expert-ffn-size", "768", "--tokens", "1T", "--gpu",
              "h100-sxm", "--gpus", "8", "--ep", "8", "--global-batch", "64", "--format", "json").json()
    results = doc["results"]
    assert results["expert_parallel"] == 8 and results["step_ep_comm_s"] > 0
    assert doc["inputs"]["capacity_factor"] == 1.0


def test_explain_shows_the_working(cli):
    run = cli(*DONE, "--explain")
    assert "total_flop = flop_per_token · tokens" in run.out
    assert "step_time_s = compute + exposed TP" in run.out and "Narayanan" in run.out


def test_readme_section_examples_are_the_commands_tested():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--search" in readme and "step_time_s" in readme


LLAMA = ["train-cost", "--model", "llama-3.1-405b", "--tokens", "15.6T"]
ON_H100 = ["--gpu", "h100-sxm", "--gpus", "16384"]


@pytest.mark.parametrize("extra, fragments", [
    (["--gpu", "a100-80gb", "--gpus", "8", "--precision", "fp8"], ["--precision", "a100-80gb has no fp8"]),
    ([*ON_H100, "--tp", "3"], ["--gpus", "groups of 3"]),
    (["--gpu", "h100-sxm", "--gpus", "8", "--tp", "16"], ["--tp/--pp/--cp", "only 8 GPUs"]),
    ([*ON_H100, "--target-days", "30"], ["--gpus", "--target-days"]),
    ([*ON_H100, "--dp", "100"], ["--dp"]),
    ([*ON_H100, "--pp", "200"], ["--pp", "126 layers"]),
    ([*ON_H100, "--ep", "8"], ["--ep", "no experts"]),
    ([*ON_H100, "--vpp", "2"], ["--vpp", "2 pipeline stages"]),
    ([*ON_H100, "--tp", "8", "--search"], ["--search"]),
    ([*ON_H100, "--global-batch", "2048", "--global-batch-tokens", "16M"], ["--global-batch-tokens"]),
    ([*ON_H100, "--global-batch-tokens", "1000"], ["--global-batch-tokens", "whole number"]),
    ([*ON_H100, "--tp", "8", "--pp", "16", "--global-batch", "100"], ["--global-batch", "do not split"]),
    ([*ON_H100, "--goodput", "0.9", "--checkpoint-time", "60"], ["--checkpoint-time", "--goodput"]),
    ([*ON_H100, "--mtbf-gpu-hours", "50000"], ["--checkpoint-time"]),
    ([*ON_H100, "--zero", "4"], ["--zero"]),
    ([*ON_H100, "--recompute", "some"], ["--recompute", "selective"]),
    ([*ON_H100, "--mfu", "1.5"], ["--mfu"]),
    ([*ON_H100, "--rank-by", "speed"], ["--rank-by"]),
    ([*ON_H100, "--pue", "0.9"], ["--pue"]),
    ([*ON_H100, "--system", "dgx-a100"], ["--system", "h100-sxm"]),
    ([*ON_H100, "--tokens-per-param", "20"], ["--tokens-per-param"]),
    (["--gpu", "h100-sxm", "--gpus", "-5"], ["--gpus"]),
    (["--gpu", "h100-sxm", "--gpus", "8", "--seq-len", "4.5"], ["--seq-len"]),
    (["--gpu", "h200x", "--gpus", "8"], ["unknown accelerator"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, extra, fragments):
    assert_usage_error(cli(*LLAMA, *extra), *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["train-cost"], ["--model"]),
    (["train-cost", "--params", "7B"], ["--tokens"]),
    (["train-cost", "--params", "7B", "--tokens", "1T", "--gpus", "8"], ["--gpus", "--gpu"]),
    (["train-cost", "--params", "7B", "--tokens", "1T", "--gpu", "h100-sxm"], ["--gpus", "--target-days"]),
    (["train-cost", "--params", "7B", "--active-params", "9B", "--tokens", "1T"], ["--active-params"]),
    (["train-cost", "--params", "7B", "--layers", "32", "--tokens", "1T"], ["--hidden-size"]),
    (["train-cost", "--params", "7B", "--ffn-size", "11008", "--tokens", "1T"], ["--ffn-size", "--layers"]),
    (["train-cost", "--params", "7B", "--layers", "32", "--hidden-size", "4096", "--heads", "32", "--kv-heads", "5",
      "--tokens", "1T"], ["--kv-heads"]),
    (["train-cost", "--params", "7B", "--layers", "32", "--hidden-size", "4096", "--heads", "32", "--experts", "8",
      "--tokens", "1T"], ["--experts"]),
    (["train-cost", "--params", "7B", "--tokens", "1T", "--gpu", "h100-sxm", "--gpus", "8", "--search"],
     ["--search", "architecture"]),
    (["train-cost", "--model", "lama-3.1-405b"], ["did you mean", "llama-3.1-405b"]),
])
def test_missing_or_inconsistent_inputs(cli, args, fragments):
    assert_usage_error(cli(*args), *fragments)
