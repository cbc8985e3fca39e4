"""``aistack allreduce-time``: collective time on a real fabric, reported the way nccl-tests does."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.collectives import (ALGORITHMS, IN_NETWORK_EFFICIENCY, OPS, SCALE_OUT_EFFICIENCY,
                                          SCALE_UP_EFFICIENCY, Efficiency, Fabric, Tier, collective_time,
                                          mesh_bytes_per_s, unavailable)
from aistack_cli.calc.common import result_values
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

Text = Optional[str]
ALGORITHM_CHOICES = ("auto", *ALGORITHMS)
MESH_FAMILIES = ("infinity-fabric", "gaudi-roce")  # switchless full meshes: links split evenly over peers
OP_ALIASES = {"allreduce": "all-reduce", "allgather": "all-gather", "reducescatter": "reduce-scatter",
              "bcast": "broadcast", "alltoall": "all-to-all"}
COLUMNS = ["algorithm", "time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "bottleneck"]
EFFICIENCY_NOTES = (
    f"scale-up efficiency {SCALE_UP_EFFICIENCY:g} of the NVLink rate (default; nccl-tests ring busbw: "
    "8x H100 ~370 and 8x H200 367 of 450 GB/s, 8x A100 ~230 of 300, 8x B200 682 of 900)",
    f"scale-out efficiency {SCALE_OUT_EFFICIENCY:g} of the NIC rate (default; nccl-tests busbw: DGX A100 "
    "8x HDR 192 of 200 GB/s, NDR 46-48 of 50 GB/s per NIC)",
    f"NVLink SHARP (NVLS) efficiency {IN_NETWORK_EFFICIENCY:g} of the NVLink rate as algbw (default; NVLS "
    "algbw: 8x H100/H200 ~275 of 450 GB/s, 8x B200 479 of 900, NVL72 431 of 900)",
)


@calculator("allreduce-time",
            help="Collective time, algbw and busbw (as nccl-tests reports them) on a scale-up and scale-out fabric.",
            columns=COLUMNS)
def allreduce_time(
    catalog,
    size: Annotated[Text, typer.Option("--size", "--sizes", help="Message size S as nccl-tests counts it, e.g. 1GiB; "
                                       "a list or range such as 8:8G:2 sweeps it (all-gather/reduce-scatter: the "
                                       "whole array; all-to-all: one GPU's buffer).")] = None,
    gpus: Annotated[Text, typer.Option(help="GPUs taking part (default: the --system's GPUs).")] = None,
    gpus_per_node: Annotated[Text, typer.Option(help="GPUs per scale-up domain (default: the --system's, else the "
                                                "accelerator's scale-up domain; NVL72 is one domain of 72).")] = None,
    system: Annotated[Text, typer.Option(help="System id, e.g. dgx-h100 or gb200-nvl72: sets GPU, fabrics and "
                                         "NICs.")] = None,
    gpu: Annotated[Text, typer.Option(help="Accelerator id, e.g. h100-sxm (default: the --system's).")] = None,
    intra: Annotated[Text, typer.Option(help="Scale-up interconnect id, e.g. nvswitch-3 (default: the system's or "
                                        "accelerator's).")] = None,
    inter: Annotated[Text, typer.Option(help="Scale-out interconnect id, e.g. ib-ndr, ib-xdr, roce-400g "
                                        "(default: the system's).")] = None,
    nics_per_node: Annotated[Text, typer.Option(help="Scale-out NICs per domain (default: the system's, else one "
                                                "per GPU).")] = None,
    algorithm: Annotated[str, typer.Option(help="ring, tree, hierarchical, in-network, pairwise (all-to-all) or "
                                           "auto (the fastest).")] = "auto",
    op: Annotated[str, typer.Option(help="all-reduce, all-gather, reduce-scatter, broadcast or "
                                    "all-to-all.")] = "all-reduce",
    efficiency: Annotated[Text, typer.Option(help=f"Achieved fraction of every link rate (defaults: scale-up "
                                             f"{SCALE_UP_EFFICIENCY:g}, scale-out {SCALE_OUT_EFFICIENCY:g}, "
                                             f"in-network {IN_NETWORK_EFFICIENCY:g}).")] = None,
    intra_latency: Annotated[Text, typer.Option(help="Scale-up latency per ring/tree hop, e.g. 3.4us (default: the "
                                                "sheet's; in-network uses NCCL's NVLS figure).")] = None,
    inter_latency: Annotated[Text, typer.Option(help="Scale-out latency per ring/tree hop, e.g. 14us (default: the "
                                                "sheet's; in-network uses NCCL's SHARP figure).")] = None,
) -> Point:
    size_bytes = _size(size)
    op_name = _choice(op, "--op", OPS, OP_ALIASES)
    wanted = _choice(algorithm, "--algorithm", ALGORITHM_CHOICES)
    fabric, fabric_inputs, notes, warnings = _fabric(catalog, locals())
    if wanted != "auto" and (reason := unavailable(wanted, op_name, fabric)):
        raise InputError(f"--algorithm {wanted}: {reason}")
    result = collective_time(op_name, size_bytes, fabric, wanted)
    if not all(math.isfinite(v) for v in (result.time_s, result.algbw_bytes_per_s, result.busbw_bytes_per_s)):
        raise InputError("--size/--efficiency: these inputs give no finite time; check their magnitudes")
    inputs = {"op": op_name, "size_bytes": size_bytes, **fabric_inputs, "requested_algorithm": wanted}
    notes = [*_efficiency_notes(efficiency, fabric.nodes, result), *notes, *result.assumptions]
    return Point(inputs, result_values(result), notes, warnings, list(result.steps))


def _fabric(catalog, opts: dict):
    """The fabric from --system, --gpu and the fabric options; its inputs, notes and warnings."""
    sys_sheet = catalog.get("system", opts["system"]) if opts["system"] else None
    accelerator = _accelerator(catalog, opts["gpu"], sys_sheet)
    gpus = _gpus(opts["gpus"], sys_sheet)
    per_node = _gpus_per_node(opts["gpus_per_node"], gpus, accelerator, sys_sheet)
    nodes = gpus // per_node
    up, mesh_notes, up_inputs = _scale_up(catalog, opts["intra"], opts["intra_latency"], accelerator, sys_sheet,
                                          per_node)
    out, nics, out_inputs = _scale_out(catalog, opts["inter"], opts["inter_latency"], opts["nics_per_node"],
                                       per_node, nodes, sys_sheet)
    eff = _efficiency(opts["efficiency"])
    inputs = {"gpus": gpus, "gpus_per_node": per_node, "nodes": nodes, "system": sys_sheet.id if sys_sheet else None,
              "gpu": accelerator.id, **up_inputs, **out_inputs, "scale_up_efficiency_fraction": eff.scale_up,
              "scale_out_efficiency_fraction": eff.scale_out, "in_network_efficiency_fraction": eff.in_network}
    notes = [*mesh_notes, *_domain_notes(sys_sheet, per_node, nodes, out_inputs)]
    return (Fabric(gpus, per_node, up, out, nics, eff), inputs, notes,
            _warnings(accelerator, sys_sheet, per_node))


# ---- parsing -----------------------------------------------------------------------------

def _size(text: str | None) -> float:
    if text is None:
        raise InputError("--size: give the message size, e.g. --size 1GiB, or sweep it with --sizes 8:8G:2")
    value = units.positive(text, "bytes", "--size")
    if value < 1:
        raise InputError(f"--size: at least 1 byte, got {text!r}")
    return value


def _choice(text: str, flag: str, choices: tuple[str, ...], aliases: dict[str, str] | None = None) -> str:
    key = text.strip().lower().replace("_", "-")
    key = (aliases or {}).get(key.replace("-", ""), key)
    if key not in choices:
        raise InputError(f"{flag}: unknown value {text!r}; expected one of {', '.join(choices)}")
    return key


def _gpus(text: str | None, sys_sheet) -> int:
    if text is None:
        if sys_sheet is None:
            raise InputError("--gpus: give the number of GPUs taking part, e.g. --gpus 16 (or a --system)")
        if sys_sheet.accelerators < 2:
            raise InputError(f"--gpus: {sys_sheet.id} holds one GPU; a collective needs at least 2")
        return sys_sheet.accelerators
    return units.integer(text, "--gpus", minimum=2)


def _accelerator(catalog, gpu: str | None, sys_sheet):
    if gpu is None and sys_sheet is None:
        raise InputError("--gpu: give the accelerator, e.g. --gpu h100-sxm, or a --system such as dgx-h100")
    return catalog.get("accelerator", gpu or sys_sheet.accelerator)


def _gpus_per_node(text: str | None, gpus: int, accelerator, sys_sheet) -> int:
    if text is not None:
        per_node = units.integer(text, "--gpus-per-node")
        if per_node > gpus:
            raise InputError(f"--gpus-per-node: {per_node} per domain but only {gpus} GPUs take part")
    else:
        domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        per_node = min(gpus, max(1, domain))
    if gpus % per_node:
        raise InputError(f"--gpus: {gpus} GPUs do not fill whole scale-up domains of {per_node}; "
                         "give a multiple of it, or set --gpus-per-node")
    return per_node


def _scale_up(catalog, intra: str | None, latency: str | None, accelerator, sys_sheet, per_node: int):
    """The scale-up tier: the GPU's own link rate, capped by the fabric's per-device figure
    (and, on a switchless mesh, by the links that reach the GPUs taking part)."""
    intra_id = intra or (sys_sheet.scale_up_interconnect if sys_sheet else accelerator.scale_up_interconnect)
    if not intra_id:
        raise InputError(f"--intra: {accelerator.id} has no scale-up interconnect in its sheet; give one, e.g. pcie-5")
    sheet = catalog.get("interconnect", intra_id)
    rate = min(r for r in (accelerator.scale_up_bandwidth_bytes_per_s, sheet.device_bandwidth_bytes_per_s) if r)
    notes = []
    if sheet.family in MESH_FAMILIES:
        mesh = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        meshed = mesh_bytes_per_s(rate, per_node, mesh)
        if meshed < rate:
            notes.append(f"{sheet.id} is a direct mesh of {mesh}: {per_node} GPUs reach each other over "
                         f"{per_node - 1}/{mesh - 1} of each GPU's links")
        rate = meshed
    alpha = sheet.latency_s if latency is None else units.non_negative(latency, "seconds", "--intra-latency")
    tier = Tier(sheet.id, rate, alpha, sheet.in_network_reduction)
    return tier, notes, {"intra": sheet.id, "scale_up_bandwidth_bytes_per_s": rate, "intra_latency_s": alpha,
                         "intra_in_network_reduction": sheet.in_network_reduction}


def _scale_out(catalog, inter, latency, nics_text, per_node, nodes, sys_sheet):
    """The scale-out tier, its NICs per domain, and the inputs to report (None in one domain)."""
    inter_id = inter or (sys_sheet.network_interconnect if sys_sheet else None)
    if inter_id is None:
        if nodes > 1:
            raise InputError(f"--inter: {nodes} scale-up domains need a scale-out fabric, e.g. --inter ib-ndr")
        return None, 0.0, {"inter": None, "nics_per_node": None, "nic_bandwidth_bytes_per_s": None,
                           "inter_latency_s": None, "inter_in_network_reduction": None}
    sheet = catalog.get("interconnect", inter_id)
    own = sys_sheet is not None and sheet.id == sys_sheet.network_interconnect
    rate = sys_sheet.nic_bandwidth_bytes_per_s if own else sheet.device_bandwidth_bytes_per_s
    alpha = sheet.latency_s if latency is None else units.non_negative(latency, "seconds", "--inter-latency")
    nics = _nics(nics_text, per_node, sys_sheet)
    tier = Tier(sheet.id, rate, alpha, sheet.in_network_reduction)
    return tier, nics, {"inter": sheet.id, "nics_per_node": nics, "nic_bandwidth_bytes_per_s": rate,
                        "inter_latency_s": alpha, "inter_in_network_reduction": sheet.in_network_reduction}


def _nics(text: str | None, per_node: int, sys_sheet) -> float:
    """NICs per domain: given, else the system's NICs per GPU times the domain, else one per GPU."""
    if text is not None:
        return units.integer(text, "--nics-per-node")
    if sys_sheet is None:
        return per_node
    nics = sys_sheet.nics * per_node / sys_sheet.accelerators
    return int(nics) if nics.is_integer() else nics


