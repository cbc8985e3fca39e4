"""Collective time on a two-tier GPU fabric, reported the way nccl-tests reports it.

Alpha–beta (Hockney) model: a transfer of S bytes costs α + S/B. Every GPU sits in a scale-up
domain of g GPUs (NVLink/NVSwitch: a node, or a whole rack such as GB200 NVL72); the m = p/g
domains talk over a scale-out fabric through n NICs per domain. Bandwidths are per direction and
are egress limits: a GPU's scale-up figure is everything it can push into the switch, a domain's
scale-out figure is its n NICs together. Achieved bandwidth = link rate × efficiency.

Algorithms (Thakur, Rabenseifner & Gropp 2005, IJHPCA 19(1); Patarasuk & Yuan 2009, JPDC 69(2);
NCCL's cost model in src/graph/tuning.cc):
- ring: 2(p−1)/p · S per GPU and per domain crossing for all-reduce, (p−1)/p · S for all-gather
  and reduce-scatter, S for a pipelined broadcast; latency counts the hops of each traversal,
  one scale-out hop per domain crossed, as NCCL does.
- tree (NCCL double binary tree, all-reduce): 2·((g−1)·α_up + ⌈log2 m⌉·α_out) + 2·S/B,
  pipelined across tiers (only S crosses the network on two domains).
- hierarchical: scale-up reduce-scatter, scale-out all-reduce of S/g on each rail, scale-up
  all-gather, one after another.
- in-network (NVLink SHARP / NVLS, InfiniBand SHARP): each byte crosses a link about once each
  way: S/B, with NCCL's own NVLS and SHARP latencies; across domains the NVLS (or ring) leg and
  the SHARP leg are pipelined.
- pairwise (all-to-all): p−1 exchanges of S/p, scale-up and scale-out peers in parallel.

nccl-tests (doc/PERFORMANCE.md) reports algbw = S/t and busbw = algbw × 2(p−1)/p for all-reduce,
× (p−1)/p for all-gather, reduce-scatter and all-to-all, × 1 for broadcast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, fmt

OPS = ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "all-to-all")
ALGORITHMS = ("ring", "tree", "hierarchical", "in-network", "pairwise")
SUPPORTED_OPS = {
    "ring": ("all-reduce", "all-gather", "reduce-scatter", "broadcast"),
    "tree": ("all-reduce",),
    "hierarchical": ("all-reduce", "all-gather", "reduce-scatter"),
    "in-network": ("all-reduce",),
    "pairwise": ("all-to-all",),
}

# Achieved fraction of the link rate, one default per fabric regime, from nccl-tests busbw at
# large sizes (ring unless stated):
# - scale-up (NVLink/NVSwitch): 8x H100 ~370 of 450 GB/s (sjeaugey, NVIDIA/nccl-tests#212: "with
#   the protocol overhead (~20%) NCCL can get an effective NVLink bandwidth of 370GB/s"); 8x H200
#   367.2 (stas00/ml-engineering network/README, nccl 2.27.7); 8x A100 ~230 of 300 (sjeaugey,
#   NVIDIA/nccl-tests#149); 8x B200 682 of 900 (ml-engineering). Range 0.76-0.82.
SCALE_UP_EFFICIENCY = 0.80
# - scale-out (InfiniBand/RoCE): DGX A100, 8x HDR: 192 of 200 GB/s (AddyLaddy, NVIDIA/nccl#812);
#   one HDR NIC: 24 of 25 GB/s (sjeaugey, NVIDIA/nccl#412); NDR: 46-48 of 50 GB/s per NIC
#   (AddyLaddy, NVIDIA/nccl-tests#290). Range 0.92-0.96.
SCALE_OUT_EFFICIENCY = 0.96
# - NVLink SHARP (NVLS) in-network reduction, as algbw over the link rate: 8x H100/H200 NVLS ~275 of 450 GB/s (0.61,
#   sjeaugey nccl-tests#212; ml-engineering 275.6); 8x B200 NVLS 838 busbw -> 479 of 900 (0.53,
#   ml-engineering); NVL72 850 busbw (GTC25 S72583) -> 431 of 900 (0.48). Middle of the three.
IN_NETWORK_EFFICIENCY = 0.55
# NCCL 2.30.7 src/graph/tuning.cc hwLatencies, NVLS algorithm, Simple protocol: NVLink 25 us,
# NET 18 us (a switch reduction costs far more than one ring hop).
NVLS_LATENCY_S = 25e-6
SHARP_LATENCY_S = 18e-6

SRC_NCCL_TESTS = "nccl-tests doc/PERFORMANCE.md: algbw = S/t; busbw = algbw × op factor"
SRC_RING = ("ring (Patarasuk & Yuan 2009): every GPU and every domain crossing carries factor·S; "
            "latency per hop, one scale-out hop per domain crossed (NCCL tuning.cc)")
SRC_TREE = ("NCCL double binary tree (Sanders, Speck & Träff 2009; NCCL 2.4 blog): latency as NCCL tuning.cc; "
            "2·S/B, pipelined across tiers")
SRC_HIER = "hierarchical all-reduce: scale-up reduce-scatter, scale-out all-reduce of S/g per rail, scale-up all-gather"
SRC_INR = "in-network reduction (NVLS / SHARP): each byte crosses a link once each way; NCCL tuning.cc latencies"
SRC_A2A = "pairwise exchange (Thakur et al. 2005): p−1 sends of S/p, scale-up and scale-out in parallel"


@dataclass(frozen=True)
class Tier:
    """One tier of links. ``bandwidth_bytes_per_s`` is per direction: per GPU on the scale-up
    tier, per NIC on the scale-out tier. ``latency_s`` is one hop."""

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float
    in_network_reduction: bool = False


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of the link rate in each regime."""

    scale_up: float = SCALE_UP_EFFICIENCY
    scale_out: float = SCALE_OUT_EFFICIENCY
    in_network: float = IN_NETWORK_EFFICIENCY


