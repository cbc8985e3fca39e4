"""Training step time from the layout, bottom-up, and the search over layouts.

Per micro-batch and layer, forward and backward (Narayanan et al. 2021, arXiv 2104.04473;
Korthikanti et al. 2022, arXiv 2205.05198; the analytical approach of Calculon, Isaev et al. 2023):

- GEMMs (projections, MLP or experts, output layer) as rooflines at the achievable fraction of the
  dense peak (``calc.hardware``); backward is two GEMMs of the forward's size (input and weight
  gradients). Causal flash attention: a·(h_qk + h_v)·s FLOP per token forward, 2.5x that backward
  (Dao 2023, arXiv 2307.08691: five matmuls backward against two forward), at 16 bits.
- Memory-bound kernels: norms, residual adds, rotary, the MLP activation, FP8 casts, MoE
  permutations and the loss's logits, as bytes moved at the achievable bandwidth; backward moves
  twice the forward's bytes.
- Recompute: ``selective`` reruns the norms and the MLP activation, ``full`` the whole forward
  (its tensor-parallel collectives included) before each layer's backward.
- Tensor parallelism with sequence parallelism: per layer two all-gathers and two reduce-scatters of
  the layer's activations forward and again backward (Korthikanti §4.2.2), not overlapped unless
  ``tp_overlap`` (Megatron --tp-comm-overlap, TorchTitan AsyncTP): then only what outlasts the
  layer's GEMMs is exposed.
- Context parallelism (ring attention as an all-gather of K and V forward, all-gather and
  reduce-scatter of their gradients backward), overlapped with the attention it feeds.
- Expert parallelism: all-to-all dispatch and combine of each token's top-k copies (times the
  capacity factor) forward and backward, not overlapped.
- Pipeline: 1F1B bubble (p−1)/v of a micro-batch's forward and backward (Narayanan §2.2:
  bubble fraction (p−1)/(v·m)), a send and a receive per micro-batch per stage boundary.
- Data parallelism as Megatron-Core and FSDP run it: ZeRO-0 all-reduces gradients during the last
  micro-batch's backward; ZeRO-1/2 reduce-scatter them there and all-gather the updated weights
  during the next step's first forward; ZeRO-3 gathers weights in every micro-batch's forward and
  backward and reduce-scatters gradients in its backward. Only what outlasts that compute is exposed.
- The optimizer step: AdamW reads and writes 30 bytes per parameter of its shard.

Every collective goes through ``calc.collectives.collective_time``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aistack_cli.calc.collectives import Fabric, collective_time, mesh_bytes_per_s
from aistack_cli.calc.hardware import Chip, attention_s, gemm_s, memory_s
from aistack_cli.calc.layout import (LOW_PRECISION, Batch, Layout, MemoryModel, Space, Transformer, candidates,
                                     stage_params)

ATTENTION_BACKWARD = 2.5  # FlashAttention-2 backward/forward FLOP (Dao 2023 §3.1: 5 matmuls against 2)
OPTIMIZER_BYTES_PER_PARAM = 30.0  # AdamW: read and write fp32 master, m, v (24); read grad (4); write 16-bit (2)
GRAD_BYTES = 2.0  # gradients reduced in 16 bits; weights gathered in 16 bits
TERMS = ("compute", "tp", "dp", "pp_bubble", "pp_comm", "ep", "cp", "optimizer")
TERM_NAMES = {"compute": "compute", "tp": "TP", "dp": "DP", "pp_bubble": "bubble",
              "pp_comm": "PP p2p", "ep": "EP", "cp": "CP", "optimizer": "optimizer"}


@dataclass(frozen=True)
class StepTime:
    """One optimizer step, split into what adds up to it (seconds)."""

    compute_s: float
    tp_s: float
    dp_s: float
    pp_bubble_s: float
    pp_comm_s: float
    ep_s: float
    cp_s: float
    optimizer_s: float
    micro_batches: int
    hardware_flop_per_gpu: float  # executed per step, recompute included (HFU numerator)

    @property
    def step_s(self) -> float:
        return (self.compute_s + self.tp_s + self.dp_s + self.pp_bubble_s + self.pp_comm_s + self.ep_s
                + self.cp_s + self.optimizer_s)

    def term(self, name: str) -> float:
        return getattr(self, name + "_s")

    def limiting(self) -> str:
        """The largest term other than compute, with its share of the step (``bubble 12%``), or
        ``compute`` when none reaches 5 %."""
        name = max(TERMS[1:], key=self.term)
        share = self.term(name) / self.step_s
        return "compute" if share < 0.05 else f"{TERM_NAMES[name]} {share:.0%}"


@dataclass(frozen=True)
class Network:
    """The cluster's fabric (a whole-cluster ``Fabric``: scale-up domains and their NICs); each
    parallel group's fabric is carved out of it by where its ranks sit."""

    fabric: Fabric
    mesh: bool = False  # a switchless full mesh (Infinity Fabric): a subgroup reaches only its own links

    @property
    def domain(self) -> int:
        return self.fabric.gpus_per_node


