"""The calculators as Python functions, for notebooks and other tools.

    >>> from aistack_cli import api
    >>> api.kv_cache(model="llama-3.1-70b", context="128k").results["kv_bytes_per_token"]
    327680.0

One function per calculator, named after its command with underscores (``kv_cache``,
``train_cost``, ``inference_throughput``, ``cluster_power``, ``allreduce_time``, ``fab_cost``, ``tco``).
Keyword arguments are the command's option names with underscores; values are numbers (base SI
units) or the text the command line takes (``"128k"``, ``"80GiB"``, ``"2.5ms"``), and a list sweeps
an option. The returned ``Result`` holds the same document as ``--format json``: ``.results`` and
``.inputs`` for one point, ``.rows`` for every point, ``.assumptions``, ``.warnings``, ``.to_json()``.
Bad input raises ``aistack_cli.errors.InputError`` with the message the CLI would print.
"""

from __future__ import annotations

import json
from typing import Any

from aistack_cli.errors import InputError

CALCULATORS = {
    "kv_cache": "kv-cache",
    "train_cost": "train-cost",
    "inference_throughput": "inference-throughput",
    "cluster_power": "cluster-power",
    "allreduce_time": "allreduce-time",
    "fab_cost": "fab-cost",
    "tco": "tco",
}


class Result:
    """One run's document (the ``--format json`` shape) with convenient views."""

    def __init__(self, document: dict[str, Any]):
        self.document = document

    @property
    def command(self) -> str:
        return self.document["command"]

    @property
    def results(self) -> dict[str, Any]:
        """The results of a single point (for a sweep, read ``rows``)."""
        if self.document["results"] is None:
            raise ValueError(f"{self.command} swept {', '.join(self.document['swept'])}: read .rows")
        return self.document["results"]

    @property
    def inputs(self) -> dict[str, Any]:
        return self.document["inputs"]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.document["rows"]

    @property
    def assumptions(self) -> list[str]:
        return self.document["assumptions"]

    @property
    def warnings(self) -> list[str]:
        return self.document["warnings"]

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.document, indent=indent, allow_nan=False, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"<aistack {self.command}: {len(self.rows)} row(s)>"


def run(command: str, *, specs: list[str] | None = None, config: list[str] | None = None,
        explain: bool = False, **options: Any) -> Result:
    """Run ``command`` (``"kv-cache"``) with ``options`` and return its document."""
    from aistack_cli import catalog as catalog_module
    from aistack_cli import commands, runner
    from aistack_cli.render.machine import document
    from aistack_cli.result import Report

    commands.load([command])
    calc = runner.REGISTRY.get(command)
    if calc is None:
        raise InputError(f"unknown calculator {command!r}; one of {', '.join(CALCULATORS.values())}")
    unknown = sorted(set(options) - set(calc.by_name))
    if unknown:
        raise InputError(f"{command}: unknown option {unknown[0]!r}; valid: {', '.join(sorted(calc.by_name))}")
    common = {"specs": specs, "config": config, "check": None, "explain": explain, "quiet": False, "format": "json"}
    prepared = runner.prepare(calc, options, common)
    catalog = catalog_module.load(prepared.common.get("specs"))
    report = Report(command=calc.name, points=runner.stream(prepared, catalog), single=prepared.single,
                    swept=[calc.by_name[n].key for n in prepared.swept], explain=explain,
                    notes=prepared.notes)
    return Result(document(report))


def _bind(name: str, command: str):
    def calculator(**options: Any) -> Result:
        return run(command, **options)

    calculator.__name__ = name
    calculator.__doc__ = f"``aistack {command}`` as a function: keyword arguments are its options."
    return calculator


kv_cache = _bind("kv_cache", "kv-cache")
train_cost = _bind("train_cost", "train-cost")
inference_throughput = _bind("inference_throughput", "inference-throughput")
cluster_power = _bind("cluster_power", "cluster-power")
allreduce_time = _bind("allreduce_time", "allreduce-time")
fab_cost = _bind("fab_cost", "fab-cost")
tco = _bind("tco", "tco")
