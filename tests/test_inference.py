"""inference-throughput: the serving model under load, hand-checked; its invariants; the CLI."""

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

from aistack_cli.calc.collectives import Fabric, Tier, collective_time
from aistack_cli.calc.inference import (Deployment, Device, Efficiency, Engine, Layout, Load, ModelShape, Replica,
                                        Scenario, Speculation, Targets, Workload, attention_flop_per_pair,
                                        attention_flop_prefill, balls_into_bins, curve, experts_touched,
                                        layout_candidates, max_concurrency, plan, prefill_pairs, serve, server,
                                        tp_allreduce_s, weight_params_read)
from aistack_cli.calc.kvcache import Attention, WeightSplit, weights_bytes_per_gpu
from conftest import ROOT, assert_usage_error

# Llama 3.1 70B (config.json): 80 layers, hidden 8192, 64 heads, 8 KV heads of 128, 70.6B parameters. No vocabulary
# here, so no output head: the hand numbers stay round.
LLAMA_70B = ModelShape(70.6e9, 70.6e9, 80, 8192, 64, 128, Attention(80, 8, 128, "gqa"))
# Mixtral 8x7B: 32 layers, hidden 4096, 8 experts of SwiGLU width 14336, top-2; 46.7B total, 12.9B active.
MIXTRAL = ModelShape(46.7e9, 12.9e9, 32, 4096, 32, 128, Attention(32, 8, 128, "gqa"),
                     experts_routed=8, experts_active=2, moe_layers=32, expert_ffn_size=14336)
# DeepSeek-V3 (config.json): 61 layers, hidden 7168, 128 heads, MLA latent 512 + RoPE key 64, head dims 128;
# 256 routed experts top-8 of width 2048 in 58 MoE layers; 671B total, 37B active.
DSV3 = ModelShape(671e9, 37e9, 61, 7168, 128, 128, Attention(61, 128, 128, "mla", 512, 64), 256, 8, 58, 2048)
# An H100-SXM-like device (3.35 TB/s, 989.5 dense TFLOP/s) with memory large enough that a 70B model in
# bf16 fits on one, to isolate the bandwidth bound.
BIG_H100 = Device(memory_bytes=1e12, bandwidth_bytes_per_s=3.35e12, peak_flop_per_s=989.5e12,
                  peak_attention_flop_per_s=989.5e12, scale_up_domain=8, price_usd_per_gpu_hour=2.0)
EFF = Efficiency(mbu=0.7, mfu=0.6, mfu_attention=0.6)
ENGINE = Engine(max_num_seqs=1024, max_num_batched_tokens=8192, memory_utilization=0.9, kind="none")
NVSWITCH = Tier("nvswitch-3", 450e9, 3.4e-6, True)


def fabric_for(gpus, per_domain=None):
    return None if gpus < 2 else Fabric(gpus, min(gpus, 8), NVSWITCH)


def scenario(model=LLAMA_70B, work=Workload(2000, 512), eff=EFF, engine=ENGINE, device=BIG_H100, wbpp=2.0, kv=2.0,
             **extra):
    return Scenario(model, device, eff, engine, work, wbpp, kv, fabric_for=fabric_for, **extra)


def replica(model=LLAMA_70B, layout=Layout(), eff=EFF, wbpp=2.0, kv=2.0, spec=Speculation()):
    return Replica(model, layout, BIG_H100, eff, wbpp, kv, fabric_for, None, spec)


# ---- one step: the roofline per operator ---------------------------------------------------------

def test_batch1_decode_of_70b_bf16_is_bandwidth_over_weight_bytes():
    # 70.6e9 params * 2 B = 141.2 GB read per token; at the full 3.35 TB/s that is 42.15 ms, i.e.
    # 3.35e12 / 141.2e9 = 23.73 tokens/s (FORMULAS.md: "about 24"). The one sequence's 2 tokens of KV add
    # 2 * 327,680 B; the 141.2 GFLOP at 0.6 * 989.5 TFLOP/s (0.24 ms) hide under the memory time.
    ideal = replace(EFF, mbu=1.0)
    result = serve(scenario(work=Workload(1, 2), eff=ideal), Deployment(Layout()), Load("static", 1)).values
    assert result["itl_s"] == pytest.approx((141.2e9 + 2 * 327_680) / 3.35e12, rel=1e-9)
    assert result["tokens_per_s_per_user"] == pytest.approx(23.73, rel=1e-3)
    assert result["decode_bound"] == "memory"
    slower = serve(scenario(work=Workload(1, 2)), Deployment(Layout()), Load("static", 1)).values
    assert slower["tokens_per_s_per_user"] == pytest.approx(0.7 * 23.73, rel=1e-3)


