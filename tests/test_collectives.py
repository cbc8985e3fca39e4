"""The communication engine (calc/collectives.py) and allreduce-time: NCCL's cost model against
hand-worked numbers, the model's invariants, the fabric builder, and the CLI contract. Published
figures are checked by benchmarks/accuracy.py and tests/test_accuracy.py (references.yaml)."""

import csv
import io
import math
import tomllib

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from aistack_cli import catalog
from aistack_cli.calc.collectives import (ALGORITHMS, OPS, PROTOCOLS, Efficiency, Fabric, Tier, busbw_factor, candidates,
                                          collective_time, mesh_bytes_per_s, tree_correction, unavailable)
from aistack_cli.commands.fabric import build_fabric
from conftest import assert_usage_error

GiB, MiB, US = 2**30, 2**20, 1e-6
NVSWITCH3 = Tier("nvswitch-3", 450e9, in_network_reduction=True)
NVLINK3 = Tier("nvswitch-2", 300e9)
NDR = Tier("ib-ndr", 50e9, in_network_reduction=True)
EDR = Tier("ib-edr", 12.5e9)
H100_EFF = Efficiency(0.82, 0.96, 0.686)


def hgx_h100(gpus, nics=8, out=NDR, sharp=False):
    return Fabric(gpus, min(gpus, 8), NVSWITCH3, out if gpus > 8 else None, nics if gpus > 8 else 0, H100_EFF,
                  "nccl", "hopper", sharp)


def pick(op, fabric, algorithm, protocol, size=GiB):
    return collective_time(op, size, fabric, algorithm, protocol)


# ---- NCCL's tables, hand-worked ------------------------------------------------------------

def test_ring_protocols_on_one_h100_node():
    # 8 GPUs, all-reduce: 14 steps, no network. B_up = 450e9 · 0.82 = 369e9 B/s.
    f = hgx_h100(8)
    ll = pick("all-reduce", f, "ring", "LL")
    ll128 = pick("all-reduce", f, "ring", "LL128")
    simple = pick("all-reduce", f, "ring", "Simple")
    # Latency: base + 14 · hop (tuning.cc): LL 6.6 + 14 · 0.6 = 15.0 us; LL128 14 + 14 · 1.9 = 40.6;
    # Simple 8.4 + 14 · 3.4 = 56.0.
    assert ll.latency_term_s == pytest.approx(15.0 * US)
    assert ll128.latency_term_s == pytest.approx(40.6 * US)
    assert simple.latency_term_s == pytest.approx(56.0 * US)
    # busbw: Simple 369e9; LL128 0.92 · 369e9; LL min(Hopper cap 141e9, 0.5 · 369e9 = 184.5e9) = 141e9.
    # algbw = busbw · p / (2(p − 1)) = busbw · 8/14.
    assert simple.bandwidth_term_s == pytest.approx(GiB / (369e9 * 8 / 14))
    assert ll128.bandwidth_term_s == pytest.approx(GiB / (0.92 * 369e9 * 8 / 14))
    assert ll.bandwidth_term_s == pytest.approx(GiB / (141e9 * 8 / 14))
    # At 1 GiB the ring's busbw is Simple's 369e9 less the 56 us of latency.
    assert simple.busbw_bytes_per_s == pytest.approx(1.75 * GiB / (56e-6 + GiB / (369e9 * 8 / 14)))


def test_nvls_on_one_h100_node():
    # NVLS: a GPU link carries S(1 + 1/g): algbw = 450e9 · 0.686 · 8/9 = 274.4e9; latency 25 us, Simple only.
    r = pick("all-reduce", hgx_h100(8), "nvls", "auto")
    assert r.protocol == "Simple"
    assert r.latency_term_s == pytest.approx(25 * US)
    assert r.bandwidth_term_s == pytest.approx(GiB / (450e9 * 0.686 * 8 / 9))
    # busbw with nccl-tests' factor exceeds the 450 GB/s line rate, as NVIDIA's 480 GB/s does.
    assert 470e9 < r.busbw_bytes_per_s < 480e9


