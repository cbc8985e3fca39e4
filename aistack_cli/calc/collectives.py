"""The one communication engine: time of a collective on a real fabric, as nccl-tests reports it.

Every calculator that moves data between GPUs calls ``collective_time`` (training's TP/SP, PP, DP,
ZeRO, CP and EP traffic, serving's TP/EP and KV transfer, and ``allreduce-time``). It follows
NCCL's own cost model, ``src/graph/tuning.cc`` of NCCL v2.30.7-1 (commit 73cf112): for every
algorithm × protocol it predicts ``time = latency + S / algbw`` and, like NCCL's tuner
(``enqueue.cc`` ``topoGetAlgoInfo``), ``auto`` takes the lowest prediction and names both.

What comes from NCCL's tables (cited at each table below): base and per-hop latencies per algorithm,
protocol and link class (NVLink, PCI, network); the protocols' payload fractions (LL 8 of 16 bytes,
LL128 120 of 128, Simple whole); the LL bandwidth caps per GPU generation; the tree correction
factors by size; which algorithm serves which collective. For AMD GPUs the RCCL tables apply
(ROCm/rccl commit 0cbce2a, tuning model 5 of the 8-GPU xGMI platforms): its base and xGMI/network
latencies, LL128 off, and the one-shot/two-shot all-pairs kernels it runs for small all-reduces.

What comes from the topology rather than NCCL's graph search: the bandwidth an algorithm gets is
the traffic each GPU, each switch port and each domain's NICs must carry, over their achieved rate
(line rate × an efficiency measured per fabric generation, given by the caller as data):
- ring: factor·S over every GPU link and over each domain's NICs (Patarasuk & Yuan 2009, JPDC 69(2));
- double binary tree (Sanders, Speck & Träff 2009): 2·S per GPU, 2·S per domain (S on two domains);
- NVLS (NVLink SHARP): a GPU's link carries S·(1 + 1/g) each way (its reads reduced in the switch,
  its share multicast back), so algbw = B_nvls·g/(g + 1); NVLS-tree adds a tree of the S/g slices
  across domains on each rail, pipelined with it;
- CollNet (InfiniBand SHARP, only when the fabric has it and the caller allows it): S once through
  the domain's NICs, pipelined with the scale-up leg;
- PAT (all-gather/reduce-scatter at one GPU per node): the ring's bytes at NCCL's 0.75 factor;
- all-to-all: every GPU sends S/p to each peer at once (scale-up peers over NVLink or their own mesh
  link, the others through the GPU's own NIC: one NIC per GPU at most, as NCCL's maintainers state);
- send/recv: one peer pair, over the scale-up link or the GPU's NIC.

nccl-tests (doc/PERFORMANCE.md) reports algbw = S/t and busbw = algbw × 2(p−1)/p for all-reduce,
× (p−1)/p for all-gather, reduce-scatter and all-to-all, × 1 for broadcast, reduce and send/recv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from aistack_cli.calc.common import Step, fmt

OPS = ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce", "all-to-all", "send-recv")
ALGORITHMS = ("ring", "tree", "nvls", "nvls-tree", "collnet", "pat", "one-shot", "two-shot", "pairwise",
              "low-latency", "p2p")
PROTOCOLS = ("LL", "LL128", "Simple")
PROTOCOL_INDEX = {name: i for i, name in enumerate(PROTOCOLS)}
LIBRARIES = ("nccl", "rccl", "generic")
SUPPORTED_OPS = {
    "ring": ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce"),
    "tree": ("all-reduce",),
    "nvls": ("all-reduce", "all-gather", "reduce-scatter"),
    "nvls-tree": ("all-reduce",),
    "collnet": ("all-reduce",),
    "pat": ("all-gather", "reduce-scatter"),
    "one-shot": ("all-reduce",),
    "two-shot": ("all-reduce",),
    "pairwise": ("all-to-all",),
    "low-latency": ("all-to-all",),
    "p2p": ("send-recv",),
}
ALIASES = {"in-network": "nvls", "sharp": "collnet"}
LL, LL128, SIMPLE = 0, 1, 2
US = 1e-6
GB = 1e9

# ---- NCCL v2.30.7-1 (commit 73cf112), src/graph/tuning.cc -----------------------------------
# Base latency per algorithm and protocol (LL, LL128, Simple), µs: tuning.cc:150-155.
NCCL_BASE_US = {"ring": (6.6, 14.0, 8.4), "tree": (6.8, 14.0, 8.4), "pat": (8.0, 8.0, 8.0)}
# Per-hop (hardware) latency per link class, algorithm and protocol, µs: tuning.cc:156-176.
# "collnet" is CollNet Chain.
NCCL_HOP_US = {
    "nvlink": {"ring": (0.6, 1.9, 3.4), "tree": (0.6, 1.25, 4.0), "collnet": (0.0, 0.0, 2.8),
               "nvls": (0.0, 0.0, 25.0), "nvls-tree": (0.0, 0.0, 25.0), "pat": (0.0, 0.0, 4.0)},
    "pci": {"ring": (1.0, 2.5, 5.7), "tree": (1.0, 1.9, 4.0), "collnet": (0.0, 0.0, 2.8),
            "nvls": (0.0, 0.0, 0.0), "nvls-tree": (0.0, 0.0, 0.0), "pat": (0.0, 0.0, 4.0)},
    "net": {"ring": (2.7, 4.0, 14.0), "tree": (5.0, 8.5, 14.0), "collnet": (0.0, 0.0, 30.0),
            "nvls": (0.0, 0.0, 18.0), "nvls-tree": (0.0, 0.0, 20.9), "pat": (0.0, 0.0, 14.0)},
}
# LL bus-bandwidth caps, GB/s (llMaxBws, tuning.cc:177-211): one node by GPU generation; two and
# more nodes by host CPU (Intel/other row assumed: 39.0 and 20.4).
NCCL_LL_MAX_ONE_NODE = {"volta": 39.0, "ampere": 87.7, "hopper": 141.0, "blackwell": 282.0}
NCCL_LL_MAX_TWO_NODES, NCCL_LL_MAX_MORE_NODES = 39.0, 20.4
# Network post overhead (tuning.cc:225-233, Intel/other CPUs): the floor of an inter-node ring's
# intra-node step, ×3 for Simple.
NCCL_NET_OVERHEAD_US = 1.0
# Protocol payload fractions as the tuner charges them (tuning.cc:327-335).
RING_LL_FRACTION = 0.5            # 8 data bytes per 16-byte LL line
LL128_FRACTION = 0.92             # 120 of 128 bytes, as the tuner rounds it
TREE_SIMPLE_FRACTION = 0.92
TREE_LL_DIVISOR = 3.8
TREE_LL128_ONE_NODE, TREE_LL128_NODES = 7.0 / 9.0, 120.0 / 128.0
PAT_FRACTION = 0.75
# Ring/Simple all-reduce on several nodes: latency × 1.4 once a channel carries ≥ 64 B per rank
# (tuning.cc:647-650; ×1.9 before Ampere). Channel count assumed 16, NCCL's usual ring count on
# 8-GPU NVSwitch nodes with 8 NICs.
RING_PLATEAU, RING_PLATEAU_PRE_AMPERE, PLATEAU_CHANNELS = 1.4, 1.9, 16
# Tree correction by size (treeCorrectionFactor, tuning.cc:620-627), index log2(S / 64), 64 B-512 MiB;
# applied to tree all-reduce, and to NVLS-tree on Blackwell.
TREE_CORRECTION = (
    (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0, 1.0),
    (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9),
)

# ---- RCCL (ROCm/rccl commit 0cbce2a, NCCL 2.21.5 base), src/graph/tuning.cc -----------------------
# Base latency (tuning.cc:57-60) and tuning model 5 per-hop latencies (tuning.cc:224-252), the model
# of the 8-GPU, 7-link fully connected xGMI platforms (MI300X). LL128 is off on MI300X.
RCCL_BASE_US = {"ring": (12.0, 12.0, 17.0), "tree": (12.0, 12.0, 17.0)}
RCCL_HOP_US = {
    "xgmi": {"ring": (0.8, 0.0, 2.1), "tree": (0.9, 0.0, 2.3), "collnet": (0.0, 0.0, 0.9)},
    "pci": {"ring": (2.2, 2.2, 5.7), "tree": (2.2, 2.2, 5.7), "collnet": (0.0, 0.0, 5.7)},
    "net": {"ring": (9.5, 0.0, 320.0), "tree": (10.5, 0.0, 25.0), "collnet": (0.0, 0.0, 10.5)},
}

SRC_NCCL = "NCCL v2.30.7 src/graph/tuning.cc"
SRC_RCCL = "RCCL (ROCm/rccl 0cbce2a) src/graph/tuning.cc, tuning model 5"
SRC_NCCL_TESTS = "nccl-tests doc/PERFORMANCE.md: algbw = S/t; busbw = algbw × op factor"


# ---- inputs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    """One tier of links. ``bandwidth_bytes_per_s`` is the line rate per direction: per GPU on the
    scale-up tier (its egress to the GPUs taking part), per NIC on the scale-out tier.

    ``latency_s``: a per-hop latency that replaces the library's tables for every protocol (None:
    the tables). ``link``: the library's link class (``nvlink``, ``pci``, ``xgmi``, ``ici`` on the
    scale-up tier; ``net`` on the scale-out tier; empty: ``nvlink`` / ``net`` by position).
    ``peer_bytes_per_s``: the rate between one pair of GPUs (a direct mesh gives a pair one link;
    None: the whole ``bandwidth_bytes_per_s``). ``extra_latency_s``: the network's own latency per
    hop beyond the library's InfiniBand-based figures (NCCL's ``latencyInter``, twice for Simple).
    ``torus_dims``: dimensions of a torus (TPU ICI), 0 for a switch or a full mesh."""

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float | None = None
    in_network_reduction: bool = False
    link: str = ""
    peer_bytes_per_s: float | None = None
    extra_latency_s: float = 0.0
    torus_dims: int = 0


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of the line rate: scale-up links (ring, Simple, large messages), scale-out
    NICs, and NVLink SHARP traffic. The caller gives them as data per fabric generation; 1.0 is the
    line rate."""

    scale_up: float = 1.0
    scale_out: float = 1.0
    in_network: float = 1.0