@dataclass(frozen=True)
class Fabric:
    """``gpus`` in domains of ``gpus_per_node`` (a whole number of domains), each domain with
    ``nics_per_node`` NICs on ``scale_out``."""

    gpus: int
    gpus_per_node: int
    scale_up: Tier
    scale_out: Tier | None = None
    nics_per_node: float = 0.0
    efficiency: Efficiency = Efficiency()

    @property
    def nodes(self) -> int:
        return self.gpus // self.gpus_per_node


@dataclass(frozen=True)
class Phase:
    """One step of a hierarchical collective, on one tier."""

    name: str
    latency_s: float
    bandwidth_s: float
    step: Step

    @property
    def time_s(self) -> float:
        return self.latency_s + self.bandwidth_s


@dataclass(frozen=True)
class Timing:
    """One algorithm's time: latency plus bandwidth, the tier that limits it, its working."""

    algorithm: str
    latency_s: float
    bandwidth_s: float
    bottleneck: str
    steps: tuple[Step, ...]
    phases: tuple[Phase, ...] = ()

    @property
    def time_s(self) -> float:
        return self.latency_s + self.bandwidth_s


@dataclass(frozen=True)
class CollectiveResult:
    algorithm: str
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    busbw_factor: float
    latency_term_s: float
    bandwidth_term_s: float
    bottleneck: str
    ring_time_s: float | None
    tree_time_s: float | None
    hierarchical_time_s: float | None
    in_network_time_s: float | None
    scale_up_reduce_scatter_s: float | None
    scale_out_s: float | None
    scale_up_all_gather_s: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- reporting ---------------------------------------------------------------------------

def busbw_factor(op: str, gpus: int) -> float:
    """nccl-tests' algbw -> busbw factor (doc/PERFORMANCE.md): the bytes each GPU must move per
    byte of S on a point-to-point fabric."""
    if op == "all-reduce":
        return 2 * (gpus - 1) / gpus
    if op == "broadcast":
        return 1.0
    return (gpus - 1) / gpus