def test_auto_is_the_lowest_prediction_and_names_algorithm_and_protocol():
    f = hgx_h100(8)
    tiny = collective_time("all-reduce", 8, f)
    assert (tiny.algorithm, tiny.protocol) == ("ring", "LL")  # 15.0 us against NVLS's 25 us
    big = collective_time("all-reduce", 8 * GiB, f)
    assert (big.algorithm, big.protocol) == ("nvls", "Simple")
    for size in (8, 64 * 1024, MiB, 16 * MiB, GiB):
        r = collective_time("all-reduce", size, f)
        everything = [pick("all-reduce", f, c.algorithm, c.protocol, size).time_s
                      for c in candidates("all-reduce", f)[1] if c.auto]
        assert r.time_s == pytest.approx(min(everything))


def test_ring_across_domains_counts_network_steps_and_the_overhead_floor():
    # 16 GPUs in 2 domains, ring/LL: 30 steps, 2(m − 1) = 2 over the network (tuning.cc:411).
    # Intra hop raised to NCCL's 1 us network overhead: 6.6 + 28 · 1.0 + 2 · 2.7 = 40.0 us.
    r = pick("all-reduce", hgx_h100(16), "ring", "LL", size=8)
    assert r.latency_term_s == pytest.approx(40.0 * US)
    # LL bus cap on two nodes: 39 GB/s (llMaxBws, Intel row).
    assert r.bandwidth_term_s == pytest.approx(8 / (39e9 * 16 / 30))


def test_ring_plateau_on_several_nodes():
    # Ring/Simple all-reduce across nodes: latency × 1.4 once S ≥ 16 channels · 64 B · p (tuning.cc:647).
    f = hgx_h100(16)
    small = pick("all-reduce", f, "ring", "Simple", size=1024)
    large = pick("all-reduce", f, "ring", "Simple", size=GiB)
    # 8.4 + 28 · max(3.4, 3 · 1.0) + 2 · 14 = 131.6 us
    assert small.latency_term_s == pytest.approx(131.6 * US)
    assert large.latency_term_s == pytest.approx(1.4 * 131.6 * US)


def test_tree_latency_is_logarithmic_in_domains():
    # 128 domains of 8, tree/LL: 6.8 + 2 · (7 · 0.6 + log2(128) · 5.0) = 6.8 + 2 · 39.2 = 85.2 us.
    r = pick("all-reduce", hgx_h100(1024), "tree", "LL", size=8)
    assert r.latency_term_s == pytest.approx(85.2 * US)


def test_tree_bandwidth_and_correction():
    # Simple tree on 32 domains: busbw 0.92 · min(369e9, 8 · 50e9 · 0.96 = 384e9) = 0.92 · 369e9;
    # algbw = busbw / 2; at 1 GiB (index log2(2^30/64) = 24, beyond the table) no correction.
    r = pick("all-reduce", hgx_h100(256), "tree", "Simple")
    assert r.bandwidth_term_s == pytest.approx(GiB / (0.92 * 369e9 / 2))
    # On two domains each domain sends S, not 2S, through its NICs: one EDR NIC, 12.5e9 · 0.96 = 12e9:
    # busbw = 0.92 · min(369e9, 2 · 12e9) -> algbw = 0.92 · 12e9.
    two = pick("all-reduce", hgx_h100(16, nics=1, out=EDR), "tree", "Simple")
    assert two.bandwidth_term_s == pytest.approx(GiB / (0.92 * 12e9))
    # 16 MiB is NCCL's Simple bucket 18 (factor 0.7): bandwidth term / 0.7.
    mid = pick("all-reduce", hgx_h100(256), "tree", "Simple", size=16 * MiB)
    assert mid.bandwidth_term_s == pytest.approx(16 * MiB / (0.92 * 369e9 / 2 * 0.7))


def test_tree_correction_reads_nccl_buckets_and_interpolates():
    assert tree_correction(2, 64) == pytest.approx(0.9)  # Simple, 64 B
    assert tree_correction(2, 64 * 2**11) == pytest.approx(0.5)  # Simple, 128 KiB
    assert tree_correction(0, 64 * 2**12 * math.sqrt(2)) == pytest.approx(0.4)  # LL between two 0.4 buckets
    assert tree_correction(2, 64 * 2**16 * math.sqrt(2)) == pytest.approx(0.75)  # halfway 0.7 -> 0.8
    assert tree_correction(1, 8) == 1.0 and tree_correction(1, 2**40) == 1.0