def test_decode_step_reads_the_weights_once_plus_every_cache():
    # 32 sequences at context 2256 on TP4: each GPU streams 141.2e9 / 4 B of weights and a quarter of every
    # cache (8 KV heads over 4 shards): 32 * 2256 * 327,680 / 4 = 5,913,968,640 B, at 3.35 TB/s * 0.7.
    step = replica(layout=Layout(tp=4)).step(32, 2256)
    assert step.dense_s == pytest.approx(141.2e9 / 4 / (3.35e12 * 0.7))
    assert step.attention_s == pytest.approx(5_913_968_640 / (3.35e12 * 0.7))
    assert step.memory_s == pytest.approx((141.2e9 / 4 + 5_913_968_640) / (3.35e12 * 0.7))


def test_operators_are_bounded_separately():
    # 512 sequences at context 100 on one GPU: the dense GEMMs are compute-bound (512 * 141.2 GFLOP at
    # 593.7 TFLOP/s = 121.8 ms against 60.2 ms of weight streaming) while attention reads 512 * 100 * 327,680 B
    # (7.2 ms) for 512 * 100 * 80 * 65,536 FLOP (0.45 ms): memory-bound. The step is their sum, not the max
    # of the sums.
    step = replica().step(512, 100)
    assert step.dense_s == pytest.approx(512 * 141.2e9 / (989.5e12 * 0.6))
    assert step.attention_s == pytest.approx(512 * 100 * 327_680 / (3.35e12 * 0.7))
    assert step.attention_bound == "memory" and step.bound == "compute"
    assert step.seconds == pytest.approx(step.dense_s + step.attention_s)


def test_causal_prefill_attention_flop_and_a_cached_prefix():
    # 2 * heads * head_dim * layers * T^2 = 2 * 64 * 128 * 80 * 2000^2 = 5.24288e12 FLOP (4ah per pair,
    # T^2/2 pairs).
    assert attention_flop_prefill(LLAMA_70B, 2000) == pytest.approx(5.24288e12)
    # With the first 1000 tokens cached, only positions 1000..4000 are computed: (4000^2 - 1000^2)/2 pairs
    # per layer = 7.5e6, times 80 layers = 6e8.
    assert prefill_pairs(LLAMA_70B.attention, 1000, 4000) == pytest.approx(6e8)
    assert Workload(4000, 10, prefix_hit=0.25).prefill_tokens == 3000


def test_sliding_window_caps_prefill_attention():
    # Window 4096, T = 8192: sum of min(i, w) gives 2*w*T - w^2 = 50,331,648 instead of T^2 = 67,108,864.
    windowed = replace(LLAMA_70B, attention=Attention(80, 8, 128, "gqa", sliding_window=4096, sliding_window_layers=80))
    assert attention_flop_prefill(windowed, 8192) == pytest.approx(2 * 64 * 128 * 80 * 50_331_648)


def test_moe_batch_touches_more_experts():
    # Top-2 of 8: one token hits 2; two tokens 8 * (1 - 0.75^2) = 3.5; a large batch hits all 8.
    assert experts_touched(8, 2, 1) == pytest.approx(2.0)
    assert experts_touched(8, 2, 2) == pytest.approx(3.5)
    assert experts_touched(8, 2, 1000) == pytest.approx(8.0)
    # One expert is 3 * 4096 * 14336 = 176,160,768 params; 32 layers * 8 = 45,097,156,608 routed; the rest is
    # 1,602,843,392. One token reads that plus 32 * 2 experts (11,274,289,152) = 12,877,132,544, i.e. the
    # published 12.9B active parameters.
    assert weight_params_read(MIXTRAL, 1) == pytest.approx(12_877_132_544)
    assert weight_params_read(MIXTRAL, 10_000) == pytest.approx(46.7e9)


# ---- MLA, by hand for DeepSeek-V3 ------------------------------------------------------------------

def test_deepseek_v3_mla_attention_flop_are_the_absorbed_form():
    # Decode runs MLA absorbed (DeepSeek-V2 §2.1.3): each head scores the 512-wide latent plus the 64-wide RoPE
    # key and sums values in the latent: 2 * 128 * (2 * 512 + 64) = 278,528 FLOP per cached token per layer,
    # 4.25x the 4 * a * h = 65,536 a GQA reading of the same heads would give.
    assert attention_flop_per_pair(DSV3, decode=True) == 278_528
    assert attention_flop_per_pair(DSV3, decode=True) / (4 * 128 * 128) == pytest.approx(4.25)
    # Prefill runs the expanded form: q.k over 128 + 64, values of 128: 2 * 128 * (192 + 128) = 81,920.
    assert attention_flop_per_pair(DSV3, decode=False) == 81_920