# ---- per-tier bandwidth ------------------------------------------------------------------

def mesh_bytes_per_s(device_bytes_per_s: float, gpus_per_node: int, mesh_size: int) -> float:
    """Egress a GPU can use in a direct (switchless) full mesh of ``mesh_size`` GPUs when only
    ``gpus_per_node`` of them take part: its links are spread evenly over its mesh_size − 1 peers,
    so it reaches g − 1 of them. MI300X: 7 links of 64 GB/s, 448 GB/s among 8 but 64 GB/s between
    2 (stas00/ml-engineering network/README: busbw 312.9 GB/s on 8 GPUs, 47.7 GB/s on 2).
    """
    if mesh_size <= 1:
        return device_bytes_per_s
    return device_bytes_per_s * min(1.0, (gpus_per_node - 1) / (mesh_size - 1))


def scale_up_bytes_per_s(fabric: Fabric) -> float:
    """Achieved scale-up egress of one GPU."""
    return fabric.scale_up.bandwidth_bytes_per_s * fabric.efficiency.scale_up


def scale_out_bytes_per_s(fabric: Fabric) -> float:
    """Achieved scale-out egress of one domain: all its NICs together."""
    return fabric.nics_per_node * _out(fabric).bandwidth_bytes_per_s * fabric.efficiency.scale_out


def _out(fabric: Fabric) -> Tier:
    if fabric.scale_out is None:
        raise ValueError("a fabric of several domains needs a scale-out tier")
    return fabric.scale_out


def bottleneck(fabric: Fabric) -> tuple[str, float]:
    """The slower of the tiers a flat ring or tree crosses, and its achieved bandwidth.

    Each GPU sends the ring's volume over its scale-up link; each domain sends the same volume
    once over its NICs (NCCL runs one ring per NIC), so the domain's NICs count together.
    """
    tiers = []
    if fabric.gpus_per_node > 1:
        tiers.append(("scale-up", scale_up_bytes_per_s(fabric)))
    if fabric.nodes > 1:
        tiers.append(("scale-out", scale_out_bytes_per_s(fabric)))
    return min(tiers, key=lambda tier: tier[1])


def ring_hops(fabric: Fabric) -> tuple[int, int]:
    """(scale-up hops, scale-out hops) on one traversal of a ring through every GPU: p−1 hops,
    of which one per domain crossed (NCCL tuning.cc: nInterSteps = nNodes per traversal)."""
    hops = fabric.gpus - 1
    out = 0 if fabric.nodes == 1 else min(fabric.nodes, hops)
    return hops - out, out


# ---- algorithms --------------------------------------------------------------------------

RING_TRAVERSALS = {"all-reduce": 2, "all-gather": 1, "reduce-scatter": 1, "broadcast": 1}


def ring(op: str, size_bytes: float, fabric: Fabric) -> Timing:
    """Flat ring: traversals·(hops·α) + factor·S/B over the slower tier."""
    up_hops, out_hops = ring_hops(fabric)
    traversals = RING_TRAVERSALS[op]
    alpha_out = fabric.scale_out.latency_s if out_hops else 0.0
    latency = traversals * (up_hops * fabric.scale_up.latency_s + out_hops * alpha_out)
    tier, bw = bottleneck(fabric)
    factor = busbw_factor(op, fabric.gpus)
    bandwidth = factor * size_bytes / bw
    steps = (
        Step("latency_term_s", "traversals · (scale-up hops · α_up + scale-out hops · α_out)",
             f"{traversals} · ({up_hops} · {fmt(fabric.scale_up.latency_s)} + {out_hops} · {fmt(alpha_out)})",
             latency, "s", SRC_RING),
        Step("bandwidth_term_s", f"factor · S / B_{tier}",
             f"{fmt(factor)} · {fmt(size_bytes)} / {fmt(bw)}", bandwidth, "s", SRC_RING),
    )
    return Timing("ring", latency, bandwidth, tier, steps)