def test_nvls_tree_across_domains():
    # 4 domains of 8: NVLink leg 274.4e9; network leg each domain sends 2·S: 8 · 48e9 / 2 = 192e9 binds.
    # Latency 25 + 2 · log2(4) · 20.9 = 108.6 us.
    r = pick("all-reduce", hgx_h100(32), "nvls-tree", "auto")
    assert r.latency_term_s == pytest.approx(108.6 * US)
    assert r.bandwidth_term_s == pytest.approx(GiB / 192e9)
    assert r.bottleneck == "scale-out"
    # Two domains: only S crosses, the NVLink leg binds.
    two = pick("all-reduce", hgx_h100(16), "nvls-tree", "auto")
    assert two.bandwidth_term_s == pytest.approx(GiB / (450e9 * 0.686 * 8 / 9)) and two.bottleneck == "in-switch"


def test_sharp_only_when_the_fabric_has_it_and_it_is_allowed():
    f = hgx_h100(64)
    assert "not enabled" in unavailable("collnet", "all-reduce", f)
    assert "SHARP" in unavailable("collnet", "all-reduce", hgx_h100(64, out=EDR, sharp=True))
    auto = collective_time("all-reduce", GiB, f)
    assert auto.algorithm not in ("collnet",) and auto.collnet_time_s is None
    on = hgx_h100(64, sharp=True)
    assert unavailable("collnet", "all-reduce", on) is None
    # CollNet chain: min(369e9 · 8/14, 8 · 48e9) = 210.9e9; latency 2 · 7 · 2.8 + 30 = 69.2 us.
    r = pick("all-reduce", on, "collnet", "auto")
    assert r.latency_term_s == pytest.approx(69.2 * US)
    assert r.bandwidth_term_s == pytest.approx(GiB / (369e9 * 8 / 14))
    # NVLS + SHARP across domains: min(274.4e9, 384e9); latency 25 + 18 us.
    nvls = pick("all-reduce", on, "nvls", "auto")
    assert nvls.latency_term_s == pytest.approx(43 * US)
    assert nvls.bandwidth_term_s == pytest.approx(GiB / (450e9 * 0.686 * 8 / 9))


def test_pat_at_one_gpu_per_node():
    # 64 nodes of 1 GPU, all-gather: 8 + log2(64) · 14 / 3.5 + 64 · 2.8 = 8 + 24 + 179.2 = 211.2 us;
    # algbw = 0.75 · 48e9 · 64/63.
    f = Fabric(64, 1, NVSWITCH3, NDR, 1, H100_EFF, "nccl", "hopper")
    r = pick("all-gather", f, "pat", "auto")
    assert r.latency_term_s == pytest.approx(211.2 * US)
    assert r.bandwidth_term_s == pytest.approx(GiB / (0.75 * 48e9 * 64 / 63))
    assert "one GPU per node" in unavailable("pat", "all-gather", hgx_h100(16))


def test_all_to_all_sends_concurrently_through_one_nic_per_gpu():
    # 16 GPUs in 2 domains; each GPU sends S/16 to each peer: 7/16 · S over NVLink (369e9), 8/16 · S
    # through its own NIC (one 50e9 NIC at 0.96 = 48e9) -> the NIC binds. Latency one network hop:
    # Simple 8.4 + 14 = 22.4 us, not one per peer.
    r = pick("all-to-all", hgx_h100(16), "pairwise", "Simple")
    assert r.latency_term_s == pytest.approx(22.4 * US)
    assert r.bandwidth_term_s == pytest.approx(0.5 * GiB / 48e9)
    # Two NICs per GPU do not help all-to-all (NCCL cannot aggregate them: sjeaugey, nccl-tests#267).
    two = pick("all-to-all", hgx_h100(16, nics=16), "pairwise", "Simple")
    assert two.bandwidth_term_s == pytest.approx(r.bandwidth_term_s)
    # nccl-tests' rule: busbw on N nodes ≈ N/(N − 1) × the per-GPU NIC rate, here 15/8 · 48e9 at large S.
    assert r.busbw_bytes_per_s == pytest.approx(15 / 8 * 48e9, rel=5e-3)
    # A DeepSeek-style dispatch on 256 GPUs stays within a few hundred microseconds, not milliseconds.
    d = collective_time("all-to-all", 7.5e6, hgx_h100(256), "low-latency")
    assert d.time_s < 250 * US and d.latency_term_s == pytest.approx((6.6 + 2.7) * US)