def test_deepseek_v3_mla_latent_is_whole_on_every_tensor_parallel_rank():
    # TP8: every rank reads the whole latent of every sequence: 64 sequences at context 4096 in bf16 are
    # 64 * 4096 * 61 * 576 * 2 = 18,420,334,592 B per GPU, not an eighth of it; the heads (and the FLOP)
    # split 8 ways: 64 * 4096 * 61 * 278,528 / 8 = 5.567e11 FLOP per GPU.
    eff = Efficiency(0.7, 0.67, 0.67)
    step = replica(DSV3, Layout(tp=8), eff, 1.0).step(64, 4096)
    kv = 64 * 4096 * 61 * 576 * 2
    flop = 64 * 4096 * 61 * 278_528 / 8
    assert step.attention_s == pytest.approx(max(kv / (3.35e12 * 0.7), flop / (989.5e12 * 0.67)))
    assert step.attention_bound == "memory"


def test_deepseek_v3_mla_bound_comes_from_bytes_and_flop():
    # DP attention (tp 1, ep 8): a GPU runs all 128 heads over its own sequences. Per cached token per layer:
    # 278,528 FLOP at 0.67 * 989.5 TFLOP/s = 0.420 ns against 576 B (FP8 KV) at 0.7 * 3.35 TB/s = 0.246 ns:
    # compute-bound; BF16 KV doubles the bytes (0.491 ns): memory-bound. The GQA-style 65,536 FLOP (0.099 ns)
    # would have called both memory-bound.
    eff = Efficiency(0.7, 0.67, 0.67)
    fp8 = replica(DSV3, Layout(tp=1, ep=8), eff, 1.0, kv=1.0).step(64, 4096)
    bf16 = replica(DSV3, Layout(tp=1, ep=8), eff, 1.0, kv=2.0).step(64, 4096)
    assert fp8.attention_bound == "compute" and bf16.attention_bound == "memory"
    # 8 sequences per GPU (64 over 8 attention groups), each 4096 * 61 tokens' worth of latent.
    assert bf16.attention_s == pytest.approx(8 * 4096 * 61 * 1152 / (3.35e12 * 0.7))


def test_expert_parallelism_splits_the_experts_not_the_attention():
    # DeepSeek-V3 in FP8 over EP8 with DP attention: each GPU holds all non-expert weights (671B - 58 * 256 *
    # 44,040,192 routed = 17.08B) and an eighth of the routed ones.
    routed = 58 * 256 * 3 * 7168 * 2048
    split = WeightSplit(671e9, routed, 0.0)
    assert weights_bytes_per_gpu(split, 1.0, tp=1, ep=8) == pytest.approx((671e9 - routed) + routed / 8)
    rep = replica(DSV3, Layout(tp=1, ep=8), wbpp=1.0)
    assert rep.experts_local == 32 and rep.groups == 8
    assert rep.step(64, 1000).comm_s > 0  # dispatch and combine through the collectives engine


def test_busiest_expert_rank_under_uniform_routing():
    # 2048 token-expert pairs per rank on 72 ranks: 1 + sqrt(2 ln 72 / 2048) = 1.0646.
    assert balls_into_bins(2048, 72) == pytest.approx(1 + math.sqrt(2 * math.log(72) / 2048))
    assert balls_into_bins(2048, 1) == 1.0


# ---- communication: one engine ------------------------------------------------------------------

def test_tensor_parallel_allreduce_is_the_collectives_engine():
    fabric = fabric_for(8)
    for tokens in (1, 32, 1000, 100_000):
        size = tokens * 8192 * 2
        assert tp_allreduce_s(tokens, 8192, fabric) == pytest.approx(
            collective_time("all-reduce", size, fabric).time_s, rel=1e-12)
    assert curve("all-to-all", Fabric(16, 8, NVSWITCH, Tier("ib", 50e9, 14e-6, True), 8)).seconds(1e6) == \
        pytest.approx(collective_time("all-to-all", 1e6, Fabric(16, 8, NVSWITCH, Tier("ib", 50e9, 14e-6, True),
                                                                 8)).time_s, rel=1e-12)


def test_per_layer_allreduce_equals_allreduce_time_for_the_same_fabric(cli):
    # h100-sxm serves on the dgx-h100 system sheet (NVSwitch gen 3 and 8 NDR NICs): the same fabric as
    # allreduce-time --system dgx-h100. A decode step of 32 tokens all-reduces 32 * 8192 * 2 = 524,288 B.
    from aistack_cli import catalog
    from aistack_cli.commands.inference_throughput import fabric_builder

    fabric = fabric_builder(catalog.load(None), "h100-sxm")(8)
    reference = cli("allreduce-time", "--size", "524288B", "--gpus", "8", "--system", "dgx-h100", "--format", "json")
    assert reference.code == 0, reference.err
    assert tp_allreduce_s(32, 8192, fabric) == pytest.approx(reference.json()["results"]["time_s"], rel=1e-9)


