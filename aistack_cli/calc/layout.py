"""Parallel layouts of a transformer and what one accelerator holds under each.

A layout splits the model over ``tp`` (tensor, Shoeybi et al. 2019, with sequence parallelism,
Korthikanti et al. 2022), ``pp`` (pipeline stages, 1F1B or interleaved with ``vpp`` chunks per
stage, Narayanan et al. 2021), ``cp`` (context: the sequence split over ranks), ``ep`` (experts
spread over ranks of the data-parallel group) and ``dp`` (data parallel), with ``zero`` sharding
(Rajbhandari et al. 2020) and activation ``recompute``. Ranks are ordered tp, cp, ep, dp, pp from
the fastest-varying, as Megatron-Core orders them, so tensor and context groups fill a scale-up
domain first.

Memory per accelerator: model state per ZeRO (weights, gradients, AdamW state), activations per
Korthikanti et al. 2022 (arXiv 2205.05198, §4) adapted to gated MLPs, grouped-query attention and
flash attention, a pipeline's in-flight micro-batches, the logits of the loss, and a stated
allowance for framework buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

RECOMPUTE = ("none", "selective", "full")
SRC_KORTHIKANTI = ("Korthikanti et al. 2022 (arXiv 2205.05198) §4.1: per layer s·b·h·(34 + 5·a·s/h) bytes "
                   "(GPT, 16-bit), ÷ t with sequence parallelism; adapted: flash attention keeps no s² term, "
                   "gated MLPs keep 3 f-wide tensors, GQA keeps k·h-wide K and V")
SRC_INFLIGHT = ("Narayanan et al. 2021 (arXiv 2104.04473) §2.2: 1F1B keeps p micro-batches in flight on the "
                "first stage; interleaving with v chunks keeps (1 + (p−1)/(p·v)) times that "
                "(Megatron-Core schedules)")
SRC_ZERO = "Rajbhandari et al. 2020 (ZeRO, arXiv 1910.02054) §3: 2 + 2 + 12 bytes per parameter, sharded by stage"


@dataclass(frozen=True)
class Transformer:
    """A decoder-only transformer as the step model and the memory model need it.

    ``attention_params`` is one layer's attention projections (q, k, v, o, or MLA's
    down/up projections); the MLP is gated (SwiGLU: three matrices) or plain (two). A mixture of
    experts has ``moe_layers`` layers whose MLP is ``experts`` routed experts of width
    ``expert_ffn``, ``experts_active`` chosen per token, plus ``experts_shared`` always used.
    """

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated: bool
    tied: bool
    attention_params: float
    qk_head_dim: int
    v_head_dim: int
    params_total: float
    params_active: float
    experts: int = 0
    experts_active: int = 0
    experts_shared: int = 0
    moe_layers: int = 0
    expert_ffn: int = 0

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.gated else 2

    @property
    def dense_mlp_params(self) -> float:
        return self.mlp_matrices * self.hidden * self.ffn

    @property
    def expert_params(self) -> float:
        """One expert's weights."""
        return self.mlp_matrices * self.hidden * self.expert_ffn

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def embedding_params(self) -> float:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def routed_params(self) -> float:
        """Every routed expert of every MoE layer: what expert parallelism spreads."""
        return self.moe_layers * self.experts * self.expert_params

    @property
    def moe_layer_fixed_params(self) -> float:
        """An MoE layer's attention, router and shared experts (not spread by expert parallelism)."""
        return self.attention_params + self.hidden * self.experts + self.experts_shared * self.expert_params

    @property
    def nonexpert_params(self) -> float:
        return (self.embedding_params + self.dense_layers * (self.attention_params + self.dense_mlp_params)
                + self.moe_layers * self.moe_layer_fixed_params)

    @property
    def kv_width(self) -> int:
        """Elements of K plus V per token per layer."""
        return self.kv_heads * (self.qk_head_dim + self.v_head_dim)


def counted_params(layers: int, hidden: int, attention: float, ffn: int, vocab: int, gated: bool, tied: bool,
                   experts: int = 0, shared: int = 0, moe_layers: int = 0, expert_ffn: int = 0,
                   active: int = 0) -> float:
    """Parameters from the shape (biases and norms left out): embeddings, attention, MLPs, experts."""
    matrices = 3 if gated else 2
    dense = (layers - moe_layers) * (attention + matrices * hidden * ffn)
    per_expert = matrices * hidden * expert_ffn
    chosen = active if active else experts
    moe = moe_layers * (attention + hidden * experts + (chosen + shared) * per_expert)
    return vocab * hidden * (1 if tied else 2) + dense + moe