def test_send_recv_on_a_mesh_uses_the_pair_link():
    # MI300X mesh: 7 links of 64 GB/s; a pair shares one link. RCCL p2p Simple: 17 + 2.1 us.
    f = Fabric(8, 8, Tier("infinity-fabric-cdna3", 448e9, link="xgmi", peer_bytes_per_s=64e9),
               efficiency=Efficiency(0.712), library="rccl")
    r = pick("send-recv", f, "p2p", "Simple")
    assert r.latency_term_s == pytest.approx(19.1 * US)
    assert r.bandwidth_term_s == pytest.approx(GiB / (64e9 * 0.712))
    assert r.busbw_bytes_per_s == r.algbw_bytes_per_s


def test_rccl_runs_direct_kernels_for_small_all_reduce_and_no_ll128():
    f = Fabric(8, 8, Tier("infinity-fabric-cdna3", 448e9, link="xgmi"), efficiency=Efficiency(0.712),
               library="rccl")
    assert {c.protocol for c in candidates("all-reduce", f)[1]} == {"LL", "Simple"}
    r = collective_time("all-reduce", 1024, f)
    # One-shot: 12 + 0.8 us + 1024 · 7 / (0.5 · 448e9 · 0.712) (each GPU sends S to 7 peers, LL packets).
    assert (r.algorithm, r.protocol) == ("one-shot", "LL")
    assert r.time_s == pytest.approx(12.8 * US + 7 * 1024 / (0.5 * 448e9 * 0.712))
    # NCCL does not run them on its own: they are there when asked for (custom all-reduce kernels).
    assert collective_time("all-reduce", 1024, hgx_h100(8)).algorithm == "ring"
    assert pick("all-reduce", hgx_h100(8), "one-shot", "auto", size=1024).latency_term_s == pytest.approx(7.2 * US)


def test_network_latency_is_added_per_hop_twice_for_simple():
    efa = Tier("efa-v2", 12.5e9, extra_latency_s=22e-6)
    f = Fabric(16, 8, NVSWITCH3, efa, 32, H100_EFF, "nccl", "hopper")
    ll = pick("all-reduce", f, "tree", "LL", size=8)
    simple = pick("all-reduce", f, "tree", "Simple", size=8)
    # Tree/LL: 6.8 + 2 · (7 · 0.6 + (5.0 + 22)) = 69.2 us; Tree/Simple: 8.4 + 2 · (7 · 4 + (14 + 44)) = 180.4.
    assert ll.latency_term_s == pytest.approx(69.2 * US)
    assert simple.latency_term_s == pytest.approx(180.4 * US)


def test_a_given_hop_latency_replaces_the_tables():
    f = Fabric(8, 8, Tier("x", 450e9, 1e-6), efficiency=H100_EFF, library="nccl", arch="hopper")
    assert pick("all-reduce", f, "ring", "Simple").latency_term_s == pytest.approx((8.4 + 14) * US)
    generic = Fabric(8, 8, Tier("ici", 600e9, 1e-6, link="ici"), library="generic")
    r = collective_time("all-reduce", 8, generic)
    assert r.protocol == "Simple" and r.latency_term_s == pytest.approx(14 * US)


def test_mesh_links_split_over_peers():
    # MI300X: 7 xGMI links of 64 GB/s. Two GPUs share one link; all eight use all seven.
    assert mesh_bytes_per_s(448e9, 2, 8) == pytest.approx(64e9)
    assert mesh_bytes_per_s(448e9, 8, 8) == pytest.approx(448e9)
    assert mesh_bytes_per_s(448e9, 16, 8) == pytest.approx(448e9)


def test_the_field_registry_lists_the_engine_words():
    from aistack_cli import fields

    assert fields.CHOICES["algorithm"] == ALGORITHMS and fields.CHOICES["protocol"] == PROTOCOLS
    assert fields.CHOICES["op"] == OPS


def test_unavailable_algorithms_say_why():
    a100 = Fabric(8, 8, NVLINK3, library="nccl", arch="ampere")
    assert "NVLink SHARP" in unavailable("nvls", "all-reduce", a100)
    assert unavailable("tree", "all-gather", hgx_h100(8)) == "tree implements all-reduce only"
    assert "one domain" in unavailable("nvls-tree", "all-reduce", hgx_h100(8))
    assert unavailable("nvls-tree", "all-reduce", hgx_h100(16)) is None
    assert "one scale-up domain" in unavailable("one-shot", "all-reduce", hgx_h100(16))
    with pytest.raises(ValueError):
        collective_time("all-gather", GiB, hgx_h100(8), "tree")
    with pytest.raises(ValueError):
        collective_time("all-reduce", GiB, hgx_h100(8), "nvls", "LL")