def test_two_allreduces_per_layer_under_tensor_parallelism():
    rep = replica(layout=Layout(tp=4))
    assert rep.allreduces_per_step == 160
    step = rep.step(32, 100)
    assert step.comm_s == pytest.approx(160 * tp_allreduce_s(32, 8192, fabric_for(4)))


# ---- the batching model ----------------------------------------------------------------------------

def test_closed_loop_interleaves_prefill_chunks_with_decodes():
    # 10 requests of 4000 + 401 tokens always in the system on one GPU (budget 8192). Each request spends
    # one step in prefill and 400 in decode, so a step finishes 10/401 requests and carries 4000 * 10/401
    # = 99.75 prompt tokens on average: a 4000-token chunk in 99.75/4000 = 2.49 % of steps. A decoding request
    # sees the other 9 requests' chunks: 2.49 % * 9/10 of its steps are mixed.
    sc = scenario(work=Workload(4000, 401))
    srv, _ = server(sc, Layout())
    op = srv.closed(10)
    decodes = 10 * 400 / 401
    share = (10 / 401 * 4000 / 4000) * 9 / 10
    assert op.decodes == pytest.approx(decodes)
    assert op.mixed_fraction == pytest.approx(share)
    tau_d = srv.r.step(decodes, 4200.5)
    tau_m = srv.r.step(decodes, 4200.5, 4000, prefill_pairs(LLAMA_70B.attention, 0, 4000))
    assert op.itl == pytest.approx(share * tau_m.seconds + (1 - share) * tau_d.seconds)
    assert op.itl > tau_d.seconds  # prefill interference
    # A new request's prompt runs beside the other 9 requests' decodes; Little's law gives the throughput.
    own = srv.r.step(decodes * 9 / 10, 4200.5, 4000, prefill_pairs(LLAMA_70B.attention, 0, 4000))
    assert op.ttft == pytest.approx(own.seconds)
    assert op.throughput == pytest.approx(10 / (own.seconds + 400 * op.itl))


def test_one_request_sees_no_interference():
    srv, _ = server(scenario(work=Workload(4000, 401)), Layout())
    op = srv.closed(1)
    assert op.mixed_fraction == 0 and op.itl == pytest.approx(srv.r.step(1, 4200.5).seconds)
    assert op.ttft == pytest.approx(op.prefill_alone)


def test_requests_beyond_the_slots_queue_and_ttft_holds_the_wait():
    # Cap the engine at 8 running sequences: with 24 in the system, 16 wait; Little's law puts their wait
    # in the TTFT: 16 / throughput.
    sc = scenario(work=Workload(1000, 200), engine=replace(ENGINE, max_num_seqs=8))
    srv, mem = server(sc, Layout())
    assert srv.cap == 8
    full, queued = srv.closed(8), srv.closed(24)
    assert queued.throughput == pytest.approx(full.throughput)
    assert queued.ttft == pytest.approx(full.ttft + 16 / full.throughput)
    assert queued.saturated == "slots"


def test_prefill_bound_pace_is_the_token_budget():
    # 1000 users with 8000-token prompts and 10-token answers on a 2048-token budget: the budget clears
    # 2048 / (8000 + 9) requests per step, every step carries a full chunk, and Little's law gives the TTFT.
    sc = scenario(work=Workload(8000, 10), engine=replace(ENGINE, max_num_batched_tokens=2048, max_num_seqs=2000))
    srv, _ = server(sc, Layout())
    op = srv.closed(1000)
    assert op.saturated == "prefill" and op.mixed_fraction == 1.0
    assert op.throughput == pytest.approx(2048 / (8000 + 9) / op.mixed_step.seconds)
    assert 1000 / op.throughput == pytest.approx(op.ttft + 9 * op.itl)


def test_static_batch_pays_for_every_prompt():
    # The offline benchmark: 16 prompts of 1000 prefilled in one pass, then 199 decode steps at context 1100.
    sc = scenario(work=Workload(1000, 200))
    srv, _ = server(sc, Layout(tp=2))
    op = srv.static(16)
    first = srv.r.step(0, 1100, 16 * 1000, 16 * prefill_pairs(LLAMA_70B.attention, 0, 1000))
    decode = srv.r.step(16, 1100)
    assert op.ttft == pytest.approx(first.seconds)
    assert op.throughput * 200 == pytest.approx(16 * 200 / (first.seconds + 199 * decode.seconds))


