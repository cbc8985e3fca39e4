"""Serving a model under load: fit, time to first token, inter-token latency, throughput, cost.

One steady-state model behind every output.

- A step (one forward pass of a replica) is timed per operator with a roofline (Williams, Waterman &
  Patterson 2009, CACM 52(4)): the dense weights, the routed experts and attention each take the
  longer of their bytes over achieved bandwidth and their FLOP over achieved compute; the step is
  their sum plus its communication. A decode step reads the weights once for the whole batch and
  every sequence's KV cache (Pope et al. 2022, arXiv 2211.05102, §2).
- Continuous batching with chunked prefill (Sarathi-Serve, Agrawal et al. 2024, arXiv 2403.02310):
  every step carries the running decodes plus a prefill chunk up to the token budget
  (vLLM ``max_num_batched_tokens``), so a decoding request sees other requests' prompts in some of
  its steps: the inter-token latency includes that prefill interference.
- Load is closed loop (a fixed number of requests in the system, as load-test tools run: a finished
  request is replaced at once) or open loop (Poisson arrivals at a rate). Little's law ties
  concurrency, throughput and latency; queueing for the prefill budget is M/D/1
  (Pollaczek-Khinchine) and queueing for a decode slot is M/D/c (Sakasegawa 1977's M/M/c
  approximation with the Allen-Cunneen factor (1 + c_s²)/2 for deterministic service).
- Static batching (offline: a batch prefilled together, then decoded to the end) is kept for
  benchmarks run that way (TensorRT-LLM gptSessionBenchmark, vLLM benchmark_latency).
- Layouts: tensor parallelism (attention and dense layers), pipeline stages (memory, not speed),
  expert parallelism with data-parallel attention (DeepSeek-V3 inference system; SGLang, TensorRT-LLM),
  prefill/decode disaggregation (DistServe, arXiv 2401.09670; Splitwise, arXiv 2311.18677) with the
  KV cache sent over the fabric, speculative decoding (Leviathan et al. 2023, arXiv 2211.17192) and
  prefix caching.
- Every collective is timed by ``calc.collectives.collective_time`` (the one engine).

KV sizes and the memory budget come from ``calc.kvcache``; nothing about the cache is computed twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from aistack_cli.calc.collectives import ALGORITHMS, Fabric, collective_time, unavailable
from aistack_cli.calc.common import Step, fmt
from aistack_cli.calc.kvcache import (Activations, Attention, WeightSplit, activation_peak_bytes,
                                      kv_bytes_per_sequence, kv_bytes_per_token, kv_pool_bytes_per_gpu,
                                      profiled_tokens, shard_fraction, weights_bytes, weights_bytes_per_gpu)

SRC_ROOFLINE = "roofline per operator: max(bytes / achieved bandwidth, FLOP / achieved compute) (Williams et al. 2009)"
SRC_DECODE = "Pope et al. 2022 (arXiv 2211.05102) §2: a decode step reads the weights once per batch plus each KV cache"
SRC_FLOP = "2 FLOP per parameter per token (Kaplan et al. 2020, arXiv 2001.08361, §2.1); logits only for sampled rows"
SRC_ATTN = "attention: 2·heads·(d_qk + d_v) FLOP per query per attended token per layer"
SRC_MLA = ("MLA decode in the absorbed form (DeepSeek-V2, arXiv 2405.04434, §2.1.3; FlashMLA): scores over the "
           "512-wide latent plus the 64-wide RoPE key, values in the latent: 2·heads·(2·kv_lora_rank + rope) FLOP per "
           "cached token per layer; the latent is replicated on every tensor-parallel rank")
SRC_MOE = "experts hit by T tokens routed top-k of E at random: E·(1 − (1 − k/E)^T)"
SRC_BALLS = ("busiest expert-parallel rank under uniform routing (balls into bins): mean μ token-expert pairs, "
             "max ≈ μ + √(2·μ·ln ep)")
SRC_CHUNK = "Sarathi-Serve (arXiv 2403.02310): each step carries the decodes plus a prefill chunk up to the budget"
SRC_LITTLE = "Little's law: requests in the system = throughput × time in the system"
SRC_MD1 = "M/D/1 wait (Pollaczek-Khinchine): ρ·S / (2(1 − ρ))"
SRC_MDC = "M/D/c wait: Sakasegawa's M/M/c L_q ≈ ρ^√(2(c+1)) / (1 − ρ), halved for deterministic service (Allen-Cunneen)"
SRC_SPEC = "Leviathan et al. 2023 (arXiv 2211.17192), eq. 1: expected tokens per step (1 − α^(k+1)) / (1 − α)"
SRC_COST = "GPU-hours charged to tokens: GPUs · price/h ÷ 3600 ÷ tokens per second"
SRC_COLLECTIVES = "calc.collectives.collective_time: the one collectives engine (same as allreduce-time)"

ACTIVATION_BYTES = 2.0  # activations exchanged between shards are 16-bit in vLLM, SGLang and TensorRT-LLM
GIB = 2.0**30
MODES = ("concurrency", "rate", "static")
FIXED_POINT_ITERATIONS = 6


# ---- inputs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelShape:
    """What serving cost depends on. MoE experts are SwiGLU MLPs of 3·hidden·expert_ffn parameters;
    ``tied_embeddings``: the output head is the input table (one copy, streamed as the head)."""

    params_total: float
    params_active: float
    layers: int
    hidden_size: int
    heads: int
    head_dim: int
    attention: Attention
    experts_routed: int = 0
    experts_active: int = 0
    moe_layers: int = 0
    expert_ffn_size: int = 0
    ffn_size: int = 0
    vocab_size: int = 0
    tied_embeddings: bool = False

    @property
    def moe(self) -> bool:
        return self.experts_routed > 0 and self.moe_layers > 0 and self.expert_ffn_size > 0

    @property
    def expert_params(self) -> float:
        return 3.0 * self.hidden_size * self.expert_ffn_size

    @property
    def routed_params(self) -> float:
        return self.moe_layers * self.experts_routed * self.expert_params if self.moe else 0.0

    @property
    def routed_active_params(self) -> float:
        return self.moe_layers * self.experts_active * self.expert_params if self.moe else 0.0

    @property
    def head_params(self) -> float:
        return float(self.vocab_size * self.hidden_size)

    @property
    def embedding_params(self) -> float:
        """Input table plus output head (one matrix when tied)."""
        return self.head_params * (1 if self.tied_embeddings else 2)

    def split(self) -> WeightSplit:
        return WeightSplit(self.params_total, self.routed_params, min(self.embedding_params, self.params_total))


@dataclass(frozen=True)
class Device:
    """One accelerator: memory, bandwidth, dense peaks (at the GEMM precision, and at 16 bits for
    attention, which stays 16-bit in FP8 and FP4 recipes) and its price."""

    memory_bytes: float
    bandwidth_bytes_per_s: float
    peak_flop_per_s: float
    peak_attention_flop_per_s: float
    scale_up_domain: int = 8
    price_usd_per_gpu_hour: float | None = None


@dataclass(frozen=True)
class Efficiency:
    """Achieved fractions (data per accelerator family and precision) and the dequantisation factor of
    weight-only formats (1: native)."""

    mbu: float
    mfu: float
    mfu_attention: float
    dequant: float = 1.0


@dataclass(frozen=True)
class Layout:
    """One replica: attention and dense layers over ``tp`` GPUs; routed experts over ``ep`` GPUs
    (1: split over tp like the dense layers); with ep > tp attention runs data-parallel in ep/tp
    groups (DP attention); ``pp`` pipeline stages hold 1/pp of the layers each."""

    tp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def stage_gpus(self) -> int:
        return max(self.tp, self.ep)

    @property
    def gpus(self) -> int:
        return self.stage_gpus * self.pp

    @property
    def attention_groups(self) -> int:
        return self.ep // self.tp if self.ep > 1 else 1


@dataclass(frozen=True)
class Engine:
    """The serving engine's batch caps and memory policy (vLLM's names)."""

    max_num_seqs: int
    max_num_batched_tokens: int
    memory_utilization: float
    kind: str = "vllm"  # pool policy: vllm | sglang | trtllm | none
    block_tokens: int = 16
    reserve_bytes_per_gpu: float = 0.0


@dataclass(frozen=True)
class Workload:
    prompt_tokens: int
    output_tokens: int
    prefix_hit: float = 0.0  # fraction of prompt tokens whose KV is served from the prefix cache

    @property
    def prefill_tokens(self) -> float:
        """Prompt tokens actually computed (at least the last one, whose logits give the first token)."""
        return max(1.0, self.prompt_tokens * (1.0 - self.prefix_hit))

    @property
    def decode_context(self) -> float:
        """Mean context over the decode steps: the prompt plus half the output."""
        return self.prompt_tokens + self.output_tokens / 2


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: ``tokens`` drafted per step, each accepted with probability ``acceptance``;
    the draft is a model of ``draft_params`` parameters, or (None) an MTP head costing one target layer."""

    tokens: int = 0
    acceptance: float = 0.0
    draft_params: float | None = None

    @property
    def on(self) -> bool:
        return self.tokens > 0

    @property
    def expected_tokens(self) -> float:
        """(1 − α^(k+1)) / (1 − α) tokens per verification step (Leviathan et al. 2023, eq. 1)."""
        if not self.on:
            return 1.0
        a = self.acceptance
        if a >= 1.0:
            return float(self.tokens + 1)
        return (1.0 - a ** (self.tokens + 1)) / (1.0 - a)