def test_the_old_positional_call_still_works():
    # Other calculators call collective_time(op, size, Fabric(gpus, per_node, up, out, nics, eff), algorithm).
    f = Fabric(16, 8, Tier("nvswitch-3", 450e9, 3.4e-6, True), Tier("ib-ndr", 50e9, 14e-6, True), 8,
               Efficiency(0.82, 0.96, 0.686))
    r = collective_time("all-reduce", GiB, f, "ring")
    assert r.time_s > 0 and r.algorithm == "ring"
    one = Fabric(8, 8, Tier("nvswitch-3", 450e9, 3.4e-6, True), efficiency=Efficiency(0.82, 0.96, 0.686))
    assert collective_time("all-reduce", GiB, one, "in-network").algorithm == "nvls"


# ---- invariants --------------------------------------------------------------------------

FABRICS = st.builds(
    lambda nodes, per_node, nics, nic_rate, up_rate, up_inr, out_inr, lib, arch, sharp, extra: Fabric(
        nodes * per_node, per_node, Tier("up", up_rate, None, up_inr, "xgmi" if lib == "rccl" else ""),
        Tier("out", nic_rate, None, out_inr, extra_latency_s=extra), nics, Efficiency(0.8, 0.95, 0.6), lib, arch,
        sharp),
    nodes=st.integers(1, 128), per_node=st.sampled_from([1, 2, 4, 8, 72]), nics=st.integers(1, 16),
    nic_rate=st.sampled_from([12.5e9, 25e9, 50e9, 100e9]), up_rate=st.sampled_from([64e9, 300e9, 450e9, 900e9]),
    up_inr=st.booleans(), out_inr=st.booleans(), lib=st.sampled_from(["nccl", "rccl", "generic"]),
    arch=st.sampled_from(["", "ampere", "hopper", "blackwell"]), sharp=st.booleans(),
    extra=st.sampled_from([0.0, 2e-5]),
).filter(lambda f: f.gpus >= 2)
SIZES = st.floats(1, 64 * GiB)


def _choices(op, fabric):
    _, found, _ = candidates(op, fabric)
    return sorted({(c.algorithm, c.protocol) for c in found})


@settings(max_examples=150, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), a=SIZES, b=SIZES)
def test_time_is_monotone_in_size(fabric, op, a, b):
    small, large = sorted((a, b))
    for algorithm, protocol in [("auto", "auto"), *_choices(op, fabric)]:
        assert (collective_time(op, small, fabric, algorithm, protocol).time_s
                <= collective_time(op, large, fabric, algorithm, protocol).time_s * (1 + 1e-12))


@settings(max_examples=150, deadline=None)
@given(fabric=FABRICS.filter(lambda f: f.gpus <= 1024), op=st.sampled_from(OPS))
def test_latency_dominates_small_and_bandwidth_large_messages(fabric, op):
    for algorithm, protocol in _choices(op, fabric):
        tiny = collective_time(op, 8, fabric, algorithm, protocol)
        huge = collective_time(op, 256 * GiB, fabric, algorithm, protocol)
        if tiny.latency_term_s > 0:
            assert tiny.latency_term_s > tiny.bandwidth_term_s, (algorithm, protocol)
        assert huge.bandwidth_term_s > huge.latency_term_s, (algorithm, protocol)


@settings(max_examples=150, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), size=SIZES)
def test_busbw_is_algbw_times_the_nccl_tests_factor(fabric, op, size):
    p = fabric.gpus
    expected = {"all-reduce": 2 * (p - 1) / p, "all-gather": (p - 1) / p, "reduce-scatter": (p - 1) / p,
                "broadcast": 1.0, "reduce": 1.0, "all-to-all": (p - 1) / p, "send-recv": 1.0}[op]
    r = collective_time(op, size, fabric)
    assert busbw_factor(op, p) == expected == r.busbw_factor
    assert r.busbw_bytes_per_s == r.algbw_bytes_per_s * expected
    assert r.algbw_bytes_per_s == size / r.time_s
    assert r.time_s == pytest.approx(r.latency_term_s + r.bandwidth_term_s)
    assert r.algorithm in ALGORITHMS and r.protocol in PROTOCOLS
    assert all(math.isfinite(v) and v > 0 for v in (r.time_s, r.algbw_bytes_per_s, r.busbw_bytes_per_s))


