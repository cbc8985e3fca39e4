"""Start-up benchmark: median wall time of a JSON command beside `python -c "import typer"`.

    python benchmarks/startup.py [--runs 21]

Both run in the same Python, in the same loop, alternating, with bytecode caching on (as for
an installed package; pip writes .pyc files at install) after one warm-up run each. The issue
target is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMAND = [sys.executable, "-m", "aistack_cli", "kv-cache", "--model", "llama-3.1-70b",
           "--context", "8k", "--format", "json"]
BASELINES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
}


def wall_s(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    targets = {**BASELINES, "aistack kv-cache ... --format json": COMMAND}
    for argv in targets.values():
        wall_s(argv, env)  # warm-up: writes bytecode, fills the page cache
    times: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.runs):
        for name, argv in targets.items():
            times[name].append(wall_s(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{median * 1000:7.1f} ms  {name}")
    ratio = medians["aistack kv-cache ... --format json"] / medians['python -c "import typer"']
    print(f"ratio to typer import: {ratio:.2f} (target <= 1.5), median of {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
