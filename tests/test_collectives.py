"""allreduce-time: alpha–beta collective times against hand-worked numbers, the model's invariants,
the CLI contract, and published nccl-tests figures (benchmarks/references/allreduce-time.yaml)."""

import csv
import io
import math
import tomllib

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from aistack_cli.calc.collectives import (ALGORITHMS, OPS, Efficiency, Fabric, Tier, busbw_factor,
                                          collective_time, mesh_bytes_per_s, ring_hops, unavailable)
from conftest import ROOT, assert_usage_error

GiB = 2**30
NVLINK4 = Tier("nvswitch-3", 450e9, 3.4e-6, in_network_reduction=True)
NDR = Tier("ib-ndr", 50e9, 14e-6, in_network_reduction=True)
EDR = Tier("ib-edr", 12.5e9, 14e-6)


def dgx_h100(gpus, nics=8, out=NDR, up=NVLINK4):
    return Fabric(gpus, min(gpus, 8), up, out, nics)


# ---- hand-worked numbers -----------------------------------------------------------------

def test_ring_one_h100_node():
    # B_up = 450e9 · 0.80 = 360e9 B/s. Latency: 2 traversals · 7 hops · 3.4 us = 47.6 us.
    # Bandwidth: 2·7/8 · 2^30 / 360e9 = 1,879,048,192 / 360e9 = 5.219578 ms. t = 5.267178 ms.
    r = collective_time("all-reduce", GiB, dgx_h100(8), "ring")
    assert r.latency_term_s == pytest.approx(47.6e-6)
    assert r.bandwidth_term_s == pytest.approx(1_879_048_192 / 360e9)
    assert r.time_s == pytest.approx(5.267178311e-3)
    assert r.algbw_bytes_per_s == pytest.approx(GiB / 5.267178311e-3)
    assert r.busbw_bytes_per_s == pytest.approx(1.75 * GiB / 5.267178311e-3)  # ~356.7 GB/s
    assert r.bottleneck == "scale-up"


def test_ring_hops_cross_one_domain_boundary_per_domain():
    # 16 GPUs in 2 domains: a traversal is 15 hops, 2 of them between domains (NCCL: nNodes).
    assert ring_hops(dgx_h100(16)) == (13, 2)
    # One GPU per domain: every hop is a scale-out hop.
    assert ring_hops(Fabric(4, 1, NVLINK4, NDR, 1)) == (0, 3)
    assert ring_hops(dgx_h100(8)) == (7, 0)


def test_hierarchical_phases_on_two_h100_nodes():
    # Scale-up reduce-scatter: 7 · 3.4 us + 7/8 · 2^30 / 360e9 = 23.8 us + 2.609789 ms.
    # Scale-out all-reduce of S/8 per rail; rail = 8 NICs · 50e9 · 0.96 / 8 GPUs = 48e9 B/s:
    #   2 · 1 · 14 us + 2 · 1/2 · (2^30/8) / 48e9 = 28 us + 2.796203 ms.
    # Scale-up all-gather = reduce-scatter. Total 8.091381 ms.
    r = collective_time("all-reduce", GiB, dgx_h100(16), "hierarchical")
    rs = 23.8e-6 + 7 / 8 * GiB / 360e9
    out = 28e-6 + GiB / 8 / 48e9
    assert r.scale_up_reduce_scatter_s == pytest.approx(rs)
    assert r.scale_out_s == pytest.approx(out)
    assert r.scale_up_all_gather_s == pytest.approx(rs)
    assert r.time_s == pytest.approx(2 * rs + out) == pytest.approx(8.091381e-3, rel=1e-6)
    assert r.latency_term_s + r.bandwidth_term_s == pytest.approx(r.time_s)


def test_hierarchical_reduce_scatter_has_no_all_gather():
    r = collective_time("reduce-scatter", GiB, dgx_h100(16), "hierarchical")
    assert r.scale_up_all_gather_s is None and r.scale_up_reduce_scatter_s is not None
    # Scale-out reduce-scatter of S/8: 1 · 14 us + 1/2 · 2^30/8 / 48e9.
    assert r.scale_out_s == pytest.approx(14e-6 + 0.5 * GiB / 8 / 48e9)