@settings(max_examples=100, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), size=SIZES)
def test_auto_is_never_slower_than_any_algorithm_the_tuner_considers(fabric, op, size):
    auto = collective_time(op, size, fabric)
    for c in candidates(op, fabric)[1]:
        if c.auto:
            assert auto.time_s <= collective_time(op, size, fabric, c.algorithm, c.protocol).time_s * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), size=SIZES)
def test_in_network_reduction_needs_the_sharp_switch(fabric, op, size):
    r = collective_time(op, size, fabric)
    if r.algorithm == "collnet" or (r.algorithm == "nvls" and fabric.nodes > 1):
        assert fabric.sharp and fabric.scale_out.in_network_reduction
    if r.algorithm in ("nvls", "nvls-tree"):
        assert fabric.scale_up.in_network_reduction and fabric.library == "nccl"


def test_efficiency_scales_bandwidth_not_latency():
    slow = Fabric(8, 8, NVSWITCH3, efficiency=Efficiency(0.4, 0.4, 0.4), arch="hopper")
    fast = Fabric(8, 8, NVSWITCH3, efficiency=Efficiency(0.8, 0.8, 0.8), arch="hopper")
    a = pick("all-reduce", slow, "ring", "Simple")
    b = pick("all-reduce", fast, "ring", "Simple")
    assert a.bandwidth_term_s == pytest.approx(2 * b.bandwidth_term_s)
    assert a.latency_term_s == b.latency_term_s


def test_ring_bandwidth_converges_to_two_s_over_b_across_domains():
    gaps = []
    for nodes in (2, 16, 128, 1024, 8192):
        r = pick("all-reduce", hgx_h100(8 * nodes), "ring", "Simple")
        gaps.append(abs(r.bandwidth_term_s - 2 * GiB / 369e9) / (2 * GiB / 369e9))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 2e-5


# ---- the fabric builder ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sheets():
    return catalog.load(None)


def test_builder_reads_efficiency_per_fabric_generation(sheets):
    h100 = build_fabric(sheets, system="dgx-h100")
    b200 = build_fabric(sheets, system="dgx-b200")
    a100 = build_fabric(sheets, system="dgx-a100")
    assert h100.fabric.efficiency.scale_up == sheets.get("default", "efficiency-scale-up-nvlink-4").value
    assert b200.fabric.efficiency.scale_up == sheets.get("default", "efficiency-scale-up-nvlink-5").value
    assert a100.fabric.efficiency.scale_up == sheets.get("default", "efficiency-scale-up-nvlink-3").value
    assert h100.fabric.efficiency.scale_up != b200.fabric.efficiency.scale_up  # NVLink 4 vs 5: data, not one constant
    assert (h100.fabric.library, h100.fabric.arch, a100.fabric.arch) == ("nccl", "hopper", "ampere")
    assert any("efficiency" not in n and "0.82 of the line rate" in n for n in h100.notes)


def test_builder_meshes_amd_and_names_the_library(sheets):
    two = build_fabric(sheets, system="mi300x-platform", gpus=2)
    assert two.fabric.library == "rccl" and two.fabric.scale_up.link == "xgmi"
    assert two.fabric.scale_up.bandwidth_bytes_per_s == pytest.approx(64e9)
    assert two.fabric.scale_up.peer_bytes_per_s == pytest.approx(64e9)
    assert two.inputs["library"] == "rccl" and any("direct mesh" in n for n in two.notes)


def test_builder_scale_out_inputs_and_network_latency(sheets):
    b = build_fabric(sheets, gpu="h100-sxm", gpus=16, intra="nvswitch-3", inter="efa-v2", nics_per_domain=32)
    assert b.inputs["network_latency_s"] == sheets.get("default", "network-latency-efa").value
    assert b.fabric.scale_out.extra_latency_s == b.inputs["network_latency_s"]
    assert b.inputs["nics_per_domain"] == 32 and b.inputs["domains"] == 2
    ib = build_fabric(sheets, system="dgx-h100", gpus=16)
    assert ib.inputs["network_latency_s"] == 0.0 and ib.inputs["inter"] == "ib-ndr"


