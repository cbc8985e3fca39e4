"""Entry point: builds the Typer app and turns every error into one line and an exit code.

Exit codes: 0 computed, 1 a --check failed, 2 bad input. ``AISTACK_DEBUG=1`` re-raises so the
traceback shows.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from aistack_cli import __version__
from aistack_cli.errors import AistackError, ExitCode

HELP = ("Estimate what AI infrastructure costs and does: training runs, serving throughput, "
        "KV cache, cluster power, collectives and die cost, from cited spec sheets.")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"aistack {__version__}\n")
        raise typer.Exit(0)


def build_app(argv: list[str] | None = None) -> typer.Typer:
    from aistack_cli import commands, runner

    app = typer.Typer(name="aistack", help=HELP, rich_markup_mode=None, no_args_is_help=True,
                      pretty_exceptions_enable=False, add_completion=True)

    @app.callback()
    def root(
        version: Annotated[Optional[bool], typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    ) -> None:
        """Estimate what AI infrastructure costs and does, from cited spec sheets."""

    commands.load(sys.argv[1:] if argv is None else argv)
    runner.register(app)
    commands.register_plain(app)
    return app


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) if "\n" not in str(text).strip() else str(text).strip()


def main(argv: list[str] | None = None) -> int:
    debug = os.environ.get("AISTACK_DEBUG") == "1"
    try:
        app = build_app(argv)
        result = app(args=argv, prog_name="aistack", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except AistackError as exc:
        if debug:
            raise
        sys.stderr.write(f"aistack: {_one_line(exc)}\n" if exc.exit_code == ExitCode.BAD_INPUT
                         else f"{exc}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # click's usage errors carry exit_code and format_message
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `aistack` or `aistack specs`
            sys.stdout.write(exc.ctx.get_help() + "\n")
            return 0
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if debug:
                raise
            sys.stderr.write(f"aistack: {_one_line(exc.format_message())}"
                             f"{_usage_hint(exc)}\n")
            return int(exc.exit_code) or int(ExitCode.BAD_INPUT)
        if type(exc).__name__ == "Abort":
            return 1
        if debug:
            raise
        sys.stderr.write(f"aistack: internal error: {type(exc).__name__}: {_one_line(exc)} "
                         "(please report; AISTACK_DEBUG=1 shows the traceback)\n")
        return 70


def _usage_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    name = ctx.command_path if ctx is not None else "aistack"
    return f" (see '{name} --help')"