def test_tree_latency_is_logarithmic_in_domains():
    # 128 domains of 8: 2 · (7 · 3.4 us + ceil(log2 128) · 14 us) = 2 · (23.8 + 98) us = 243.6 us.
    # Bandwidth 2·S over the slower tier: min(360e9 per GPU, 8 · 50e9 · 0.96 = 384e9 per node).
    r = collective_time("all-reduce", GiB, dgx_h100(1024), "tree")
    assert r.latency_term_s == pytest.approx(243.6e-6)
    assert r.bandwidth_term_s == pytest.approx(2 * GiB / 360e9)


def test_tree_on_two_domains_sends_s_not_2s_over_the_network():
    # One EDR NIC per node: 12.5e9 · 0.96 = 12e9 B/s. Two domains: max(2·S/360e9, 1·S/12e9).
    r = collective_time("all-reduce", GiB, dgx_h100(16, nics=1, out=EDR), "tree")
    assert r.bandwidth_term_s == pytest.approx(GiB / 12e9)
    r4 = collective_time("all-reduce", GiB, dgx_h100(32, nics=1, out=EDR), "tree")
    assert r4.bandwidth_term_s == pytest.approx(2 * GiB / 12e9)


def test_in_network_in_one_domain():
    # NVLS: NCCL's 25 us + S / (450e9 · 0.55) = 25 us + 4.338351 ms.
    r = collective_time("all-reduce", GiB, dgx_h100(8), "in-network")
    assert r.time_s == pytest.approx(25e-6 + GiB / (450e9 * 0.55))
    ring = collective_time("all-reduce", GiB, dgx_h100(8), "ring")
    assert r.busbw_bytes_per_s > 1.15 * ring.busbw_bytes_per_s  # NVLS beats the ring (measured: 1.29x)


def test_in_network_across_domains_paces_on_the_slower_leg():
    # NVLS leg 2^30 / 247.5e9 = 4.338 ms; SHARP leg 2^30 / (8 · 50e9 · 0.96) = 2.796 ms.
    r = collective_time("all-reduce", GiB, dgx_h100(1024), "in-network")
    assert r.latency_term_s == pytest.approx(25e-6 + 18e-6)
    assert r.bandwidth_term_s == pytest.approx(GiB / 247.5e9)
    assert r.bottleneck == "scale-up"


def test_all_to_all_pairwise():
    # 16 GPUs, 2 domains of 8: each GPU sends S/16 to 7 local and 8 remote peers.
    # Scale-up: 7/16 · S / 360e9; scale-out: 8 GPUs · 8/16 · S / 384e9 = 4·S/384e9 (binds).
    # Latency: 7 · 3.4 us + 8 · 14 us = 135.8 us.
    r = collective_time("all-to-all", GiB, dgx_h100(16))
    assert r.algorithm == "pairwise"
    assert r.latency_term_s == pytest.approx(135.8e-6)
    assert r.bandwidth_term_s == pytest.approx(4 * GiB / 384e9)
    assert r.busbw_factor == pytest.approx(15 / 16)


def test_broadcast_is_one_pipelined_traversal():
    r = collective_time("broadcast", GiB, dgx_h100(8))
    assert r.latency_term_s == pytest.approx(7 * 3.4e-6)
    assert r.bandwidth_term_s == pytest.approx(GiB / 360e9)
    assert r.busbw_bytes_per_s == r.algbw_bytes_per_s


def test_mesh_links_split_over_peers():
    # MI300X: 7 xGMI links of 64 GB/s. Two GPUs share one link; all eight use all seven.
    assert mesh_bytes_per_s(448e9, 2, 8) == pytest.approx(64e9)
    assert mesh_bytes_per_s(448e9, 8, 8) == pytest.approx(448e9)
    assert mesh_bytes_per_s(448e9, 16, 8) == pytest.approx(448e9)


def test_unavailable_algorithms_say_why():
    no_sharp = Tier("nvswitch-2", 300e9, 3.4e-6)
    assert "no in-network reduction" in unavailable("in-network", "all-reduce", Fabric(8, 8, no_sharp))
    assert "no in-network reduction" in unavailable("in-network", "all-reduce", dgx_h100(16, out=EDR))
    assert unavailable("tree", "all-gather", dgx_h100(8)) == "tree implements all-reduce only"
    assert unavailable("in-network", "all-reduce", dgx_h100(16)) is None
    with pytest.raises(ValueError):
        collective_time("all-gather", GiB, dgx_h100(8), "tree")