def test_builder_memoises_and_shares_read_only(sheets):
    a = build_fabric(sheets, system="dgx-h100", gpus=32)
    b = build_fabric(sheets, system="dgx-h100", gpus=32)
    assert a is b and a.fabric is b.fabric
    with pytest.raises(TypeError):
        a.inputs["gpus"] = 1
    assert isinstance(a.notes, tuple) and isinstance(a.warnings, tuple)
    assert build_fabric(catalog.load(None), system="dgx-h100", gpus=32).fabric == a.fabric


def test_builder_flags_name_the_caller_options(sheets):
    from aistack_cli.errors import InputError

    with pytest.raises(InputError, match="--tp"):
        build_fabric(sheets, gpu="h100-sxm", gpus=12, gpus_per_domain=8, flags={"gpus": "--tp"})


# ---- the CLI -----------------------------------------------------------------------------

DONE = ["allreduce-time", "--size", "1GiB", "--gpus", "16", "--system", "dgx-a100", "--inter", "ib-hdr"]
A2A = ["allreduce-time", "--op", "all-to-all", "--size", "256MiB", "--gpus", "64", "--system", "dgx-h100", "--inter",
       "ib-ndr"]
SWEEP = ["allreduce-time", "--sizes", "8:8G:2", "--gpus", "8", "--system", "dgx-h100"]


def test_no_in_network_reduction_without_sharp(cli):
    doc = cli(*DONE, "--format", "json").json()
    r, i = doc["results"], doc["inputs"]
    assert r["algorithm"] not in ("collnet", "nvls") and r["collnet_time_s"] is None
    assert r["protocol"] in PROTOCOLS and i["sharp"] is False and i["inter_in_network_reduction"] is True
    on = cli(*DONE, "--sharp", "--format", "json").json()
    assert on["inputs"]["sharp"] is True and on["results"]["collnet_time_s"] is not None
    table = cli(*DONE)
    assert table.code == 0 and "algorithm" in table.out and "protocol" in table.out


def test_all_to_all_on_64_h100(cli):
    run = cli(*A2A, "--format", "json")
    assert run.code == 0, run.err
    r = run.json()["results"]
    assert r["algorithm"] == "pairwise" and r["protocol"] == "Simple"
    # 56/64 of 256 MiB through one 400G NIC per GPU at 0.964: about 4.9 ms.
    assert r["time_s"] == pytest.approx(56 / 64 * 256 * MiB / (50e9 * 0.964), rel=0.02)


def test_sizes_sweep_prints_31_rows_like_nccl_tests(cli, monkeypatch):
    doc = cli(*SWEEP, "--format", "json").json()
    sizes = [row["inputs"]["size_bytes"] for row in doc["rows"]]
    assert sizes == [8 * 2**i for i in range(31)]  # 8 B .. 8 GiB: a bare 8G is binary, as nccl-tests reads it
    times = [row["results"]["time_s"] for row in doc["rows"]]
    assert times == sorted(times)
    assert doc["rows"][0]["results"]["count"] == 2  # fp32 elements
    assert {row["results"]["protocol"] for row in doc["rows"]} >= {"LL", "Simple"}
    monkeypatch.setenv("COLUMNS", "80")
    table = cli(*SWEEP)
    lines = table.out.splitlines()
    assert "31 points" in lines[0] and max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.strip().endswith(("LL", "LL128", "Simple"))]
    assert len(rows) == 31 and rows[0].split()[:2] == ["8", "B"] and rows[-1].split()[:2] == ["8.0", "GiB"]


def test_csv_and_machine_formats(cli):
    rows = list(csv.DictReader(io.StringIO(cli(*DONE, "--format", "csv").out)))
    assert len(rows) == 1 and rows[0]["protocol"] in PROTOCOLS and float(rows[0]["time_s"]) > 0
    for fmt, load in (("yaml", yaml.safe_load), ("toml", tomllib.loads)):
        assert load(cli(*DONE, "--format", fmt).out)["results"]["algorithm"]