def test_open_loop_queues_more_as_the_rate_rises_and_overload_has_no_ttft():
    srv, _ = server(scenario(work=Workload(1000, 200)), Layout())
    capacity = srv.capacity()
    light, heavy = srv.open(0.05 * capacity), srv.open(0.9 * capacity)
    assert light.ttft < heavy.ttft and light.itl <= heavy.itl
    # At a trickle a request waits half a step on average, then runs its prompt alone.
    assert light.ttft == pytest.approx(light.prefill_alone + light.decode_step.seconds / 2, rel=0.05)
    over = srv.open(2 * capacity)
    assert over.ttft is None and over.throughput == pytest.approx(capacity)


def test_speculative_decoding_tokens_per_step():
    # k = 3 drafts at acceptance 0.8: (1 - 0.8^4) / (1 - 0.8) = 2.952 tokens per step (Leviathan et al.).
    assert Speculation(3, 0.8).expected_tokens == pytest.approx(2.952)
    assert Speculation(3, 1.0).expected_tokens == 4 and Speculation().expected_tokens == 1
    # Each step verifies 4 tokens per sequence and runs 3 draft passes; the ITL is that over 2.952.
    sc = scenario(work=Workload(100, 300), spec=Speculation(3, 0.8))
    srv, _ = server(sc, Layout())
    op = srv.closed(1)
    step = srv.r.step(max(op.decodes, 1.0), 250, verify=4, draft=True)  # a decoding request sees itself
    assert step.draft_s > 0
    assert op.itl == pytest.approx(step.seconds / 2.952)


def test_disaggregated_decode_has_no_prefill_interference():
    from aistack_cli.calc.inference import Disaggregation

    dis = Disaggregation(Layout(tp=2), prefill_gpus=4)
    result = serve(scenario(work=Workload(4000, 400)), Deployment(Layout(tp=2), 2, dis), Load("concurrency", 64)).values
    assert result["prefill_interference_s"] == 0 and result["prefill_pool_gpus"] == 4 and result["total_gpus"] == 8
    colocated = serve(scenario(work=Workload(4000, 400)), Deployment(Layout(tp=2), 4), Load("concurrency", 64)).values
    assert colocated["prefill_interference_s"] > 0


# ---- planning -------------------------------------------------------------------------------------

def test_users_plan_gives_replicas_that_meet_the_target():
    sc = scenario(work=Workload(2000, 256), device=replace(BIG_H100, memory_bytes=80e9),
                  targets=Targets(itl_s=0.04))
    found = plan(sc, layout_candidates(LLAMA_70B, 8), "users", 1000)
    srv, _ = server(sc, found.deployment.layout)
    n = int(found.per_replica)
    assert found.deployment.replicas == math.ceil(1000 / n)
    assert srv.closed(n).itl <= 0.04 < srv.closed(n + 1).itl or n == srv.cap
    assert max_concurrency(srv, sc.targets) == n


def test_rate_plan_sizes_replicas_by_goodput():
    sc = scenario(work=Workload(1000, 200), targets=Targets(itl_s=0.06, ttft_s=1.0))
    found = plan(sc, [Layout(tp=2)], "rate", 50.0)
    assert found.deployment.replicas == math.ceil(50.0 / found.per_replica)
    result = serve(sc, found.deployment, found.load).values
    assert result["meets_targets"] is True and result["goodput_requests_per_s"] >= 50.0 * (1 - 1e-6)


# ---- invariants ------------------------------------------------------------------------------------

loads = st.integers(min_value=1, max_value=400)
lengths = st.integers(min_value=1, max_value=16_000)
models = st.sampled_from([LLAMA_70B, MIXTRAL])
sizes = st.sampled_from([1, 2, 4, 8])


@settings(max_examples=60, deadline=None)
@given(models, sizes, loads, lengths, lengths)
def test_more_users_never_lower_itl_or_throughput(model, tp, n, prompt, output):
    srv, _ = server(scenario(model, Workload(prompt, output)), Layout(tp=tp))
    small, big = srv.closed(n), srv.closed(n + 1)
    assert big.itl >= small.itl * (1 - 1e-9)
    assert big.throughput >= small.throughput * (1 - 1e-3)  # a plateau (within 0.1 %) once compute-bound


@settings(max_examples=60, deadline=None)
@given(models, sizes, loads, lengths, lengths, st.floats(0.5e12, 10e12))
def test_more_bandwidth_never_slows_anything(model, tp, n, prompt, output, bandwidth):
    def run(bw):
        sc = scenario(model, Workload(prompt, output), device=replace(BIG_H100, bandwidth_bytes_per_s=bw))
        return serve(sc, Deployment(Layout(tp=tp)), Load("concurrency", n)).values
    slow, fast = run(bandwidth), run(bandwidth * 1.5)
    assert fast["itl_s"] <= slow["itl_s"] * (1 + 1e-9) and fast["ttft_s"] <= slow["ttft_s"] * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(models, sizes, loads, lengths, lengths)