@dataclass(frozen=True)
class Fabric:
    """``gpus`` in domains of ``gpus_per_node`` (a whole number of scale-up domains: an NVSwitch
    node, an NVL72 rack, an xGMI mesh), each domain with ``nics_per_node`` NICs on ``scale_out``.

    ``library``: ``nccl`` (NVIDIA), ``rccl`` (AMD) or ``generic`` (no NCCL tables: the tiers' own
    per-hop latencies, Simple only). ``arch``: NCCL's GPU generation row (volta, ampere, hopper,
    blackwell; empty: no LL cap). ``sharp``: InfiniBand in-network reduction allowed (NCCL's CollNet
    plugin enabled). ``oversubscription``: the scale-out fabric's taper for cross-domain traffic."""

    gpus: int
    gpus_per_node: int
    scale_up: Tier
    scale_out: Tier | None = None
    nics_per_node: float = 0.0
    efficiency: Efficiency = Efficiency()
    library: str = "nccl"
    arch: str = ""
    sharp: bool = False
    oversubscription: float = 1.0

    @property
    def nodes(self) -> int:
        return self.gpus // self.gpus_per_node


# ---- outputs -----------------------------------------------------------------------------

class Candidate(NamedTuple):
    """One algorithm × protocol: its latency, its algbw before any size correction, its working."""

    algorithm: str
    protocol: str
    latency_s: float
    algbw_bytes_per_s: float
    bottleneck: str
    corrected: int  # NCCL's tree correction by size: its last bucket (22, or 23 for NVLS-tree), 0 for none
    plateau_from: float  # NCCL's ring plateau: latency × RING_PLATEAU from this size (inf: never)
    auto: bool  # the library's tuner would consider it
    latency_formula: str
    latency_numbers: str
    bandwidth_formula: str
    bandwidth_numbers: str
    source: str


