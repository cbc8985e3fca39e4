"""Fit of the serving efficiency defaults: each calibration case solved for its efficiency.

    python benchmarks/fit_serving.py

Only ``role: calibration`` cases of inference-throughput are read (never a validation case). Each
is run through the real CLI with ``--mbu`` (decode-bound keys) or ``--mfu`` (prefill-bound keys)
bisected until aistack reproduces the published figure; the solved values are what the sheets in
specs/defaults/serving.yaml record (their ``fit`` says how several cases combine). MBU is solved
first with the sheet MFU, then MFU with the sheet MBU.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402

PREFILL_KEYS = ("ttft_s", "prefill_s")


def solve(case: dict, option: str) -> float | None:
    """The efficiency at which the case's key equals its published figure (bisection on (0.01, 1])."""
    def value(x: float) -> float | None:
        got, _ = accuracy.run_case({**case, "args": [*map(str, case["args"]), option, f"{x:.6f}"]})
        return got

    low, high = 0.01, 1.0
    v_low, v_high = value(low), value(high)
    if v_low is None or v_high is None:
        return None
    target = case["published"]
    rising = v_high > v_low
    if not (min(v_low, v_high) <= target <= max(v_low, v_high)):
        return None
    for _ in range(40):
        middle = 0.5 * (low + high)
        v = value(middle)
        if (v < target) == rising:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def main() -> int:
    cases = [c for c in accuracy.load() if c["role"] == "calibration" and c["command"] == "inference-throughput"]
    for case in cases:
        option = "--mfu" if case["key"] in PREFILL_KEYS else "--mbu"
        solved = solve(case, option)
        shown = "out of range" if solved is None else f"{solved:.3f}"
        print(f"{case['id']:55s} {option} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