def test_saved_output_reads_back(cli, tmp_path):
    saved = tmp_path / "run.yaml"
    saved.write_text(cli(*A2A, "--format", "yaml").out)
    again = cli("allreduce-time", "--config", str(saved), "--format", "json").json()
    assert again["results"] == cli(*A2A, "--format", "json").json()["results"]


def test_explain_shows_the_working(cli):
    run = cli(*DONE, "--explain")
    assert run.code == 0
    assert "working:" in run.out and "tuning.cc" in run.out and "nccl-tests" in run.out


def test_protocol_and_algorithm_can_be_forced(cli):
    doc = cli("allreduce-time", "--system", "dgx-h100", "--size", "1MiB", "--algorithm", "ring", "--protocol",
              "simple", "--format", "json").json()
    assert (doc["results"]["algorithm"], doc["results"]["protocol"]) == ("ring", "Simple")
    assert doc["inputs"]["requested_protocol"] == "simple"


def test_nvl72_is_one_domain(cli):
    doc = cli("allreduce-time", "--system", "gb200-nvl72", "--size", "1GiB", "--format", "json").json()
    assert doc["inputs"]["gpus"] == 72 and doc["inputs"]["gpus_per_domain"] == 72 and doc["inputs"]["domains"] == 1
    assert any("one scale-up domain of 72" in a for a in doc["assumptions"])


def test_options_override_the_sheets(cli):
    doc = cli("allreduce-time", "--gpu", "h100-sxm", "--gpus", "16", "--inter", "roce-400g", "--nics-per-node", "4",
              "--intra-latency", "1us", "--inter-latency", "5us", "--efficiency", "1", "--algorithm", "ring",
              "--protocol", "simple", "--size", "1GiB", "--format", "json").json()
    i, r = doc["inputs"], doc["results"]
    assert i["intra_latency_s"] == pytest.approx(1e-6) and i["inter_latency_s"] == pytest.approx(5e-6)
    assert i["nics_per_domain"] == 4 and i["scale_out_efficiency_fraction"] == 1
    # Ring at line rate: min(450e9 per GPU, 4 · 50e9 per node) = 200e9; latency (8.4 + 28 · 1 + 2 · 5) · 1.4 us.
    assert r["bandwidth_term_s"] == pytest.approx(GiB / (200e9 * 16 / 30))
    assert r["latency_term_s"] == pytest.approx(1.4 * 46.4e-6)


def test_oversubscription_divides_the_scale_out_rate(cli):
    base = ["allreduce-time", "--system", "dgx-h100", "--gpus", "64", "--op", "all-to-all", "--size", "1GiB",
            "--format", "json"]
    a = cli(*base).json()["results"]["bandwidth_term_s"]
    b = cli(*base, "--oversubscription", "2").json()["results"]["bandwidth_term_s"]
    assert b == pytest.approx(2 * a)


@pytest.mark.parametrize("args, fragments", [
    (["--system", "dgx-h100"], ["--size"]),
    (["--system", "dgx-h100", "--size", "0"], ["--size"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--op", "gather"], ["--op", "all-reduce"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--algorithm", "fastest"], ["--algorithm", "auto"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--protocol", "ll64"], ["--protocol", "simple"]),
    (["--system", "dgx-a100", "--size", "1GiB", "--algorithm", "nvls"], ["nvls", "nvswitch-2"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--op", "all-gather", "--algorithm", "tree"], ["tree"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--algorithm", "nvls", "--protocol", "ll"], ["--protocol"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "16", "--algorithm", "collnet"], ["--sharp"]),
    (["--system", "mi300x-platform", "--size", "1GiB", "--gpus", "16", "--sharp"], ["--sharp", "roce-400g"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "12"], ["--gpus", "8"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "8", "--gpus-per-node", "16"], ["--gpus-per-domain"]),
    (["--gpu", "h100-sxm", "--gpus", "16", "--size", "1GiB"], ["--inter"]),
    (["--size", "1GiB", "--gpus", "8"], ["--gpu"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--efficiency", "1.5"], ["--efficiency"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--oversubscription", "0.5"], ["--oversubscription"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "16", "--inter", "ib-nrd"], ["ib-ndr"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "1"], ["--gpus"]),
    (["--system", "dgx-h100", "--size", "1 parsec"], ["--size"]),
])
def test_bad_input_is_one_line_exit_2(cli, args, fragments):
    assert_usage_error(cli("allreduce-time", *args), *fragments)