@dataclass(frozen=True)
class CollectiveResult:
    algorithm: str
    protocol: str
    count: float
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    busbw_factor: float
    latency_term_s: float
    bandwidth_term_s: float
    bottleneck: str
    ring_time_s: float | None
    tree_time_s: float | None
    nvls_time_s: float | None
    nvls_tree_time_s: float | None
    collnet_time_s: float | None
    pat_time_s: float | None
    one_shot_time_s: float | None
    two_shot_time_s: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: list[Step]  # a Working: built when read


def result_values(result: "CollectiveResult") -> dict:
    """The result keys of a CollectiveResult (its numbers and words, not its notes or working)."""
    return {name: getattr(result, name) for name in RESULT_KEYS}


TIME_KEYS = {"ring": "ring_time_s", "tree": "tree_time_s", "nvls": "nvls_time_s", "nvls-tree": "nvls_tree_time_s",
             "collnet": "collnet_time_s", "pat": "pat_time_s", "one-shot": "one_shot_time_s",
             "two-shot": "two_shot_time_s"}


RESULT_KEYS = tuple(name for name in CollectiveResult.__dataclass_fields__
                    if name not in ("assumptions", "warnings", "steps"))


# ---- reporting ---------------------------------------------------------------------------

def busbw_factor(op: str, gpus: int) -> float:
    """nccl-tests' algbw -> busbw factor (doc/PERFORMANCE.md)."""
    if op == "all-reduce":
        return 2 * (gpus - 1) / gpus
    if op in ("broadcast", "reduce", "send-recv"):
        return 1.0
    return (gpus - 1) / gpus


def mesh_bytes_per_s(device_bytes_per_s: float, gpus_per_node: int, mesh_size: int) -> float:
    """Egress a GPU can use in a direct (switchless) full mesh of ``mesh_size`` GPUs when only
    ``gpus_per_node`` of them take part: its links are spread evenly over its mesh_size − 1 peers,
    so it reaches g − 1 of them. MI300X: 7 links of 64 GB/s, 448 GB/s among 8 but 64 GB/s between
    2 (stas00/ml-engineering network/README: busbw 312.9 GB/s on 8 GPUs, 47.7 GB/s on 2)."""
    if mesh_size <= 1:
        return device_bytes_per_s
    return device_bytes_per_s * min(1.0, (gpus_per_node - 1) / (mesh_size - 1))


def tree_correction(protocol: int, size_bytes: float, last: int = 22) -> float:
    """NCCL's tree correction factor at ``size_bytes``, read between its power-of-two buckets
    (linear in log2 size) so that time never falls as the size grows; 1 outside 64 B .. 2^last·64 B."""
    x = math.log2(size_bytes / 64.0) if size_bytes > 0 else -1.0
    if x < 0 or x > last + 1:
        return 1.0
    table = TREE_CORRECTION[protocol]
    low = int(x)
    frac = x - low
    a = table[low]
    b = table[low + 1] if low + 1 <= last else 1.0
    return a + (b - a) * frac


# ---- the model ---------------------------------------------------------------------------

class _Ctx:
    """What every algorithm needs from a fabric, computed once per fabric."""

    def __init__(self, fabric: Fabric):
        f = fabric
        self.f = f
        self.p, self.g, self.m = f.gpus, f.gpus_per_node, f.nodes
        up = f.scale_up
        self.up_link = up.link or "nvlink"
        self.lib = f.library if f.library in LIBRARIES else "generic"
        self.b_up = up.bandwidth_bytes_per_s * f.efficiency.scale_up
        self.b_peer = (up.peer_bytes_per_s or up.bandwidth_bytes_per_s) * f.efficiency.scale_up
        self.b_nvls = up.bandwidth_bytes_per_s * f.efficiency.in_network
        out = f.scale_out
        if self.m > 1:
            if out is None:
                raise ValueError("a fabric of several domains needs a scale-out tier")
            nic = out.bandwidth_bytes_per_s * f.efficiency.scale_out / f.oversubscription
            self.b_node = f.nics_per_node * nic
            # One GPU's own share of the NICs: all-to-all and send/recv use one NIC per GPU at most.
            self.b_gpu_nic = min(f.nics_per_node / self.g, 1.0) * nic
        else:
            self.b_node = self.b_gpu_nic = 0.0
        self.protocols = self._protocols()
        self.notes: dict = {}  # assumptions per (chosen, algorithm, protocol), built once

    def _protocols(self) -> tuple[int, ...]:
        if self.lib == "generic":
            return (SIMPLE,)
        if self.lib == "rccl" or self.up_link != "nvlink":
            return (LL, SIMPLE)  # LL128 needs an NVLink graph (tuning.cc:440-541); RCCL has it off
        return (LL, LL128, SIMPLE)

    # -- latencies --------------------------------------------------------------------------
    def base(self, algorithm: str, proto: int) -> float:
        if self.lib == "generic":
            return 0.0
        table = RCCL_BASE_US if self.lib == "rccl" else NCCL_BASE_US
        return table.get(algorithm, (0.0, 0.0, 0.0))[proto] * US

    def hop(self, algorithm: str, proto: int, tier: str) -> float:
        """Per-hop latency on ``tier`` (``up`` or ``net``) for ``algorithm`` at ``proto``."""
        f = self.f
        given = f.scale_up.latency_s if tier == "up" else (f.scale_out.latency_s if f.scale_out else None)
        extra = 0.0
        if tier == "net" and f.scale_out is not None:
            extra = f.scale_out.extra_latency_s * (2 if proto == SIMPLE else 1)
        if given is not None or self.lib == "generic":
            return (given if given is not None else 0.0) + extra
        link = self.up_link if tier == "up" else "net"
        if tier == "net" and self.g == 1 and algorithm in ("ring", "tree", "pat"):
            algorithm = "tree"  # one GPU per node: NCCL uses the tree's network figure (tuning.cc:385-391)
        tables = RCCL_HOP_US if self.lib == "rccl" else NCCL_HOP_US
        table = tables.get(link) or tables["pci"]
        return (table.get(algorithm) or table["ring"])[proto] * US + extra

    def ring_intra_hop(self, proto: int) -> float:
        """The intra-domain step of a ring: on several nodes NCCL raises it to its network overhead."""
        hop = self.hop("ring", proto, "up")
        if self.m > 1 and self.lib == "nccl" and self.f.scale_up.latency_s is None:
            hop = max(hop, NCCL_NET_OVERHEAD_US * US * (3 if proto == SIMPLE else 1))
        return hop

    # -- bandwidth caps -----------------------------------------------------------------------
    def ll_cap(self) -> float:
        """NCCL's LL bus-bandwidth cap (llMaxBws), B/s; infinite where NCCL's tables do not apply."""
        if self.lib != "nccl":
            return math.inf
        if self.m == 1:
            cap = NCCL_LL_MAX_ONE_NODE.get(self.f.arch)
            return cap * GB if cap else math.inf
        return (NCCL_LL_MAX_TWO_NODES if self.m == 2 else NCCL_LL_MAX_MORE_NODES) * GB

    def ring_bus(self) -> tuple[float, str]:
        """Simple-protocol bus bandwidth of a ring (or a tree's chains): the slower tier."""
        tiers = []
        if self.g > 1:
            tiers.append((self.b_up, "scale-up"))
        if self.m > 1:
            tiers.append((self.b_node, "scale-out"))
        return min(tiers)