@dataclass(frozen=True)
class Load:
    """``concurrency``: requests in the system (closed loop); ``rate``: requests/s (open loop, Poisson);
    ``static``: one batch prefilled together and decoded to the end. Over the whole deployment."""

    mode: str
    value: float


@dataclass(frozen=True)
class Targets:
    """Latency limits for planning and goodput; None means no limit."""

    itl_s: float | None = None
    ttft_s: float | None = None

    @property
    def given(self) -> bool:
        return self.itl_s is not None or self.ttft_s is not None

    def met(self, ttft_s: float | None, itl_s: float) -> bool:
        if ttft_s is None:
            return False
        return (self.itl_s is None or itl_s <= self.itl_s * (1 + 1e-9)) and \
            (self.ttft_s is None or ttft_s <= self.ttft_s * (1 + 1e-9))


@dataclass(frozen=True)
class Disaggregation:
    """Prefill and decode on separate GPU pools: ``prefill_layout`` instances (``prefill_gpus`` in all;
    None: as many as balance the decode pool's demand), the KV cache sent over the fabric."""

    prefill_layout: Layout
    prefill_gpus: int | None = None


# ---- communication through the one engine -------------------------------------------------

class Curve:
    """Time of one collective on one fabric as a function of its size, from ``collective_time``.

    Every algorithm of the engine is affine in the size (alpha-beta), so each usable one is read at
    two sizes and checked at a third; the curve is the minimum over them, which is what the engine's
    ``auto`` returns. Should an algorithm not be affine, each size is asked of the engine directly.
    """

    PROBES = (1024.0, 1048576.0, 268435456.0)

    def __init__(self, op: str, fabric: Fabric | None):
        self.op, self.fabric = op, fabric
        self.lines: tuple[tuple[float, float], ...] | None = ()
        if fabric is None or fabric.gpus < 2:
            return
        lines = []
        for algorithm in ALGORITHMS:
            if unavailable(algorithm, op, fabric) is not None:
                continue
            s1, s2, s3 = self.PROBES
            t1, t2, t3 = (collective_time(op, s, fabric, algorithm).time_s for s in (s1, s2, s3))
            slope = (t2 - t1) / (s2 - s1)
            intercept = t1 - slope * s1
            if abs(intercept + slope * s3 - t3) > 1e-9 * t3:
                self.lines = None
                return
            lines.append((intercept, slope))
        self.lines = _lower_envelope(lines)

    def seconds(self, size_bytes: float) -> float:
        if size_bytes <= 0 or self.fabric is None or self.fabric.gpus < 2:
            return 0.0
        if self.lines is None:
            return _direct(self.op, float(size_bytes), self.fabric)
        best = math.inf
        for a, b in self.lines:
            t = a + b * size_bytes
            if t < best:
                best = t
        return best