def group_fabric(network: Network, ranks: int, stride: int) -> Fabric:
    """The fabric of a group of ``ranks`` whose members are ``stride`` ranks apart (tp 1, cp tp,
    dense dp tp·cp): members sharing a domain talk over scale-up, domains over their members' NICs
    (rail-optimised: one share of the domain's NICs per GPU)."""
    base = network.fabric
    together = max(1, min(ranks, base.gpus_per_node // stride)) if stride < base.gpus_per_node else 1
    together = math.gcd(ranks, together)
    nics = base.nics_per_node * together / base.gpus_per_node
    fabric = replace(base, gpus=ranks, gpus_per_node=together, nics_per_node=nics)
    if network.mesh and together < base.gpus_per_node:
        rate = mesh_bytes_per_s(base.scale_up.bandwidth_bytes_per_s, together, base.gpus_per_node)
        fabric = replace(fabric, scale_up=replace(base.scale_up, bandwidth_bytes_per_s=rate))
    return fabric


_COLLECTIVES: dict = {}


def collective_s(op: str, size_bytes: float, fabric: Fabric) -> float:
    """``collective_time`` of one collective, memoised (a search asks for the same ones many times)."""
    if fabric.gpus <= 1 or size_bytes <= 0:
        return 0.0
    key = (op, size_bytes, fabric)
    value = _COLLECTIVES.get(key)
    if value is None:
        if len(_COLLECTIVES) > 50_000:
            _COLLECTIVES.clear()
        value = _COLLECTIVES[key] = collective_time(op, size_bytes, fabric).time_s
    return value


def send_s(size_bytes: float, network: Network, same_domain: bool) -> float:
    """A point-to-point send between neighbouring pipeline stages: a two-rank broadcast."""
    base = network.fabric
    if same_domain or base.scale_out is None:
        fabric = replace(base, gpus=2, gpus_per_node=2, nics_per_node=2 * base.nics_per_node / base.gpus_per_node)
    else:
        fabric = replace(base, gpus=2, gpus_per_node=1, nics_per_node=base.nics_per_node / base.gpus_per_node)
    return collective_s("broadcast", size_bytes, fabric)


@dataclass(frozen=True)
class Pass:
    """One micro-batch through one layer (or the output layer) on one accelerator: seconds of
    compute, exposed communication, and the FLOP executed."""

    compute_s: float = 0.0
    tp_s: float = 0.0
    ep_s: float = 0.0
    cp_s: float = 0.0
    flop: float = 0.0

    def __add__(self, other: "Pass") -> "Pass":
        return Pass(self.compute_s + other.compute_s, self.tp_s + other.tp_s, self.ep_s + other.ep_s,
                    self.cp_s + other.cp_s, self.flop + other.flop)

    def times(self, k: float) -> "Pass":
        return Pass(self.compute_s * k, self.tp_s * k, self.ep_s * k, self.cp_s * k, self.flop * k)

    @property
    def total_s(self) -> float:
        return self.compute_s + self.tp_s + self.ep_s + self.cp_s


class StepModel:
    """Step time of one run's layouts: the model, sequence, precision, accelerator and fabric are
    fixed; what depends only on part of a layout is computed once and reused across layouts."""

    def __init__(self, arch: Transformer, seq: int, chip: Chip, network: Network, precision: str,
                 capacity_factor: float = 1.0, tp_overlap: bool = False):
        self.arch, self.seq, self.chip, self.network = arch, seq, chip, network
        self.precision, self.capacity, self.tp_overlap = precision, capacity_factor, tp_overlap
        self.low = precision in LOW_PRECISION
        self._layer: dict = {}
        self._dp: dict = {}
        self._stage: dict = {}
        self._p2p: dict = {}
        std = (2 * arch.heads + 2 * arch.kv_heads) * arch.hidden * arch.head_dim
        self.standard_attention = abs(arch.attention_params - std) <= 1e-6 * std

    # ---- one layer, one micro-batch ----------------------------------------------------------

    def layer(self, t: int, c: int, b: int, e: int, recompute: str) -> tuple[Pass, Pass, Pass, Pass]:
        """(forward, backward) of a dense layer and of an MoE layer; backward includes recompute."""
        key = (t, c, b, e, recompute)
        found = self._layer.get(key)
        if found is None:
            found = self._layer[key] = self._layers(t, c, b, e, recompute)
        return found

    def _layers(self, t, c, b, e, recompute):
        arch = self.arch
        n = b * self.seq / c  # tokens of one micro-batch on one context-parallel rank
        attn_f, attn_core_f, attn_core_flop = self._attention(n, t)
        tp_one = self._tp(n, t)  # one all-gather plus one reduce-scatter of the layer activations
        cp_f, cp_b = self._cp(b, t, c)
        dense_mlp_f, dense_mlp_flop = self._mlp(n, t, arch.ffn, 1)
        elem_dense = memory_s(self.chip, self._elementwise_bytes(n, t, moe=False))
        passes = []
        for moe in (False, True):
            if moe and not arch.moe_layers:
                passes += [passes[0], passes[1]]
                break
            if moe:
                mlp_f, mlp_flop, ep_one = self._moe(n, t, e)
                elem = memory_s(self.chip, self._elementwise_bytes(n, t, moe=True))
                tp_count = 1  # only the attention block's collectives; routed experts run on the SP shard
            else:
                mlp_f, mlp_flop, ep_one, elem, tp_count = dense_mlp_f, dense_mlp_flop, 0.0, elem_dense, 2
            gemm_f = attn_f + mlp_f
            gemm_flop = self._attention_gemm_flop(n, t) + mlp_flop
            fwd_compute = gemm_f + attn_core_f + elem
            tp_f = tp_b = tp_count * tp_one
            if self.tp_overlap:  # collectives pipelined with the GEMMs they feed (userbuffers / AsyncTP)
                tp_f, tp_b = max(0.0, tp_f - gemm_f), max(0.0, tp_b - 2 * gemm_f)
            forward = Pass(fwd_compute, tp_f, 2 * ep_one, max(0.0, cp_f - attn_core_f), gemm_flop + attn_core_flop)
            backward = Pass(2 * gemm_f + ATTENTION_BACKWARD * attn_core_f + 2 * elem, tp_b,
                            2 * ep_one, max(0.0, cp_b - ATTENTION_BACKWARD * attn_core_f),
                            2 * gemm_flop + 2 * attn_core_flop)
            if recompute == "full":
                backward = backward + forward
            elif recompute == "selective":
                backward = backward + Pass(memory_s(self.chip, self._selective_bytes(n, t, moe)))
            passes += [forward, backward]
        return tuple(passes)

    def _attention_gemm_flop(self, n: float, t: int) -> float:
        return 2.0 * n * self.arch.attention_params / t

    def _attention(self, n: float, t: int) -> tuple[float, float, float]:
        """(projection GEMMs, flash-attention core) forward seconds and the core's FLOP."""
        arch, chip = self.arch, self.chip
        d = arch.hidden
        if self.standard_attention:
            qkv = (arch.heads * arch.qk_head_dim + arch.kv_width) / t
            proj = gemm_s(chip, n, d, qkv) + gemm_s(chip, n, arch.heads * arch.v_head_dim / t, d)
        else:
            proj = gemm_s(chip, n, d, arch.attention_params / (d * t))
        core_flop = n * (arch.heads / t) * (arch.qk_head_dim + arch.v_head_dim) * self.seq
        return proj, attention_s(chip, core_flop), core_flop

    def _mlp(self, n: float, t: int, width: int, copies: int) -> tuple[float, float]:
        """A (gated or plain) MLP of ``width`` on n tokens split over t: seconds and FLOP forward."""
        arch = self.arch
        up = (2 if arch.gated else 1) * width / t
        seconds = copies * (gemm_s(self.chip, n, arch.hidden, up) + gemm_s(self.chip, n, width / t, arch.hidden))
        return seconds, copies * 2.0 * n * arch.mlp_matrices * arch.hidden * width / t

    def _moe(self, n: float, t: int, e: int) -> tuple[float, float, float]:
        """Routed and shared experts forward: seconds, FLOP, and one all-to-all's seconds."""
        arch = self.arch
        local = n / t  # tokens after the sequence-parallel split
        rows = local * arch.experts_active * self.capacity
        per_expert = rows * e / arch.experts
        experts_here = arch.experts / e
        up = (2 if arch.gated else 1) * arch.expert_ffn
        routed = experts_here * (gemm_s(self.chip, per_expert, arch.hidden, up)
                                 + gemm_s(self.chip, per_expert, arch.expert_ffn, arch.hidden))
        router = gemm_s(self.chip, local, arch.hidden, arch.experts, wide=True)
        flop = 2.0 * rows * arch.expert_params + 2.0 * local * arch.hidden * arch.experts
        seconds = routed + router
        if arch.experts_shared:
            shared_s, shared_flop = self._mlp(n, t, arch.expert_ffn, arch.experts_shared)
            seconds += shared_s
            flop += shared_flop
        buffer = rows * arch.hidden * 2.0
        a2a = collective_s("all-to-all", buffer, group_fabric(self.network, e, 1)) if e > 1 else 0.0
        return seconds, flop, a2a

    def _tp(self, n: float, t: int) -> float:
        if t == 1:
            return 0.0
        fabric = group_fabric(self.network, t, 1)
        size = n * self.arch.hidden * 2.0
        return collective_s("all-gather", size, fabric) + collective_s("reduce-scatter", size, fabric)

    def _cp(self, b: int, t: int, c: int) -> tuple[float, float]:
        """Ring attention's K/V exchange of one layer: forward, backward (before overlap)."""
        if c == 1:
            return 0.0, 0.0
        arch = self.arch
        width = max(arch.kv_width / t, arch.qk_head_dim + arch.v_head_dim)
        size = b * self.seq * width * 2.0
        fabric = group_fabric(self.network, c, t)
        gather = collective_s("all-gather", size, fabric)
        return gather, gather + collective_s("reduce-scatter", size, fabric)

    def _elementwise_bytes(self, n: float, t: int, moe: bool) -> float:
        """Forward bytes of one layer's memory-bound kernels on one accelerator (sequence parallel).

        Two norms (read and write d: 8d), two residual adds (read 2d, write d: 12d), rotary on q and
        k (read and write: 4·(a + k)·h), the MLP activation (gated: read 2f, write f: 6f; plain 4f),
        FP8 casts of the four GEMM inputs (read 2, write 1 byte: 3·(2d + a·h + f)), MoE permutation
        of the top-k copies in and out (2 · 4·k·d).
        """
        arch = self.arch
        d = arch.hidden
        width = arch.expert_ffn if moe else arch.ffn
        copies = (arch.experts_active * self.capacity + arch.experts_shared) if moe else 1
        act = (6 if arch.gated else 4) * width * copies
        per_token = 8 * d + 12 * d + 4 * (arch.heads + arch.kv_heads) * arch.qk_head_dim + act
        if self.low:
            per_token += 3 * (2 * d + arch.heads * arch.v_head_dim + width * copies)
        if moe:
            per_token += 8 * arch.experts_active * self.capacity * d
        return n / t * per_token

    def _selective_bytes(self, n: float, t: int, moe: bool) -> float:
        """What selective recompute reruns: the two norms and the MLP activation."""
        arch = self.arch
        width = arch.expert_ffn if moe else arch.ffn
        copies = (arch.experts_active * self.capacity + arch.experts_shared) if moe else 1
        return n / t * (8 * arch.hidden + (6 if arch.gated else 4) * width * copies)

    def head(self, t: int, c: int, b: int) -> Pass:
        """The output layer and the loss on one micro-batch, forward and backward (16-bit GEMMs;
        logits written, read and their gradient written in fp32 by the fused cross-entropy)."""
        arch = self.arch
        if not arch.vocab:
            return Pass()
        n = b * self.seq / c
        gemm = gemm_s(self.chip, n, arch.hidden, arch.vocab / t, wide=True)
        loss = memory_s(self.chip, n * arch.vocab / t * 14.0)
        return Pass(3 * gemm + loss, flop=6.0 * n * arch.hidden * arch.vocab / t)

    # ---- data parallelism and the optimizer ----------------------------------------------------

    def data_parallel(self, layout: Layout) -> tuple[float, float, float, float]:
        """(per-step collectives hidden behind a backward, behind a forward, per-micro-batch
        collectives behind a backward, behind a forward) in seconds, and the optimizer's seconds."""
        key = (layout.tp, layout.pp, layout.cp, layout.dp, layout.ep, layout.zero)
        found = self._dp.get(key)
        if found is None:
            found = self._dp[key] = self._data_parallel(layout)
        return found

    def _data_parallel(self, layout: Layout):
        arch = self.arch
        t, c, dp, e = layout.tp, layout.cp, layout.dp, layout.ep
        nonexpert, routed = stage_params(arch, layout.pp)
        groups = ((nonexpert / t, dp * c, t), (routed / e, max(1, t * c * dp // e), e))
        step_b = step_f = mb_b = mb_f = 0.0
        shard = 0.0
        for params, ranks, stride in groups:
            if params <= 0:
                continue
            size = params * GRAD_BYTES
            fabric = group_fabric(self.network, ranks, stride)
            shard += params / ranks if layout.zero >= 1 else params
            if ranks == 1:
                continue
            if layout.zero == 0:
                step_b += collective_s("all-reduce", size, fabric)
            elif layout.zero in (1, 2):
                step_b += collective_s("reduce-scatter", size, fabric)
                step_f += collective_s("all-gather", size, fabric)
            else:
                gather = collective_s("all-gather", size, fabric)
                mb_f += gather
                mb_b += gather + collective_s("reduce-scatter", size, fabric)
        optimizer = memory_s(self.chip, OPTIMIZER_BYTES_PER_PARAM * shard)
        return step_b, step_f, mb_b, mb_f, optimizer

    # ---- the step ------------------------------------------------------------------------------

    def step(self, layout: Layout, micro: int) -> StepTime:
        """One optimizer step of ``layout`` with ``micro`` micro-batches per pipeline."""
        t, p, c, v = layout.tp, layout.pp, layout.cp, layout.vpp
        stage_key = (t, c, layout.micro_batch, layout.ep, layout.recompute, p)
        stage = self._stage.get(stage_key)
        if stage is None:
            stage = self._stage[stage_key] = self._stage_pass(layout)
        fwd_s, bwd_s, compute, tp, ep, cp, flop = stage
        p2p = self._send(layout) if p > 1 else 0.0
        step_b, step_f, mb_b, mb_f, optimizer = self.data_parallel(layout)
        dp_exposed = (max(0.0, step_b - bwd_s) + max(0.0, step_f - fwd_s)
                      + micro * (max(0.0, mb_f - fwd_s) + max(0.0, mb_b - bwd_s)))
        per_mb = fwd_s + bwd_s + p2p
        return StepTime(
            compute_s=micro * compute, tp_s=micro * tp, dp_s=dp_exposed, pp_bubble_s=(p - 1) / v * per_mb,
            pp_comm_s=micro * p2p, ep_s=micro * ep, cp_s=micro * cp, optimizer_s=optimizer, micro_batches=micro,
            hardware_flop_per_gpu=micro * flop)

    def _stage_pass(self, layout: Layout) -> tuple:
        """The busiest stage's micro-batch: (forward s, backward s incl. the output layer, compute,
        TP, EP, CP seconds, FLOP executed)."""
        arch, p = self.arch, layout.pp
        dense_f, dense_b, moe_f, moe_b = self.layer(layout.tp, layout.cp, layout.micro_batch, layout.ep,
                                                    layout.recompute)
        layers = math.ceil(arch.layers / p)
        moe_layers = math.ceil(arch.moe_layers / p) if arch.moe_layers else 0
        dense_layers = layers - moe_layers
        fwd = dense_f.times(dense_layers) + moe_f.times(moe_layers)
        bwd = dense_b.times(dense_layers) + moe_b.times(moe_layers)
        head = self.head(layout.tp, layout.cp, layout.micro_batch)
        stage = fwd + bwd + head
        return (fwd.total_s, bwd.total_s + head.total_s, stage.compute_s, stage.tp_s, stage.ep_s, stage.cp_s,
                stage.flop)

    def _send(self, layout: Layout) -> float:
        """Pipeline sends per micro-batch: one forward and one backward per chunk boundary (v per stage)."""
        t, c, p = layout.tp, layout.cp, layout.pp
        same = t * c * layout.dp * p <= self.network.domain
        key = (t, c, layout.micro_batch, layout.vpp, same)
        found = self._p2p.get(key)
        if found is None:
            size = layout.micro_batch * self.seq / c * self.arch.hidden * 2.0 / t
            found = self._p2p[key] = 2 * layout.vpp * send_s(size, self.network, same)
        return found


# ---- the search ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    layout: Layout
    micro_batches: int
    step: StepTime
    memory_bytes: float


@dataclass(frozen=True)
class SearchResult:
    ranked: tuple[Candidate, ...]
    searched: int
    fitting: int
    closest: Candidate | None  # the least memory among layouts that do not fit (when none fits)


RANK_KEYS = ("time", "cost", "memory")


def search(model: StepModel, gpus: int, global_batch: "Batch | int", space: Space, capacity_bytes: float,
           reserve_bytes: float, rank_by: str = "time", keep: int = 10, progress=None) -> SearchResult:
    """Every candidate layout (``layout.candidates``), the ones that fit ranked by time per sequence
    (the step time when the batch is fixed; cost is the same order at a fixed GPU count) or by
    memory; the ``keep`` best. ``progress(done)`` is called every 2,048 candidates."""
    arch, seq, precision = model.arch, model.seq, model.precision
    memory = MemoryModel(arch, seq, precision, reserve_bytes)
    best: list[tuple[float, int, Candidate]] = []
    closest: tuple[float, Candidate] | None = None
    searched = fitting = 0
    for layout, micro in candidates(arch, gpus, seq, global_batch, space):
        searched += 1
        if progress is not None and searched % 2048 == 0:
            progress(searched)
        mem = memory.total(layout, micro)
        if mem > capacity_bytes:
            if not fitting and (closest is None or mem < closest[0]):
                closest = (mem, Candidate(layout, micro, None, mem))  # type: ignore[arg-type]
            continue
        fitting += 1
        step = model.step(layout, micro)
        score = mem if rank_by == "memory" else step.step_s / (micro * layout.dp * layout.micro_batch)
        entry = (score, searched, Candidate(layout, micro, step, mem))
        if len(best) < keep:
            best.append(entry)
            best.sort(key=lambda x: (x[0], x[1]))
        elif score < best[-1][0]:
            best[-1] = entry
            best.sort(key=lambda x: (x[0], x[1]))
    return SearchResult(tuple(c for _, _, c in best), searched, fitting,
                        None if fitting or closest is None else closest[1])