def _proto_bus(ctx: _Ctx, proto: int, bus: float) -> tuple[float, str, str]:
    """A ring's bus bandwidth at ``proto``: NCCL's payload fraction and LL cap (tuning.cc:327-329)."""
    if proto == SIMPLE:
        return bus, "B", fmt(bus)
    if proto == LL128:
        return LL128_FRACTION * bus, "0.92 · B", f"0.92 · {fmt(bus)}"
    cap = ctx.ll_cap()
    value = min(cap, RING_LL_FRACTION * bus)
    if math.isinf(cap):
        return value, "0.5 · B", f"0.5 · {fmt(bus)}"
    return value, "min(LL cap, 0.5 · B)", f"min({fmt(cap)}, 0.5 · {fmt(bus)})"


def _ring(ctx: _Ctx, op: str) -> list[Candidate]:
    """Ring: every GPU link and each domain's NICs carry factor·S; latency per NCCL tuning.cc:395-412."""
    p, m = ctx.p, ctx.m
    if op == "all-reduce":
        steps, inter = 2 * (p - 1), 2 * (m - 1)
    else:  # all-gather, reduce-scatter; broadcast and reduce pipeline one chain through p − 1 hops
        steps, inter = p - 1, m - 1
    bus, tier = ctx.ring_bus()
    conv = p / steps if op in ("all-reduce", "all-gather", "reduce-scatter") else 1.0  # busBw -> algbw
    hops = steps
    dims = ctx.f.scale_up.torus_dims
    if dims and m == 1:
        # A torus runs a bidirectional ring along each dimension: a traversal is about
        # dims · (side − 1) / 2 hops, not p − 1 (TPU ICI; jax-ml "How to Scale Your Model", part 3).
        side = math.ceil(ctx.g ** (1.0 / dims) - 1e-9)
        hops = max(1, math.ceil(dims * (side - 1) / 2)) * (2 if op == "all-reduce" else 1)
    out = []
    for proto in ctx.protocols:
        base, intra, net = ctx.base("ring", proto), ctx.ring_intra_hop(proto), ctx.hop("ring", proto, "net")
        latency = base + (hops - inter) * intra + inter * net
        plateau = ""
        if op == "all-reduce" and proto == SIMPLE and m > 1 and ctx.lib == "nccl":
            factor = RING_PLATEAU_PRE_AMPERE if ctx.f.arch == "volta" else RING_PLATEAU
            plateau = f" (× {factor} above {PLATEAU_CHANNELS * 64 * p} B)"
        proto_bus, bus_formula, bus_numbers = _proto_bus(ctx, proto, bus)
        out.append(Candidate(
            "ring", PROTOCOLS[proto], latency, proto_bus * conv, tier, 0,
            PLATEAU_CHANNELS * 64 * p if plateau else math.inf, True,
            "base + (steps − inter) · α_intra + inter · α_net" + plateau,
            f"{fmt(base / US)} us + {hops - inter} · {fmt(intra / US)} us + {inter} · {fmt(net / US)} us",
            f"algbw = busbw · p/steps, busbw = {bus_formula}", f"{bus_numbers} · {p}/{steps}",
            _src(ctx)))
    return out


