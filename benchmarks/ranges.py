"""--ranges benchmark: wall time of 1,000 Monte Carlo samples of one point, per calculator.

    python benchmarks/ranges.py

Two figures per calculator, median of 3 runs: the whole command through the real CLI in a
subprocess (start-up included) with ``--ranges --samples 1000 -f json``, and the same command
without ``--ranges``; their difference is what the 1,000 samples cost. The target is <= 1 s
for the whole command on the 2-core reference machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

POINTS = {
    "train-cost": ["--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024"],
    "inference-throughput": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "8", "--batch", "64"],
    "cluster-power": ["--gpu", "h100-sxm", "--gpus", "1024"],
    "allreduce-time": ["--system", "dgx-h100", "--inter", "ib-ndr", "--gpus", "64", "--size", "1GB"],
    "fab-cost": ["--node", "n4", "--die-area", "800"],
    "kv-cache": ["--model", "llama-3.1-70b", "--context", "128k"],
    "tco": ["--gpu", "h100-sxm", "--gpus", "1024"],
}
REPEATS = 3


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - start, proc.stderr.strip() if proc.returncode else ""


def main() -> int:
    from aistack_cli.commands import CALCULATORS

    available = {name.replace("_", "-") for name in CALCULATORS}
    worst = 0.0
    print(f"{'command':22s} {'plain':>7s} {'--ranges':>9s} {'samples cost':>13s}")
    for command, args in POINTS.items():
        if command not in available:
            continue
        base = [sys.executable, "-m", "aistack_cli", command, *args, "-f", "json"]
        plain = statistics.median(timed(base)[0] for _ in range(REPEATS))
        runs = [timed([*base, "--ranges", "--samples", "1000"]) for _ in range(REPEATS)]
        problem = next((p for _, p in runs if p), "")
        ranged = statistics.median(t for t, _ in runs)
        worst = max(worst, ranged)
        note = f"  ERROR: {problem}" if problem else ""
        print(f"{command:22s} {plain:6.2f}s {ranged:8.2f}s {ranged - plain:12.2f}s{note}")
    print(f"slowest --ranges run (1,000 samples, start-up included): {worst:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