def tree(op: str, size_bytes: float, fabric: Fabric) -> Timing:
    """NCCL double binary tree all-reduce: chains inside domains, two trees across them, pipelined.

    Each GPU sends S up and S down its chain (2·S); each domain sends 2·S over its NICs, except
    on two domains, where each is a leaf of one tree and the root of the other and only S crosses
    the network (sjeaugey, NVIDIA/nccl#946).
    """
    m, g = fabric.nodes, fabric.gpus_per_node
    depth = math.ceil(math.log2(m)) if m > 1 else 0
    alpha_out = fabric.scale_out.latency_s if depth else 0.0
    latency = 2 * ((g - 1) * fabric.scale_up.latency_s + depth * alpha_out)
    volume_out = 1 if m == 2 else 2
    legs = [("scale-up", 2 * size_bytes / scale_up_bytes_per_s(fabric))] if g > 1 else []
    if m > 1:
        legs.append(("scale-out", volume_out * size_bytes / scale_out_bytes_per_s(fabric)))
    tier, bandwidth = max(legs, key=lambda leg: leg[1])
    steps = (
        Step("latency_term_s", "2 · ((g − 1) · α_up + ⌈log2 m⌉ · α_out)",
             f"2 · ({g - 1} · {fmt(fabric.scale_up.latency_s)} + {depth} · {fmt(alpha_out)})",
             latency, "s", SRC_TREE),
        Step("bandwidth_term_s", "max(2 · S / B_up, v · S / B_node), v = 1 on two domains, else 2",
             "max(" + ", ".join(fmt(t) for _, t in legs) + ")", bandwidth, "s", SRC_TREE),
    )
    return Timing("tree", latency, bandwidth, tier, steps)


def hierarchical(op: str, size_bytes: float, fabric: Fabric) -> Timing:
    """Scale-up reduce-scatter, scale-out collective of S/g per rail, scale-up all-gather."""
    phases = []
    if op in ("all-reduce", "reduce-scatter") and fabric.gpus_per_node > 1:
        phases.append(_scale_up_phase("scale-up reduce-scatter", size_bytes, fabric))
    if fabric.nodes > 1:
        phases.append(_scale_out_phase(op, size_bytes, fabric))
    if op in ("all-reduce", "all-gather") and fabric.gpus_per_node > 1:
        phases.append(_scale_up_phase("scale-up all-gather", size_bytes, fabric))
    slowest = max(phases, key=lambda phase: phase.time_s)
    return Timing("hierarchical", sum(p.latency_s for p in phases), sum(p.bandwidth_s for p in phases),
                  "scale-up" if slowest.name.startswith("scale-up") else "scale-out",
                  tuple(p.step for p in phases), tuple(phases))


def _scale_up_phase(name: str, size_bytes: float, fabric: Fabric) -> Phase:
    """Ring reduce-scatter or all-gather inside one domain: (g−1)·α_up + (g−1)/g · S/B_up."""
    g = fabric.gpus_per_node
    latency = (g - 1) * fabric.scale_up.latency_s
    bw = scale_up_bytes_per_s(fabric)
    bandwidth = (g - 1) / g * size_bytes / bw
    step = Step(name.replace("-", "_").replace(" ", "_") + "_s", "(g − 1) · α_up + (g − 1)/g · S / B_up",
                f"{g - 1} · {fmt(fabric.scale_up.latency_s)} + {g - 1}/{g} · {fmt(size_bytes)} / {fmt(bw)}",
                latency + bandwidth, "s", SRC_HIER)
    return Phase(name, latency, bandwidth, step)


