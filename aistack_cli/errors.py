"""One exception family for aistack, with the exit codes a CI script relies on.

Each class also inherits the built-in it resembles, as pint does, so callers can catch either.
"""

from __future__ import annotations

import difflib
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2


class AistackError(Exception):
    """Base of every error aistack reports to the user in one line."""

    exit_code = ExitCode.BAD_INPUT


class InputError(AistackError, ValueError):
    """Bad input: a quantity, a count, an impossible combination. Exit code 2."""


class SheetError(InputError):
    """A spec sheet that fails validation; the message names the file, the id and the field."""


class UnknownIdError(InputError, KeyError):
    """An id that is not in the catalog; the message suggests close matches."""

    def __init__(self, kind: str, wanted: str, known: list[str]):
        self.kind, self.wanted, self.known = kind, wanted, known
        close = difflib.get_close_matches(wanted.lower()[:60], known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = f" (`aistack specs list --kind {kind}` lists them)"
        shown = repr(wanted) if len(repr(wanted)) <= 40 else repr(wanted)[:36] + "…'"
        super().__init__(f"unknown {kind} {shown}{hint}{listing}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CheckFailed(AistackError):
    """A --check condition did not hold. Exit code 1."""

    exit_code = ExitCode.CHECK_FAILED


class OutputClosed(AistackError):
    """The reader of stdout went away (``aistack ... | head``): the run ends quietly, exit 0."""

    exit_code = ExitCode.OK