def test_auto_picks_the_fastest_and_reports_every_candidate():
    r = collective_time("all-reduce", GiB, dgx_h100(1024))
    times = {"ring": r.ring_time_s, "tree": r.tree_time_s, "hierarchical": r.hierarchical_time_s,
             "in-network": r.in_network_time_s}
    assert r.algorithm == min(times, key=times.get)
    assert r.time_s == min(times.values())
    assert any(a.startswith("auto picked in-network") for a in r.assumptions)


# ---- invariants --------------------------------------------------------------------------

FABRICS = st.builds(
    lambda nodes, per_node, nics, nic_rate, up_rate, up_inr, out_inr: Fabric(
        nodes * per_node, per_node, Tier("up", up_rate, 3.4e-6, up_inr),
        Tier("out", nic_rate, 14e-6, out_inr), nics),
    nodes=st.integers(1, 128), per_node=st.sampled_from([1, 2, 4, 8, 72]), nics=st.integers(1, 8),
    nic_rate=st.sampled_from([12.5e9, 25e9, 50e9, 100e9]), up_rate=st.sampled_from([64e9, 300e9, 450e9, 900e9]),
    up_inr=st.booleans(), out_inr=st.booleans(),
).filter(lambda f: f.gpus >= 2)
SIZES = st.floats(1, 64 * GiB)


@settings(max_examples=200, deadline=None)
@given(gpus=st.integers(2, 10**6), size=SIZES)
def test_ring_bandwidth_term_tends_to_two_s_over_b(gpus, size):
    # In one domain the ring moves 2(p-1)/p · S per GPU: the gap to 2·S/B is exactly 1/p.
    f = Fabric(gpus, gpus, NVLINK4)
    r = collective_time("all-reduce", size, f, "ring")
    limit = 2 * size / 360e9
    assert r.bandwidth_term_s < limit
    assert (limit - r.bandwidth_term_s) / limit == pytest.approx(1 / gpus, rel=1e-9)


def test_ring_bandwidth_term_converges_across_domains():
    gaps = []
    for nodes in (2, 16, 128, 1024, 8192):
        r = collective_time("all-reduce", GiB, dgx_h100(8 * nodes), "ring")
        gaps.append(abs(r.bandwidth_term_s - 2 * GiB / 360e9) / (2 * GiB / 360e9))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 2e-5


@settings(max_examples=200, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), a=SIZES, b=SIZES)
def test_time_is_monotone_in_size(fabric, op, a, b):
    small, large = sorted((a, b))
    for algorithm in ["auto", *(x for x in ALGORITHMS if unavailable(x, op, fabric) is None)]:
        assert (collective_time(op, small, fabric, algorithm).time_s
                <= collective_time(op, large, fabric, algorithm).time_s)


@settings(max_examples=200, deadline=None)
@given(fabric=FABRICS.filter(lambda f: f.gpus <= 1024), op=st.sampled_from(OPS))
def test_latency_dominates_small_and_bandwidth_large_messages(fabric, op):
    for algorithm in (x for x in ALGORITHMS if unavailable(x, op, fabric) is None):
        tiny = collective_time(op, 8, fabric, algorithm)
        huge = collective_time(op, 64 * GiB, fabric, algorithm)
        assert tiny.latency_term_s > tiny.bandwidth_term_s, algorithm
        assert huge.bandwidth_term_s > huge.latency_term_s, algorithm


@settings(max_examples=200, deadline=None)
@given(fabric=FABRICS, op=st.sampled_from(OPS), size=SIZES)
def test_busbw_is_algbw_times_the_nccl_tests_factor(fabric, op, size):
    p = fabric.gpus
    expected = {"all-reduce": 2 * (p - 1) / p, "all-gather": (p - 1) / p, "reduce-scatter": (p - 1) / p,
                "broadcast": 1.0, "all-to-all": (p - 1) / p}[op]
    r = collective_time(op, size, fabric)
    assert busbw_factor(op, p) == expected == r.busbw_factor
    assert r.busbw_bytes_per_s == r.algbw_bytes_per_s * expected
    assert r.algbw_bytes_per_s == size / r.time_s
    assert all(math.isfinite(v) and v > 0 for v in (r.time_s, r.algbw_bytes_per_s, r.busbw_bytes_per_s))


