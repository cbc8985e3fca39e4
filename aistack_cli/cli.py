"""Entry point: builds the Typer app and turns every outcome into output and an exit code.

Exit codes: 0 computed; 1 a ``--check`` failed; 2 bad input (one line on stderr, never a
traceback); 130 interrupted. A reader that closes the pipe early (``aistack ... | head``) ends
the run quietly with the code it would have had. ``AISTACK_DEBUG=1`` re-raises so the traceback
shows. Anything else is a bug: exit 70 with one line asking for a report.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from aistack_cli import __version__
from aistack_cli.errors import AistackError, ExitCode, OutputClosed, SheetError

HELP = ("Estimate what AI infrastructure costs and does: training runs, serving throughput, "
        "KV cache, cluster power, collectives and die cost, from cited spec sheets.")
MAX_ERROR_CHARS = 300
CONTEXT = {"help_option_names": ["-h", "--help"]}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"aistack {__version__}\n")
        raise typer.Exit(0)


def build_app(argv: list[str] | None = None) -> typer.Typer:
    from aistack_cli import commands, runner

    app = typer.Typer(name="aistack", help=HELP, rich_markup_mode=None, no_args_is_help=True,
                      pretty_exceptions_enable=False, add_completion=True, context_settings=CONTEXT)

    @app.callback()
    def root(
        version: Annotated[Optional[bool], typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    ) -> None:
        """Estimate what AI infrastructure costs and does, from cited spec sheets."""

    words = sys.argv[1:] if argv is None else argv
    commands.load(words)
    runner.register(app)
    commands.register_plain(app, words)
    return app


MAX_SHEET_LINES = 200  # invalid sheets shown at once (one line each, naming all its problems)
MAX_SHEET_CHARS = 4000  # a sheet's line may list many fields


def one_line(text: object, limit: int | None = None) -> str:
    """An error as one line of at most ``limit`` (MAX_ERROR_CHARS) characters: control characters escaped,
    middle cut."""
    limit = limit or MAX_ERROR_CHARS
    line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text).strip())
    if len(line) > limit:
        line = line[: limit - 40] + " … " + line[-37:]
    return line


def _prepare_streams() -> None:
    """Output that the terminal's encoding cannot show is replaced, never an error (an ASCII
    locale still gets every number; JSON switches to \\u escapes by itself)."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


class _Stdout:
    """stdout as commands see it: a reader that went away (``aistack ... | head``) ends the run
    through OutputClosed, which no library mistakes for another error (Click would exit 1)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise OutputClosed() from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed() from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


COMPLETION_ENV = "_AISTACK_COMPLETE"
_CLICK_STYLE = {"bash_source": "source_bash", "zsh_source": "source_zsh", "fish_source": "source_fish",
                "bash_complete": "complete_bash", "zsh_complete": "complete_zsh", "fish_complete": "complete_fish"}


def _completion_env() -> int | None:
    """Accept Click's spellings of the completion variable (bash_source) beside Typer's
    (source_bash); a completion request without the shell's variables is a usage error."""
    value = os.environ.get(COMPLETION_ENV)
    if value is None:
        return None
    value = _CLICK_STYLE.get(value, value)
    os.environ[COMPLETION_ENV] = value
    if value == "complete_bash" and not ("COMP_WORDS" in os.environ and "COMP_CWORD" in os.environ):
        _error("aistack: completion: complete_bash needs COMP_WORDS and COMP_CWORD from the shell; "
               f"run `eval \"$({COMPLETION_ENV}=source_bash aistack)\"` to install it")
        return int(ExitCode.BAD_INPUT)
    return None


def main(argv: list[str] | None = None) -> int:
    _prepare_streams()
    early = _completion_env()
    if early is not None:
        return early
    real = sys.stdout
    sys.stdout = _Stdout(real)  # type: ignore[assignment]
    try:
        code = _run(argv)
        sys.stdout.flush()
    except OutputClosed:
        _silence_stdout(real)
        code = 0
    except (OSError, ValueError):
        code = 0
    finally:
        sys.stdout = real
    return code


def _run(argv: list[str] | None) -> int:
    debug = os.environ.get("AISTACK_DEBUG") == "1"
    try:
        from aistack_cli.runner import optional_values

        words = optional_values(sys.argv[1:] if argv is None else list(argv))
        app = build_app(words)
        result = app(args=words, prog_name="aistack", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except OutputClosed:
        raise
    except AistackError as exc:
        if debug:
            raise
        if exc.exit_code == ExitCode.BAD_INPUT and not isinstance(exc, SheetError):
            _error(f"aistack: {one_line(exc)}")
        elif isinstance(exc, SheetError):  # every problem of every sheet, one line each
            _error("\n".join(f"aistack: {one_line(line, MAX_SHEET_CHARS)}"
                              for line in str(exc).split("\n")[:MAX_SHEET_LINES]))
        else:
            _error("\n".join(one_line(line) for line in str(exc).splitlines()))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise OutputClosed() from None
    except Exception as exc:  # click's usage errors carry exit_code and format_message
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `aistack` or `aistack specs`
            sys.stdout.write(exc.ctx.get_help() + "\n")  # type: ignore[attr-defined]
            return 0
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if debug:
                raise
            _error(f"aistack: {one_line(exc.format_message())}{_usage_hint(exc)}")
            return int(exc.exit_code) or int(ExitCode.BAD_INPUT)
        if type(exc).__name__ == "Abort":
            return 130
        if debug:
            raise
        _error(f"aistack: internal error: {type(exc).__name__}: {one_line(exc)[:200]} "
               "(please report; AISTACK_DEBUG=1 shows the traceback)")
        return 70


def _error(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout(stream) -> None:
    """After the reader went away: point stdout at /dev/null so the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _usage_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    name = ctx.command_path if ctx is not None else "aistack"
    return f" (see '{name} --help')"