def test_littles_law_holds_in_the_closed_loop(model, tp, n, prompt, output):
    srv, _ = server(scenario(model, Workload(prompt, output)), Layout(tp=tp))
    op = srv.closed(n)
    e2e = op.ttft + (output - 1) * op.itl
    assert n == pytest.approx(op.throughput * e2e, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(models, sizes, st.sampled_from(["concurrency", "rate", "static"]), loads, lengths, lengths,
       st.floats(0.05, 1.0), st.floats(0.05, 1.0))
def test_results_are_finite_and_under_the_bandwidth_ceiling(model, tp, mode, n, prompt, output, mbu, mfu):
    sc = scenario(model, Workload(prompt, output), eff=Efficiency(mbu, mfu, mfu))
    result = serve(sc, Deployment(Layout(tp=tp)), Load(mode, n if mode != "rate" else n / 100)).values
    numbers = [v for v in result.values() if isinstance(v, float)]
    assert all(math.isfinite(v) and v >= 0 for v in numbers)
    # A step cannot beat streaming the dense weights over the group's full bandwidth.
    ceiling = tp * BIG_H100.bandwidth_bytes_per_s / (weight_params_read(model, 1) * 2.0)
    assert result["tokens_per_s_per_user"] <= ceiling * (1 + 1e-9)


# ---- the command line ------------------------------------------------------------------------------

LOAD_TEST = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "2",
             "--weights-dtype", "fp8", "--concurrency", "50", "--prompt", "5000", "--output", "500"]
STATIC = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--batch", "32",
          "--prompt", "2k", "--output", "512"]
COMPARE = ["inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm,h200,b200,mi300x", "--target-itl", "50ms"]


def test_load_test_reports_ttft_and_itl_with_prefill_interference(cli):
    run = cli(*LOAD_TEST, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    results, inputs = doc["results"], doc["inputs"]
    assert inputs["concurrency"] == 50 and inputs["kv_dtype"] == "fp8" and inputs["compute_precision"] == "fp8"
    assert results["concurrent_sequences"] == 50 and results["running_sequences"] == 50
    assert results["prefill_interference_s"] > 0 and results["itl_s"] > results["prefill_interference_s"]
    assert results["ttft_s"] >= results["prefill_s"] * 0.99
    assert results["output_tokens_per_s"] == pytest.approx(results["requests_per_s"] * 500)
    assert not set(inputs) & set(results)
    assert any("mbu-serving-hopper" in a for a in doc["assumptions"])
    assert any("closed loop" in a for a in doc["assumptions"])


def test_users_and_target_give_replicas_and_gpus(cli):
    run = cli("inference-throughput", "--model", "llama-3.1-405b", "--gpu", "h200", "--users", "2000",
              "--target-itl", "40ms", "--format", "json")
    assert run.code == 0, run.err
    results, price = run.json()["results"], run.json()["inputs"]["price_usd_per_gpu_hour"]
    assert results["replicas"] > 1 and results["total_gpus"] == results["replicas"] * results["replica_gpus"]
    assert results["concurrent_sequences"] == 2000 and results["itl_s"] <= 0.04 and results["meets_targets"]
    assert results["cost_usd_per_hour"] == pytest.approx(results["total_gpus"] * price)


def test_deepseek_expert_parallel_disaggregated_runs(cli):
    run = cli("inference-throughput", "--model", "deepseek-v3", "--gpu", "h100-sxm", "--gpus", "16", "--ep", "16",
              "--dp-attention", "--weights-dtype", "fp8", "--disaggregate", "--concurrency", "2048", "--format", "json")
    assert run.code == 0, run.err
    results = run.json()["results"]
    assert results["expert_parallel"] == 16 and results["attention_data_parallel"] == 16
    assert results["prefill_pool_gpus"] >= 1 and results["kv_transfer_s"] > 0
    assert results["total_gpus"] == 16 + results["prefill_pool_gpus"]
    assert results["prefill_interference_s"] == 0


def test_speculative_prefix_rate_and_shape_options(cli):
    base = ["inference-throughput", "--gpu", "h100-sxm", "--format", "json"]
    spec = cli(*base, "--model", "llama-3.1-8b", "--speculative", "3", "--acceptance", "0.8").json()["results"]
    plain = cli(*base, "--model", "llama-3.1-8b").json()["results"]
    assert spec["tokens_per_step"] == pytest.approx(2.952) and spec["itl_s"] < plain["itl_s"]
    cached = cli(*base, "--model", "llama-3.1-8b", "--prompt", "8000", "--prefix-hit", "0.75").json()["results"]
    cold = cli(*base, "--model", "llama-3.1-8b", "--prompt", "8000").json()["results"]
    assert cached["ttft_s"] < cold["ttft_s"] / 2
    rate = cli(*base, "--model", "llama-3.1-8b", "--rate", "5").json()["results"]
    assert rate["requests_per_s"] == pytest.approx(5) and rate["queue_s"] > 0
    shape = cli(*base, "--params", "70.6B", "--layers", "80", "--hidden-size", "8192", "--heads", "64",
                "--kv-heads", "8", "--ffn-size", "28672", "--vocab-size", "128256", "--gpus", "4").json()
    named = cli(*base, "--model", "llama-3.1-70b", "--gpus", "4").json()
    assert shape["inputs"]["model"] is None
    assert shape["results"]["itl_s"] == pytest.approx(named["results"]["itl_s"], rel=1e-9)


def test_static_batch_json_and_kv_from_kv_cache(cli):
    doc = cli(*STATIC, "--format", "json").json()
    results, inputs = doc["results"], doc["inputs"]
    assert inputs["batching"] == "static" and inputs["batch"] == 32
    assert results["tensor_parallel"] == 4 and results["concurrent_sequences"] == 32 and results["fits"] is True
    assert results["kv_total_bytes"] == 26_340_229_120  # 32 * 2512 tokens * 327,680 B, as kv-cache gives
    assert results["weights_bytes"] == pytest.approx(141.2e9)


def test_table_reads_in_human_units(cli):
    run = cli(*LOAD_TEST)
    assert run.code == 0, run.err
    for text in ("GiB", "tokens/s", "ms", "$", "prefill_interference_s", "assumption: MBU"):
        assert text in run.out, text


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads)])
def test_machine_formats_parse(cli, fmt, load):
    run = cli(*STATIC, "--format", fmt)
    assert run.code == 0, run.err
    assert load(run.out)["results"]["fits"] is True