@settings(max_examples=200, deadline=None)
@given(nodes=st.integers(2, 8), size=st.floats(1024, 64 * GiB), nic_rate=st.sampled_from([3.125e9, 12.5e9]))
def test_hierarchical_beats_a_flat_ring_across_slow_scale_out(nodes, size, nic_rate):
    # One 25-100 Gb/s NIC per 8-GPU NVLink node: the hierarchical scheme sends 2(m-1)/m · S per
    # node instead of the ring's 2(p-1)/p · S, and crosses the slow links 2(m-1) times, not 2·m
    # per traversal after 2(p-m-1) NVLink hops.
    f = Fabric(8 * nodes, 8, NVLINK4, Tier("slow", nic_rate, 14e-6), 1)
    hier = collective_time("all-reduce", size, f, "hierarchical")
    flat = collective_time("all-reduce", size, f, "ring")
    assert hier.time_s < flat.time_s


def test_efficiency_scales_bandwidth_not_latency():
    slow = Fabric(8, 8, NVLINK4, efficiency=Efficiency(0.4, 0.4, 0.4))
    fast = Fabric(8, 8, NVLINK4, efficiency=Efficiency(0.8, 0.8, 0.8))
    a = collective_time("all-reduce", GiB, slow, "ring")
    b = collective_time("all-reduce", GiB, fast, "ring")
    assert a.bandwidth_term_s == pytest.approx(2 * b.bandwidth_term_s)
    assert a.latency_term_s == b.latency_term_s


# ---- the CLI -----------------------------------------------------------------------------

DONE = ["allreduce-time", "--size", "1GiB", "--gpus", "1024", "--system", "dgx-h100", "--inter", "ib-ndr"]
SWEEP = ["allreduce-time", "--sizes", "8:8G:2", "--gpus", "1024", "--system", "dgx-h100", "--inter", "ib-ndr"]
KEYS = ["time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "algorithm", "latency_term_s", "bandwidth_term_s",
        "scale_up_reduce_scatter_s", "scale_out_s", "scale_up_all_gather_s"]


def test_done_command_json(cli):
    run = cli(*DONE, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command"] == "allreduce-time"
    assert set(KEYS) <= set(doc["results"])
    inputs, results = doc["inputs"], doc["results"]
    assert inputs["system"] == "dgx-h100" and inputs["gpu"] == "h100-sxm" and inputs["domains"] == 128
    assert inputs["intra"] == "nvswitch-3" and inputs["nics_per_domain"] == 8
    assert inputs["size_bytes"] == GiB
    assert results["busbw_bytes_per_s"] == pytest.approx(results["algbw_bytes_per_s"] * 2 * 1023 / 1024)
    assert results["time_s"] == min(results[k] for k in ("ring_time_s", "tree_time_s", "hierarchical_time_s",
                                                         "in_network_time_s"))
    assert not set(inputs) & set(results)
    assert any("efficiency 0.8" in a for a in doc["assumptions"])


def test_done_command_table_reads_in_human_units(cli):
    run = cli(*DONE)
    assert run.code == 0, run.err
    assert "1.0 GiB" in run.out and "450 GB/s" in run.out and "ms" in run.out
    assert "busbw_bytes_per_s" in run.out and "assumption: auto picked" in run.out


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("toml", tomllib.loads)])
def test_machine_formats_parse(cli, fmt, load):
    run = cli(*DONE, "--format", fmt)
    assert run.code == 0, run.err
    assert load(run.out)["results"]["algorithm"] == "in-network"


