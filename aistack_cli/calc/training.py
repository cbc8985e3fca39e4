"""Training run: FLOP, time, money, energy, memory per accelerator and the cost of failures.

Model FLOP are 6·N·D with N the parameters active per token (Kaplan et al. 2020, arXiv
2001.08361, §2.1: forward 2N, backward 4N per token). The attention-score term of PaLM
(Chowdhery et al. 2022, arXiv 2204.02311, appendix B) is reported beside it, never added to the
headline. Time follows from model FLOP utilisation (MFU) against the DENSE peak at the training
precision. Memory per accelerator follows ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054) for
model state and Korthikanti et al. 2022 (arXiv 2205.05198) for activations. Failures follow the
first-order checkpoint/restart model of Young (1974) and Daly (2006).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc import power as power_calc
from aistack_cli.calc.common import Step, fmt, host_overhead_w
from aistack_cli.errors import InputError

SRC_6ND = "Kaplan et al. 2020 (arXiv 2001.08361) §2.1: forward 2N + backward 4N FLOP per token"
SRC_PALM = "Chowdhery et al. 2022 (PaLM, arXiv 2204.02311) appendix B: 12·L·H·Q·T attention FLOP per token"
SRC_MFU = "MFU = model FLOP/s ÷ (n · dense peak) (PaLM appendix B)"
SRC_ZERO = "Rajbhandari et al. 2020 (ZeRO, arXiv 1910.02054) §3: mixed-precision Adam state per parameter"
SRC_ACT = ("Korthikanti et al. 2022 (arXiv 2205.05198) §4: s·b·h·(34 + 5·a·s/h) bytes per layer, "
           "÷ t with sequence parallelism; 1F1B's first stage holds ≈ L layers")
SRC_YOUNG = "Young 1974 (CACM 17(9)) / Daly 2006 (FGCS 22(3)): τ ≈ sqrt(2·δ·M)"
SRC_LOST = "Daly 2006 first order: checkpoint writes δ/τ, lost work τ/(2M), restarts R/M"
SRC_PUE = "The Green Grid PUE (ISO/IEC 30134-2): facility energy = IT energy · PUE"

# Bytes per parameter of model state (weights, gradients, optimizer). Mixed precision keeps
# 16-bit weights and gradients plus fp32 master weights, momentum and variance (ZeRO §3, K = 12).
# Full-precision training keeps 4-byte weights and gradients plus the two Adam moments.
STATE_BYTES = {"mixed": (2.0, 2.0, 12.0), "full": (4.0, 4.0, 8.0)}
FULL_PRECISION = ("fp32", "tf32")
RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class Shape:
    """What the FLOP and the memory depend on; the architecture is optional (``--params``)."""

    params_total: float
    params_active: float
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    head_dim: int | None = None

    @property
    def has_architecture(self) -> bool:
        return None not in (self.layers, self.hidden_size, self.heads, self.head_dim)


@dataclass(frozen=True)
class Device:
    """One accelerator type as the run uses it: dense peak at the training precision."""

    id: str
    peak_flop_per_s: float
    memory_bytes: float
    tdp_w: float | None
    price_usd_per_hour: float | None
    scale_up_domain: int = 8  # tensor parallelism stays inside it when a layout is suggested


@dataclass(frozen=True)
class Cluster:
    """How many accelerators (given, or solved from ``target_s``) and how they are split."""

    mfu: float
    gpus: int | None = None
    target_s: float | None = None
    tp: int = 1
    pp: int = 1


@dataclass(frozen=True)
class Memory:
    precision: str = "bf16"
    zero: int = 1
    recompute: str = "selective"
    micro_batch: int = 1


@dataclass(frozen=True)
class Power:
    """Average draw as a fraction of the rated maximum, facility overhead and grid intensity.

    ``system_max_w`` and ``system_accelerators`` come from a system sheet (e.g. DGX H100) and add
    the host's share (CPUs, memory, NICs, fans) above the accelerators' TDP. A command that has
    resolved the whole system and its network passes ``system`` and ``fabric`` instead; the energy
    is then cluster-power's, for the same accelerator-hours (calc.power, one formula).
    """

    gpu_power_fraction: float
    pue: float
    carbon_g_per_kwh: float
    system_max_w: float | None = None
    system_accelerators: int | None = None
    accounting: str = "metered"
    carbon_market_g_per_kwh: float | None = None
    system: power_calc.SystemSpec | None = None
    fabric: power_calc.Fabric | None = None


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
    wall_clock_s: float | None
    gpu_hours: float | None
    tokens_per_s: float | None
    cost_usd: float | None
    average_power_w: float | None
    energy_wh: float | None
    co2_kg: float | None
    co2_market_kg: float | None
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


# ---- energy --------------------------------------------------------------------------------

def host_w_per_gpu(system_max_w: float, accelerators: int, tdp_w: float) -> float:
    """A system's rated power above its accelerators' TDP, per accelerator (CPUs, NICs, fans...)."""
    return max(0.0, host_overhead_w(system_max_w, accelerators, tdp_w) / accelerators)


def average_power_w(gpus: int, watts_per_gpu_all_in: float) -> float:
    """Facility power while training: n · the all-in facility power of one accelerator."""
    return gpus * watts_per_gpu_all_in


co2_kg = power_calc.co2_kg


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


# ---- memory --------------------------------------------------------------------------------

def state_bytes_per_param(precision: str) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per parameter for AdamW at this precision."""
    return STATE_BYTES["full" if precision in FULL_PRECISION else "mixed"]