def test_csv_has_one_row(cli):
    rows = list(csv.DictReader(io.StringIO(cli(*STATIC, "--format", "csv").out)))
    assert len(rows) == 1 and rows[0]["decode_bound"] == "memory"


def test_comparison_meets_the_target_and_ranks_by_cost(cli):
    run = cli(*COMPARE, "--format", "json")
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert len(rows) == 4
    costs = [r["results"]["cost_per_million_output_tokens_usd"] for r in rows]
    assert costs == sorted(costs)
    for row in rows:
        assert row["results"]["itl_s"] <= 0.05 and row["results"]["meets_targets"] is True
        assert row["inputs"]["concurrency"] is None  # what a plan finds is a result
        assert row["results"]["concurrent_sequences"] <= row["results"]["max_sequences"]


def test_planning_on_a_fixed_layout_meets_both_targets(cli, tmp_path):
    scenario_file = tmp_path / "plan.yaml"
    scenario_file.write_text("model: llama-3.1-70b\ngpu: h100-sxm\ngpus: 8\ntarget-itl: 30ms\ntarget-ttft: 500ms\n")
    doc = cli("inference-throughput", "--config", str(scenario_file), "--format", "json").json()
    assert doc["inputs"]["gpus"] == 8 and doc["results"]["tensor_parallel"] == 8
    assert doc["results"]["itl_s"] <= 0.03 and doc["results"]["ttft_s"] <= 0.5 and doc["results"]["meets_targets"]
    assert doc["results"]["concurrent_sequences"] > 1 and doc["results"]["goodput_requests_per_s"] > 0


def test_rows_that_do_not_fit_stay_and_sort_last(cli):
    run = cli("inference-throughput", "--model", "llama-3.1-405b", "--gpu", "h100-sxm,b200", "--gpus", "8",
              "--format", "json")
    rows = run.json()["rows"]
    assert [r["inputs"]["gpu"] for r in rows] == ["b200", "h100-sxm"]
    assert rows[1]["results"]["fits"] is False and rows[1]["results"]["cost_per_million_output_tokens_usd"] is None
    assert rows[1]["results"]["shortfall_bytes"] > 0


def test_default_gpu_count_is_smallest_power_of_two_that_fits(cli):
    def gpus(*args):
        return cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", *args,
                   "--format", "json").json()["results"]["replica_gpus"]
    assert gpus("--batch", "8") == 2
    assert gpus("--batch", "64") == 4


