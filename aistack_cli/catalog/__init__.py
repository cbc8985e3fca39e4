"""The spec catalog: bundled sheets (compiled from ``specs/``) plus the user's own.

The common path reads ``compiled.json`` with the standard library. User sheets given with
``--specs PATH`` or ``AISTACK_SPECS`` are read with a safe YAML loader and validated by the
Pydantic schemas, which are imported only then. A user sheet adds an id or overrides a bundled
one of the same id.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from aistack_cli.catalog.types import TYPES
from aistack_cli.errors import SheetError, UnknownIdError

COMPILED = Path(__file__).with_name("compiled.json")
KINDS = tuple(TYPES)
ENV_VAR = "AISTACK_SPECS"


@lru_cache(maxsize=1)
def _bundled() -> dict:
    with COMPILED.open(encoding="utf-8") as handle:
        return json.load(handle)


def bundled_sheet(kind: str, sheet_id: str) -> dict | None:
    """The bundled (compiled) sheet of ``kind`` and canonical ``sheet_id``, ignoring user sheets."""
    return _bundled()["sheets"].get(kind, {}).get(sheet_id)


class Catalog:
    """Sheets by kind and id, as runtime dicts; ``get`` builds the dataclass."""

    def __init__(self, sheets: dict[str, dict[str, dict]], origins: dict[str, str] | None = None):
        self.sheets = sheets
        self.origins = origins or {}
        self._built: dict[tuple[str, str], object] = {}
        self.aliases = {
            kind: {alias: sheet_id for sheet_id, sheet in by_id.items() for alias in sheet.get("aliases", [])}
            for kind, by_id in sheets.items()
        }
        # The defaults read through ``get`` (--ranges samples the ones a point read, on a fresh
        # ``view``; tests check that every assumption about a default cites one of them), and values
        # standing in for some defaults' own (a Monte Carlo draw, runner.ranges).
        self.read: dict[str, None] = {}
        self.values: dict[str, float] = {}
        self._missing: dict[tuple[str, str], UnknownIdError] = {}  # ids looked for and not found (the error
        # computes close matches; commands probe for optional sheets at every point, and views share this)

    def view(self, values: dict[str, float] | None = None) -> "Catalog":
        """The same sheets as a new catalog object whose defaults read ``values`` instead of their
        own (a Monte Carlo draw of runner.ranges), with its own ``read``: a command that memoises
        per catalog computes afresh for a view, so the view sees every default the point reads."""
        twin = object.__new__(Catalog)
        twin.__dict__.update(self.__dict__)
        twin.read = {}
        twin.values = dict(values or {})
        return twin

    def resolve(self, kind: str, wanted: str) -> str:
        """The canonical id for ``wanted`` (an id or an alias, any case)."""
        key = wanted.strip().lower()
        by_id = self.sheets.get(kind, {})
        if key in by_id:
            return key
        if key in self.aliases.get(kind, {}):
            return self.aliases[kind][key]
        error = self._missing.get((kind, wanted))
        if error is None:
            error = self._missing[(kind, wanted)] = UnknownIdError(
                kind, wanted, sorted(by_id) + sorted(self.aliases.get(kind, {})))
        raise error.with_traceback(None)

    def raw(self, kind: str, wanted: str) -> dict:
        return self.sheets[kind][self.resolve(kind, wanted)]

    def get(self, kind: str, wanted: str):
        """The sheet as its runtime record, built once per run. A default's read is recorded, and a
        value ``runner.ranges`` set for it (a Monte Carlo draw) stands in for its own."""
        key = (kind, wanted)
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = TYPES[kind](**self.raw(kind, wanted))
        if kind == "default":
            self.read[found.id] = None
            if self.values and found.id in self.values:
                return found._replace(value=self.values[found.id])
        return found

    def ids(self, kind: str) -> list[str]:
        return sorted(self.sheets.get(kind, {}))

    def find(self, wanted: str) -> tuple[str, str]:
        """(kind, id) of ``wanted`` searched across every kind."""
        for kind in KINDS:
            try:
                return kind, self.resolve(kind, wanted)
            except UnknownIdError:
                continue
        every = [i for kind in KINDS for i in self.ids(kind)]
        raise UnknownIdError("sheet", wanted, every)


def user_paths(cli_paths: list[str] | None) -> list[Path]:
    """User sheet locations: ``AISTACK_SPECS`` (os.pathsep-separated) first, then ``--specs``."""
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    if any(not p.strip() for p in cli_paths or []):
        raise SheetError("--specs: empty path; give a sheet file or folder")
    return [Path(p) for p in [*env, *(cli_paths or [])]]


def load(cli_paths: list[str] | None = None) -> Catalog:
    """The bundled catalog with user sheets applied on top."""
    bundled = _bundled()["sheets"]
    paths = user_paths(cli_paths)
    if not paths:
        return Catalog(bundled)
    from aistack_cli.catalog.user import load_user_sheets  # YAML and Pydantic: only here

    sheets = {kind: dict(bundled.get(kind, {})) for kind in KINDS}
    origins: dict[str, str] = {}
    for kind, runtime, origin in load_user_sheets(paths):
        sheets[kind][runtime["id"]] = runtime
        origins[f"{kind}:{runtime['id']}"] = origin
    catalog = Catalog(sheets, origins)
    from aistack_cli.catalog.user import check_references

    check_references(catalog, only=set(origins))
    return catalog