def _tree(ctx: _Ctx, op: str) -> list[Candidate]:
    """NCCL double binary tree all-reduce: chains inside domains, two trees across them, pipelined.

    Each GPU sends S up and S down its chain; each domain sends 2·S through its NICs, S on two
    domains (each is the root of one tree and the leaf of the other; sjeaugey, NVIDIA/nccl#946).
    Bus bandwidth per protocol as tuning.cc:330-335; algbw = busbw / 2; latency tuning.cc:416.
    """
    g, m = ctx.g, ctx.m
    tiers = []
    if g > 1:
        tiers.append((ctx.b_up, "scale-up"))
    if m > 1:
        tiers.append((ctx.b_node * (2.0 if m == 2 else 1.0), "scale-out"))
    bus, tier = min(tiers)
    depth = int(math.log2(m)) if m > 1 else 0
    out = []
    for proto in ctx.protocols:
        if ctx.lib == "rccl" and m == 1 and proto == SIMPLE:
            continue  # RCCL skips Tree/Simple on one MI300 node (tuning.cc:365)
        if proto == SIMPLE:
            tbus, bf = TREE_SIMPLE_FRACTION * bus, "0.92 · B"
        elif proto == LL128:
            frac = TREE_LL128_ONE_NODE if m == 1 else TREE_LL128_NODES
            tbus, bf = frac * bus, f"{fmt(frac)} · B"
        else:
            cap = ctx.ll_cap()
            tbus, bf = min(bus / TREE_LL_DIVISOR, cap), "min(B / 3.8, LL cap)"
        base, intra, net = ctx.base("tree", proto), ctx.hop("tree", proto, "up"), ctx.hop("tree", proto, "net")
        latency = base + 2 * ((g - 1) * intra + depth * net)
        out.append(Candidate(
            "tree", PROTOCOLS[proto], latency, tbus / 2, tier, 22 if ctx.lib == "nccl" else 0, math.inf, True,
            "base + 2 · ((g − 1) · α_intra + ⌊log2 m⌋ · α_net)",
            f"{fmt(base / US)} us + 2 · ({g - 1} · {fmt(intra / US)} us + {depth} · {fmt(net / US)} us)",
            f"algbw = busbw / 2 (× NCCL's tree correction by size), busbw = {bf}, "
            "B = min(B_up, B_node · (2 on two domains, else 1))", f"{fmt(bus)}", _src(ctx)))
    return out


def _nvls(ctx: _Ctx, op: str) -> list[Candidate]:
    """NVLink SHARP: loads reduced in the switch and stores multicast by it.

    All-reduce: a GPU's link carries S·(1 + 1/g) each way (every slice of its buffer is read once
    by the switch, its own reduced slice is multicast back), so algbw = B_nvls·g/(g + 1).
    All-gather / reduce-scatter: S through a GPU's link, algbw = B_nvls. Across domains (with
    InfiniBand SHARP, NCCL's NVLS + CollNet) each domain's NICs carry S, pipelined with the NVLink
    leg. Simple only; latency: the NVLS hop (25 us on NVLink, 18 us on the network; the base is dropped).
    """
    g, m = ctx.g, ctx.m
    nvlink = ctx.hop("nvls", SIMPLE, "up")
    if op == "all-reduce":
        up, up_formula = ctx.b_nvls * g / (g + 1), "B_nvls · g/(g + 1)"
    else:
        up, up_formula = ctx.b_nvls, "B_nvls"
    legs = [(up, "in-switch")]
    latency, lat_formula, lat_numbers = nvlink, "α_nvls", f"{fmt(nvlink / US)} us"
    if m > 1:
        net = ctx.hop("nvls", SIMPLE, "net")
        legs.append((ctx.b_node, "scale-out"))
        latency += net
        lat_formula, lat_numbers = "α_nvls + α_sharp", f"{fmt(nvlink / US)} us + {fmt(net / US)} us"
    bw, tier = min(legs)
    return [Candidate("nvls", "Simple", latency, bw, tier, 0, math.inf, True, lat_formula, lat_numbers,
                      f"algbw = min({up_formula}, B_node)" if m > 1 else f"algbw = {up_formula}",
                      ", ".join(fmt(b) for b, _ in legs), SRC_NCCL)]


def _nvls_tree(ctx: _Ctx, op: str) -> list[Candidate]:
    """NVLS inside each domain, a tree of each rail's S/g slice across domains, pipelined.

    The NVLink leg is NVLS's S·(1 + 1/g); each domain's NICs carry 2·S (S on two domains).
    Latency: α_nvls + 2·⌊log2 m⌋·α_net (tuning.cc NVLS Tree; NCCL doubles the inter-node bandwidth
    on two nodes). NCCL applies the tree correction to it on Blackwell.
    """
    g, m = ctx.g, ctx.m
    up = ctx.b_nvls * g / (g + 1)
    net_bw = ctx.b_node * (1.0 if m == 2 else 0.5)
    bw, tier = min((up, "in-switch"), (net_bw, "scale-out"))
    nvlink, net = ctx.hop("nvls-tree", SIMPLE, "up"), ctx.hop("nvls-tree", SIMPLE, "net")
    depth = int(math.log2(m))
    latency = nvlink + 2 * depth * net
    return [Candidate("nvls-tree", "Simple", latency, bw, tier, 23 if ctx.f.arch == "blackwell" else 0, math.inf, True,
                      "α_nvls + 2 · ⌊log2 m⌋ · α_net", f"{fmt(nvlink / US)} us + 2 · {depth} · {fmt(net / US)} us",
                      "algbw = min(B_nvls · g/(g + 1), B_node / (1 on two domains, else 2))",
                      f"min({fmt(up)}, {fmt(net_bw)})", SRC_NCCL)]


def _collnet(ctx: _Ctx, op: str) -> list[Candidate]:
    """InfiniBand SHARP (NCCL CollNet Chain): a chain inside each domain, the switch reduces across
    domains, so each domain's NICs carry S once each way; the legs are pipelined. Simple only;
    latency 2·(g − 1)·α_intra + α_net (tuning.cc CollNet Chain)."""
    g = ctx.g
    up = ctx.b_up * g / (2 * (g - 1)) if g > 1 else math.inf
    bw, tier = min((up, "scale-up"), (ctx.b_node, "scale-out"))
    intra, net = ctx.hop("collnet", SIMPLE, "up"), ctx.hop("collnet", SIMPLE, "net")
    latency = ctx.base("collnet", SIMPLE) + 2 * (g - 1) * intra + net
    return [Candidate("collnet", "Simple", latency, bw, tier, 0, math.inf, True,
                      "2 · (g − 1) · α_intra + α_net", f"2 · {g - 1} · {fmt(intra / US)} us + {fmt(net / US)} us",
                      "algbw = min(B_up · g / (2(g − 1)), B_node)", f"min({fmt(up)}, {fmt(ctx.b_node)})", SRC_NCCL)]