def _scale_out_phase(op: str, size_bytes: float, fabric: Fabric) -> Phase:
    """Ring across the m domains on each rail, carrying S/g: each GPU gets its domain's NICs / g."""
    m, g = fabric.nodes, fabric.gpus_per_node
    traversals = 2 if op == "all-reduce" else 1
    latency = traversals * (m - 1) * _out(fabric).latency_s
    rail_bw = scale_out_bytes_per_s(fabric) / g
    bandwidth = traversals * (m - 1) / m * (size_bytes / g) / rail_bw
    step = Step("scale_out_s", f"{traversals} · (m − 1) · α_out + {traversals} · (m − 1)/m · (S/g) / B_rail",
                f"{traversals} · {m - 1} · {fmt(_out(fabric).latency_s)} + {traversals} · {m - 1}/{m} · "
                f"({fmt(size_bytes)}/{g}) / {fmt(rail_bw)}", latency + bandwidth, "s", SRC_HIER)
    return Phase(f"scale-out {op}", latency, bandwidth, step)


def in_network(op: str, size_bytes: float, fabric: Fabric) -> Timing:
    """Switch reduction: one domain uses NVLS (S/B); several domains pipeline a scale-up leg
    with a SHARP leg across domains (NCCL's NVLS-tree / CollNet): the slower leg sets the pace.

    The NVLS leg runs at the in-network efficiency (measured NVLS algbw); the SHARP leg sends
    each byte once through the NICs at the scale-out efficiency.
    """
    eff = fabric.efficiency.in_network
    if fabric.nodes == 1:
        up_bw = fabric.scale_up.bandwidth_bytes_per_s * eff
        bandwidth = size_bytes / up_bw
        return Timing("in-network", NVLS_LATENCY_S, bandwidth, "scale-up", (
            Step("latency_term_s", "NVLS latency (NCCL)", fmt(NVLS_LATENCY_S), NVLS_LATENCY_S, "s", SRC_INR),
            Step("bandwidth_term_s", "S / (B_up · in-network efficiency)",
                 f"{fmt(size_bytes)} / ({fmt(fabric.scale_up.bandwidth_bytes_per_s)} · {fmt(eff)})",
                 bandwidth, "s", SRC_INR)))
    up_latency, up_s, up_formula = _in_network_scale_up(size_bytes, fabric)
    out_bw = scale_out_bytes_per_s(fabric)
    out_s = size_bytes / out_bw
    latency = up_latency + SHARP_LATENCY_S
    steps = (
        Step("latency_term_s", "scale-up latency + SHARP latency (NCCL)",
             f"{fmt(up_latency)} + {fmt(SHARP_LATENCY_S)}", latency, "s", SRC_INR),
        Step("bandwidth_term_s", f"max({up_formula}, S / B_node)",
             f"max({fmt(up_s)}, {fmt(size_bytes)} / {fmt(out_bw)})", max(up_s, out_s), "s", SRC_INR),
    )
    return Timing("in-network", latency, max(up_s, out_s), "scale-up" if up_s > out_s else "scale-out", steps)


def _in_network_scale_up(size_bytes: float, fabric: Fabric) -> tuple[float, float, str]:
    """(latency, bandwidth time, formula) of the scale-up leg under a SHARP scale-out leg."""
    g = fabric.gpus_per_node
    if g == 1:
        return 0.0, 0.0, "0"
    if fabric.scale_up.in_network_reduction:
        bw = fabric.scale_up.bandwidth_bytes_per_s * fabric.efficiency.in_network
        return NVLS_LATENCY_S, size_bytes / bw, "S / (B_up · in-network efficiency)"
    latency = 2 * (g - 1) * fabric.scale_up.latency_s
    return latency, 2 * (g - 1) / g * size_bytes / scale_up_bytes_per_s(fabric), "2(g−1)/g · S / B_up"


