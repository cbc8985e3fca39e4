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
)


def load(argv: list[str]) -> None:
    """Import the calculator module(s) the command line needs, so their registration runs.

    Only the invoked subcommand is imported (start-up is a feature: scripts call aistack in
    loops); help, completion or an unknown word imports them all.
    """
    wanted = next((arg for arg in argv if not arg.startswith("-")), "")
    module = wanted.replace("-", "_")
    if wanted == "specs":
        names: tuple[str, ...] = ()
    elif module in CALCULATORS:
        names = (module,)
    else:
        names = CALCULATORS
    for name in names:
        importlib.import_module(f"aistack_cli.commands.{name}")


def register_plain(app) -> None:
    """Commands that are not calculators (no sweeps or gates)."""
    from aistack_cli.commands import specs

    specs.register(app)
