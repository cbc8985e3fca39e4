"""Sweep benchmark: wall time of a 10,000-point sweep of each calculator, JSON output.

    python benchmarks/sweep.py

Each sweep multiplies two 100-value lists (the shared runner's list syntax), runs through the
real CLI in a subprocess, and must finish in a few seconds on the 2-core reference machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def values(start: float, step: float, count: int = 100, unit: str = "") -> str:
    return ",".join(f"{start + i * step:g}{unit}" for i in range(count))


SWEEPS = {
    "kv-cache": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "8",
                 "--context", values(1000, 1000), "--batch", values(1, 1)],
    "train-cost": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm",
                   "--tokens", values(1e11, 1e11), "--gpus", values(256, 256)],
    "inference-throughput": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "8",
                             "--batch", values(1, 1), "--prompt", values(128, 128)],
    "allreduce-time": ["--system", "dgx-h100", "--inter", "ib-ndr",
                       "--size", values(1e6, 1e7, unit="B"), "--gpus", values(8, 8)],
    "cluster-power": ["--gpu", "h100-sxm", "--system", "dgx-h100",
                      "--gpus", values(8, 8), "--pue", values(1.05, 0.005)],
    "fab-cost": ["--node", "n4", "--die-area", values(100, 7), "--defect-density", values(0.01, 0.002)],
    "tco": ["--gpu", "h100-sxm", "--gpus", values(1024, 1024), "--utilization", values(0.3, 0.007)],
}


def run(command: str, args: list[str]) -> tuple[float, int, str]:
    argv = [sys.executable, "-m", "aistack_cli", command, *args, "--format", "json"]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        return elapsed, 0, proc.stderr.strip()
    return elapsed, len(json.loads(proc.stdout)["rows"]), ""


def main() -> int:
    from aistack_cli.commands import CALCULATORS

    available = {name.replace("_", "-") for name in CALCULATORS}
    worst = 0.0
    for command, args in SWEEPS.items():
        if command not in available:
            continue
        elapsed, rows, problem = run(command, args)
        worst = max(worst, elapsed)
        note = f"  ERROR: {problem}" if problem else ""
        print(f"{command:22s} {rows:6d} points in {elapsed:5.2f} s{note}")
    print(f"slowest: {worst:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