def pairwise(op: str, size_bytes: float, fabric: Fabric) -> Timing:
    """All-to-all: each GPU sends S/p to each of p−1 peers; scale-up and scale-out in parallel."""
    p, g, m = fabric.gpus, fabric.gpus_per_node, fabric.nodes
    up_s = (g - 1) / p * size_bytes / scale_up_bytes_per_s(fabric) if g > 1 else 0.0
    out_s = g * (p - g) / p * size_bytes / scale_out_bytes_per_s(fabric) if m > 1 else 0.0
    alpha_out = fabric.scale_out.latency_s if m > 1 else 0.0
    latency = (g - 1) * fabric.scale_up.latency_s + (p - g) * alpha_out
    steps = (
        Step("latency_term_s", "(g − 1) · α_up + (p − g) · α_out",
             f"{g - 1} · {fmt(fabric.scale_up.latency_s)} + {p - g} · {fmt(alpha_out)}", latency, "s", SRC_A2A),
        Step("bandwidth_term_s", "max((g − 1)/p · S / B_up, g·(p − g)/p · S / B_node)",
             f"max({fmt(up_s)}, {fmt(out_s)})", max(up_s, out_s), "s", SRC_A2A),
    )
    return Timing("pairwise", latency, max(up_s, out_s), "scale-up" if up_s >= out_s else "scale-out", steps)


TIMERS = {"ring": ring, "tree": tree, "hierarchical": hierarchical, "in-network": in_network,
          "pairwise": pairwise}


def unavailable(algorithm: str, op: str, fabric: Fabric) -> str | None:
    """Why ``algorithm`` cannot run ``op`` on ``fabric``, or None when it can."""
    if algorithm not in SUPPORTED_OPS:
        return f"unknown algorithm {algorithm!r}"
    if op not in SUPPORTED_OPS[algorithm]:
        return f"{algorithm} implements {', '.join(SUPPORTED_OPS[algorithm])} only"
    if algorithm != "in-network":
        return None
    if fabric.nodes == 1 and not fabric.scale_up.in_network_reduction:
        return f"{fabric.scale_up.name} has no in-network reduction; NVLink SHARP needs NVSwitch gen 3 or newer"
    if fabric.nodes > 1 and not _out(fabric).in_network_reduction:
        return f"{_out(fabric).name} has no in-network reduction; SHARP needs InfiniBand HDR or newer"
    return None


# ---- the calculator ----------------------------------------------------------------------

def collective_time(op: str, size_bytes: float, fabric: Fabric, algorithm: str = "auto") -> CollectiveResult:
    """Time, algbw and busbw of ``op`` on ``size_bytes`` with ``algorithm`` (auto: the fastest)."""
    usable = [a for a in ALGORITHMS if unavailable(a, op, fabric) is None]
    if algorithm != "auto" and algorithm not in usable:
        raise ValueError(unavailable(algorithm, op, fabric))
    timings = {a: TIMERS[a](op, size_bytes, fabric) for a in usable}
    chosen = timings[algorithm] if algorithm != "auto" else min(timings.values(), key=lambda t: t.time_s)
    factor = busbw_factor(op, fabric.gpus)
    algbw = size_bytes / chosen.time_s
    phases = {"scale-out" if p.name.startswith("scale-out") else p.name: p.time_s for p in chosen.phases}
    steps = [*_fabric_steps(fabric), *chosen.steps]
    if algorithm == "auto" and len(timings) > 1:
        steps.append(_auto_step(timings, chosen))
    steps += _report_steps(size_bytes, chosen, factor)
    return CollectiveResult(
        algorithm=chosen.algorithm,
        time_s=chosen.time_s,
        algbw_bytes_per_s=algbw,
        busbw_bytes_per_s=algbw * factor,
        busbw_factor=factor,
        latency_term_s=chosen.latency_s,
        bandwidth_term_s=chosen.bandwidth_s,
        bottleneck=chosen.bottleneck,
        ring_time_s=_time_of(timings, "ring"),
        tree_time_s=_time_of(timings, "tree"),
        hierarchical_time_s=_time_of(timings, "hierarchical"),
        in_network_time_s=_time_of(timings, "in-network"),
        scale_up_reduce_scatter_s=phases.get("scale-up reduce-scatter"),
        scale_out_s=phases.get("scale-out"),
        scale_up_all_gather_s=phases.get("scale-up all-gather"),
        assumptions=tuple(_assumptions(op, fabric, algorithm, chosen, timings)),
        warnings=(),
        steps=tuple(steps),
    )