def _efficiency(text: str | None) -> Efficiency:
    if text is None:
        return Efficiency()
    value = units.fraction(text, "--efficiency")
    if value < 0.01:
        raise InputError(f"--efficiency: below 1% of the link rate is not a fabric, got {text!r}")
    return Efficiency(value, value, value)


def _efficiency_notes(text: str | None, nodes: int, result) -> list[str]:
    """The defaults this result leans on, with their evidence (or the value given)."""
    if text is not None:
        return [f"efficiency {units.parse(text, 'fraction'):g} of every link rate (given)"]
    scale_up, scale_out, nvls = EFFICIENCY_NOTES
    return [scale_up, *([scale_out] if nodes > 1 else []), *([nvls] if result.in_network_time_s else [])]


# ---- notes -------------------------------------------------------------------------------

def _domain_notes(sys_sheet, per_node: int, nodes: int, out_inputs: dict) -> list[str]:
    notes = []
    if sys_sheet and sys_sheet.nodes > 1 and per_node > sys_sheet.accelerators // sys_sheet.nodes:
        notes.append(f"{sys_sheet.id}: one scale-up domain of {per_node} GPUs spans its "
                     f"{sys_sheet.nodes} trays; counted as one node")
    if nodes > 1 and sys_sheet is None and out_inputs["nics_per_node"] == per_node:
        notes.append("one scale-out NIC per GPU (rail-optimised; set --nics-per-node)")
    if nodes > 1 and sys_sheet and out_inputs["inter"] != sys_sheet.network_interconnect:
        notes.append(f"{out_inputs['inter']} NICs at their own rate instead of {sys_sheet.id}'s "
                     f"{sys_sheet.network_interconnect}")
    return notes


def _warnings(accelerator, sys_sheet, per_node: int) -> list[str]:
    warnings = []
    if sys_sheet and accelerator.id != sys_sheet.accelerator:
        warnings.append(f"{sys_sheet.id} ships with {sys_sheet.accelerator}; computing with {accelerator.id}")
    domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
    if per_node > domain:
        warnings.append(f"{per_node} GPUs per scale-up domain, but {sys_sheet.id if sys_sheet else accelerator.id}'s "
                        f"domain holds {domain}")
    return warnings