def model_state_bytes(params: float, precision: str, tp: int, pp: int, dp: int,
                      zero: int) -> tuple[float, float, float]:
    """Per-accelerator weights, gradients and optimizer bytes.

    Tensor and pipeline parallelism split the parameters over t·p; ZeRO stage 1 shards the
    optimizer over the data-parallel group, stage 2 also the gradients, stage 3 also the weights.
    """
    per_gpu = params / (tp * pp)
    w, g, o = state_bytes_per_param(precision)
    return (w * per_gpu / (dp if zero >= 3 else 1),
            g * per_gpu / (dp if zero >= 2 else 1),
            o * per_gpu / (dp if zero >= 1 else 1))


def activation_coefficient(shape: Shape, seq_len: int, recompute: str) -> float:
    """Bytes per s·b·h per layer: 34 + 5·a·s/h stored, 34 with selective recompute, 2 with full."""
    if recompute == "full":
        return 2.0
    if recompute == "selective":
        return 34.0
    return 34.0 + 5.0 * shape.heads * seq_len / shape.hidden_size


def activation_bytes(shape: Shape, seq_len: int, micro_batch: int, tp: int, recompute: str) -> float | None:
    """Activations held by the busiest accelerator: L · s·b·h/t · coefficient (16-bit)."""
    if not shape.has_architecture:
        return None
    per_layer = seq_len * micro_batch * shape.hidden_size / tp * activation_coefficient(shape, seq_len, recompute)
    return shape.layers * per_layer


# ---- the run -------------------------------------------------------------------------------

def train_cost(shape: Shape, tokens: float, seq_len: int, device: Device | None = None,
               cluster: Cluster | None = None, memory: Memory = Memory(),
               power: Power | None = None, failures: Failures = Failures()) -> TrainCostResult:
    """Everything a planner asks about one training run; without ``device`` only the FLOP."""
    notes = _Notes()
    out: dict = _flop(shape, tokens, seq_len, notes)
    if device is not None and cluster is not None:
        out.update(_time_and_money(out["total_flop"], tokens, device, cluster, notes))
        out.update(_energy(out, device, power, notes))
        out.update(_failures(out, failures, cluster, notes))
        out.update(_memory(shape, seq_len, device, cluster, out["gpus"], memory, notes))
        out.update(tensor_parallel=cluster.tp, pipeline_parallel=cluster.pp,
                   data_parallel=out["gpus"] // (cluster.tp * cluster.pp))
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
            f"at sequence length {seq_len:,} (reported as attention_flop_fraction, not added)")
    if shape.params_active < shape.params_total:
        notes.assumptions.append(
            f"mixture of experts: FLOP use the {human_count(shape.params_active)} parameters active per token; "
            f"memory holds all {human_count(shape.params_total)} (every expert; expert parallelism not modelled)")
    return {"total_flop": flop, "flop_per_token": per_token, "attention_flop_fraction": fraction}


