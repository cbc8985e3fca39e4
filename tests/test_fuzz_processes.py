"""A short, seeded slice of benchmarks/fuzz.py: the CLI as separate processes, with hostile
values, scenario files, user sheets, environments and closed pipes. Every run must exit 0, 1 or
2, print valid machine output, at most one stderr line, within 10 s and 500 MB (the full run,
10,000 invocations, is `python benchmarks/fuzz.py`)."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz  # noqa: E402  (benchmarks/fuzz.py)


def test_seeded_slice_has_no_failures():
    counts = fuzz.fuzz(runs=40, seed=2026, workers=2, show=0)
    assert counts["failures"] == 0, "\n".join(counts["failure_list"])
    assert counts["exit_0"] > 0 and counts["exit_2"] > 0  # both paths were exercised