def test_csv_one_row(cli):
    run = cli(*DONE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 1 and rows[0]["algorithm"] == "in-network" and float(rows[0]["time_s"]) > 0


def test_sizes_sweep_like_nccl_tests(cli):
    run = cli(*SWEEP, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    sizes = [row["inputs"]["size_bytes"] for row in doc["rows"]]
    assert sizes == [8 * 2**i for i in range(31)]  # 8 B .. 8 GiB: a bare 8G is binary, as nccl-tests reads it
    times = [row["results"]["time_s"] for row in doc["rows"]]
    assert times == sorted(times)
    assert doc["swept"] == ["size_bytes"]
    table = cli(*SWEEP)
    assert "31 points" in table.out and "8.0 GiB" in table.out and "busbw_" in table.out
    assert "intra_latency_s" not in table.out  # the sweep table shows only its columns


def test_sizes_and_size_are_one_option(cli):
    a = cli("allreduce-time", "--sizes", "1GiB", "--system", "dgx-h100", "--format", "json").json()
    b = cli("allreduce-time", "--size", "1GiB", "--system", "dgx-h100", "--format", "json").json()
    assert a["results"] == b["results"]


def test_hierarchical_phases_in_json_add_up(cli):
    doc = cli(*DONE, "--algorithm", "hierarchical", "--format", "json").json()
    r = doc["results"]
    assert r["algorithm"] == "hierarchical"
    assert r["scale_up_reduce_scatter_s"] + r["scale_out_s"] + r["scale_up_all_gather_s"] == pytest.approx(r["time_s"])


def test_explain_shows_the_working(cli):
    run = cli(*DONE, "--explain")
    assert run.code == 0
    assert "working:" in run.out and "S / t" in run.out and "nccl-tests" in run.out


def test_nvl72_is_one_domain(cli):
    doc = cli("allreduce-time", "--system", "gb200-nvl72", "--size", "1GiB", "--format", "json").json()
    assert doc["inputs"]["gpus"] == 72 and doc["inputs"]["gpus_per_domain"] == 72 and doc["inputs"]["domains"] == 1
    assert any("one scale-up domain of 72" in a for a in doc["assumptions"])


def test_options_override_the_sheets(cli):
    doc = cli("allreduce-time", "--gpu", "h100-sxm", "--gpus", "16", "--inter", "roce-400g", "--nics-per-node", "4",
              "--intra-latency", "1us", "--inter-latency", "5us", "--efficiency", "1", "--algorithm", "ring",
              "--size", "1GiB", "--format", "json").json()
    i, r = doc["inputs"], doc["results"]
    assert i["intra_latency_s"] == pytest.approx(1e-6) and i["inter_latency_s"] == pytest.approx(5e-6)
    assert i["nics_per_domain"] == 4 and i["scale_out_efficiency_fraction"] == 1
    # Ring at full line rate: min(450e9 per GPU, 4 · 50e9 per node) = 200e9; latency 2·(13·1 + 2·5) us.
    assert r["bandwidth_term_s"] == pytest.approx(2 * 15 / 16 * GiB / 200e9)
    assert r["latency_term_s"] == pytest.approx(46e-6)


@pytest.mark.parametrize("args, fragments", [
    (["--system", "dgx-h100"], ["--size"]),
    (["--system", "dgx-h100", "--size", "0"], ["--size"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--op", "gather"], ["--op", "all-reduce"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--algorithm", "fastest"], ["--algorithm", "auto"]),
    (["--system", "dgx-a100", "--size", "1GiB", "--algorithm", "in-network"], ["in-network", "nvswitch-2"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--op", "all-gather", "--algorithm", "tree"], ["tree"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "12"], ["--gpus", "8"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "8", "--gpus-per-node", "16"], ["--gpus-per-node"]),
    (["--gpu", "h100-sxm", "--gpus", "16", "--size", "1GiB"], ["--inter"]),
    (["--size", "1GiB", "--gpus", "8"], ["--gpu"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--efficiency", "1.5"], ["--efficiency"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--efficiency", "0.001"], ["--efficiency"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "16", "--inter", "ib-nrd"], ["ib-ndr"]),
    (["--system", "dgx-h100", "--size", "1GiB", "--gpus", "1"], ["--gpus"]),
    (["--system", "dgx-h100", "--size", "1 parsec"], ["--size"]),
])
def test_bad_input_is_one_line_exit_2(cli, args, fragments):
    assert_usage_error(cli("allreduce-time", *args), *fragments)