def _time_of(timings: dict[str, Timing], algorithm: str) -> float | None:
    return timings[algorithm].time_s if algorithm in timings else None


def _fabric_steps(fabric: Fabric) -> list[Step]:
    steps = [Step("nodes", "gpus / gpus_per_node", f"{fabric.gpus} / {fabric.gpus_per_node}", fabric.nodes, "",
                  "scale-up domains (a rack-scale NVLink domain counts as one)"),
             Step("scale_up_bytes_per_s", "B_up = per-GPU link rate · scale-up efficiency",
                  f"{fmt(fabric.scale_up.bandwidth_bytes_per_s)} · {fmt(fabric.efficiency.scale_up)}",
                  scale_up_bytes_per_s(fabric), "B/s", "accelerator and interconnect sheets")]
    if fabric.nodes > 1:
        steps.append(Step("scale_out_bytes_per_s", "B_node = NICs per domain · NIC rate · scale-out efficiency",
                          f"{fmt(fabric.nics_per_node)} · {fmt(_out(fabric).bandwidth_bytes_per_s)} · "
                          f"{fmt(fabric.efficiency.scale_out)}", scale_out_bytes_per_s(fabric), "B/s",
                          "system and interconnect sheets"))
    return steps


def _report_steps(size_bytes: float, chosen: Timing, factor: float) -> list[Step]:
    algbw = size_bytes / chosen.time_s
    return [Step("time_s", "latency_term + bandwidth_term", f"{fmt(chosen.latency_s)} + {fmt(chosen.bandwidth_s)}",
                 chosen.time_s, "s", "alpha–beta model"),
            Step("algbw_bytes_per_s", "S / t", f"{fmt(size_bytes)} / {fmt(chosen.time_s)}", algbw, "B/s",
                 SRC_NCCL_TESTS),
            Step("busbw_bytes_per_s", "algbw · factor", f"{fmt(algbw)} · {fmt(factor)}", algbw * factor, "B/s",
                 SRC_NCCL_TESTS)]


def _auto_step(timings: dict[str, Timing], chosen: Timing) -> Step:
    listing = ", ".join(f"{name} {fmt(t.time_s)}" for name, t in timings.items())
    return Step("time_s", "min over usable algorithms", listing, chosen.time_s, "s",
                f"auto picks {chosen.algorithm}")


def _assumptions(op: str, fabric: Fabric, algorithm: str, chosen: Timing, timings: dict) -> list[str]:
    notes = []
    if algorithm == "auto":
        skipped = [f"{a} unavailable: {unavailable(a, op, fabric)}" for a in ALGORITHMS
                   if a not in timings and op in SUPPORTED_OPS[a]]
        notes.append("; ".join([f"auto picked {chosen.algorithm}, the fastest of {', '.join(timings)}", *skipped]))
    if chosen.algorithm == "hierarchical" and len(chosen.phases) > 1:
        notes.append("hierarchical phases run one after another (no overlap of scale-up and scale-out)")
    if chosen.algorithm == "in-network":
        notes.append(f"in-network latency from NCCL 2.30.7 tuning.cc: NVLS {fmt(NVLS_LATENCY_S * 1e6)} us, "
                     f"SHARP {fmt(SHARP_LATENCY_S * 1e6)} us; busbw uses nccl-tests' point-to-point factor, "
                     "so it can exceed the link rate (NVIDIA/nccl-tests#212)")
        if fabric.nodes > 1:
            notes.append("SHARP leg at the scale-out efficiency, pipelined with the scale-up leg (NCCL NVLS-tree/"
                         "CollNet); needs SHARP-enabled switches and NCCL's SHARP plugin")
    if chosen.latency_s > chosen.bandwidth_s:
        notes.append("latency-bound: per-hop latencies are NCCL's Simple-protocol figures; for small messages "
                     "NCCL's LL protocols cost less per hop (0.6 us on NVLink), so this time may be high")
    return notes