def _time_and_money(flop: float, tokens: float, device: Device, cluster: Cluster, notes: _Notes) -> dict:
    peak, mfu = device.peak_flop_per_s, cluster.mfu
    solved = None
    gpus = cluster.gpus
    if cluster.target_s is not None:
        multiple = cluster.tp * cluster.pp
        solved = gpus = gpus_for_target(flop, cluster.target_s, peak, mfu, multiple)
        rounding = f", rounded up to a multiple of tp·pp = {multiple}" if multiple > 1 else ""
        notes.steps.append(Step(
            "gpus_solved", "ceil(total_flop / (target · peak · MFU))",
            f"ceil({fmt(flop)} / ({fmt(cluster.target_s)} · {fmt(peak)} · {fmt(mfu)})){rounding}",
            solved, "", "solve T = C ÷ (n · peak · MFU) for n"))
        notes.assumptions.append("GPU count solved for the in-run time; failures are not part of the target")
    seconds = wall_clock_s(flop, gpus, peak, mfu)
    gpu_hours = gpus * seconds / 3600.0
    notes.steps += [
        Step("wall_clock_s", "total_flop / (gpus · dense peak · MFU)",
             f"{fmt(flop)} / ({gpus} · {fmt(peak)} · {fmt(mfu)})", seconds, "s", SRC_MFU),
        Step("gpu_hours", "gpus · wall_clock_s / 3600", f"{gpus} · {fmt(seconds)} / 3600",
             gpu_hours, "GPU-h", "definition"),
    ]
    if mfu > 0.7:
        notes.warnings.append(f"MFU {mfu:.0%} is above any published large-run figure (PaLM 46.2%, Llama 3 38-43%)")
    cost = None
    if device.price_usd_per_hour is not None:
        cost = gpu_hours * device.price_usd_per_hour
        notes.steps.append(Step("cost_usd", "gpu_hours · price per GPU-hour",
                                f"{fmt(gpu_hours)} · {fmt(device.price_usd_per_hour)}", cost, "USD",
                                "rental arithmetic"))
    else:
        notes.warnings.append(f"no price: the {device.id} sheet has no dated price and none was given "
                              "(--price-per-gpu-hour); cost is not computed")
    return {"gpus": gpus, "gpus_solved": solved, "wall_clock_s": seconds, "gpu_hours": gpu_hours,
            "tokens_per_s": tokens / seconds, "cost_usd": cost}


def _energy(out: dict, device: Device, power: Power | None, notes: _Notes) -> dict:
    """Energy and CO2 of the run: cluster-power's facility power per accelerator (same accounting,
    same site; calc.power.facility_w_per_gpu) times the run's accelerator-hours, so both
    calculators agree by construction."""
    if power is None:
        return {}
    system = power.system or _system_of(device, power)
    if system is None:
        notes.warnings.append(f"the {device.id} sheet lists no TDP: energy and CO2 are not computed")
        return {}
    gpus = out["gpus"]
    gpu_hours = gpus * out["wall_clock_s"] / 3600.0
    draw = power_calc.Draw(power.gpu_power_fraction, power.accounting)
    it_w, facility_w, installed = power_calc.average_facility_power(
        gpus, system, draw, power.fabric if power.accounting == "metered" else None, power.pue)
    per_gpu = facility_w / installed
    watts = average_power_w(gpus, per_gpu)
    energy = per_gpu * gpu_hours
    market = power.carbon_g_per_kwh if power.carbon_market_g_per_kwh is None else power.carbon_market_g_per_kwh
    counted = ("load · (accelerators + hosts in whole systems) + network" if power.accounting == "metered"
               else "rated power of the accelerators")
    notes.steps += [
        Step("watts_per_gpu_all_in", f"IT power ({counted}) · PUE / accelerators installed",
             f"{fmt(it_w)} · {fmt(power.pue)} / {installed}", per_gpu, "W", "calc.power (the same formula as cluster-power); " + (
                 power_calc.SRC_TDP if power.accounting == "tdp" else power_calc.SRC_PUE)),
        Step("average_power_w", "gpus · watts_per_gpu_all_in", f"{gpus} · {fmt(per_gpu)}", watts, "W",
             "facility power while training"),
        Step("energy_wh", "watts_per_gpu_all_in · gpu_hours", f"{fmt(per_gpu)} · {fmt(gpu_hours)}", energy, "Wh",
             "definition"),
        Step("co2_kg", "energy_kwh · g/kWh / 1000", f"{fmt(energy / 1000)} · {fmt(power.carbon_g_per_kwh)} / 1000",
             co2_kg(energy, power.carbon_g_per_kwh), "kg", power_calc.SRC_SCOPE2 + ", location-based"),
        Step("co2_market_kg", "energy_kwh · market g/kWh / 1000", f"{fmt(energy / 1000)} · {fmt(market)} / 1000",
             co2_kg(energy, market), "kg", power_calc.SRC_SCOPE2 + ", market-based"),
    ]
    if power.accounting == "tdp":
        notes.assumptions.append("tdp accounting (as model cards count): accelerators at their rated power all the "
                                 "time; hosts, network and storage are not counted")
    elif power.system is None and power.system_max_w is None:
        notes.assumptions.append("accelerators only: host CPUs, memory, NICs and fans are not counted (give --system)")
    return {"average_power_w": watts, "energy_wh": energy, "co2_kg": co2_kg(energy, power.carbon_g_per_kwh),
            "co2_market_kg": co2_kg(energy, market)}


