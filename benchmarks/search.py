"""Layout-search benchmark: candidate layouts enumerated and ranked by `train-cost --search`.

    python benchmarks/search.py

Each search runs through the real CLI in a subprocess (start-up included) with JSON output. The
goal (issue 16): at least 100,000 candidate layouts in at most 10 s on the 2-core reference
machine. Wall time depends on what else the machine runs; CPU time is printed beside it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SEARCHES = {
    # DeepSeek-V3 at 16k context on 8,192 H100: tp x cp x pp x ep x vpp x micro-batch x ZeRO x recompute.
    "deepseek-v3, 8,192 H100, 16k context": [
        "--model", "deepseek-v3", "--tokens", "14.8T", "--gpu", "h100-sxm", "--gpus", "8192", "--seq-len", "16384",
        "--global-batch", "8192"],
    # The example: Llama 3.1 405B on 16,384 H100 with the default batch rule.
    "llama-3.1-405b, 16,384 H100": [
        "--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm", "--gpus", "16384"],
}
GOAL_CANDIDATES, GOAL_SECONDS = 100_000, 10.0


def run(args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, layouts searched, problem) of one search through the CLI."""
    argv = [sys.executable, "-m", "aistack_cli", "train-cost", *args, "--search", "--format", "json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        return wall, cpu, 0, proc.stderr.strip()
    rows = json.loads(proc.stdout)["rows"]
    return wall, cpu, rows[0]["results"]["layouts_searched"], ""


def main() -> int:
    ok = True
    for name, args in SEARCHES.items():
        wall, cpu, searched, problem = run(args)
        note = f"  ERROR: {problem}" if problem else ""
        print(f"{name:40s} {searched:8,d} layouts in {wall:5.2f} s wall, {cpu:5.2f} s CPU "
              f"({searched / max(cpu, 1e-9):,.0f} per CPU-second){note}")
        if searched >= GOAL_CANDIDATES:
            ok = ok and wall <= GOAL_SECONDS
    print(f"goal: >= {GOAL_CANDIDATES:,} layouts in <= {GOAL_SECONDS:g} s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
