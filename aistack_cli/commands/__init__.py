"""One module per subcommand: options, parsing, catalog look-ups, then calc and render."""

from __future__ import annotations

import importlib

# Calculator modules; the subcommand is the module name with dashes (kv_cache -> kv-cache).
CALCULATORS = (
    "kv_cache",
    "train_cost",
    "inference_throughput",
    "cluster_power",
    "allreduce_time",
    "fab_cost",
    "tco",
)


def _wanted(argv: list[str]) -> str:
    return next((arg for arg in argv if not arg.startswith("-")), "")


def load(argv: list[str]) -> None:
    """Import the calculator module(s) the command line needs, so their registration runs.

    Only the invoked subcommand is imported (start-up is a feature: scripts call aistack in
    loops); help, completion or an unknown word imports them all.
    """
    wanted = _wanted(argv)
    module = wanted.replace("-", "_")
    if wanted in ("specs", "schema", "compare"):
        names: tuple[str, ...] = ()
    elif module in CALCULATORS:
        names = (module,)
    else:
        names = CALCULATORS
    for name in names:
        importlib.import_module(f"aistack_cli.commands.{name}")


def register_plain(app, argv: list[str]) -> None:
    """Commands that are not calculators (no sweeps or gates); not even imported when a
    calculator was asked for."""
    if _wanted(argv).replace("-", "_") in CALCULATORS:
        return
    from aistack_cli.commands import compare, schema, specs

    specs.register(app)
    schema.register(app)
    compare.register(app)