def _system_of(device: Device, power: Power) -> power_calc.SystemSpec | None:
    """The system from a sheet's rating (accelerators plus host share), or the accelerator alone."""
    if device.tdp_w is None:
        return None
    if power.system_max_w is None:
        return power_calc.SystemSpec(1, 1, device.tdp_w, 0.0, 0, None, device.tdp_w)
    overhead = max(0.0, host_overhead_w(power.system_max_w, power.system_accelerators, device.tdp_w))
    return power_calc.SystemSpec(power.system_accelerators, 1, device.tdp_w, overhead, 0, None, device.tdp_w)


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


def _memory(shape: Shape, seq_len: int, device: Device, cluster: Cluster, gpus: int, memory: Memory,
            notes: _Notes) -> dict:
    tp, pp = cluster.tp, cluster.pp
    dp = gpus // (tp * pp)
    weights, grads, optimizer = model_state_bytes(shape.params_total, memory.precision, tp, pp, dp, memory.zero)
    w, g, o = state_bytes_per_param(memory.precision)
    shard = f"{fmt(shape.params_total)} / ({tp} · {pp})"
    notes.steps += [
        Step("weights_bytes_per_gpu", f"{fmt(w)} B · params / (tp · pp)" + (" / dp" if memory.zero >= 3 else ""),
             f"{fmt(w)} · {shard}" + (f" / {dp}" if memory.zero >= 3 else ""), weights, "B per GPU", SRC_ZERO),
        Step("gradients_bytes_per_gpu", f"{fmt(g)} B · params / (tp · pp)" + (" / dp" if memory.zero >= 2 else ""),
             f"{fmt(g)} · {shard}" + (f" / {dp}" if memory.zero >= 2 else ""), grads, "B per GPU", SRC_ZERO),
        Step("optimizer_bytes_per_gpu", f"{fmt(o)} B · params / (tp · pp)" + (" / dp" if memory.zero >= 1 else ""),
             f"{fmt(o)} · {shard}" + (f" / {dp}" if memory.zero >= 1 else ""), optimizer, "B per GPU", SRC_ZERO),
    ]
    notes.assumptions.append(
        f"memory: AdamW, {fmt(w)}+{fmt(g)}+{fmt(o)} B/param, tp {tp} · pp {pp} · dp {dp}, ZeRO-{memory.zero}, "
        f"{memory.recompute} recompute, micro-batch {memory.micro_batch}"
        + (", sequence parallelism with tp" if tp > 1 else ""))
    activations = activation_bytes(shape, seq_len, memory.micro_batch, tp, memory.recompute)
    if activations is None:
        notes.warnings.append("activations need the architecture (--layers, --hidden-size, --heads): "
                              "memory per GPU and the fit are not computed")
        return {"weights_bytes_per_gpu": weights, "gradients_bytes_per_gpu": grads, "optimizer_bytes_per_gpu": optimizer}
    coefficient = activation_coefficient(shape, seq_len, memory.recompute)
    notes.steps.append(Step(
        "activations_bytes_per_gpu", "L · s · b · h / tp · coefficient",
        f"{shape.layers} · {seq_len} · {memory.micro_batch} · {shape.hidden_size} / {tp} · {fmt(coefficient)}",
        activations, "B per GPU", SRC_ACT))
    return _fit(weights, grads, optimizer, activations, device, shape, cluster, gpus, seq_len, memory, notes)