@lru_cache(maxsize=256)
def transformer(layers: int, hidden: int, heads: int, kv_heads: int, head_dim: int, ffn: int | None,
                vocab: int | None, params_total: float, params_active: float, *, experts: int = 0,
                experts_active: int = 0, experts_shared: int = 0, moe_layers: int = 0, expert_ffn: int = 0,
                mla_rope_dim: int | None = None) -> tuple[Transformer, tuple[str, ...]]:
    """The transformer behind a parameter count, and notes on what had to be inferred.

    Gated or plain MLP and tied or untied embeddings are whichever pair lands closest to the
    published total. Attention projections are (2a + 2k)·d·h; for multi-head latent attention (or
    when that leaves a negative remainder) they are what the published active count leaves after
    the embeddings and MLPs. A missing FFN width is solved from the count with a plain MLP.
    """
    notes: list[str] = []
    vocab = vocab or 0
    if vocab == 0:
        notes.append("vocabulary unknown: embeddings counted inside the layers")
    attention = float((2 * heads + 2 * kv_heads) * hidden * head_dim)
    qk = head_dim + (mla_rope_dim or 0)
    if ffn is None:
        per_layer = (params_total - 2 * vocab * hidden) / layers - attention
        ffn = max(1, round(per_layer / (2 * hidden)))
        notes.append(f"FFN width {ffn:,} solved from the parameter count (plain two-matrix MLP assumed)")
        return _build(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, False, False, attention, qk,
                      params_total, params_active, experts, experts_active, experts_shared, moe_layers,
                      expert_ffn), tuple(notes)
    best = None
    for gated in (True, False):
        for tied in (False, True):
            if mla_rope_dim is not None:
                rest = counted_params(layers, hidden, 0.0, ffn, vocab, gated, tied, experts, experts_shared,
                                      moe_layers, expert_ffn, experts_active)
                attn = max(0.0, (params_active - rest) / layers)
                total = counted_params(layers, hidden, attn, ffn, vocab, gated, tied, experts, experts_shared,
                                       moe_layers, expert_ffn)
            else:
                attn = attention
                total = counted_params(layers, hidden, attn, ffn, vocab, gated, tied, experts, experts_shared,
                                       moe_layers, expert_ffn)
            miss = abs(total - params_total)
            if best is None or miss < best[0]:
                best = (miss, gated, tied, attn)
    _, gated, tied, attn = best
    if best[0] > 0.05 * params_total:
        notes.append(f"the shape counts {_short(params_total - best[0] if best[0] else params_total)} parameters "
                     f"against {_short(params_total)} given: time follows the shape, FLOP the count")
    return _build(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, gated, tied, attn, qk, params_total,
                  params_active, experts, experts_active, experts_shared, moe_layers, expert_ffn), tuple(notes)


def _build(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, gated, tied, attention, qk, total, active,
           experts, experts_active, experts_shared, moe_layers, expert_ffn) -> Transformer:
    return Transformer(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, gated, tied, attention, qk, head_dim,
                       total, active, experts, experts_active, experts_shared, moe_layers, expert_ffn)


