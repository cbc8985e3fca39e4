"""One module per subcommand: options, parsing, catalog look-ups, then calc and render."""

from __future__ import annotations

import importlib

CALCULATORS = ("kv_cache",)


def load_all() -> None:
    """Import every calculator module so its ``@calculator`` registration runs."""
    for name in CALCULATORS:
        importlib.import_module(f"aistack_cli.commands.{name}")


def register_plain(app) -> None:
    """Commands that are not calculators (no sweeps or gates)."""
    from aistack_cli.commands import specs

    specs.register(app)
