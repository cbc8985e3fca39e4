"""What every command returns: a point per computed combination of inputs, and the report.

No rendering here, so commands never import a renderer. A ``Report`` may stream its points (a
generator): machine formats write each row as it is computed, so a 100,000-point sweep holds one
point in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Point:
    """One computed point: resolved inputs, results, and what the result rests on.

    ``error`` is set (and ``results`` empty) for a sweep point that could not be computed;
    ``label`` names the swept values that tell it apart (``gpu=h200, batch=8``). ``ranges``
    (``--ranges``: P10/P50/P90 keyed like ``results``) and ``sensitivity`` (``--sensitivity``: the
    tornado of one result) are set by the runner when asked for.
    """

    __slots__ = ("inputs", "results", "assumptions", "warnings", "steps", "error", "label", "ranges", "sensitivity")

    def __init__(self, inputs: dict[str, Any], results: dict[str, Any], assumptions: list[str] | None = None,
                 warnings: list[str] | None = None, steps: list | None = None, error: str | None = None,
                 label: str = ""):
        self.inputs = inputs
        self.results = results
        self.assumptions = assumptions if assumptions is not None else []
        self.warnings = warnings if warnings is not None else []
        self.steps = steps if steps is not None else []
        self.error = error
        self.label = label
        self.ranges: dict | None = None
        self.sensitivity: dict | None = None


class Report:
    """One run of one command: its points (possibly streamed) and how to show them."""

    def __init__(self, command: str, points: Iterable[Point], single: bool = True, swept: list[str] | None = None,
                 columns: list[str] | None = None, explain: bool = False, quiet: bool = False,
                 notes: list[str] | None = None, ranges: bool = False, sensitivity: bool = False):
        self.command = command
        self.points = points
        self.single = single  # exactly one point, no sweep
        self.swept = swept or []  # input keys of the options that were swept
        self.columns = columns  # result keys a sweep table shows (None: all)
        self.explain = explain
        self.quiet = quiet
        self.notes = notes or []  # run-level assumptions (how input was read)
        self.ranges = ranges  # points carry ranges (--ranges)
        self.sensitivity = sensitivity  # points carry a tornado (--sensitivity)
