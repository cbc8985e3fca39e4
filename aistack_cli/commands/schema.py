"""``aistack schema [COMMAND]``: the JSON Schema of a command's ``--format json`` output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("schema", help="Print the JSON Schema of a command's --format json output (all commands when "
                                "none is named). Generated from the field registry.")
    def schema(
        command: Annotated[Optional[str], typer.Argument(metavar="COMMAND", help="e.g. kv-cache")] = None,
    ) -> None:
        from aistack_cli import fields
        from aistack_cli.render.schema import all_schemas, command_schema, compare_schema

        if command is None:
            document = all_schemas()
        elif command in fields.COMMANDS:
            document = command_schema(command)
        elif command == "compare":
            document = compare_schema()
        else:
            raise InputError(f"schema: unknown command {units.show(command)}; one of "
                             f"{', '.join([*fields.COMMANDS, 'compare'])}")
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
