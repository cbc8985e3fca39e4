"""Training run: FLOP, step time from the layout, time, money, energy, memory and failures.

Model FLOP are 6·N·D with N the parameters active per token (Kaplan et al. 2020, arXiv
2001.08361, §2.1: forward 2N, backward 4N per token). The attention-score term of PaLM
(Chowdhery et al. 2022, arXiv 2204.02311, appendix B) is reported beside it, never added to the
headline. The time of a step is modelled bottom-up from the layout (``calc.step``), and MFU is
what it achieves: 6·N·tokens per step ÷ (n · dense peak · step time). Given an MFU instead
(or without the architecture), time = C ÷ (n · dense peak · MFU). Memory per accelerator follows
``calc.layout``. Failures follow the first-order checkpoint/restart model of Young (1974) and
Daly (2006).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aistack_cli.calc.common import Step, fmt, host_overhead_w
from aistack_cli.calc.layout import Batch, Layout, Space, Transformer, memory_per_gpu, micro_batches
from aistack_cli.calc.step import Network, StepModel, StepTime, search
from aistack_cli.calc.hardware import Chip
from aistack_cli.errors import InputError

SRC_6ND = "Kaplan et al. 2020 (arXiv 2001.08361) §2.1: forward 2N + backward 4N FLOP per token"
SRC_PALM = "Chowdhery et al. 2022 (PaLM, arXiv 2204.02311) appendix B: 12·L·H·Q·T attention FLOP per token"
SRC_MFU = "MFU = model FLOP/s ÷ (n · dense peak) (PaLM appendix B)"
SRC_STEP = ("bottom-up step time (calc.step): GEMM rooflines, flash attention, memory-bound kernels, TP/CP/EP/DP "
            "collectives through the collectives engine, 1F1B bubble (Narayanan et al. 2021)")
SRC_BATCH = ("DeepSeek-AI 2024, 'DeepSeek LLM' (arXiv 2401.02954) §3.1: optimal batch ≈ 0.292·C^0.3271 tokens; "
             "dense runs trained to convergence used 0.14-0.36 of it, DeepSeek-V3 2.06x (aistack research notes)")
SRC_YOUNG = "Young 1974 (CACM 17(9)) / Daly 2006 (FGCS 22(3)): τ ≈ sqrt(2·δ·M)"
SRC_LOST = "Daly 2006 first order: checkpoint writes δ/τ, lost work τ/(2M), restarts R/M"
SRC_PUE = "The Green Grid PUE (ISO/IEC 30134-2): facility energy = IT energy · PUE"

BATCH_FIT = (0.292, 0.3271)  # DeepSeek LLM's fit of the optimal batch (tokens) against compute C (FLOP)
TARGET_ROUNDS = 6  # fixed-point rounds when solving the GPU count for a target time


@dataclass(frozen=True)
class Shape:
    """What the FLOP and the memory depend on; the architecture is optional (``--params``).

    ``arch`` is the full transformer the step model needs (None: time from MFU only).
    """

    params_total: float
    params_active: float
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    head_dim: int | None = None
    arch: Transformer | None = None

    @property
    def has_architecture(self) -> bool:
        return None not in (self.layers, self.hidden_size, self.heads, self.head_dim)


@dataclass(frozen=True)
class Device:
    """One accelerator type as the run uses it: dense peak at the training precision, and what it
    achieves (``chip``) with the memory kept back for framework buffers (``reserve_bytes``)."""

    id: str
    peak_flop_per_s: float
    memory_bytes: float
    tdp_w: float | None
    price_usd_per_hour: float | None
    scale_up_domain: int = 8
    chip: Chip | None = None
    reserve_bytes: float = 0.0


@dataclass(frozen=True)
class Cluster:
    """How many accelerators (given, or solved from ``target_s``), how they are laid out and fed.

    ``layout`` fixes the layout; without it ``space`` is searched and the fastest layout used.
    ``mfu`` given: the step is not modelled, time = C ÷ (n · peak · MFU); ``fallback_mfu`` does the
    same when the architecture is unknown. ``global_batch`` is in sequences (None: the batch rule,
    ``batch_fraction`` of DeepSeek LLM's optimum).
    """

    gpus: int | None = None
    target_s: float | None = None
    mfu: float | None = None
    fallback_mfu: float = 0.40
    layout: Layout | None = None
    space: Space | None = None
    global_batch: int | None = None
    batch_fraction: float = 0.21
    batch_band: tuple[float, float] = (0.14, 0.36)  # published spread of the fraction (p10, p90)
    precision: str = "bf16"
    network: Network | None = None
    capacity_factor: float = 1.0
    rank_by: str = "time"
    tp_overlap: bool = False


@dataclass(frozen=True)
class Power:
    """Average draw as a fraction of the rated maximum, facility overhead and grid intensity.

    ``system_max_w`` and ``system_accelerators`` come from a system sheet (e.g. DGX H100) and add
    the host's share (CPUs, memory, NICs, fans) above the accelerators' TDP.
    """

    gpu_power_fraction: float
    pue: float
    carbon_g_per_kwh: float
    system_max_w: float | None = None
    system_accelerators: int | None = None


@dataclass(frozen=True)
class Failures:
    """Either the checkpoint/restart model (MTBF per accelerator, δ, R) or a goodput given."""

    mtbf_gpu_hours: float | None = None
    checkpoint_s: float | None = None
    restart_s: float = 0.0
    goodput: float | None = None

    @property
    def modelled(self) -> bool:
        return self.checkpoint_s is not None and self.mtbf_gpu_hours is not None


@dataclass(frozen=True)
class TrainCostResult:
    total_flop: float
    flop_per_token: float
    attention_flop_fraction: float | None
    gpus_solved: int | None
    tensor_parallel: int | None
    pipeline_parallel: int | None
    data_parallel: int | None
    context_parallel: int | None
    expert_parallel: int | None
    virtual_stages: int | None
    micro_batch_size: int | None
    zero_stage: int | None
    recompute_policy: str | None
    layout: str | None
    step_sequences: int | None
    step_tokens: float | None
    gradient_accumulation_steps: int | None
    step_time_s: float | None
    step_compute_s: float | None
    step_tp_comm_s: float | None
    step_dp_comm_s: float | None
    step_pp_bubble_s: float | None
    step_pp_comm_s: float | None
    step_ep_comm_s: float | None
    step_cp_comm_s: float | None
    step_optimizer_s: float | None
    pp_bubble_fraction: float | None
    limiting_term: str | None
    mfu: float | None
    hfu: float | None
    tokens_per_s_per_gpu: float | None
    wall_clock_s: float | None
    gpu_hours: float | None
    tokens_per_s: float | None
    cost_usd: float | None
    average_power_w: float | None
    energy_wh: float | None
    co2_kg: float | None
    goodput_fraction: float | None
    checkpoint_interval_s: float | None
    interruptions_expected: float | None
    wall_clock_with_failures_s: float | None
    gpu_hours_with_failures: float | None
    cost_with_failures_usd: float | None
    energy_with_failures_wh: float | None
    co2_with_failures_kg: float | None
    weights_bytes_per_gpu: float | None
    gradients_bytes_per_gpu: float | None
    optimizer_bytes_per_gpu: float | None
    activations_bytes_per_gpu: float | None
    reserved_bytes_per_gpu: float | None
    memory_used_bytes_per_gpu: float | None
    fits: bool | None
    shortfall_bytes_per_gpu: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


def human_count(value: float) -> str:
    """``15.6T``, ``405.9B``, ``37B``: counts as model cards write them, for notes."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    return f"{value:g}"


# ---- FLOP ----------------------------------------------------------------------------------

def flop_per_token(params_active: float) -> float:
    """Training FLOP per token, 6·N: a multiply-add per parameter forward (2N), twice that backward."""
    return 6.0 * params_active


def attention_flop_per_token(shape: Shape, seq_len: int) -> float | None:
    """PaLM's attention-score term per token, 12·L·a·h·s (QKᵀ and AV, forward and backward, unmasked)."""
    if not shape.has_architecture:
        return None
    return 12.0 * shape.layers * shape.heads * shape.head_dim * seq_len


def total_flop(params_active: float, tokens: float) -> float:
    """Model FLOP of the whole run, C = 6·N·D."""
    return flop_per_token(params_active) * tokens


# ---- time ----------------------------------------------------------------------------------

def wall_clock_s(flop: float, gpus: int, peak_flop_per_s: float, mfu: float) -> float:
    """In-run time T = C ÷ (n · dense peak · MFU)."""
    return flop / (gpus * peak_flop_per_s * mfu)


def gpus_for_target(flop: float, target_s: float, peak_flop_per_s: float, mfu: float,
                    multiple: int = 1) -> int:
    """Fewest accelerators, a whole multiple of ``multiple`` (tp·pp), that finish within ``target_s``."""
    exact = flop / (target_s * peak_flop_per_s * mfu)
    whole = max(1, math.ceil(exact * (1 - 1e-12)))
    return int(math.ceil(whole / multiple) * multiple)


def mfu_of(params_active: float, tokens_per_step: float, step_s: float, gpus: int, peak_flop_per_s: float) -> float:
    """Achieved MFU: 6·N·(tokens per step) ÷ (step time · n · dense peak)."""
    return flop_per_token(params_active) * tokens_per_step / (step_s * gpus * peak_flop_per_s)


def plausible_batch_tokens(flop: float) -> float:
    """Largest plausible global batch for a run of ``flop``: DeepSeek LLM's optimum 0.292·C^0.3271
    tokens. Published dense runs used 0.14-0.36 of it; the largest MoE batch (DeepSeek-V3) 2.06x."""
    a, b = BATCH_FIT
    return a * flop ** b


def default_global_batch(flop: float, seq: int, fraction: float) -> int:
    """Sequences per step when none is given: ``fraction`` of the optimum, at the nearest power of two."""
    sequences = max(1.0, fraction * plausible_batch_tokens(flop) / seq)
    return 2 ** max(0, round(math.log2(sequences)))


# ---- energy --------------------------------------------------------------------------------

def host_w_per_gpu(system_max_w: float, accelerators: int, tdp_w: float) -> float:
    """A system's rated power above its accelerators' TDP, per accelerator (CPUs, NICs, fans...)."""
    return max(0.0, host_overhead_w(system_max_w, accelerators, tdp_w) / accelerators)


def average_power_w(gpus: int, tdp_w: float, host_w: float, fraction: float, pue: float) -> float:
    """Facility power while training: n · (TDP + host share) · average-draw fraction · PUE."""
    return gpus * (tdp_w + host_w) * fraction * pue


def co2_kg(energy_wh: float, carbon_g_per_kwh: float) -> float:
    """Location-based emissions: kWh × grid intensity (g/kWh), in kg."""
    return energy_wh / 1000.0 * carbon_g_per_kwh / 1000.0


# ---- failures ------------------------------------------------------------------------------

def cluster_mtbf_s(mtbf_gpu_hours: float, gpus: int) -> float:
    """Mean time between interruptions of a synchronous job: per-accelerator MTBF ÷ n."""
    return mtbf_gpu_hours * 3600.0 / gpus


def checkpoint_interval_s(checkpoint_s: float, mtbf_s: float) -> float:
    """Young's optimal interval between checkpoints, τ = sqrt(2·δ·M)."""
    return math.sqrt(2.0 * checkpoint_s * mtbf_s)


def lost_fraction(checkpoint_s: float, interval_s: float, mtbf_s: float, restart_s: float) -> float:
    """Share of wall-clock that makes no progress: writes δ/τ, half an interval and a restart per failure."""
    return checkpoint_s / interval_s + interval_s / (2.0 * mtbf_s) + restart_s / mtbf_s


# ---- the run -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """How the run is laid out and how long a step takes: modelled from the layout, or from an MFU."""

    gpus: int
    solved: bool
    global_batch: int
    layout: Layout | None
    micro_batches: int | None
    step: StepTime | None
    step_s: float
    mfu: float
    modelled: bool


def train_cost(shape: Shape, tokens: float, seq_len: int, device: Device | None = None,
               cluster: Cluster | None = None, power: Power | None = None,
               failures: Failures = Failures()) -> TrainCostResult:
    """Everything a planner asks about one training run; without ``device`` only the FLOP."""
    notes = _Notes()
    out: dict = _flop(shape, tokens, seq_len, notes)
    if device is not None and cluster is not None:
        plan = plan_run(shape, tokens, seq_len, device, cluster, notes)
        out.update(_time_and_money(plan, tokens, seq_len, shape, device, notes))
        out.update(_energy(out, device, power, notes))
        out.update(_failures(out, failures, cluster, notes))
        out.update(_memory(plan, shape, seq_len, device, cluster, notes))
        out.update(_layout_results(plan, seq_len, shape, device))
    out.pop("gpus", None)
    fields = TrainCostResult.__dataclass_fields__
    values = {name: out.get(name) for name in fields if name not in ("assumptions", "warnings", "steps")}
    return TrainCostResult(**values, assumptions=tuple(notes.assumptions),
                           warnings=tuple(notes.warnings), steps=tuple(notes.steps))


class _Notes:
    def __init__(self):
        self.assumptions: list[str] = []
        self.warnings: list[str] = []
        self.steps: list[Step] = []


def _flop(shape: Shape, tokens: float, seq_len: int, notes: _Notes) -> dict:
    per_token = flop_per_token(shape.params_active)
    flop = total_flop(shape.params_active, tokens)
    notes.steps += [
        Step("flop_per_token", "6 · N_active", f"6 · {fmt(shape.params_active)}", per_token, "FLOP", SRC_6ND),
        Step("total_flop", "flop_per_token · tokens", f"{fmt(per_token)} · {fmt(tokens)}", flop, "FLOP", SRC_6ND),
    ]
    attention = attention_flop_per_token(shape, seq_len)
    fraction = None
    if attention is not None:
        fraction = attention / (per_token + attention)
        notes.steps.append(Step(
            "attention_flop_fraction", "12·L·a·h·s / (6·N + 12·L·a·h·s)",
            f"12 · {shape.layers} · {shape.heads} · {shape.head_dim} · {seq_len} / "
            f"({fmt(per_token)} + {fmt(attention)})", fraction, "", SRC_PALM))
        notes.assumptions.append(
            f"total_flop is 6·N·D; PaLM's attention term would add {attention / per_token:.1%} "
            f"at sequence length {seq_len:,} (reported as attention_flop_fraction, not added; the step time "
            "counts causal attention as executed)")
    if shape.params_active < shape.params_total:
        notes.assumptions.append(
            f"mixture of experts: FLOP use the {human_count(shape.params_active)} parameters active per token; "
            f"memory holds all {human_count(shape.params_total)}, routed experts spread over expert parallelism")
    return {"total_flop": flop, "flop_per_token": per_token, "attention_flop_fraction": fraction}


# ---- layout and step -----------------------------------------------------------------------

def _modelled(shape: Shape, device: Device, cluster: Cluster) -> bool:
    return (cluster.mfu is None and shape.arch is not None and device.chip is not None
            and cluster.network is not None)


def step_model(shape: Shape, seq_len: int, device: Device, cluster: Cluster, gpus: int) -> StepModel:
    network = cluster.network
    if network.fabric.gpus != gpus:
        network = Network(replace(network.fabric, gpus=max(gpus, network.fabric.gpus_per_node)))
    return StepModel(shape.arch, seq_len, device.chip, network, cluster.precision, cluster.capacity_factor,
                     cluster.tp_overlap)


def plan_run(shape: Shape, tokens: float, seq_len: int, device: Device, cluster: Cluster, notes: _Notes) -> Plan:
    """GPU count, global batch, layout and step time of the run."""
    flop = total_flop(shape.params_active, tokens)
    batch = global_batch(flop, seq_len, cluster, notes)
    if not _modelled(shape, device, cluster):
        return _mfu_plan(shape, seq_len, device, cluster, flop, batch, notes)
    if cluster.target_s is not None:
        return _solve_for_target(shape, seq_len, device, cluster, flop, batch, notes)
    layout, micro, step = _choose(shape, seq_len, device, cluster, cluster.gpus, batch, notes, explain=True)
    return _plan(shape, seq_len, device, cluster.gpus, False, batch, layout, micro, step)


def _plan(shape, seq_len, device, gpus, solved, batch, layout, micro, step) -> Plan:
    sequences = micro * layout.dp * layout.micro_batch
    mfu = mfu_of(shape.params_active, sequences * seq_len, step.step_s, gpus, device.peak_flop_per_s)
    return Plan(gpus, solved, sequences, layout, micro, step, step.step_s, mfu, True)


def global_batch(flop: float, seq_len: int, cluster: Cluster, notes) -> Batch:
    """The global batch: given (exact), or a target from the batch rule that each layout rounds to a
    whole number of micro-batches, never above the plausible maximum."""
    plausible = plausible_batch_tokens(flop)
    cap = max(1.0, plausible / seq_len)
    if cluster.global_batch is not None:
        batch = cluster.global_batch
        if batch * seq_len > plausible:
            notes.warnings.append(
                f"global batch {batch:,} x {seq_len:,} = {human_count(batch * seq_len)} tokens is above the plausible "
                f"{human_count(plausible)} for a run of {flop:.3g} FLOP (DeepSeek LLM's optimal-batch fit; dense "
                "runs used 0.14-0.36 of it): convergence per token would suffer")
        return Batch(batch, batch, exact=True)
    if cluster.target_s is not None:
        notes.assumptions.append(
            f"global batch up to {human_count(plausible)} tokens, the plausible maximum for {flop:.3g} FLOP "
            f"({SRC_BATCH}), in whole micro-batches; give --global-batch to set it")
        return Batch(cap, cap, floor=True)
    nominal = default_global_batch(flop, seq_len, cluster.batch_fraction)
    low, high = cluster.batch_band
    scale = nominal / cluster.batch_fraction
    notes.assumptions.append(
        f"global batch about {nominal:,} sequences ({human_count(nominal * seq_len)} tokens): "
        f"{cluster.batch_fraction:g} of the optimal {human_count(plausible)} tokens for {flop:.3g} FLOP, at a power "
        f"of two ({SRC_BATCH}); each layout runs the whole number of micro-batches nearest to it within "
        f"{low:g}-{high:g} of the optimum; give --global-batch to set it")
    return Batch(nominal, max(1.0, high * scale), low=low * scale)


_SEARCHES: dict = {}  # the best layout of identical searches (a sweep over tokens repeats them)


def _choose(shape, seq_len, device, cluster, gpus, batch, notes, explain):
    """(layout, micro-batches, step) for ``gpus``: the given layout, or the search's best."""
    model = step_model(shape, seq_len, device, cluster, gpus)
    capacity = device.memory_bytes
    if cluster.layout is not None:
        layout = cluster.layout
        if layout.recompute is None:
            layout = _least_recompute(shape, seq_len, device, cluster, layout, batch, notes if explain else _Notes())
        micro = micro_batches(layout, batch)
        if micro == 0:
            if batch.exact:
                raise InputError(f"--global-batch: {int(batch.sequences):,} sequences do not split into dp "
                                 f"{layout.dp} x micro-batch {layout.micro_batch}")
            micro = layout.pp if layout.vpp > 1 else 1
            sequences = micro * layout.dp * layout.micro_batch
            if explain:
                notes.warnings.append(
                    f"dp {layout.dp} x micro-batch {layout.micro_batch} x {micro} = {sequences:,} sequences per step "
                    f"({human_count(sequences * seq_len)} tokens) is above the plausible global batch of "
                    f"{batch.cap:,.0f} sequences (the batch rule): convergence per token would suffer; fewer "
                    "data-parallel replicas or --global-batch")
        return layout, micro, model.step(layout, micro)
    space = cluster.space or Space(max_tp=device.scale_up_domain)
    key = (shape.arch, seq_len, gpus, batch, space, device.chip, model.network, cluster.precision,
           cluster.capacity_factor, cluster.tp_overlap, capacity, device.reserve_bytes)
    found = _SEARCHES.get(key)
    if found is None:
        if len(_SEARCHES) > 256:
            _SEARCHES.clear()
        found = _SEARCHES[key] = search(model, gpus, batch, space, capacity, device.reserve_bytes, "time", keep=1)
    if found.ranked:
        best = found.ranked[0]
        if explain:
            notes.assumptions.append(
                f"layout {best.layout.text()}: the fastest of {found.fitting:,} that fit among {found.searched:,} "
                "searched (give --tp/--pp/... to set your own, --search to see the ranking)")
        return best.layout, best.micro_batches, best.step
    if found.closest is not None:
        c = found.closest
        notes.warnings.append(
            f"no layout fits in memory: of {found.searched:,} searched, the closest ({c.layout.text()}) needs "
            f"{c.memory_bytes / 2**30:,.1f} GiB per GPU of {capacity / 2**30:,.1f} GiB; timed as if it fit")
        return c.layout, c.micro_batches, model.step(c.layout, c.micro_batches)
    return None


def _least_recompute(shape, seq_len, device, cluster, layout, batch, notes) -> Layout:
    """The layout with the lightest recompute (none, selective, full) that fits in memory; full when none does."""
    micro = micro_batches(replace(layout, recompute="none"), batch) or 1
    for policy in ("none", "selective", "full"):
        trial = replace(layout, recompute=policy)
        use = memory_per_gpu(shape.arch, trial, seq_len, micro, cluster.precision, device.reserve_bytes)
        if use.total <= device.memory_bytes:
            break
    notes.assumptions.append(f"recompute {trial.recompute}: the lightest that fits (give --recompute to set it)")
    return trial


def _solve_for_target(shape, seq_len, device, cluster, flop, batch, notes) -> Plan:
    """Fewest GPUs whose modelled time meets the target, within the global batch.

    Fixed-point rounds on n = C ÷ (target · peak · MFU(n)); each round tries n rounded up to
    smooth counts (whole multiples of U/8, U/4, U/2 and U, U the largest power-of-two multiple of a
    scale-up domain, or of tp·pp·cp, not above n) and keeps the smallest that meets the target, or
    the one with the best MFU to continue from. When the batch cannot feed n GPUs the count halves.
    """
    peak, target = device.peak_flop_per_s, cluster.target_s
    layout = cluster.layout
    multiple = layout.tp * layout.pp * layout.cp if layout is not None else device.scale_up_domain
    gpus = gpus_for_target(flop, target, peak, cluster.fallback_mfu, multiple)
    tried: dict[int, Plan | None] = {}
    best = None
    for _ in range(TARGET_ROUNDS):
        plans = [p for p in (_plan_at(shape, seq_len, device, cluster, n, batch, tried)
                             for n in _smooth_counts(gpus, multiple)) if p is not None]
        if not plans:
            smaller = _smaller(gpus, multiple)
            if smaller < multiple or best is not None:
                break
            gpus = smaller
            continue
        meeting = [p for p in plans if _run_s(p, flop, shape, seq_len) <= target * (1 + 1e-9)]
        plan = min(meeting, key=lambda p: p.gpus) if meeting else max(plans, key=lambda p: (p.mfu * p.gpus, -p.gpus))
        if best is None or _better(plan, best, flop, shape, seq_len, target):
            best = plan
        following = gpus_for_target(flop, target, peak, plan.mfu, multiple)
        if meeting and following >= plan.gpus:
            break
        if following == gpus:
            break
        gpus = following
    if best is None:
        raise InputError(f"--target-days: no layout of this model runs within the global batch of "
                         f"{batch.cap:,.0f} sequences")
    seconds = _run_s(best, flop, shape, seq_len)
    notes.steps.append(Step("gpus_solved", "fewest GPUs with modelled time ≤ target (fixed point on MFU)",
                            f"target {fmt(target)} s, MFU {best.mfu:.3f}", best.gpus, "",
                            "T = C ÷ (n · peak · MFU(n))"))
    notes.assumptions.append("GPU count solved for the in-run time; failures are not part of the target")
    if seconds > target * (1 + 1e-9):
        notes.warnings.append(
            f"no layout meets the {target / 86400:,.1f}-day target within the plausible global batch of "
            f"{batch.cap:,.0f} sequences ({human_count(batch.cap * seq_len)} tokens): the fastest found uses "
            f"{best.gpus:,} GPUs and takes "
            f"{seconds / 86400:,.1f} days (more GPUs would need a larger batch than published runs used)")
    return best


def _better(plan: Plan, best: Plan, flop: float, shape: Shape, seq_len: int, target: float) -> bool:
    mine, theirs = _run_s(plan, flop, shape, seq_len), _run_s(best, flop, shape, seq_len)
    meets, best_meets = mine <= target * (1 + 1e-9), theirs <= target * (1 + 1e-9)
    if meets != best_meets:
        return meets
    return plan.gpus < best.gpus if meets else mine < theirs


def _plan_at(shape, seq_len, device, cluster, gpus, batch, tried):
    if gpus not in tried:
        chosen = _try_count(shape, seq_len, device, cluster, gpus, batch)
        tried[gpus] = None if chosen is None else _plan(shape, seq_len, device, gpus, True, batch, *chosen)
    return tried[gpus]


def _smooth_counts(gpus: int, multiple: int) -> list[int]:
    """``gpus`` rounded up to whole multiples of U/8, U/4, U/2 and U (U the largest power-of-two
    multiple of ``multiple`` not above ``gpus``), smallest first."""
    unit = multiple
    while unit * 2 <= gpus:
        unit *= 2
    counts = {math.ceil(gpus / u) * u for u in (unit // 8, unit // 4, unit // 2, unit) if u >= multiple}
    return sorted(counts or {math.ceil(gpus / multiple) * multiple})


def _run_s(plan: Plan, flop: float, shape: Shape, seq_len: int) -> float:
    """In-run seconds of a plan: steps (tokens ÷ tokens per step) × step time."""
    return flop / flop_per_token(shape.params_active) / (plan.global_batch * seq_len) * plan.step_s


def _try_count(shape, seq_len, device, cluster, gpus, batch):
    layout, trial = cluster.layout, cluster
    if layout is not None:
        model = layout.tp * layout.pp * layout.cp
        if gpus % model:
            return None
        trial = replace(cluster, layout=replace(layout, dp=gpus // model))
        if micro_batches(trial.layout, batch) == 0:
            return None
    return _choose(shape, seq_len, device, trial, gpus, batch, _Notes(), explain=False)


def _smaller(gpus: int, multiple: int) -> int:
    return (gpus // 2) // multiple * multiple


def _mfu_plan(shape, seq_len, device, cluster, flop, batch, notes) -> Plan:
    """Time from an MFU (given, or the default when the architecture is unknown): not modelled."""
    mfu = cluster.mfu if cluster.mfu is not None else cluster.fallback_mfu
    peak = device.peak_flop_per_s
    solved = cluster.target_s is not None
    if solved:
        multiple = cluster.layout.tp * cluster.layout.pp * cluster.layout.cp if cluster.layout else 1
        gpus = gpus_for_target(flop, cluster.target_s, peak, mfu, multiple)
        notes.steps.append(Step("gpus_solved", "ceil(total_flop / (target · peak · MFU))",
                                f"ceil({fmt(flop)} / ({fmt(cluster.target_s)} · {fmt(peak)} · {fmt(mfu)}))", gpus, "",
                                "solve T = C ÷ (n · peak · MFU) for n"))
        notes.assumptions.append("GPU count solved for the in-run time; failures are not part of the target")
    else:
        gpus = cluster.gpus
    layout, micro = cluster.layout, None
    if layout is not None and solved:
        layout = replace(layout, dp=max(1, gpus // (layout.tp * layout.pp * layout.cp)))
    if shape.arch is not None and device.chip is not None and cluster.network is not None:
        if layout is None:
            chosen = _choose(shape, seq_len, device, replace(cluster, layout=None), gpus, batch, notes, explain=True)
            if chosen is not None:
                layout, micro = chosen[0], chosen[1]
        else:
            if layout.recompute is None:
                layout = _least_recompute(shape, seq_len, device, cluster, layout, batch, notes)
            micro = micro_batches(layout, batch) or None
    if layout is not None and layout.recompute is None:
        layout = replace(layout, recompute="selective")
    sequences = micro * layout.dp * layout.micro_batch if micro else int(round(batch.sequences))
    step_s = flop_per_token(shape.params_active) * sequences * seq_len / (gpus * peak * mfu)
    if cluster.mfu is not None:
        notes.assumptions.append(f"MFU {mfu:.0%} of the dense {cluster.precision} peak given: the step time was not "
                                 "modelled (time = C ÷ (n · peak · MFU))")
    elif shape.arch is None:
        notes.assumptions.append(f"architecture unknown: time from MFU {mfu:.0%} of the dense peak, not modelled "
                                 "(give --model, or --layers, --hidden-size and --heads)")
    return Plan(gpus, solved, sequences, layout, micro, None, step_s, mfu, False)


def _time_and_money(plan: Plan, tokens: float, seq_len: int, shape: Shape, device: Device, notes: _Notes) -> dict:
    gpus = plan.gpus
    steps = tokens / (plan.global_batch * seq_len)
    seconds = steps * plan.step_s
    gpu_hours = gpus * seconds / 3600.0
    if plan.modelled:
        notes.steps.append(Step("step_time_s", "compute + exposed TP, DP, CP, EP + bubble + PP send/recv + optimizer",
                                " + ".join(fmt(plan.step.term(t)) for t in
                                           ("compute", "tp", "dp", "cp", "ep", "pp_bubble", "pp_comm", "optimizer")),
                                plan.step_s, "s", SRC_STEP))
        notes.steps.append(Step("mfu", "6 · N · tokens per step / (step time · gpus · dense peak)",
                                f"6 · {fmt(shape.params_active)} · {plan.global_batch * seq_len} / "
                                f"({fmt(plan.step_s)} · {gpus} · {fmt(device.peak_flop_per_s)})",
                                plan.mfu, "", SRC_MFU))
    notes.steps += [
        Step("wall_clock_s", "tokens / (global batch · seq) · step time", f"{fmt(steps)} · {fmt(plan.step_s)}",
             seconds, "s", "steps × step time"),
        Step("gpu_hours", "gpus · wall_clock_s / 3600", f"{gpus} · {fmt(seconds)} / 3600",
             gpu_hours, "GPU-h", "definition"),
    ]
    if plan.mfu > 0.7:
        notes.warnings.append(f"MFU {plan.mfu:.0%} is above any published large-run figure (PaLM 46.2%, "
                              "Llama 3 38-43%, MosaicML's best single node 64%)")
    cost = None
    if device.price_usd_per_hour is not None:
        cost = gpu_hours * device.price_usd_per_hour
        notes.steps.append(Step("cost_usd", "gpu_hours · price per GPU-hour",
                                f"{fmt(gpu_hours)} · {fmt(device.price_usd_per_hour)}", cost, "USD",
                                "rental arithmetic"))
    else:
        notes.warnings.append(f"no price: the {device.id} sheet has no dated price and none was given "
                              "(--price-per-gpu-hour); cost is not computed")
    return {"gpus": gpus, "gpus_solved": gpus if plan.solved else None, "wall_clock_s": seconds,
            "gpu_hours": gpu_hours, "tokens_per_s": tokens / seconds, "tokens_per_s_per_gpu": tokens / seconds / gpus,
            "cost_usd": cost, "mfu": plan.mfu}


def _layout_results(plan: Plan, seq_len: int, shape: Shape, device: Device) -> dict:
    out = {"step_sequences": plan.global_batch, "step_tokens": float(plan.global_batch * seq_len),
           "step_time_s": plan.step_s}
    layout = plan.layout
    if layout is not None:
        out.update(layout=layout.text(), tensor_parallel=layout.tp, pipeline_parallel=layout.pp,
                   data_parallel=layout.dp,
                   context_parallel=layout.cp, expert_parallel=layout.ep, virtual_stages=layout.vpp,
                   micro_batch_size=layout.micro_batch, zero_stage=layout.zero, recompute_policy=layout.recompute,
                   gradient_accumulation_steps=plan.micro_batches)
    step = plan.step
    if step is not None:
        out.update(step_compute_s=step.compute_s, step_tp_comm_s=step.tp_s, step_dp_comm_s=step.dp_s,
                   step_pp_bubble_s=step.pp_bubble_s, step_pp_comm_s=step.pp_comm_s, step_ep_comm_s=step.ep_s,
                   step_cp_comm_s=step.cp_s, step_optimizer_s=step.optimizer_s,
                   pp_bubble_fraction=step.pp_bubble_s / step.step_s, limiting_term=step.limiting(),
                   hfu=step.hardware_flop_per_gpu / (step.step_s * device.peak_flop_per_s))
    return out


def _energy(out: dict, device: Device, power: Power | None, notes: _Notes) -> dict:
    if power is None:
        return {}
    if device.tdp_w is None:
        notes.warnings.append(f"the {device.id} sheet lists no TDP: energy and CO2 are not computed")
        return {}
    host = 0.0
    if power.system_max_w is not None:
        host = host_w_per_gpu(power.system_max_w, power.system_accelerators, device.tdp_w)
        notes.steps.append(Step(
            "host_w_per_gpu", "(system max power − accelerators · TDP) / accelerators",
            f"({fmt(power.system_max_w)} − {power.system_accelerators} · {fmt(device.tdp_w)}) / "
            f"{power.system_accelerators}", host, "W", "system sheet (rated maximum)"))
    watts = average_power_w(out["gpus"], device.tdp_w, host, power.gpu_power_fraction, power.pue)
    energy = watts * out["wall_clock_s"] / 3600.0
    notes.steps += [
        Step("average_power_w", "gpus · (TDP + host) · power fraction · PUE",
             f"{out['gpus']} · ({fmt(device.tdp_w)} + {fmt(host)}) · {fmt(power.gpu_power_fraction)} · "
             f"{fmt(power.pue)}", watts, "W", SRC_PUE),
        Step("energy_wh", "average_power_w · wall_clock_s / 3600",
             f"{fmt(watts)} · {fmt(out['wall_clock_s'])} / 3600", energy, "Wh", "definition"),
        Step("co2_kg", "energy_kwh · g/kWh / 1000", f"{fmt(energy / 1000)} · {fmt(power.carbon_g_per_kwh)} / 1000",
             co2_kg(energy, power.carbon_g_per_kwh), "kg", "location-based accounting (GHG Protocol)"),
    ]
    if power.system_max_w is None:
        notes.assumptions.append("accelerators only: host CPUs, memory, NICs and fans are not counted (give --system)")
    return {"average_power_w": watts, "energy_wh": energy, "co2_kg": co2_kg(energy, power.carbon_g_per_kwh)}


def _failures(out: dict, failures: Failures, cluster: Cluster, notes: _Notes) -> dict:
    if failures.goodput is None and not failures.modelled:
        notes.assumptions.append("failures not modelled: give --checkpoint-time (with --mtbf-gpu-hours, "
                                 "--restart-time) or --goodput; model-card GPU-hours include restarts")
        return {}
    gpus = out["gpus"]
    result: dict = {}
    if failures.goodput is not None:
        goodput = failures.goodput
    else:
        goodput, result = _young_daly(failures, gpus, notes)
    with_failures = out["wall_clock_s"] / goodput
    result.update(_with_failures(out, with_failures, goodput, notes))
    if "checkpoint_interval_s" in result:
        result["interruptions_expected"] = with_failures / cluster_mtbf_s(failures.mtbf_gpu_hours, gpus)
    if cluster.target_s is not None and with_failures > cluster.target_s:
        notes.warnings.append(f"with failures the run takes {with_failures / 86400:.1f} days, "
                              f"beyond the {cluster.target_s / 86400:.1f}-day target")
    return result


def _young_daly(failures: Failures, gpus: int, notes: _Notes) -> tuple[float, dict]:
    delta, restart = failures.checkpoint_s, failures.restart_s
    mtbf = cluster_mtbf_s(failures.mtbf_gpu_hours, gpus)
    tau = checkpoint_interval_s(delta, mtbf)
    lost = lost_fraction(delta, tau, mtbf, restart)
    if lost >= 1:
        raise InputError(f"--mtbf-gpu-hours: {gpus:,} accelerators fail every {mtbf:,.0f} s on average, too "
                         f"often for checkpoints of {fmt(delta)} s and restarts of {fmt(restart)} s: the run never finishes")
    notes.steps += [
        Step("cluster_mtbf_s", "MTBF per accelerator · 3600 / gpus",
             f"{fmt(failures.mtbf_gpu_hours)} · 3600 / {gpus}", mtbf, "s", "independent failures, any one stops the job"),
        Step("checkpoint_interval_s", "sqrt(2 · checkpoint time · cluster MTBF)",
             f"sqrt(2 · {fmt(delta)} · {fmt(mtbf)})", tau, "s", SRC_YOUNG),
        Step("goodput_fraction", "1 − (δ/τ + τ/(2M) + R/M)",
             f"1 − ({fmt(delta)}/{fmt(tau)} + {fmt(tau)}/(2·{fmt(mtbf)}) + {fmt(restart)}/{fmt(mtbf)})",
             1 - lost, "", SRC_LOST),
    ]
    if lost > 0.5:
        notes.warnings.append(f"failures cost {lost:.0%} of wall-clock: the first-order model is rough this far out")
    return 1 - lost, {"checkpoint_interval_s": tau}


def _with_failures(out: dict, seconds: float, goodput: float, notes: _Notes) -> dict:
    scale = seconds / out["wall_clock_s"]
    notes.steps.append(Step("wall_clock_with_failures_s", "wall_clock_s / goodput",
                            f"{fmt(out['wall_clock_s'])} / {fmt(goodput)}", seconds, "s",
                            "goodput = share of wall-clock that makes progress"))
    result = {"goodput_fraction": goodput, "wall_clock_with_failures_s": seconds,
              "gpu_hours_with_failures": out["gpu_hours"] * scale}
    if out.get("cost_usd") is not None:
        result["cost_with_failures_usd"] = out["cost_usd"] * scale
    if out.get("energy_wh") is not None:
        result["energy_with_failures_wh"] = out["energy_wh"] * scale
        result["co2_with_failures_kg"] = out["co2_kg"] * scale
        notes.assumptions.append("lost time draws the same average power as training (an upper bound)")
    return result


def _memory(plan: Plan, shape: Shape, seq_len: int, device: Device, cluster: Cluster, notes: _Notes) -> dict:
    layout = plan.layout
    if shape.arch is None or layout is None:
        notes.warnings.append("memory per GPU needs the architecture (--model, or --layers, --hidden-size and "
                              "--heads): not computed")
        return {}
    micro = plan.micro_batches or 1
    use = memory_per_gpu(shape.arch, layout, seq_len, micro, cluster.precision, device.reserve_bytes)
    total = use.total
    capacity = device.memory_bytes
    shortfall = max(0.0, total - capacity)
    notes.steps += [
        Step("weights_bytes_per_gpu", "bytes/param · params of the busiest stage / (tp or ep) / ZeRO-3 shard",
             layout.text(), use.state.weights, "B per GPU", "calc.layout.model_state (ZeRO, arXiv 1910.02054)"),
        Step("activations_bytes_per_gpu", "tokens/(cp·tp) · (in-flight layers · bytes per layer + logits)",
             f"{layout.micro_batch} · {seq_len} / ({layout.cp} · {layout.tp}), {micro} micro-batches",
             use.activations, "B per GPU", "calc.layout (Korthikanti et al. 2022 adapted)"),
        Step("memory_used_bytes_per_gpu", "weights + gradients + optimizer + activations + framework allowance",
             f"{fmt(use.state.weights)} + {fmt(use.state.gradients)} + {fmt(use.state.optimizer)} + "
             f"{fmt(use.activations)} + {fmt(use.reserve)}", total, "B per GPU", "sum"),
    ]
    notes.assumptions.append(
        f"memory: AdamW 2+2+12 B/param{' (+1 B FP8 weight copy)' if cluster.precision in ('fp8', 'fp4') else ''}, "
        "sequence parallelism with tp, activations per Korthikanti et al. adapted to gated MLPs, GQA and flash "
        "attention, logits of the loss on the last stage")
    if not total <= capacity:
        gib = 2.0**30
        notes.warnings.append(
            f"does not fit: {total / gib:,.1f} GiB per GPU needed, {shortfall / gib:,.1f} GiB more than the "
            f"{capacity / gib:,.1f} GiB of {device.id}")
    if shape.arch.heads % layout.tp:
        notes.warnings.append(f"{shape.arch.heads} attention heads do not split evenly over tp {layout.tp}")
    return {"weights_bytes_per_gpu": use.state.weights, "gradients_bytes_per_gpu": use.state.gradients,
            "optimizer_bytes_per_gpu": use.state.optimizer, "activations_bytes_per_gpu": use.activations,
            "reserved_bytes_per_gpu": use.reserve, "memory_used_bytes_per_gpu": total, "fits": total <= capacity,
            "shortfall_bytes_per_gpu": shortfall}