def test_efficiency_defaults_follow_the_family_and_precision(cli):
    def doc(*args):
        return cli("inference-throughput", "--model", "llama-3.1-8b", *args, "--format", "json").json()
    assert doc("--gpu", "h100-sxm", "--weights-dtype", "fp8")["inputs"]["compute_precision"] == "fp8"
    fallback = doc("--gpu", "a100-80gb", "--weights-dtype", "fp8")
    assert fallback["inputs"]["compute_precision"] == "bf16"
    assert any("lists no fp8 peak" in a for a in fallback["assumptions"])
    assert any("weight-only fp8" in a for a in fallback["assumptions"])
    from aistack_cli import catalog

    sheets = catalog.load(None)
    for gpu, sheet in (("h100-sxm", "mbu-serving-hopper"), ("a100-80gb", "mbu-serving-ampere"),
                       ("b200", "mbu-serving-blackwell"), ("mi300x", "mbu-serving-cdna"), ("tpu-v5p", "mbu-serving")):
        assert doc("--gpu", gpu)["inputs"]["mbu"] == sheets.get("default", sheet).value, gpu
    assert doc("--gpu", "h100-sxm", "--weights-dtype", "fp8")["inputs"]["mfu"] == \
        sheets.get("default", "mfu-serving-8bit").value
    assert doc("--gpu", "h100-sxm")["inputs"]["mfu"] == sheets.get("default", "mfu-serving-16bit").value


def test_engine_defaults_as_vllm_ships_them(cli):
    def inputs(gpu):
        return cli("inference-throughput", "--model", "llama-3.1-8b", "--gpu", gpu, "--format", "json").json()["inputs"]
    assert (inputs("h100-sxm")["max_num_seqs"], inputs("h100-sxm")["max_num_batched_tokens"]) == (1024, 8192)
    assert (inputs("a100-80gb")["max_num_seqs"], inputs("a100-80gb")["max_num_batched_tokens"]) == (256, 2048)
    assert inputs("h100-sxm")["memory_utilization"] == 0.92


def test_price_from_the_option_or_the_sheet_or_null_with_a_warning(cli):
    base = ["inference-throughput", "--model", "llama-3.1-8b", "--format", "json"]
    sheet = cli(*base, "--gpu", "h100-sxm").json()
    from aistack_cli import catalog
    assert sheet["inputs"]["price_usd_per_gpu_hour"] == catalog.load().get("accelerator", "h100-sxm").price_usd_per_hour
    assert any("dated 2025-04 to 2026-12" in a for a in sheet["assumptions"])  # the price basis is stated
    price = 2 * sheet["inputs"]["price_usd_per_gpu_hour"]
    doubled = cli(*base, "--gpu", "h100-sxm", "--price-per-gpu-hour", f"${price}").json()
    assert doubled["results"]["cost_per_million_output_tokens_usd"] == pytest.approx(
        2 * sheet["results"]["cost_per_million_output_tokens_usd"])
    unpriced = cli(*base, "--gpu", "b300").json()  # b300 has no price on the default basis
    assert unpriced["results"]["cost_per_million_output_tokens_usd"] is None
    assert any("no price" in w for w in unpriced["warnings"])


def test_explain_shows_sheet_numbers_and_formulas(cli):
    run = cli(*LOAD_TEST, "--explain")
    assert run.code == 0
    for text in ("memory_bandwidth_bytes_per_s = h100-sxm sheet", "itl_s = (f · mixed", "collectives"):
        assert text in run.out, text


@pytest.mark.parametrize("args, fragments", [
    (["--gpu", "h100-sxm"], ["--model"]),
    (["--model", "llama-3.1-70b"], ["--gpu"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--tp", "3"], ["--gpus"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "2", "--tp", "4"], ["--gpus"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "6", "--pp", "4"], ["--pp"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--pp", "100"], ["--pp", "80 layers"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--batch", "8", "--concurrency", "8"], ["--concurrency"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--users", "8", "--gpus", "8"], ["--gpus"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--ep", "8"], ["--ep"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--acceptance", "0.8"], ["--speculative"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--speculative", "3"], ["--acceptance"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--prefill-gpus", "8"], ["--disaggregate"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--prefix-hit", "1"], ["--prefix-hit"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--target-itl", "fast"], ["--target-itl"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--weights-dtype", "fp3"], ["--weights-dtype"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--mbu", "1.5"], ["--mbu"]),
    (["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--prompt", "0"], ["--prompt"]),
    (["--model", "llama-3.1-70b", "--gpu", "h1OO"], ["unknown accelerator"]),
    (["--params", "70B", "--gpu", "h100-sxm"], ["--model"]),
    (["--params", "7B", "--layers", "32", "--hidden-size", "4096", "--heads", "32", "--experts", "8",
      "--gpu", "h100-sxm"], ["--experts"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli("inference-throughput", *args), *fragments)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["--batch", "--concurrency", "--rate", "--prompt", "--output", "--gpus", "--tp", "--ep",
                        "--mbu", "--target-itl", "--prefix-hit", "--users", "--max-num-seqs"]),
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
                "--concurrency", "64,1", "--format", "json", "--quiet").json()["rows"]
    assert [row["inputs"]["concurrency"] for row in swept] == [64, 1]