def _short(value: float) -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Layout:
    """One parallel layout. ``dp`` is data-parallel replicas; the GPU count is tp·cp·pp·dp (experts
    are spread over ``ep`` ranks of the tp·cp·dp ranks of a stage, as Megatron-Core does)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    micro_batch: int = 1
    zero: int = 1
    recompute: str | None = "selective"  # None: the least recompute that fits (chosen by the run)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def text(self) -> str:
        """``tp8 pp16 dp128 v4 mb1 z1 sel``: the parallel sizes above 1 (dp always), then micro-batch,
        ZeRO stage and the first letters of the recompute policy."""
        parts = [f"{name}{value}" for name, value in (("tp", self.tp), ("pp", self.pp)) if value > 1]
        parts.append(f"dp{self.dp}")
        parts += [f"{name}{value}" for name, value in (("cp", self.cp), ("ep", self.ep), ("v", self.vpp))
                  if value > 1]
        return " ".join(parts + [f"mb{self.micro_batch}", f"z{self.zero}", self.recompute[:3]])


@dataclass(frozen=True)
class Batch:
    """The global batch in sequences. ``exact``: it must split into dp · micro-batch · m exactly (a
    batch the user gave). Otherwise it is a target: each layout runs the whole number of micro-batches
    nearest to it (``floor``: the most not above ``cap``), within [``low``, ``cap``]."""

    sequences: float
    cap: float
    exact: bool = False
    floor: bool = False
    low: float = 0.0


def micro_batches(layout: Layout, batch: "Batch | int") -> int:
    """Micro-batches each pipeline runs per step (0 when the layout cannot run the batch).

    An exact batch must split into dp · micro-batch · m. A target batch takes the whole m nearest to
    it within [low, cap] (``floor``: the largest within cap); interleaved pipelines need m to be a
    multiple of pp (Megatron-Core), so they take the nearest such m.
    """
    if not isinstance(batch, Batch):
        batch = Batch(batch, batch, exact=True)
    per = layout.dp * layout.micro_batch
    step = layout.pp if layout.vpp > 1 else 1
    if batch.exact:
        whole, rest = divmod(int(batch.sequences), per)
        return whole if rest == 0 and whole % step == 0 else 0
    most = math.floor(batch.cap / per + 1e-9) // step * step
    least = max(step, math.ceil(batch.low / per - 1e-9))
    least = math.ceil(least / step) * step
    if batch.floor:
        whole = most
    else:
        whole = min(most, max(least, round(batch.sequences / per / step) * step))
    return whole if 1 <= least <= whole <= most else 0


# ---- model state ----------------------------------------------------------------------------

STATE_BYTES = {"mixed": (2.0, 2.0, 12.0), "full": (4.0, 4.0, 8.0)}
FULL_PRECISION = ("fp32", "tf32")
LOW_PRECISION = ("fp8", "fp4")  # GEMM precisions that keep a low-precision weight copy


def state_bytes_per_param(precision: str) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per parameter for AdamW: mixed precision keeps 16-bit
    weights and gradients plus fp32 master, momentum and variance (ZeRO K = 12); fp32 training 4 + 4 + 8."""
    return STATE_BYTES["full" if precision in FULL_PRECISION else "mixed"]


@dataclass(frozen=True)
class State:
    weights: float
    gradients: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer


def stage_params(arch: Transformer, pp: int) -> tuple[float, float]:
    """(non-expert, routed-expert) parameters of the busiest pipeline stage: ceil(L/p) layers plus
    the embedding or the output layer (one vocabulary matrix)."""
    if pp == 1:
        return arch.nonexpert_params, arch.routed_params
    layers = math.ceil(arch.layers / pp)
    moe = math.ceil(arch.moe_layers / pp) if arch.moe_layers else 0
    dense = layers - moe
    nonexpert = (dense * (arch.attention_params + arch.dense_mlp_params) + moe * arch.moe_layer_fixed_params
                 + arch.vocab * arch.hidden)
    return nonexpert, moe * arch.experts * arch.expert_params