def _fit(weights, grads, optimizer, activations, device, shape, cluster, gpus, seq_len, memory, notes) -> dict:
    total = weights + grads + optimizer + activations
    fits = total <= device.memory_bytes
    shortfall = max(0.0, total - device.memory_bytes)
    notes.steps.append(Step("memory_used_bytes_per_gpu", "weights + gradients + optimizer + activations",
                            f"{fmt(weights)} + {fmt(grads)} + {fmt(optimizer)} + {fmt(activations)}",
                            total, "B per GPU", "sum; no allowance for framework buffers or fragmentation"))
    notes.assumptions.append("activations per Korthikanti et al. (GPT layer, 16-bit); no allowance for "
                             "CUDA/NCCL buffers or fragmentation")
    if not fits:
        gib = 2.0**30
        layout = smallest_fitting_layout(shape, seq_len, memory, gpus, device.memory_bytes,
                                         min(8, device.scale_up_domain))
        hint = (f"--tp {layout[0]} --pp {layout[1]} would fit" if layout else
                "no tp (within the scale-up domain) x pp layout fits: try --zero 3 or --recompute full")
        notes.warnings.append(
            f"does not fit: {total / gib:,.1f} GiB per GPU needed, {shortfall / gib:,.1f} GiB more than the "
            f"{device.memory_bytes / gib:,.1f} GiB of {device.id}; {hint}")
    if shape.heads % cluster.tp:
        notes.warnings.append(f"{shape.heads} attention heads do not split evenly over tp {cluster.tp}")
    return {"weights_bytes_per_gpu": weights, "gradients_bytes_per_gpu": grads, "optimizer_bytes_per_gpu": optimizer,
            "activations_bytes_per_gpu": activations, "memory_used_bytes_per_gpu": total, "fits": fits,
            "shortfall_bytes_per_gpu": shortfall}


def memory_per_gpu_bytes(shape: Shape, seq_len: int, memory: Memory, tp: int, pp: int, dp: int) -> float:
    """Model state plus activations on the busiest accelerator (needs the architecture)."""
    state = model_state_bytes(shape.params_total, memory.precision, tp, pp, dp, memory.zero)
    return sum(state) + activation_bytes(shape, seq_len, memory.micro_batch, tp, memory.recompute)


def smallest_fitting_layout(shape: Shape, seq_len: int, memory: Memory, gpus: int, capacity_bytes: float,
                            max_tp: int = 8, round_up: bool = False) -> tuple[int, int] | None:
    """Fewest model-parallel ranks tp·pp (powers of two, tp ≤ ``max_tp`` dividing the heads, pp ≤ layers) that fit.

    Ties go to the larger tp, which keeps the pipeline shorter. The GPU count must split into tp·pp
    groups, unless ``round_up`` (a solved count, later rounded up to a multiple of tp·pp). None when
    nothing fits.
    """
    best = None
    for tp in _powers_of_two(min(max_tp, gpus)):
        if shape.heads % tp:
            continue
        for pp in _powers_of_two(min(shape.layers, gpus // tp)):
            dp = _data_parallel(gpus, tp * pp, round_up)
            if dp and memory_per_gpu_bytes(shape, seq_len, memory, tp, pp, dp) <= capacity_bytes:
                key = (tp * pp, -tp)
                best = min(best, (key, (tp, pp))) if best else (key, (tp, pp))
                break
    return best[1] if best else None


def default_layout(shape: Shape, tokens: float, seq_len: int, device: Device, cluster: Cluster,
                   memory: Memory) -> tuple[int, int] | None:
    """The smallest fitting tp×pp for the run's GPU count: given, or solved from the target (before rounding)."""
    if not shape.has_architecture:
        return None
    gpus = cluster.gpus
    if gpus is None:
        flop = total_flop(shape.params_active, tokens)
        gpus = gpus_for_target(flop, cluster.target_s, device.peak_flop_per_s, cluster.mfu)
    return smallest_fitting_layout(shape, seq_len, memory, gpus, device.memory_bytes,
                                   min(8, device.scale_up_domain), round_up=cluster.gpus is None)


def _data_parallel(gpus: int, ranks: int, round_up: bool) -> int | None:
    """Data-parallel size for ``ranks`` model-parallel ranks; None when the count does not split."""
    if round_up:
        return math.ceil(gpus / ranks)
    return None if gpus % ranks else gpus // ranks


def _powers_of_two(limit: int) -> list[int]:
    return [2**k for k in range(int(math.log2(limit)) + 1)] if limit >= 1 else []
