"""Compile the bundled ``specs/`` YAML into ``aistack_cli/catalog/compiled.json``.

Run ``python -m aistack_cli.catalog.compile`` after editing a sheet; a test fails while the
compiled file is out of date. Validation happens here, once, so a command never imports
Pydantic or PyYAML for the bundled catalog.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from aistack_cli.catalog import COMPILED, KINDS, Catalog
from aistack_cli.catalog.user import check_references, load_user_sheets, sheet_files
from aistack_cli.errors import AistackError, SheetError

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def digest(specs_dir: Path = SPECS_DIR) -> str:
    """SHA-256 over every sheet's relative path and bytes."""
    hasher = hashlib.sha256()
    for file in sheet_files(specs_dir):
        hasher.update(file.relative_to(specs_dir).as_posix().encode())
        hasher.update(file.read_bytes())
    return hasher.hexdigest()


def compile_specs(specs_dir: Path = SPECS_DIR) -> dict:
    """Validate every sheet under ``specs_dir``; return the compiled catalog."""
    sheets: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    names: dict[str, str] = {}
    for kind, runtime, origin in load_user_sheets([specs_dir]):
        for name in [runtime["id"], *runtime.get("aliases", [])]:
            if f"{kind}:{name}" in names:
                raise SheetError(f"{origin}: {name!r} already used by {names[f'{kind}:{name}']}")
            names[f"{kind}:{name}"] = origin
        sheets[kind][runtime["id"]] = runtime
    check_references(Catalog(sheets))
    ordered = {kind: dict(sorted(by_id.items())) for kind, by_id in sheets.items()}
    return {"digest": digest(specs_dir), "sheets": ordered}


def check(paths: list[str]) -> int:
    """Validate the given files or folders without writing anything."""
    try:
        loaded = load_user_sheets([Path(p) for p in paths])
    except AistackError as exc:
        print(f"aistack: {exc}", file=sys.stderr)
        return 2
    print(f"{len(loaded)} sheets valid")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--check"]:
        return check(sys.argv[2:])
    try:
        compiled = compile_specs()
    except AistackError as exc:
        print(f"aistack: {exc}", file=sys.stderr)
        return 2
    COMPILED.write_text(json.dumps(compiled, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{len(v)} {k}" for k, v in compiled["sheets"].items())
    print(f"wrote {COMPILED} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