def _lower_envelope(lines: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """The lines that are the minimum somewhere on S >= 0 (the others can never win)."""
    kept = []
    for a, b in lines:
        dominated = any(a2 <= a and b2 <= b and (a2, b2) != (a, b) for a2, b2 in lines)
        if not dominated and (a, b) not in kept:
            kept.append((a, b))
    return tuple(kept)


@lru_cache(maxsize=4096)
def _direct(op: str, size_bytes: float, fabric: Fabric) -> float:
    return collective_time(op, size_bytes, fabric).time_s


@lru_cache(maxsize=256)
def curve(op: str, fabric: Fabric | None) -> Curve:
    return Curve(op, fabric)


FabricFor = Callable[..., "Fabric | None"]  # (gpus, gpus_per_domain=None) -> Fabric


def tp_allreduce_s(tokens: float, hidden_size: int, fabric: Fabric | None) -> float:
    """One tensor-parallel all-reduce of ``tokens`` activations (16-bit) over the group's fabric."""
    return curve("all-reduce", fabric).seconds(math.ceil(tokens) * hidden_size * ACTIVATION_BYTES)


# ---- FLOP and bytes -------------------------------------------------------------------------

def experts_touched(experts: int, top_k: int, tokens: float) -> float:
    """Expected experts hit per MoE layer when ``tokens`` tokens each pick top-k of E uniformly.

    Each expert is missed by one token with probability 1 − k/E, so by all with (1 − k/E)^T.
    """
    if experts <= 0 or top_k <= 0 or tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def weight_params_read(model: ModelShape, tokens: float) -> float:
    """Parameters a forward pass over ``tokens`` tokens streams: every dense weight except the input
    table (only its rows are gathered), the output head, and the routed experts the tokens touch."""
    dense = model.params_total - model.routed_params - (0.0 if model.tied_embeddings else model.head_params)
    if not model.moe:
        return dense
    return dense + model.moe_layers * experts_touched(model.experts_routed, model.experts_active,
                                                       tokens) * model.expert_params


def attention_flop_per_pair(model: ModelShape, decode: bool) -> float:
    """FLOP per (query token, attended token) pair per layer: 2·heads·(d_qk + d_v).

    GQA/MHA: d_qk = d_v = head_dim, i.e. 4·a·h. MLA prefill runs the expanded form (d_qk = head_dim + rope,
    d_v = head_dim); MLA decode the absorbed form over the latent (d_qk = kv_lora_rank + rope,
    d_v = kv_lora_rank), about 4x the GQA figure for DeepSeek-V3."""
    att = model.attention
    if att.kind == "mla":
        rope, rank = att.qk_rope_head_dim or 0, att.kv_lora_rank or 0
        if decode:
            return 2.0 * model.heads * (2 * rank + rope)
        return 2.0 * model.heads * (2 * model.head_dim + rope)
    return 4.0 * model.heads * model.head_dim


def _window_split(att: Attention) -> tuple[int, int, int]:
    window_layers = att.sliding_window_layers if att.sliding_window else 0
    return att.layers - window_layers, window_layers, att.sliding_window or 0


def decode_pairs(att: Attention, context: float) -> float:
    """Attended tokens of one new token, summed over layers (window layers see at most the window)."""
    full, windowed, window = _window_split(att)
    return full * context + (windowed * min(context, window) if windowed else 0.0)


def prefill_pairs(att: Attention, start: float, end: float) -> float:
    """Causal (query, key) pairs of prompt positions start..end, summed over layers: Σ i ≈ (end² − start²)/2
    per full layer; a window layer caps each span at w: F(x) = x²/2 up to w, then w·x − w²/2."""
    full, windowed, window = _window_split(att)
    pairs = full * (end * end - start * start) / 2.0
    if windowed:
        def f(x: float) -> float:
            return x * x / 2.0 if x <= window else window * x - window * window / 2.0
        pairs += windowed * (f(end) - f(start))
    return pairs


def attention_flop_prefill(model: ModelShape, tokens: float, start: float = 0.0) -> float:
    """Prefill of one prompt, causal, from position ``start`` (a cached prefix) to ``tokens``."""
    return attention_flop_per_pair(model, decode=False) * prefill_pairs(model.attention, start, tokens)


def attention_flop_per_token(model: ModelShape, context: float) -> float:
    """Decode: one new token attends to ``context`` cached tokens."""
    return attention_flop_per_pair(model, decode=True) * decode_pairs(model.attention, context)


def balls_into_bins(pairs_per_rank: float, ranks: int) -> float:
    """Busiest rank's load over the mean when token-expert pairs land uniformly at random on ``ranks``
    ranks (mean μ each): 1 + √(2·ln(ranks)/μ) (Raab & Steger 1998, the heavily loaded case)."""
    if ranks <= 1 or pairs_per_rank <= 0:
        return 1.0
    return 1.0 + math.sqrt(2.0 * math.log(ranks) / pairs_per_rank)


# ---- one replica's step ---------------------------------------------------------------------

@dataclass(frozen=True)
class StepTime:
    """One forward pass of a replica: the busiest GPU's operators and communication, in seconds."""

    dense_s: float
    experts_s: float
    attention_s: float
    comm_s: float
    memory_s: float
    compute_s: float
    attention_bound: str
    draft_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.dense_s + self.experts_s + self.attention_s + self.comm_s + self.draft_s

    @property
    def bound(self) -> str:
        return "memory" if self.memory_s >= self.compute_s else "compute"


class Replica:
    """Per-GPU coefficients of one layout, worked out once, so a step costs a few multiplications."""

    def __init__(self, model: ModelShape, layout: Layout, device: Device, eff: Efficiency,
                 weight_bytes_per_param: float, kv_bytes_per_element: float, fabric_for: FabricFor | None,
                 imbalance: float | None = None, spec: Speculation = Speculation()):
        self.model, self.layout, self.device, self.eff = model, layout, device, eff
        self.wbpp, self.kv_bpe, self.spec, self.imbalance_given = weight_bytes_per_param, kv_bytes_per_element, spec, imbalance
        tp, ep, m = layout.tp, layout.ep, model
        self.groups = layout.attention_groups
        head_bpp = max(weight_bytes_per_param, 2.0)
        dense_params = m.params_total - m.routed_params - m.embedding_params  # attention, dense MLPs, shared experts
        self.dense_bytes = (dense_params * weight_bytes_per_param + m.head_params * head_bpp) / tp
        self.dense_flop_per_token = 2.0 * max(0.0, m.params_active - m.routed_active_params - m.embedding_params) / tp
        self.head_flop_per_row = 2.0 * m.head_params / tp
        experts_over = ep if ep > 1 else tp
        self.experts_local = m.experts_routed / ep if ep > 1 else float(m.experts_routed)
        self.expert_bytes = m.moe_layers * m.expert_params * weight_bytes_per_param / (1 if ep > 1 else tp)
        self.expert_flop_per_token = 2.0 * m.routed_active_params / experts_over
        self.kv_fraction = shard_fraction(m.attention, tp)
        self.decode_flop_per_pair = attention_flop_per_pair(m, True) / tp
        self.prefill_flop_per_pair = attention_flop_per_pair(m, False) / tp
        self.kv_per_token = kv_bytes_per_token(m.attention, kv_bytes_per_element) * self.kv_fraction
        self.bw_weights = device.bandwidth_bytes_per_s * eff.mbu * eff.dequant
        self.bw_kv = device.bandwidth_bytes_per_s * eff.mbu
        self.peak = device.peak_flop_per_s * eff.mfu
        self.peak_attention = device.peak_attention_flop_per_s * eff.mfu_attention
        fabric_for = fabric_for or (lambda gpus, per_domain=None: None)
        self.tp_fabric = fabric_for(tp) if tp > 1 else None
        self.ep_fabric = fabric_for(ep) if ep > 1 else None
        self.pp_fabric = fabric_for(2) if layout.pp > 1 else None
        self.allreduce = curve("all-reduce", self.tp_fabric)
        self.alltoall = curve("all-to-all", self.ep_fabric)
        self.send = curve("broadcast", self.pp_fabric)
        dense_layers = m.layers - (m.moe_layers if m.moe else 0)
        moe_layers = m.moe_layers if m.moe else 0
        self.allreduces_per_step = (2 * dense_layers + (1 if ep > 1 else 2) * moe_layers) if tp > 1 else 0
        self.moe_layers = moe_layers if ep > 1 else 0
        self.dispatch_bytes = 1.0 if weight_bytes_per_param <= 1.0 else ACTIVATION_BYTES  # DeepEP sends FP8
        self.draft = self._draft_coefficients()
        self._context, self._per_seq = -1.0, (0.0, 0.0)

    # -- the step ---------------------------------------------------------------------------

    def step(self, decodes: float, context: float, prefill: float = 0.0, prefill_pairs_: float = 0.0,
             verify: int = 1, draft: bool = False, prefill_total: float | None = None) -> StepTime:
        """``decodes`` sequences at mean ``context`` each run ``verify`` tokens; ``prefill`` prompt tokens on
        the busiest attention group (``prefill_total`` over all groups, for the MoE layers; default the same)
        with ``prefill_pairs_`` attended pairs summed over layers. The busiest GPU sets the step."""
        m = self.model
        group_decodes = decodes / self.groups
        group_tokens = group_decodes * verify + prefill
        all_tokens = decodes * verify + (prefill if prefill_total is None else prefill_total)
        rows = group_decodes * verify + (1.0 if prefill > 0 else 0.0)
        dense_mem = self.dense_bytes / self.bw_weights
        dense_cmp = (self.dense_flop_per_token * group_tokens + self.head_flop_per_row * rows) / self.peak
        experts_s = exp_mem = exp_cmp = 0.0
        imbalance = 1.0
        if m.moe:
            touched = self.experts_local * (1.0 - (1.0 - m.experts_active / m.experts_routed) ** all_tokens)
            exp_mem = touched * self.expert_bytes / self.bw_weights
            moe_tokens = all_tokens if self.layout.ep > 1 else group_tokens
            imbalance = self._imbalance(moe_tokens)
            exp_cmp = self.expert_flop_per_token * moe_tokens * imbalance / self.peak
            experts_s = exp_mem if exp_mem > exp_cmp else exp_cmp
        kv_seq, pairs = self._per_sequence(context)
        att_mem = (group_decodes * kv_seq + prefill * self.kv_per_token) / self.bw_kv
        att_cmp = (group_decodes * verify * self.decode_flop_per_pair * pairs
                   + self.prefill_flop_per_pair * prefill_pairs_) / self.peak_attention
        comm = self._comm(group_tokens, all_tokens, imbalance)
        dense_s = dense_mem if dense_mem > dense_cmp else dense_cmp
        attention_s = att_mem if att_mem > att_cmp else att_cmp
        draft_s = self._draft_s(decodes) if draft else 0.0
        return StepTime(dense_s, experts_s, attention_s, comm, dense_mem + exp_mem + att_mem,
                        dense_cmp + exp_cmp + att_cmp, "memory" if att_mem >= att_cmp else "compute", draft_s)

    def _per_sequence(self, context: float) -> tuple[float, float]:
        """(KV bytes one GPU reads for a sequence at ``context``, attended pairs of its new token): kept for
        the last context asked (a solve asks for one context many times)."""
        if context != self._context:
            att = self.model.attention
            self._context = context
            self._per_seq = (kv_bytes_per_sequence(att, context, self.kv_bpe) * self.kv_fraction,
                             decode_pairs(att, context))
        return self._per_seq

    def _imbalance(self, tokens: float) -> float:
        if self.layout.ep <= 1:
            return 1.0
        if self.imbalance_given is not None:
            return self.imbalance_given
        return balls_into_bins(tokens * self.model.experts_active / self.layout.ep, self.layout.ep)

    def _comm(self, group_tokens: float, all_tokens: float, imbalance: float) -> float:
        m, layout = self.model, self.layout
        seconds = 0.0
        if self.allreduces_per_step:
            seconds += self.allreduces_per_step * self.allreduce.seconds(
                math.ceil(group_tokens) * m.hidden_size * ACTIVATION_BYTES)
        if self.moe_layers:
            per_gpu = max(group_tokens / layout.tp, all_tokens / layout.ep)
            size = math.ceil(per_gpu * imbalance) * m.experts_active * m.hidden_size
            seconds += self.moe_layers * (self.alltoall.seconds(size * self.dispatch_bytes)
                                          + self.alltoall.seconds(size * ACTIVATION_BYTES))
        if layout.pp > 1:
            seconds += (layout.pp - 1) * self.send.seconds(math.ceil(group_tokens) * m.hidden_size * ACTIVATION_BYTES)
        return seconds

    # -- speculative decoding's draft -----------------------------------------------------------

    def _draft_coefficients(self) -> tuple[float, float]:
        """(bytes, FLOP per token) per GPU of one draft forward: a draft model in 16-bit over tp, or an MTP
        head: one average target layer plus the output head."""
        m, tp = self.model, self.layout.tp
        if not self.spec.on:
            return 0.0, 0.0
        if self.spec.draft_params is not None:
            return self.spec.draft_params * 2.0 / tp, 2.0 * self.spec.draft_params / tp
        layer_params = (m.params_active - m.embedding_params) / m.layers
        head = m.head_params
        return (layer_params * self.wbpp + head * max(self.wbpp, 2.0)) / tp, 2.0 * (layer_params + head) / tp

    def _draft_s(self, decodes: float) -> float:
        """k sequential draft forwards for the batch."""
        bytes_, flop = self.draft
        per = max(bytes_ / self.bw_weights, flop * decodes / self.groups / self.peak)
        return self.spec.tokens * per


# ---- memory -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Memory:
    weights_bytes: float
    weights_bytes_per_gpu: float
    activation_bytes_per_gpu: float
    pool_bytes_per_gpu: float
    kv_bytes_per_sequence_per_gpu: float
    max_sequences_per_replica: int  # KV capacity at full context
    cap_per_replica: int  # min(KV capacity, engine's max_num_seqs per attention group)


def memory(model: ModelShape, work: Workload, layout: Layout, device: Device, engine: Engine,
           weight_bytes_per_param: float, kv_bytes_per_element: float) -> Memory:
    """Weights per GPU, the engine's activation reserve (calc.kvcache, the one formula) and the pool;
    sequences of prompt + output tokens whose paged KV fits, capped by max_num_seqs per engine instance
    (an attention group is one instance under DP attention)."""
    split = model.split()
    whole = weights_bytes(split, weight_bytes_per_param)
    per_gpu = weights_bytes_per_gpu(split, weight_bytes_per_param, layout.tp, layout.ep, layout.pp)
    act = Activations(model.hidden_size, model.ffn_size, model.vocab_size,
                      model.experts_active if model.moe else 0, model.expert_ffn_size if model.moe else 0)
    tokens = profiled_tokens(engine.max_num_batched_tokens, work.prompt_tokens + work.output_tokens, True)
    activation = activation_peak_bytes(act, tokens, layout.tp, min(engine.max_num_seqs, tokens)) \
        if engine.kind in ("vllm", "trtllm") else 0.0
    pool = kv_pool_bytes_per_gpu(engine.kind, device.memory_bytes, engine.memory_utilization, per_gpu, activation,
                                 engine.reserve_bytes_per_gpu)
    context = work.prompt_tokens + work.output_tokens
    per_seq = kv_bytes_per_sequence(model.attention, context, kv_bytes_per_element, engine.block_tokens) \
        * shard_fraction(model.attention, layout.tp) / layout.pp
    per_group = max(0, math.floor(pool / per_seq)) if pool > 0 else 0
    groups = layout.attention_groups
    capacity = per_group * groups
    cap = min(per_group, engine.max_num_seqs) * groups
    return Memory(whole, per_gpu, activation, pool, per_seq, capacity, cap)


# ---- steady state of one replica --------------------------------------------------------------

@dataclass(frozen=True)
class Operating:
    """A replica in steady state. Times in seconds; ``throughput`` in requests/s; ``ttft`` None when the
    load exceeds capacity (the queue grows without bound)."""

    in_system: float  # requests in the replica (running + queued)
    running: float  # requests holding a KV slot
    decodes: float  # mean decodes per step
    throughput: float  # requests/s
    ttft: float | None
    queue: float  # part of the TTFT spent waiting
    itl_step: float  # one decode step as a decoding request sees it (incl. prefill interference)
    itl: float  # per output token (a step over the expected tokens per step)
    prefill_alone: float  # the prompt alone on an idle replica
    decode_step: StepTime  # a step with no prefill
    mixed_step: StepTime  # a step carrying a prefill chunk
    mixed_fraction: float  # share of a decoding request's steps that carry another's chunk
    chunk_tokens: float
    saturated: str  # '' | 'prefill' | 'slots' | 'rate'


class Server:
    """Solves one replica's steady state for a load (closed, open or static).

    Each attention group (one engine instance under DP attention, else the whole replica) schedules its
    own steps within its token budget; the groups step together, so the busiest sets the pace."""

    def __init__(self, replica: Replica, work: Workload, engine: Engine, cap: int):
        self.r, self.w, self.engine, self.cap = replica, work, engine, max(1, cap)
        spec = replica.spec
        self.groups = replica.groups
        self.verify = spec.tokens + 1 if spec.on else 1
        self.per_step = spec.expected_tokens
        self.decode_steps = max(0.0, (work.output_tokens - 1) / self.per_step)
        self.P = work.prefill_tokens
        self.start = work.prompt_tokens - self.P  # cached prefix
        self.context = work.decode_context
        self.own_pairs = prefill_pairs(replica.model.attention, self.start, work.prompt_tokens)
        self._alone: float | None = None
        self._capacity: float | None = None

    def _decode(self, decodes: float) -> StepTime:
        """A decode step as a decoding request sees it: at least itself in the batch."""
        return self.r.step(max(decodes, 1.0), self.context, verify=self.verify, draft=self.r.spec.on)

    def _mixed(self, decodes: float, busiest: float, total: float | None = None) -> StepTime:
        """A step carrying ``busiest`` prompt tokens on the busiest group (``total`` over all groups)."""
        pairs = self.own_pairs * busiest / self.P
        return self.r.step(decodes, self.context, busiest, pairs, self.verify, self.r.spec.on and decodes > 0,
                           total)

    def budget(self, decodes: float) -> float:
        """Prompt tokens one group may add to a step: its budget less its decodes' tokens."""
        return max(1.0, self.engine.max_num_batched_tokens - decodes / self.groups * self.verify)

    def prefill_alone(self) -> float:
        """The prompt alone on an idle replica (worked out once)."""
        if self._alone is None:
            chunk = min(self.P, float(self.engine.max_num_batched_tokens))
            self._alone = math.ceil(self.P / chunk) * self._mixed(0.0, chunk).seconds
        return self._alone

    def _chunks(self, demand: float, budget: float) -> tuple[float, float, float, float]:
        """(own chunk, busiest group's chunk, chunk tokens over all groups, share of steps with a chunk) when
        ``demand`` prompt tokens arrive per step: a prompt fills its group's budget in chunks; once a chunk
        is due every step the demand spreads over the groups (Sarathi-Serve's stall-free batching)."""
        own = min(self.P, budget)
        if demand >= own:
            return own, min(budget, max(own, demand / self.groups)), demand, 1.0
        return own, own, own, demand / own

    # -- closed loop ---------------------------------------------------------------------------

    def closed(self, in_system: float) -> Operating:
        run = min(in_system, float(self.cap))
        D, P = self.decode_steps, self.P
        decodes, per_step, k, saturated = self._decodes_closed(run)
        budget = self.budget(decodes)
        own_chunk, busiest, total, share = self._chunks(per_step * P, budget)
        seen = 1.0 if saturated else (share * (run - 1.0) / run if run > 1 else 0.0)
        tau_d = self._decode(decodes)
        tau_m = self._mixed(decodes, busiest, total)
        own = tau_m if saturated else self._mixed(decodes * max(0.0, run - 1.0) / run, own_chunk)
        itl_step = seen * tau_m.seconds + (1.0 - seen) * tau_d.seconds
        ttft_run = k * own.seconds
        throughput = run / (ttft_run + D * itl_step)
        if saturated:  # the budget sets the pace; the prompts beyond it wait their turn (Little's law)
            throughput = min(throughput, per_step / tau_m.seconds)
            ttft_run = run / throughput - D * itl_step
        queue_outside = (in_system - run) / throughput
        return Operating(in_system, run, decodes, throughput, ttft_run + queue_outside,
                         queue_outside + max(0.0, ttft_run - k * own.seconds), itl_step, itl_step / self.per_step,
                         self.prefill_alone(), tau_d, tau_m, seen, total,
                         "prefill" if saturated else ("slots" if in_system > run else ""))

    def _decodes_closed(self, run: float) -> tuple[float, float, int, bool]:
        """(decodes per step, requests finishing per step, steps a prompt's prefill spans, prefill-bound) for
        ``run`` requests cycling through k prefill steps and D decode steps each; once the prompts need more
        than the groups' budgets, the budget sets the pace."""
        D, P, G = self.decode_steps, self.P, self.groups
        decodes = run * D / (D + 1.0)
        per_step, k, saturated = 0.0, 1, False
        for _ in range(FIXED_POINT_ITERATIONS):
            budget = self.budget(decodes)
            k = math.ceil(P / budget)
            per_step = run / (D + k)
            saturated = per_step * P > G * budget
            if saturated:
                per_step = G * self.engine.max_num_batched_tokens / (P + D * self.verify)
                k = math.ceil(P / self.budget(per_step * D))
            new = per_step * D
            if abs(new - decodes) <= 1e-9 * max(1.0, decodes):
                break
            decodes = new
        return per_step * D, per_step, k, saturated

    # -- open loop -----------------------------------------------------------------------------

    def capacity(self) -> float:
        """Most requests/s the replica completes: the closed loop at its slot cap (worked out once)."""
        if self._capacity is None:
            self._capacity = self.closed(float(self.cap)).throughput
        return self._capacity

    def open(self, rate: float) -> Operating:
        """Poisson arrivals at ``rate`` requests/s: decodes from Little's law, prefill waits M/D/1 for the
        budget, requests wait M/D/c for a slot once the running set nears the cap."""
        D, P, G = self.decode_steps, self.P, self.groups
        tau_d = self._decode(0.0)
        tau_bar, decodes = tau_d.seconds, 0.0
        for _ in range(FIXED_POINT_ITERATIONS):
            budget = self.budget(decodes)
            demand = rate * tau_bar * P
            own_chunk, busiest, total, share = self._chunks(demand, budget)
            tau_d = self._decode(decodes)
            tau_m = self._mixed(decodes, busiest, total)
            new_bar = share * tau_m.seconds + (1.0 - share) * tau_d.seconds
            new_decodes = rate * D * new_bar
            done = abs(new_bar - tau_bar) <= 1e-6 * new_bar and abs(new_decodes - decodes) <= 1e-6 * max(1.0, decodes)
            tau_bar, decodes = new_bar, new_decodes
            if done:
                break
        budget = self.budget(decodes)
        k = math.ceil(P / budget)
        rho = rate * tau_bar * P / (G * budget)
        itl_step = tau_bar
        own = self._mixed(decodes, own_chunk)
        residence = k * own.seconds + D * itl_step
        slots = float(self.cap)
        slot_rho = rate * residence / slots
        saturated = "prefill" if rho >= 1.0 else ("rate" if slot_rho >= 1.0 else "")
        if saturated:
            return Operating(math.inf, slots, decodes, self.capacity(), None, math.inf, itl_step,
                             itl_step / self.per_step, self.prefill_alone(), tau_d, tau_m, share, total, saturated)
        service = tau_m.seconds * P / max(total, 1.0)  # step time one prompt's tokens take
        wait = tau_bar / 2.0 + rho * service / (2.0 * (1.0 - rho)) + _mdc_wait(rate, slots, slot_rho)
        return Operating(rate * (residence + wait - tau_bar / 2.0), min(rate * residence, slots), decodes, rate,
                         k * own.seconds + wait, wait, itl_step, itl_step / self.per_step, self.prefill_alone(),
                         tau_d, tau_m, share, total, "")

    # -- static batch --------------------------------------------------------------------------

    def static(self, batch: float) -> Operating:
        """``batch`` prompts prefilled in one pass (spread over the attention groups), then decoded together
        at the mean context."""
        P = self.P
        busiest = batch * P / self.groups
        first = self.r.step(0.0, self.context, busiest, busiest / P * self.own_pairs, 1, False, batch * P)
        decode = self._decode(batch)
        itl_step = decode.seconds
        residence = first.seconds + self.decode_steps * itl_step
        return Operating(batch, batch, batch, batch / residence, first.seconds, 0.0, itl_step,
                         itl_step / self.per_step, self.prefill_alone(), decode, first, 0.0, batch * P, "")


def _mdc_wait(rate: float, servers: float, rho: float) -> float:
    """Mean wait for one of ``servers`` slots held for a fixed time, utilisation ``rho`` < 1:
    Sakasegawa's M/M/c L_q ≈ ρ^√(2(c+1)) / (1 − ρ), halved for deterministic service (Allen-Cunneen)."""
    if rho <= 0.0 or rate <= 0.0:
        return 0.0
    lq = rho ** math.sqrt(2.0 * (servers + 1.0)) / (1.0 - rho)
    return 0.5 * lq / rate


# ---- disaggregated prefill ---------------------------------------------------------------------

@dataclass(frozen=True)
class PrefillPool:
    instances: int
    gpus: int
    step_s: float  # a step at the full budget
    capacity: float  # requests/s of the pool
    alone_s: float  # one prompt on an idle instance
    transfer_s: float  # one request's KV over the fabric


def prefill_pool(replica: Replica, work: Workload, engine: Engine, instances: int,
                 fabric_for: FabricFor | None) -> PrefillPool:
    """Prefill instances running only prompts, each step filled up to the token budget; the prompt's
    KV cache then crosses the scale-out fabric, each GPU sending its shard in parallel."""
    P, budget, groups = work.prefill_tokens, float(engine.max_num_batched_tokens), replica.groups
    pairs = prefill_pairs(replica.model.attention, work.prompt_tokens - P, work.prompt_tokens)
    chunk = min(P, budget)
    full = max(budget, P)  # a group's step at its full budget (a longer prompt runs whole, as prefill engines do)
    step = replica.step(0.0, 0.0, full, pairs * full / P, prefill_total=full * groups).seconds
    capacity = instances * full * groups / P / step
    alone = math.ceil(P / chunk) * replica.step(0.0, 0.0, chunk, pairs * chunk / P).seconds
    shard = kv_bytes_per_sequence(replica.model.attention, work.prompt_tokens, replica.kv_bpe) * replica.kv_fraction
    link = fabric_for(2, 1) if fabric_for else None
    transfer = curve("broadcast", link).seconds(shard)
    return PrefillPool(instances, instances * replica.layout.gpus, step, capacity, alone, transfer)


def disaggregated(decode: Server, pool: PrefillPool, load: Load, replicas: int) -> Operating:
    """Decode replicas run only decodes (no prefill interference). A request waits M/D/1 for the prefill
    pool, is prefilled, its KV crosses the fabric, and it holds a decode slot for its output."""
    D = decode.decode_steps
    front = pool.alone_s + pool.transfer_s
    slots = float(decode.cap)
    pool_limit = pool.capacity / replicas  # requests/s the pool feeds each decode replica
    full = decode._decode(slots)
    slot_limit = slots / (D * full.seconds) if D > 0 else math.inf
    limit = min(pool_limit, slot_limit)
    which = "prefill" if pool_limit <= slot_limit else "slots"
    if load.mode == "rate":
        rate = load.value / replicas
        if rate >= limit:
            return Operating(math.inf, slots, slots, limit, None, math.inf, full.seconds,
                             full.seconds / decode.per_step, pool.alone_s, full, full, 0.0, 0.0, which)
        decodes, step = 0.0, decode._decode(0.0)
        for _ in range(FIXED_POINT_ITERATIONS):
            step = decode._decode(decodes)
            decodes = 0.5 * (decodes + rate * D * step.seconds)
        rho = rate / pool_limit
        prefill_wait = rho / pool_limit / (2.0 * (1.0 - rho))
        wait = prefill_wait + step.seconds / 2.0 + _mdc_wait(rate, slots, rate * D * step.seconds / slots)
        return Operating(rate * (front + wait + D * step.seconds), rate * D * step.seconds, decodes, rate,
                         front + wait, wait, step.seconds, step.seconds / decode.per_step, pool.alone_s, step, step,
                         0.0, 0.0, "")
    in_system = load.value / replicas
    throughput, decodes = 0.0, min(in_system, slots)
    step = decode._decode(decodes)
    for _ in range(FIXED_POINT_ITERATIONS):
        step = decode._decode(decodes)
        throughput = min(in_system / (front + D * step.seconds), limit)
        decodes = 0.5 * (decodes + min(slots, throughput * D * step.seconds))
    ttft = max(front, in_system / throughput - D * step.seconds)
    limited = which if throughput >= limit * (1 - 1e-9) else ""
    return Operating(in_system, decodes, decodes, throughput, ttft, ttft - front, step.seconds,
                     step.seconds / decode.per_step, pool.alone_s, step, step, 0.0, 0.0, limited)


# ---- a deployment, solved ---------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """What stays fixed while a plan tries layouts: model, device, efficiencies, engine, requests."""

    model: ModelShape
    device: Device
    eff: Efficiency
    engine: Engine
    work: Workload
    weight_bytes_per_param: float
    kv_bytes_per_element: float
    spec: Speculation = Speculation()
    fabric_for: FabricFor | None = None
    imbalance: float | None = None
    targets: Targets = Targets()


@dataclass(frozen=True)
class Deployment:
    layout: Layout
    replicas: int = 1
    disaggregation: Disaggregation | None = None

    def gpus(self, pool: PrefillPool | None = None) -> int:
        return self.layout.gpus * self.replicas + (pool.gpus if pool else 0)


def make_replica(sc: Scenario, layout: Layout) -> Replica:
    return _replica(sc.model, layout, sc.device, sc.eff, sc.weight_bytes_per_param, sc.kv_bytes_per_element,
                    sc.fabric_for, sc.imbalance, sc.spec)


@lru_cache(maxsize=64)
def _replica(*args) -> Replica:
    """Replicas depend on no request: a sweep over loads or lengths builds each once."""
    return Replica(*args)


def server(sc: Scenario, layout: Layout) -> tuple[Server, Memory]:
    mem = memory(sc.model, sc.work, layout, sc.device, sc.engine, sc.weight_bytes_per_param, sc.kv_bytes_per_element)
    return Server(make_replica(sc, layout), sc.work, sc.engine, mem.cap_per_replica), mem


@dataclass(frozen=True)
class Solved:
    deployment: Deployment
    load: Load
    op: Operating
    memory: Memory
    server: Server
    pool: PrefillPool | None
    goodput_rate: float | None  # requests/s of the deployment within the targets (None: no targets)


def solve(sc: Scenario, dep: Deployment, load: Load, goodput: bool = True) -> Solved:
    """The steady state of ``dep`` under ``load`` (and, with targets, its goodput)."""
    srv, mem = server(sc, dep.layout)
    pool = None
    if dep.disaggregation is not None:
        pool = _pool(sc, dep, srv, load)
        op = disaggregated(srv, pool, load, dep.replicas)
    else:
        op = _operate(srv, load, dep.replicas)
    rate = max_rate(sc, dep, srv, pool, sc.targets) if goodput and sc.targets.given else None
    return Solved(dep, load, op, mem, srv, pool, rate)


def _operate(srv: Server, load: Load, replicas: int) -> Operating:
    per_replica = load.value / replicas
    if load.mode == "rate":
        return srv.open(per_replica)
    if load.mode == "static":
        return srv.static(per_replica)
    return srv.closed(per_replica)


def _pool(sc: Scenario, dep: Deployment, srv: Server, load: Load) -> PrefillPool:
    dis = dep.disaggregation
    rep = make_replica(sc, dis.prefill_layout)
    if dis.prefill_gpus is not None:
        return prefill_pool(rep, sc.work, sc.engine, max(1, dis.prefill_gpus // dis.prefill_layout.gpus),
                            sc.fabric_for)
    one = prefill_pool(rep, sc.work, sc.engine, 1, sc.fabric_for)
    unlimited = replace(one, capacity=math.inf)
    demand = disaggregated(srv, unlimited, load, dep.replicas).throughput * dep.replicas
    instances = max(1, math.ceil(demand / one.capacity * (1 + 1e-9)))
    return replace(one, instances=instances, gpus=instances * dis.prefill_layout.gpus,
                   capacity=one.capacity * instances)


def max_rate(sc: Scenario, dep: Deployment, srv: Server, pool: PrefillPool | None, targets: Targets) -> float:
    """Goodput: the highest Poisson arrival rate of the deployment whose mean TTFT and ITL meet the
    targets (DistServe's goodput, here on means rather than on a percentile); 0 when none does."""
    def at(rate: float) -> Operating:
        load = Load("rate", rate)
        return disaggregated(srv, pool, load, dep.replicas) if pool else _operate(srv, load, dep.replicas)

    def meets(rate: float) -> bool:
        op = at(rate)
        return op.ttft is not None and targets.met(op.ttft, op.itl)

    low, high = 0.0, _capacity(srv, pool, dep.replicas)
    if not meets(high * 1e-6):
        return 0.0
    low = high * 1e-6
    for _ in range(24):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if meets(middle) else (low, middle)
        if high - low <= 1e-3 * high:
            break
    return low


def _capacity(srv: Server, pool: PrefillPool | None, replicas: int, op: Operating | None = None) -> float:
    if pool is None:
        if op is not None and op.running >= srv.cap and op.saturated != "rate":
            return op.throughput * replicas  # already at the slot cap
        return srv.capacity() * replicas
    return disaggregated(srv, pool, Load("concurrency", srv.cap * replicas * 4.0), replicas).throughput * replicas


def max_concurrency(srv: Server, targets: Targets) -> int | None:
    """The most requests in a replica (closed loop, up to its slot cap) whose TTFT and ITL meet the
    targets; None if even one misses. Both latencies grow with the load, so a bisection finds it."""
    if not targets.given:
        return srv.cap

    def meets(n: int) -> bool:
        op = srv.closed(float(n))
        return targets.met(op.ttft, op.itl)

    if not meets(1):
        return None
    low, high = 1, srv.cap
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if meets(middle) else (low, middle - 1)
    return low


# ---- planning ---------------------------------------------------------------------------------

def layout_candidates(model: ModelShape, domain: int, fixed: Layout | None = None) -> list[Layout]:
    """Replica layouts a plan tries: ``fixed`` alone, or every power of two up to the scale-up domain as
    one tensor-parallel group; for MoE also expert parallelism over it, with TP or DP attention."""
    if fixed is not None:
        return [fixed]
    sizes = [2**i for i in range(int(math.log2(max(1, domain))) + 1)]
    layouts = [Layout(tp=g) for g in sizes]
    if model.moe:
        layouts += [Layout(tp=g, ep=g) for g in sizes if g > 1] + [Layout(tp=1, ep=g) for g in sizes if g > 1]
    return layouts


@dataclass(frozen=True)
class Plan:
    deployment: Deployment
    load: Load
    question: str
    per_replica: float  # what the search found per replica (requests, or requests/s)


def plan(sc: Scenario, layouts: list[Layout], question: str, value: float | None = None,
         gpus: int | None = None) -> Plan | None:
    """Answer a planner's question over ``layouts``:

    - ``targets``: the most concurrent requests per replica meeting the targets; the layout giving the
      most output tokens/s per GPU (``gpus`` fixed: as many replicas as fit in them);
    - ``users``: ``value`` concurrent users; replicas = ceil(users / requests per replica within the
      targets), the layout needing the fewest GPUs;
    - ``rate``: ``value`` requests/s; replicas = ceil(rate / goodput per replica), fewest GPUs.
    Replicas are colocated (prefill and decode on the same GPUs). None when no layout fits or meets the
    targets."""
    best: tuple[tuple, Plan] | None = None
    for layout in layouts:
        srv, mem = server(sc, layout)
        if mem.pool_bytes_per_gpu <= 0 or mem.cap_per_replica < 1:
            continue
        found = _plan_one(sc, srv, layout, question, value, gpus)
        if found is not None and (best is None or found[0] < best[0]):
            best = found
    return best[1] if best else None


def _plan_one(sc, srv, layout, question, value, gpus):
    work = sc.work
    if question == "rate":
        one = Deployment(layout, 1)
        per_replica = max_rate(sc, one, srv, None, sc.targets) if sc.targets.given else 0.0
        if per_replica <= 0:
            return None
        replicas = math.ceil(value / per_replica * (1 - 1e-9))
        dep = Deployment(layout, replicas)
        return (dep.gpus(), layout.gpus), Plan(dep, Load("rate", value), question, per_replica)
    n = max_concurrency(srv, sc.targets)
    if n is None:
        return None
    if question == "users":
        replicas = math.ceil(value / n)
        dep = Deployment(layout, replicas)
        return (replicas * layout.gpus, layout.gpus), Plan(dep, Load("concurrency", value), question, n)
    replicas = max(1, gpus // layout.gpus) if gpus else 1
    op = srv.closed(float(n))
    per_gpu = op.throughput * work.output_tokens / layout.gpus
    dep = Deployment(layout, replicas)
    return (-per_gpu, layout.gpus), Plan(dep, Load("concurrency", float(n * replicas)), question, n)


# ---- results ----------------------------------------------------------------------------------

class Working(list):
    """The ``--explain`` steps, built only when something reads them (a sweep without --explain never
    pays for the formatting)."""

    def __init__(self, build: Callable[[], list[Step]]):
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

    def __bool__(self) -> bool:
        return True if self._build is not None else super().__len__() > 0


@dataclass(frozen=True)
class InferenceResult:
    values: dict
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: Working


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def serve(sc: Scenario, dep: Deployment, load: Load) -> InferenceResult:
    """Fit, latencies, throughput, goodput and cost of ``dep`` under ``load``, with the working."""
    s = solve(sc, dep, load)
    op, mem, srv, pool, layout = s.op, s.memory, s.server, s.pool, dep.layout
    work, model, R = sc.work, sc.model, dep.replicas
    total_gpus = dep.gpus(pool)
    requests_per_s = op.throughput * R
    output_tps = requests_per_s * work.output_tokens
    decode_itl = op.decode_step.seconds / srv.per_step
    ttft = _finite(op.ttft)
    fits = mem.pool_bytes_per_gpu > 0 and mem.max_sequences_per_replica >= 1 and \
        (load.mode != "static" or op.running <= mem.max_sequences_per_replica)
    shortfall = 0.0 if fits else _shortfall(mem, op, load, layout.attention_groups) * layout.gpus * R
    full_seq = kv_bytes_per_sequence(model.attention, work.prompt_tokens + work.output_tokens,
                                     sc.kv_bytes_per_element, sc.engine.block_tokens)
    costs = _costs(sc, s, total_gpus, requests_per_s)
    goodput = s.goodput_rate
    values = {
        "replica_gpus": layout.gpus, "tensor_parallel": layout.tp, "pipeline_parallel": layout.pp,
        "expert_parallel": layout.ep, "attention_data_parallel": layout.attention_groups, "replicas": R,
        "prefill_pool_gpus": pool.gpus if pool else None, "total_gpus": total_gpus,
        "concurrent_sequences": _finite(op.in_system * R), "running_sequences": op.running * R,
        "decode_batch": op.decodes,
        "weights_bytes": mem.weights_bytes, "weights_bytes_per_gpu": mem.weights_bytes_per_gpu,
        "activation_reserve_bytes_per_gpu": mem.activation_bytes_per_gpu,
        "kv_pool_bytes_per_gpu": mem.pool_bytes_per_gpu, "kv_total_bytes": op.running * R * full_seq,
        "fits": fits, "shortfall_bytes": shortfall, "max_sequences": mem.max_sequences_per_replica * R,
        "prefill_s": op.prefill_alone, "ttft_s": ttft, "queue_s": _finite(op.queue), "itl_s": op.itl,
        "prefill_interference_s": max(0.0, op.itl - decode_itl), "tokens_per_s_per_user": 1.0 / op.itl,
        "e2e_latency_s": None if ttft is None else ttft + (work.output_tokens - 1) * op.itl,
        "output_tokens_per_s": output_tps, "output_tokens_per_s_per_gpu": output_tps / total_gpus,
        "input_tokens_per_s": requests_per_s * work.prompt_tokens, "requests_per_s": requests_per_s,
        "capacity_requests_per_s": _capacity(srv, pool, R, op) if load.mode != "static" else requests_per_s,
        "limited_by": {"": "none", "prefill": "prefill", "slots": "slots", "rate": "overload"}[op.saturated]
        if load.mode != "rate" or op.saturated != "prefill" else "overload",
        "decode_bound": op.decode_step.bound, "attention_bound": op.decode_step.attention_bound,
        "step_memory_s": op.decode_step.memory_s, "step_compute_s": op.decode_step.compute_s,
        "step_comm_s": op.decode_step.comm_s, "tokens_per_step": srv.per_step,
        "kv_transfer_s": pool.transfer_s if pool else None,
        "goodput_requests_per_s": goodput,
        "goodput_output_tokens_per_s_per_gpu": None if goodput is None else goodput * work.output_tokens / total_gpus,
        "cost_usd_per_hour": None if sc.device.price_usd_per_gpu_hour is None
        else total_gpus * sc.device.price_usd_per_gpu_hour,
        "cost_per_million_output_tokens_usd": costs[0] if costs and fits else None,
        "cost_per_million_input_tokens_usd": costs[1] if costs and fits else None,
        "meets_targets": (fits and sc.targets.met(ttft, op.itl)) if sc.targets.given else None,
    }
    return InferenceResult(values, tuple(_assumptions(sc, s)), tuple(_warnings(sc, s, fits)),
                           Working(lambda: _steps(sc, s, values)))


def _shortfall(mem: Memory, op: Operating, load: Load, groups: int) -> float:
    """Bytes per GPU missing for the weights and the KV of one sequence (a static batch: of the batch)."""
    wanted = math.ceil(op.running / groups) if load.mode == "static" else 1.0
    return max(0.0, wanted * mem.kv_bytes_per_sequence_per_gpu - mem.pool_bytes_per_gpu)


def _costs(sc: Scenario, s: Solved, total_gpus: int, requests_per_s: float) -> tuple[float, float] | None:
    """(output, input) USD per million tokens; both together pay for every GPU-hour. Prompt tokens pay
    for the GPU-time prefill adds: the prefill pool, the static batch's prefill, or in continuous
    batching the extra time of the steps that carry the chunks."""
    price = sc.device.price_usd_per_gpu_hour
    if price is None or requests_per_s <= 0:
        return None
    per_request = total_gpus * price / 3600 / requests_per_s
    op, work = s.op, sc.work
    if s.pool is not None:
        prefill = s.pool.gpus * price / 3600 / requests_per_s
    elif s.load.mode == "static":
        prefill = op.mixed_step.seconds * s.deployment.layout.gpus * price / 3600 / max(op.running, 1e-30)
    else:
        extra = max(0.0, op.mixed_step.seconds - op.decode_step.seconds) * work.prefill_tokens / max(op.chunk_tokens, 1.0)
        prefill = extra * s.deployment.layout.gpus * price / 3600
    prefill = min(prefill, per_request)
    return (per_request - prefill) / work.output_tokens * 1e6, prefill / work.prompt_tokens * 1e6


# ---- notes and working ----------------------------------------------------------------------

def _assumptions(sc: Scenario, s: Solved) -> list[str]:
    work, engine, layout, model = sc.work, sc.engine, s.deployment.layout, sc.model
    notes = [_load_note(s.load, s.deployment)]
    if s.load.mode != "static":
        notes.append(f"continuous batching with chunked prefill: each step carries the running decodes plus "
                     f"prompt tokens up to max_num_batched_tokens {engine.max_num_batched_tokens:,}; at most "
                     f"max_num_seqs {engine.max_num_seqs:,} running per engine instance ({SRC_CHUNK})")
    notes.append(f"requests of {work.prompt_tokens:,} prompt + {work.output_tokens:,} output tokens; decode at the "
                 f"mean context prompt + output/2 = {work.decode_context:,g}; a slot holds KV for prompt + output "
                 f"in blocks of {engine.block_tokens}")
    notes.append("step = Σ over dense weights, routed experts and attention of max(bytes / (BW · MBU), FLOP / "
                 "(peak · MFU)) + communication; attention FLOP at the 16-bit peak; no per-step launch or scheduler "
                 "overhead")
    if layout.tp > 1 or layout.ep > 1 or layout.pp > 1:
        notes.append("collectives timed by calc.collectives.collective_time (the allreduce-time engine, auto "
                     "algorithm): 2 tensor-parallel all-reduces per dense layer, 1 per MoE layer under expert "
                     "parallelism with a dispatch and a combine all-to-all (FP8 dispatch with FP8 weights)")
    if layout.pp > 1:
        notes.append(f"pipeline parallel {layout.pp}: stages run one after another for each step; it adds memory, "
                     "not speed")
    if layout.attention_groups > 1:
        notes.append(f"DP attention: {layout.attention_groups} groups of {layout.tp} GPUs, each with its own "
                     "sequences and whole MLA latent; a prompt's chunk runs on one group while the others wait")
    if model.moe:
        notes.append(f"MoE: a step of T tokens reads E·(1 − (1 − k/E)^T) of {model.experts_routed} experts per MoE "
                     f"layer (top-{model.experts_active}, uniform routing)")
        if layout.ep > 1 and model.experts_routed % layout.ep:
            notes.append(f"{model.experts_routed} experts over {layout.ep} GPUs: "
                         f"{model.experts_routed / layout.ep:.3g} per GPU on average (redundant experts, as EPLB "
                         "adds them, make the shares whole)")
        if layout.ep > 1:
            notes.append("expert load imbalance: " + (f"{sc.imbalance:g} (given)" if sc.imbalance is not None
                                                      else SRC_BALLS + "; real routing is skewed, EPLB evens it"))
    if model.attention.kind == "mla":
        notes.append(SRC_MLA)
    if sc.spec.on:
        draft = "an MTP head costing one target layer and the output head" if sc.spec.draft_params is None else \
            f"a {sc.spec.draft_params / 1e9:g}B-parameter 16-bit draft model"
        notes.append(f"speculative decoding: {sc.spec.tokens} drafted tokens at acceptance {sc.spec.acceptance:g} give "
                     f"{sc.spec.expected_tokens:.3g} tokens per step ({SRC_SPEC}); each step verifies "
                     f"{sc.spec.tokens + 1} tokens per sequence and runs {sc.spec.tokens} draft passes of {draft}")
    if work.prefix_hit > 0:
        notes.append(f"prefix cache: {work.prefix_hit:.0%} of each prompt's tokens need no prefill (their KV is "
                     "read, not recomputed); KV memory is still held per sequence")
    if s.pool is not None:
        notes.append(f"disaggregated: {s.pool.instances} prefill instance(s) of {s.deployment.disaggregation.prefill_layout.gpus}"
                     f" GPUs feed {s.deployment.replicas} decode replica(s) of {layout.gpus}; each prompt's KV crosses "
                     "the scale-out fabric (each GPU sends its shard in parallel)")
    if s.goodput_rate is not None:
        notes.append("goodput: the highest Poisson arrival rate whose mean TTFT and ITL meet the targets "
                     "(DistServe defines it on a percentile; this is on means)")
    return notes


def _load_note(load: Load, dep: Deployment) -> str:
    if load.mode == "concurrency":
        return (f"closed loop: {load.value:g} requests always in the system, a finished one replaced at once (as "
                f"load-test tools run), spread over {dep.replicas} replica(s); {SRC_LITTLE}")
    if load.mode == "rate":
        return (f"open loop: Poisson arrivals at {load.value:g} requests/s over {dep.replicas} replica(s); "
                f"{SRC_MD1} for the prefill budget, {SRC_MDC} for a slot")
    return (f"static batch of {load.value:g} sequences: prompts prefilled in one pass, then decoded together to the "
            "end (offline benchmarks: TensorRT-LLM gptSessionBenchmark, vLLM benchmark_latency)")


def _warnings(sc: Scenario, s: Solved, fits: bool) -> list[str]:
    notes, mem, layout, op = [], s.memory, s.deployment.layout, s.op
    if mem.pool_bytes_per_gpu <= 0:
        notes.append(f"the weights ({mem.weights_bytes_per_gpu / GIB:,.1f} GiB per GPU) and the activation reserve "
                     f"exceed usable memory; latencies are what the roofline gives were it to fit")
    elif not fits:
        notes.append(f"the batch's KV cache does not fit: at most {mem.max_sequences_per_replica * s.deployment.replicas}"
                     f" sequences of {sc.work.prompt_tokens + sc.work.output_tokens:,} tokens")
    if op.ttft is None:
        notes.append("the arrival rate exceeds what the deployment completes: the queue grows without bound; "
                     "throughput is the capacity and TTFT is null")
    elif op.saturated == "prefill" and s.load.mode != "rate":
        notes.append("prefill-bound: prompts arrive faster than the token budget clears them, so they queue and "
                     "every step carries a full chunk")
    elif op.saturated == "slots":
        notes.append(f"more requests than running slots ({mem.cap_per_replica} per replica, from the KV pool and "
                     "max_num_seqs): the rest wait in the queue and TTFT includes that wait")
    if layout.stage_gpus > sc.device.scale_up_domain:
        notes.append(f"a {layout.stage_gpus}-GPU group spans scale-up domains of {sc.device.scale_up_domain}: its "
                     "collectives cross the scale-out fabric")
    att = sc.model.attention
    if att.kind != "mla" and att.kv_heads < layout.tp:
        notes.append(f"{att.kv_heads} KV heads over {layout.tp} shards: KV heads are replicated")
    if sc.eff.mfu > 0.7:
        notes.append(f"MFU {sc.eff.mfu:g} is above the 0.7 that well-tuned serving rarely exceeds")
    if sc.eff.mbu > 0.9:
        notes.append(f"MBU {sc.eff.mbu:g} is above the ~0.9 that memory-copy kernels reach")
    if sc.targets.given and s.goodput_rate == 0.0:
        notes.append("even a trickle of requests misses the latency targets on this deployment")
    return notes


def _steps(sc: Scenario, s: Solved, values: dict) -> list[Step]:
    op, srv, mem, layout, work, model = s.op, s.server, s.memory, s.deployment.layout, sc.work, sc.model
    rep, d = srv.r, op.decode_step
    bpp = sc.weight_bytes_per_param
    steps = [
        Step("weights_bytes", "(params − embedding) · bytes + embedding · max(bytes, 2)",
             f"({fmt(model.params_total)} − {fmt(model.embedding_params)}) · {fmt(bpp)} + "
             f"{fmt(model.embedding_params)} · {fmt(max(bpp, 2.0))}", mem.weights_bytes, "B",
             "calc.kvcache.weights_bytes (quantised checkpoints keep the embedding and head 16-bit)"),
        Step("weights_bytes_per_gpu", "(dense / tp + routed / ep) / pp",
             f"tp {layout.tp}, ep {layout.ep}, pp {layout.pp}", mem.weights_bytes_per_gpu, "B",
             "calc.kvcache.weights_bytes_per_gpu"),
        Step("activation_reserve_bytes_per_gpu", "profiled tokens · per-token MLP buffers + sampled logits",
             f"{sc.engine.max_num_batched_tokens} tokens, tp {layout.tp}", mem.activation_bytes_per_gpu, "B",
             "calc.kvcache.activation_peak_bytes (vLLM profile_run)"),
        Step("kv_pool_bytes_per_gpu", f"{sc.engine.kind} pool rule", f"HBM {fmt(sc.device.memory_bytes)} · "
             f"{fmt(sc.engine.memory_utilization)}", mem.pool_bytes_per_gpu, "B", "calc.kvcache.kv_pool_bytes_per_gpu"),
        Step("max_sequences", "groups · floor(pool / kv per sequence per GPU) · replicas",
             f"floor({fmt(mem.pool_bytes_per_gpu)} / {fmt(mem.kv_bytes_per_sequence_per_gpu)})",
             values["max_sequences"], "", "KV at prompt + output tokens, paged (calc.kvcache)"),
        Step("decode_batch", "Little's law on decoding requests", fmt(op.decodes), op.decodes, "sequences per step",
             SRC_LITTLE),
        Step("step_dense_s", "max(dense bytes / (BW · MBU), dense FLOP / (peak · MFU))",
             f"{fmt(rep.dense_bytes)} B, {fmt(rep.dense_flop_per_token)} FLOP per token", d.dense_s, "s", SRC_ROOFLINE),
    ]
    if model.moe:
        steps.append(Step("step_experts_s", "max(touched experts' bytes / BW, expert FLOP · imbalance / peak)",
                          f"{fmt(rep.experts_local)} experts held per GPU per layer", d.experts_s, "s", SRC_MOE))
    steps += [
        Step("step_attention_s", "max(KV bytes / (BW · MBU), attention FLOP / (16-bit peak · MFU))",
             f"{fmt(attention_flop_per_pair(model, True))} FLOP per cached token per layer; bound: {d.attention_bound}",
             d.attention_s, "s", SRC_MLA if model.attention.kind == "mla" else SRC_ATTN),
        Step("step_comm_s", "all-reduces + dispatch/combine + pipeline hops",
             f"{rep.allreduces_per_step} all-reduces over {layout.tp}; {rep.moe_layers} MoE layers over ep {layout.ep}",
             d.comm_s, "s", SRC_COLLECTIVES),
    ]
    if sc.spec.on:
        steps.append(Step("draft_s", "k · max(draft bytes / BW, draft FLOP / peak)", f"k = {sc.spec.tokens}",
                          d.draft_s, "s", SRC_SPEC))
        steps.append(Step("tokens_per_step", "(1 − α^(k+1)) / (1 − α)",
                          f"(1 − {fmt(sc.spec.acceptance)}^{sc.spec.tokens + 1}) / (1 − {fmt(sc.spec.acceptance)})",
                          srv.per_step, "tokens", SRC_SPEC))
    steps += [
        Step("decode_step_s", "dense + experts + attention + comm (+ draft)", fmt(d.seconds), d.seconds, "s",
             SRC_ROOFLINE),
        Step("mixed_step_s", "the same with a prefill chunk", f"chunk {fmt(op.chunk_tokens)} tokens",
             op.mixed_step.seconds, "s", SRC_CHUNK),
        Step("itl_s", "(f · mixed + (1 − f) · decode) / tokens per step",
             f"({fmt(op.mixed_fraction)} · {fmt(op.mixed_step.seconds)} + {fmt(1 - op.mixed_fraction)} · "
             f"{fmt(d.seconds)}) / {fmt(srv.per_step)}", op.itl, "s", SRC_CHUNK),
        Step("ttft_s", "queue + own prefill chunks", f"{fmt(op.queue or 0.0)} + prefill",
             values["ttft_s"] if values["ttft_s"] is not None else 0.0, "s", SRC_LITTLE),
        Step("requests_per_s", "per replica · replicas", f"{fmt(op.throughput)} · {s.deployment.replicas}",
             values["requests_per_s"], "1/s", SRC_LITTLE),
        Step("output_tokens_per_s", "requests/s · output tokens", f"{fmt(values['requests_per_s'])} · "
             f"{work.output_tokens}", values["output_tokens_per_s"], "tokens/s", SRC_LITTLE),
    ]
    if values["cost_per_million_output_tokens_usd"] is not None:
        steps.append(Step("cost_per_million_output_tokens_usd", "GPUs · price/h / 3600 ÷ tokens/s · 1e6 (decode share)",
                          f"{values['total_gpus']} GPUs", values["cost_per_million_output_tokens_usd"], "USD", SRC_COST))
    return steps