def _pat(ctx: _Ctx, op: str) -> list[Candidate]:
    """PAT (Parallel Aggregated Trees), all-gather / reduce-scatter at one GPU per node: the ring's
    (p − 1)/p·S per GPU at 0.75 of the NIC rate; latency 8 us + ⌊log2 m⌋·α_net/3.5 + 2.8 us per rank
    (tuning.cc: "still a linear part")."""
    p, m = ctx.p, ctx.m
    bus = PAT_FRACTION * ctx.b_node
    net = ctx.hop("pat", SIMPLE, "net")
    depth = int(math.log2(m))
    latency = ctx.base("pat", SIMPLE) + depth * net / 3.5 + p * 2.8 * US
    return [Candidate("pat", "Simple", latency, bus * p / (p - 1), "scale-out", 0, math.inf, True,
                      "base + ⌊log2 m⌋ · α_net / 3.5 + 2.8 us · p",
                      f"{fmt(ctx.base('pat', SIMPLE) / US)} us + {depth} · {fmt(net / US)} us / 3.5 + 2.8 us · {p}",
                      "algbw = 0.75 · B_node · p/(p − 1)", f"0.75 · {fmt(ctx.b_node)} · {p}/{p - 1}", SRC_NCCL)]


def _direct(ctx: _Ctx, op: str, shots: int) -> list[Candidate]:
    """All-pairs all-reduce inside one domain (RCCL's MSCCL++ kernels on MI300X; custom all-reduce
    kernels such as vLLM's and TensorRT-LLM's on NVSwitch): one-shot pushes the whole buffer to every
    peer and reduces locally ((g − 1)·S per GPU, one hop); two-shot reduce-scatters and all-gathers
    directly (2(g − 1)/g·S per GPU, two hops). LL packets (half the bytes are flags)."""
    g = ctx.g
    name = "one-shot" if shots == 1 else "two-shot"
    volume, volume_text = ((g - 1), f"{g - 1}") if shots == 1 else (2 * (g - 1) / g, f"2·{g - 1}/{g}")
    bw = RING_LL_FRACTION * ctx.b_up / volume
    base, hop = ctx.base("ring", LL), ctx.hop("ring", LL, "up")
    latency = base + shots * hop
    return [Candidate(name, "LL", latency, bw, "scale-up", 0, math.inf, ctx.lib == "rccl",
                      f"base + {shots} · α_intra", f"{fmt(base / US)} us + {shots} · {fmt(hop / US)} us",
                      f"algbw = 0.5 · B_up / ({'g − 1' if shots == 1 else '2(g − 1)/g'})",
                      f"0.5 · {fmt(ctx.b_up)} / {volume_text}", _src(ctx))]


def _all_to_all(ctx: _Ctx, op: str, low_latency: bool) -> list[Candidate]:
    """Every GPU sends S/p to each of its p − 1 peers, all at once: (g − 1)/p·S over its scale-up
    link (or each peer's own mesh link), (p − g)/p·S through its NIC; the slower sets the pace.

    Latency: one hop of the farthest tier, not one per peer (the sends are concurrent). NCCL's
    normal kernels (grouped send/recv through the proxy) pay NCCL's ring base and per-hop latency
    per protocol; low-latency kernels (GPU-initiated RDMA, as DeepEP's and pplx-kernels') pay the
    LL base and hop at the Simple bandwidth (one flag per message, not per 8 bytes).
    """
    p, g, m = ctx.p, ctx.g, ctx.m
    legs = []
    if g > 1:
        legs.append(((g - 1) / p, ctx.b_up, "scale-up"))
    if m > 1:
        legs.append(((p - g) / p, ctx.b_gpu_nic, "scale-out"))
    tier_hop = "net" if m > 1 else "up"
    protos = (LL,) if low_latency else ctx.protocols
    out = []
    for proto in protos:
        scale = 1.0 if (low_latency or proto == SIMPLE) else (LL128_FRACTION if proto == LL128 else RING_LL_FRACTION)
        times = [(share / (bw * scale), tier) for share, bw, tier in legs]
        per_byte, tier = max(times)
        base, hop = ctx.base("ring", proto), ctx.hop("ring", proto, tier_hop)
        name = "low-latency" if low_latency else "pairwise"
        out.append(Candidate(name, "LL" if low_latency else PROTOCOLS[proto], base + hop, 1.0 / per_byte, tier,
                             0, math.inf, not low_latency, "base + α (farthest tier, sends concurrent)",
                             f"{fmt(base / US)} us + {fmt(hop / US)} us",
                             "algbw = 1 / max((g − 1)/p / B_up, (p − g)/p / B_gpu_nic)" +
                             ("" if scale == 1.0 else f" at {fmt(scale)} payload"),
                             ", ".join(f"{fmt(share)} / {fmt(bw)}" for share, bw, _ in legs), _src(ctx)))
    return out


def _p2p(ctx: _Ctx, op: str) -> list[Candidate]:
    """Send/recv: each GPU sends S to one peer (nccl-tests sendrecv): over the pair's scale-up link
    in one domain, through the GPU's NIC across domains. LL below NCCL's 16 KiB per channel, else Simple."""
    bw, tier = (ctx.b_peer, "scale-up") if ctx.m == 1 else (ctx.b_gpu_nic, "scale-out")
    tier_hop = "up" if ctx.m == 1 else "net"
    out = []
    for proto in ctx.protocols:
        scale = 1.0 if proto == SIMPLE else (LL128_FRACTION if proto == LL128 else RING_LL_FRACTION)
        base, hop = ctx.base("ring", proto), ctx.hop("ring", proto, tier_hop)
        out.append(Candidate("p2p", PROTOCOLS[proto], base + hop, bw * scale, tier, 0, math.inf, True,
                             "base + α", f"{fmt(base / US)} us + {fmt(hop / US)} us",
                             "algbw = B_pair" + ("" if scale == 1.0 else f" · {fmt(scale)}"), fmt(bw), _src(ctx)))
    return out


def _src(ctx: _Ctx) -> str:
    if ctx.lib == "rccl":
        return SRC_RCCL
    return SRC_NCCL if ctx.lib == "nccl" else "alpha-beta model with the tiers' own per-hop latency"


