"""``aistack allreduce-time``: collective time on a real fabric, reported the way nccl-tests does."""

from __future__ import annotations

from aistack_cli.calc.collectives import ALGORITHMS, OPS, collective_time, result_values, unavailable
from aistack_cli.calc.common import BYTES_PER_ELEMENT
from aistack_cli.commands.fabric import build_fabric
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

ALGORITHM_CHOICES = ("auto", *ALGORITHMS)
PROTOCOL_CHOICES = ("auto", "ll", "ll128", "simple")
PROTOCOL_NAMES = {"auto": "auto", "ll": "LL", "ll128": "LL128", "simple": "Simple"}
DTYPES = ("fp64", "fp32", "bf16", "fp16", "fp8", "int8")
OP_ALIASES = (("allreduce", "all-reduce"), ("allgather", "all-gather"), ("reducescatter", "reduce-scatter"),
              ("bcast", "broadcast"), ("alltoall", "all-to-all"), ("sendrecv", "send-recv"), ("p2p", "send-recv"))
ALGORITHM_ALIASES = (("in-network", "nvls"), ("sharp", "collnet"), ("nvlstree", "nvls-tree"),
                     ("collnet-chain", "collnet"), ("nvls-sharp", "nvls"))
# The nccl-tests columns that fit 80 characters; count and dtype are in every machine format.
COLUMNS = ["time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "algorithm", "protocol"]

OPTIONS = [
    Opt("size", "nccl_bytes", "Message size S as nccl-tests counts it (a bare 128M or 8G is binary, as nccl-tests "
        "reads -b/-e), e.g. 1GiB; a range such as 8:8G:2 sweeps it like nccl-tests' -b -e -f (all-gather and "
        "reduce-scatter: the whole array; all-to-all: one GPU's send buffer).", flags=("--sizes",),
        field="size_bytes", lo=1, hi=2**50),
    Opt("op", "word", "Collective.", default="all-reduce", choices=OPS, aliases=OP_ALIASES),
    Opt("dtype", "word", "Element type (nccl-tests -d); sets the count column.", default="fp32", choices=DTYPES),
    Opt("gpus", "int", "GPUs taking part (default: the --system's GPUs).", lo=2, hi=1e7),
    Opt("gpus_per_node", "int", "GPUs per scale-up domain (default: the --system's, else the accelerator's scale-up "
        "domain; NVL72 is one domain of 72).", flags=("--gpus-per-domain",), field="gpus_per_domain", lo=1, hi=1e5),
    Opt("system", "id", "System id, e.g. dgx-h100 or gb200-nvl72: sets GPU, fabrics and NICs.", ids="system"),
    Opt("gpu", "id", "Accelerator id, e.g. h100-sxm (default: the --system's).", ids="accelerator"),
    Opt("intra", "id", "Scale-up interconnect id, e.g. nvswitch-3 or pcie-5 (default: the system's or "
        "accelerator's).", ids="interconnect"),
    Opt("inter", "id", "Scale-out interconnect id, e.g. ib-ndr, ib-xdr, roce-400g, efa-v3 (default: the system's).",
        ids="interconnect"),
    Opt("nics_per_node", "int", "Scale-out NICs per domain (default: the system's, else one per GPU).",
        flags=("--nics-per-domain",), field="nics_per_domain", lo=1, hi=1e5),
    Opt("oversubscription", "ratio", "Scale-out taper: cross-domain bandwidth is the NICs' divided by this (1: a "
        "non-blocking rail-optimised fat tree).", default=1.0, lo=1, hi=64),
    Opt("sharp", "flag", "Allow InfiniBand in-network reduction (SHARP, NCCL's CollNet) where the scale-out sheet "
        "has it; off by default, as it needs SHARP switches and NCCL's plugin."),
    Opt("algorithm", "word", "Algorithm (auto: the one NCCL's tuner would pick, the lowest predicted time).",
        default="auto", choices=ALGORITHM_CHOICES, aliases=ALGORITHM_ALIASES, field="requested_algorithm"),
    Opt("protocol", "word", "NCCL protocol (auto: the fastest for the algorithm).", default="auto",
        choices=PROTOCOL_CHOICES, field="requested_protocol"),
    Opt("efficiency", "fraction", "Achieved fraction of every link rate (default: measured per fabric generation, "
        "specs/defaults/collectives.yaml).", lo=0.01, hi=1),
    Opt("intra_latency", "seconds", "Scale-up latency per hop for every protocol, e.g. 3.4us (default: NCCL's "
        "tables per algorithm and protocol).", field="intra_latency_s", lo=0, hi=1),
    Opt("inter_latency", "seconds", "Scale-out latency per hop for every protocol, e.g. 14us (default: NCCL's "
        "tables).", field="inter_latency_s", lo=0, hi=1),
    Opt("network_latency", "seconds", "The network's own latency per hop beyond NCCL's InfiniBand figures (NCCL "
        "latencyInter; default: the fabric's default sheet, else 0).", field="network_latency_s", lo=0, hi=1),
]
EXAMPLES = (
    "aistack allreduce-time --size 1GiB --gpus 1024 --system dgx-h100 --inter ib-ndr",
    "aistack allreduce-time --sizes 8:8G:2 --gpus 8 --system dgx-h100",
    "aistack allreduce-time --op all-to-all --size 256MiB --gpus 64 --system dgx-h100 --inter ib-ndr",
    "aistack allreduce-time --size 1GiB --gpus 16 --system dgx-a100 --inter ib-hdr --sharp",
)


@calculator("allreduce-time",
            help="Collective time, algbw and busbw (as nccl-tests reports them) from NCCL's algorithms and protocols "
                 "on a scale-up and scale-out fabric.",
            options=OPTIONS, examples=EXAMPLES, columns=COLUMNS)
def allreduce_time(catalog, o) -> Point:
    if o.size is None:
        raise InputError("--size: give the message size, e.g. --size 1GiB, or sweep it with --sizes 8:8G:2")
    built = build_fabric(catalog, gpu=o.gpu, gpus=o.gpus, system=o.system, gpus_per_domain=o.gpus_per_node,
                         intra=o.intra, inter=o.inter, nics_per_domain=o.nics_per_node, sharp=bool(o.sharp),
                         oversubscription=o.oversubscription, efficiency=o.efficiency,
                         intra_latency_s=o.intra_latency, inter_latency_s=o.inter_latency,
                         network_latency_s=o.network_latency)
    protocol = PROTOCOL_NAMES[o.protocol]
    if o.algorithm != "auto":
        reason = unavailable(o.algorithm, o.op, built.fabric)
        if reason:
            hint = "; add --sharp where the fabric has it" if "SHARP is not enabled" in reason else ""
            raise InputError(f"--algorithm {o.algorithm}: {reason}{hint}")
    try:
        result = collective_time(o.op, o.size, built.fabric, o.algorithm, protocol, BYTES_PER_ELEMENT[o.dtype])
    except ValueError as exc:
        raise InputError(f"--protocol {o.protocol}: {exc}") from None
    inputs = {"op": o.op, "size_bytes": o.size, "dtype": o.dtype, **built.inputs, "requested_algorithm": o.algorithm,
              "requested_protocol": o.protocol}
    notes = [*result.assumptions, *built.notes]
    return Point(inputs, result_values(result), notes, [*built.warnings, *result.warnings], result.steps)