def model_state(arch: Transformer, layout: Layout, precision: str) -> State:
    """Weights, gradients and optimizer state on one accelerator of the busiest stage.

    Non-expert parameters split over tp; routed experts over ep (expert tensor parallelism 1).
    ZeRO shards over the ranks that hold the same parameters: dp·cp for non-expert ones,
    tp·cp·dp/ep for experts. Stage 1 shards the optimizer, 2 also the gradients, 3 also the
    weights (plus two layers gathered at a time). FP8/FP4 GEMMs keep a 1-byte copy of the weights
    that feed them (Transformer Engine caches it across micro-batches).
    """
    t, zero = layout.tp, layout.zero
    nonexpert, routed = stage_params(arch, layout.pp)
    dense_local = nonexpert / t
    expert_local = routed / layout.ep
    dense_group = layout.dp * layout.cp
    expert_group = max(1, t * layout.cp * layout.dp // layout.ep)
    w, g, o = state_bytes_per_param(precision)
    if precision in LOW_PRECISION:
        w += 1.0

    def shard(params: float, group: int, stage: int) -> float:
        return params / group if zero >= stage else params

    weights = w * (shard(dense_local, dense_group, 3) + shard(expert_local, expert_group, 3))
    if zero >= 3 and dense_group > 1:  # the layer in use and the next one, gathered
        layer = arch.attention_params + max(arch.dense_mlp_params, arch.experts_active * arch.expert_params)
        weights += 2 * 2.0 * layer / t
    return State(weights,
                 g * (shard(dense_local, dense_group, 2) + shard(expert_local, expert_group, 2)),
                 o * (shard(dense_local, dense_group, 1) + shard(expert_local, expert_group, 1)))


# ---- activations ----------------------------------------------------------------------------

def layer_activation_bytes(arch: Transformer, recompute: str, low_precision: bool, moe: bool) -> float:
    """Bytes one layer keeps per token for its backward pass, before tensor/sequence parallelism.

    Attention: norm input 2d, QKV input 2d, Q, K and V 2·(a·h_qk + k·(h_qk + h_v)), the output
    2·a·h_v with flash attention's fp32 log-sum-exp 4·a (no s² term). MLP: norm input 2d, FC1
    input 2d, gated 2·2f + 2f (plain 2f + 2f). An MoE layer keeps its routed tokens' copies
    (top-k · (2d + MLP)). FP8 GEMM inputs are kept in 1 byte. ``selective`` recomputes the norms
    and the MLP activation (their outputs are not kept); ``full`` keeps only the layer input, 2d.
    """
    d = arch.hidden
    if recompute == "full":
        return 2.0 * d
    gemm_in = 1.0 if low_precision else 2.0
    attn = 2 * d + gemm_in * d + 2 * (arch.heads * arch.qk_head_dim + arch.kv_width) + 2 * arch.heads * \
        arch.v_head_dim + 4 * arch.heads
    if moe:
        width = arch.expert_ffn
        copies = arch.experts_active + arch.experts_shared
    else:
        width, copies = arch.ffn, 1
    act_out = gemm_in * width
    mlp_inner = (4 * width if arch.gated else 2 * width) + act_out
    mlp = 2 * d + gemm_in * d + copies * (mlp_inner + (2 * d if moe else 0))
    if recompute == "selective":
        attn -= gemm_in * d
        mlp -= gemm_in * d + copies * act_out
    return attn + mlp


def inflight_layers(arch: Transformer, layout: Layout, micro: int) -> float:
    """Layers' worth of micro-batch activations the first stage holds at its peak."""
    p, v = layout.pp, layout.vpp
    if p == 1:
        return float(arch.layers)
    per_chunk = arch.layers / (p * v)
    chunks = min(micro * v, 2 * (p - 1) + (v - 1) * p + 1) if v > 1 else min(micro, p)
    return per_chunk * chunks


@dataclass(frozen=True)
class Memory:
    state: State
    activations: float
    reserve: float

    @property
    def total(self) -> float:
        return self.state.total + self.activations + self.reserve


def activation_bytes(arch: Transformer, layout: Layout, seq: int, micro: int, precision: str) -> float:
    """Activations on the busiest accelerator: the first stage's in-flight layers, or the last
    stage's one micro-batch plus the logits (bf16 and fp32 for the loss), whichever is more.

    Tokens per accelerator are b·s/cp, split again by tp (sequence parallelism).
    """
    return MemoryModel(arch, seq, precision, 0.0).activations(layout, micro)


def memory_per_gpu(arch: Transformer, layout: Layout, seq: int, micro: int, precision: str,
                   reserve_bytes: float) -> Memory:
    """Model state + activations + the framework allowance on the busiest accelerator."""
    model = MemoryModel(arch, seq, precision, reserve_bytes)
    return Memory(model.state(layout), model.activations(layout, micro), reserve_bytes)


class MemoryModel:
    """Memory per accelerator for one run's layouts, with what depends on part of a layout kept
    (a search asks for hundreds of thousands of layouts)."""

    def __init__(self, arch: Transformer, seq: int, precision: str, reserve_bytes: float):
        self.arch, self.seq, self.precision, self.reserve = arch, seq, precision, reserve_bytes
        self.low = precision in LOW_PRECISION
        self._state: dict = {}
        self._layer: dict = {}
        self.share_moe = arch.moe_layers / arch.layers

    def state(self, layout: Layout) -> State:
        key = (layout.tp, layout.pp, layout.cp, layout.dp, layout.ep, layout.zero)
        found = self._state.get(key)
        if found is None:
            found = self._state[key] = model_state(self.arch, layout, self.precision)
        return found

    def _per_layer(self, recompute: str) -> tuple[float, float]:
        """(bytes kept per token per layer, bytes of a layer being recomputed), MoE layers mixed in."""
        found = self._layer.get(recompute)
        if found is None:
            arch, low, share = self.arch, self.low, self.share_moe
            kept = (1 - share) * layer_activation_bytes(arch, recompute, low, False)
            whole = (1 - share) * layer_activation_bytes(arch, "none", low, False)
            if arch.moe_layers:
                kept += share * layer_activation_bytes(arch, recompute, low, True)
                whole += share * layer_activation_bytes(arch, "none", low, True)
            found = self._layer[recompute] = (kept, whole if recompute == "full" else 0.0)
        return found

    def activations(self, layout: Layout, micro: int) -> float:
        arch = self.arch
        per_layer, working = self._per_layer(layout.recompute or "none")
        tokens = layout.micro_batch * self.seq / layout.cp / layout.tp
        logits = 6.0 * arch.vocab
        first = tokens * (inflight_layers(arch, layout, micro) * per_layer + working)
        if layout.pp == 1:
            return first + tokens * logits
        last = tokens * (math.ceil(arch.layers / layout.pp) * per_layer + working + logits)
        return first if first > last else last

    def total(self, layout: Layout, micro: int) -> float:
        return self.state(layout).total + self.activations(layout, micro) + self.reserve


# ---- enumeration ----------------------------------------------------------------------------

def divisors(n: int) -> list[int]:
    small = [i for i in range(1, int(math.isqrt(n)) + 1) if n % i == 0]
    return sorted(set(small + [n // i for i in small]))


def powers_of_two(limit: int) -> list[int]:
    return [2 ** k for k in range(int(math.log2(limit)) + 1)] if limit >= 1 else []


@dataclass(frozen=True)
class Space:
    """What the search may choose from. ``None`` in a field means "any allowed value"."""

    max_tp: int
    max_cp: int = 1
    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    cp: int | None = None
    ep: int | None = None
    vpp: int | None = None
    micro_batch: int | None = None
    zero: int | None = None
    recompute: str | None = None


def tensor_sizes(arch: Transformer, space: Space, gpus: int) -> list[int]:
    """Tensor-parallel sizes: powers of two within the scale-up limit that split the heads (and the
    KV heads, or a multiple of them)."""
    if space.tp is not None:
        return [space.tp]
    return [t for t in powers_of_two(min(space.max_tp, gpus)) if arch.heads % t == 0
            and (arch.kv_heads % t == 0 or t % arch.kv_heads == 0)]


def candidates(arch: Transformer, gpus: int, seq: int, global_batch: "Batch | int", space: Space):
    """Every layout of ``gpus`` that the model and the batch allow: yields (layout, micro-batches).

    tp, cp and vpp are powers of two; pp any divisor of the GPU count up to the layers; dp what is
    left; ep divides the experts and tp·cp·dp; micro-batches per replica a whole number (a multiple
    of pp when interleaved, as Megatron-Core requires).
    """
    zeros = [space.zero] if space.zero is not None else [0, 1, 2, 3]
    recomputes = [space.recompute] if space.recompute else list(RECOMPUTE)
    for t in tensor_sizes(arch, space, gpus):
        for c in ([space.cp] if space.cp is not None else powers_of_two(space.max_cp)):
            if (gpus % (t * c)) or seq % c:
                continue
            rest = gpus // (t * c)
            for p in ([space.pp] if space.pp is not None else [p for p in divisors(rest) if p <= arch.layers]):
                if rest % p:
                    continue
                dp = rest // p
                if space.dp is not None and dp != space.dp:
                    continue
                yield from _inner(arch, t, c, p, dp, global_batch, space, zeros, recomputes)


def _inner(arch, t, c, p, dp, global_batch, space, zeros, recomputes):
    batch = global_batch if isinstance(global_batch, Batch) else Batch(global_batch, global_batch, exact=True)
    if batch.exact:
        per_replica, rem = divmod(int(batch.sequences), dp)
        if rem or per_replica < 1:
            return
    else:
        per_replica = int(batch.cap // dp)
        if per_replica < 1:
            return
    experts = [space.ep] if space.ep is not None else (
        [e for e in divisors(arch.experts) if (t * c * dp) % e == 0] if arch.experts else [1])
    vpps = [space.vpp] if space.vpp is not None else (
        [v for v in powers_of_two(arch.layers // p) if v <= 8] if p > 2 else [1])
    bs = [space.micro_batch] if space.micro_batch is not None else [b for b in powers_of_two(per_replica)]
    for b in bs:
        for v in vpps:
            m = micro_batches(Layout(t, p, dp, c, 1, v, b), batch)
            if m == 0 or arch.layers < p * v:
                continue
            for e in experts:
                for z in zeros:
                    for r in recomputes:
                        yield Layout(t, p, dp, c, e, v, b, z, r), m