def unavailable(algorithm: str, op: str, fabric: Fabric) -> str | None:
    """Why ``algorithm`` cannot run ``op`` on ``fabric``, or None when it can."""
    algorithm = ALIASES.get(algorithm, algorithm)
    if algorithm not in SUPPORTED_OPS:
        return f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
    if op not in SUPPORTED_OPS[algorithm]:
        return f"{algorithm} implements {', '.join(SUPPORTED_OPS[algorithm])} only"
    g, m = fabric.gpus_per_node, fabric.nodes
    lib = fabric.library
    out = fabric.scale_out
    if algorithm in ("nvls", "nvls-tree"):
        if lib != "nccl" or not fabric.scale_up.in_network_reduction or g < 2:
            return (f"{fabric.scale_up.name} has no in-switch reduction; NVLink SHARP (NVLS) needs NVSwitch gen 3 "
                    "or newer with NCCL")
        if algorithm == "nvls-tree" and m == 1:
            return "nvls-tree joins several scale-up domains; one domain uses nvls"
        if algorithm == "nvls" and m > 1:
            if op != "all-reduce":
                return "nvls across domains runs all-reduce only"
            return _sharp_missing(fabric)
        if op != "all-reduce" and g > 32:
            return "NCCL runs NVLS all-gather/reduce-scatter on at most 32 GPUs per domain"
        return None
    if algorithm == "collnet":
        if m == 1:
            return "collnet (InfiniBand SHARP) joins several domains"
        return _sharp_missing(fabric)
    if algorithm == "pat":
        if lib != "nccl":
            return "PAT is an NCCL algorithm"
        if g != 1 or m < 2:
            return "NCCL runs PAT only with one GPU per node, across nodes"
        return None
    if algorithm in ("one-shot", "two-shot") and (m > 1 or g < 2):
        return f"{algorithm} runs inside one scale-up domain"
    if algorithm == "tree" and fabric.gpus < 2:
        return "a tree needs two GPUs"
    if out is None and m > 1:
        return "a fabric of several domains needs a scale-out tier"
    return None


def _sharp_missing(fabric: Fabric) -> str | None:
    out = fabric.scale_out
    if out is None or not out.in_network_reduction:
        name = out.name if out else "the scale-out fabric"
        return f"{name} has no in-network reduction (SHARP needs InfiniBand HDR or newer switches)"
    if not fabric.sharp:
        return "InfiniBand SHARP is not enabled (it needs SHARP switches and NCCL's SHARP plugin)"
    return None


BUILDERS = {
    "ring": _ring, "tree": _tree, "nvls": _nvls, "nvls-tree": _nvls_tree, "collnet": _collnet, "pat": _pat,
    "one-shot": lambda ctx, op: _direct(ctx, op, 1), "two-shot": lambda ctx, op: _direct(ctx, op, 2),
    "pairwise": lambda ctx, op: _all_to_all(ctx, op, False),
    "low-latency": lambda ctx, op: _all_to_all(ctx, op, True), "p2p": _p2p,
}


@lru_cache(maxsize=256)
def candidates(op: str, fabric: Fabric) -> tuple[_Ctx, tuple[Candidate, ...], tuple[str, ...]]:
    """Every algorithm × protocol that can run ``op`` on ``fabric`` (computed once per fabric), and
    the reasons the others cannot."""
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
    if fabric.gpus < 2 or fabric.gpus_per_node < 1 or fabric.gpus % fabric.gpus_per_node:
        raise ValueError("a collective needs at least 2 GPUs in whole scale-up domains")
    ctx = _Ctx(fabric)
    found, skipped = [], []
    for algorithm in ALGORITHMS:
        if op not in SUPPORTED_OPS[algorithm]:
            continue
        reason = unavailable(algorithm, op, fabric)
        if reason:
            skipped.append(f"{algorithm}: {reason}")
            continue
        found.extend(BUILDERS[algorithm](ctx, op))
    return ctx, tuple(found), tuple(skipped)


_LAST: dict[str, tuple] = {}  # op -> (fabric, candidates): skips hashing the fabric on every point


def _time(c: Candidate, ctx: _Ctx, size_bytes: float) -> tuple[float, float, float]:
    """(time, latency, bandwidth term) of a candidate at ``size_bytes``: NCCL's ring plateau factor on
    the latency, its tree correction on the bandwidth."""
    latency = c.latency_s
    if size_bytes >= c.plateau_from:
        latency *= RING_PLATEAU_PRE_AMPERE if ctx.f.arch == "volta" else RING_PLATEAU
    bw = c.algbw_bytes_per_s
    if c.corrected:
        bw *= tree_correction(PROTOCOL_INDEX[c.protocol], size_bytes, c.corrected)
    bandwidth = size_bytes / bw
    return latency + bandwidth, latency, bandwidth


# ---- the calculator ----------------------------------------------------------------------

def collective_time(op: str, size_bytes: float, fabric: Fabric, algorithm: str = "auto", protocol: str = "auto",
                    element_bytes: float = 4.0) -> CollectiveResult:
    """Time, algbw and busbw of ``op`` on ``size_bytes`` (nccl-tests' S: the whole buffer for
    all-gather/reduce-scatter, one GPU's send buffer for all-to-all) with ``algorithm`` and
    ``protocol`` (``auto``: the lowest predicted time, as NCCL's tuner picks)."""
    algorithm = ALIASES.get(algorithm, algorithm)
    if algorithm != "auto":
        reason = unavailable(algorithm, op, fabric)
        if reason:
            raise ValueError(reason)
    if protocol != "auto" and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    last = _LAST.get(op)
    if last is not None and last[0] is fabric:  # a sweep over sizes: the same fabric object again
        ctx, found, skipped = last[1]
    else:
        ctx, found, skipped = candidates(op, fabric)
        _LAST[op] = (fabric, (ctx, found, skipped))
    best: dict[str, float] = {}
    timed = []
    for c in found:
        if protocol != "auto" and c.protocol != protocol:
            continue
        times = _time(c, ctx, size_bytes)
        if c.algorithm in TIME_KEYS and times[0] < best.get(c.algorithm, math.inf):
            best[c.algorithm] = times[0]
        if c.algorithm == algorithm if algorithm != "auto" else c.auto:
            timed.append((times, c))
    if not timed:
        offered = sorted({c.protocol for c in found if c.algorithm == algorithm})
        raise ValueError(f"{algorithm} has no {protocol} protocol on this fabric; it offers {', '.join(offered)}")
    (t, latency, bandwidth), chosen = min(timed, key=lambda item: item[0][0])
    factor = busbw_factor(op, fabric.gpus)
    algbw = size_bytes / t
    key = (chosen, algorithm, protocol)
    notes = ctx.notes.get(key)
    if notes is None:
        notes = ctx.notes[key] = tuple(_assumptions(ctx, chosen, algorithm, protocol, skipped))
    return CollectiveResult(
        algorithm=chosen.algorithm, protocol=chosen.protocol, count=size_bytes / element_bytes,
        time_s=t, algbw_bytes_per_s=algbw, busbw_bytes_per_s=algbw * factor, busbw_factor=factor,
        latency_term_s=latency, bandwidth_term_s=bandwidth, bottleneck=chosen.bottleneck,
        **{key: best.get(name) for name, key in TIME_KEYS.items()},
        assumptions=notes, warnings=(),
        steps=Working(lambda: _steps(ctx, chosen, timed, size_bytes, t, latency, bandwidth, factor, algorithm)),
    )


class Working(list):
    """The working shown by --explain, built only when read: a sweep that does not explain never pays
    for formatting it."""

    __slots__ = ("_build",)

    def __init__(self, build):
        super().__init__()
        self._build = build

    def _fill(self) -> None:
        if self._build is not None:
            build, self._build = self._build, None
            self.extend(build())

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, index):
        self._fill()
        return super().__getitem__(index)


def _steps(ctx: _Ctx, chosen: Candidate, timed: list, size_bytes: float, t: float, latency: float,
           bandwidth: float, factor: float, algorithm: str) -> list[Step]:
    f = ctx.f
    steps = [Step("domains", "gpus / gpus_per_domain", f"{f.gpus} / {f.gpus_per_node}", f.nodes, "",
                  "scale-up domains (a rack-scale NVLink domain counts as one)"),
             Step("scale_up_bytes_per_s", "B_up = per-GPU line rate · scale-up efficiency",
                  f"{fmt(f.scale_up.bandwidth_bytes_per_s)} · {fmt(f.efficiency.scale_up)}", ctx.b_up, "B/s",
                  "accelerator and interconnect sheets; efficiency per fabric generation (specs/defaults)")]
    if ctx.m > 1:
        steps.append(Step("scale_out_bytes_per_s", "B_node = NICs · NIC rate · scale-out efficiency / oversubscription",
                          f"{fmt(f.nics_per_node)} · {fmt(f.scale_out.bandwidth_bytes_per_s)} · "
                          f"{fmt(f.efficiency.scale_out)} / {fmt(f.oversubscription)}", ctx.b_node, "B/s",
                          "system and interconnect sheets"))
    steps += [
        Step("latency_term_s", chosen.latency_formula, chosen.latency_numbers, latency, "s", chosen.source),
        Step("algbw_bytes_per_s", chosen.bandwidth_formula, chosen.bandwidth_numbers, size_bytes / bandwidth, "B/s",
             chosen.source),
        Step("bandwidth_term_s", "S / algbw", f"{fmt(size_bytes)} / {fmt(size_bytes / bandwidth)}", bandwidth, "s",
             chosen.source),
    ]
    if len(timed) > 1:
        listing = ", ".join(f"{c.algorithm}/{c.protocol} {fmt(tt[0])}" for tt, c in timed)
        steps.append(Step("time_s", "min over algorithm × protocol" if algorithm == "auto" else "min over protocols",
                          listing, t, "s", f"{SRC_NCCL}: the tuner takes the lowest predicted time"))
    algbw = size_bytes / t
    steps += [Step("time_s", "latency_term + bandwidth_term", f"{fmt(latency)} + {fmt(bandwidth)}", t, "s",
                   chosen.source),
              Step("busbw_bytes_per_s", "S / t · factor", f"{fmt(algbw)} · {fmt(factor)}", algbw * factor, "B/s",
                   SRC_NCCL_TESTS)]
    return steps


def _assumptions(ctx: _Ctx, chosen: Candidate, algorithm: str, protocol: str, skipped: tuple[str, ...]) -> list[str]:
    lib = {"nccl": "NCCL 2.30.7's cost model (src/graph/tuning.cc)",
           "rccl": "RCCL's cost model (tuning model 5, MI300X-class xGMI platforms)",
           "generic": "an alpha-beta model with the interconnect's own per-hop latency (no NCCL tables for it)"}
    how = "picked by lowest predicted time" if algorithm == "auto" or protocol == "auto" else "as asked"
    notes = [f"{chosen.algorithm} with the {chosen.protocol} protocol, {how}, from {lib[ctx.lib]}"]
    if algorithm == "auto" and skipped:
        names = [item.split(":", 1)[0] for item in skipped]
        note = "not available here: " + ", ".join(names)
        if any("SHARP is not enabled" in item for item in skipped):
            note += "; InfiniBand SHARP is not enabled"
        notes.append(note)
    if chosen.algorithm in ("nvls", "nvls-tree"):
        notes.append("NVLS busbw uses nccl-tests' point-to-point factor, so it can exceed the link rate "
                     "(NVIDIA/nccl-tests#212)")
    if ctx.m > 1 and ctx.f.scale_out is not None and ctx.f.scale_out.extra_latency_s:
        notes.append(f"{ctx.f.scale_out.name}: {fmt(ctx.f.scale_out.extra_latency_s / US)} us of network latency "
                     "per hop beyond NCCL's InfiniBand figures (twice for Simple)")
    return notes
