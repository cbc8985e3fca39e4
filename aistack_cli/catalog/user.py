"""Reading and validating sheets from YAML files (user sheets and the bundled ``specs/``).

YAML is read with ``yaml.safe_load_all`` only: a ``!!python/object`` tag is an error, never
code. Errors name the file, the sheet id and the field.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from aistack_cli.catalog.schema import Sheet
from aistack_cli.errors import SheetError

_ADAPTER = TypeAdapter(Sheet)
SUFFIXES = (".yaml", ".yml")


def sheet_files(path: Path) -> list[Path]:
    """A file, or every YAML file under a folder, in a stable order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    if path.is_file():
        return [path]
    raise SheetError(f"{path}: no such spec file or folder")


def _documents(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
        docs = list(yaml.safe_load_all(text))
    except (OSError, UnicodeDecodeError) as exc:
        raise SheetError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise SheetError(f"{path}: not valid YAML{where}: {first_line}") from None
    found = []
    for doc in docs:
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if item is None:
                continue
            if not isinstance(item, dict):
                raise SheetError(f"{path}: each sheet must be a mapping with id and kind")
            found.append(item)
    return found


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    # The discriminated union puts the kind first in the location; drop it.
    for kind in ("accelerator", "interconnect", "system", "model", "process-node"):
        location = location.removeprefix(kind + ".").removeprefix(kind)
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{location or 'sheet'}: {error['msg']}{more}"


def validate(doc: dict, origin: str):
    """Validate one sheet mapping; return the Pydantic model."""
    sheet_id = doc.get("id", "<no id>")
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        raise SheetError(f"{origin}: {sheet_id}: {_describe(exc)}") from None


def load_user_sheets(paths: list[Path]) -> list[tuple[str, dict, str]]:
    """(kind, runtime dict, origin file) for every sheet under ``paths``."""
    loaded = []
    for path in paths:
        for file in sheet_files(path):
            for doc in _documents(file):
                sheet = validate(doc, str(file))
                loaded.append((sheet.kind, sheet.to_runtime(), str(file)))
    return loaded


REFERENCES = {
    "accelerator": [("scale_up_interconnect", "interconnect")],
    "system": [("accelerator", "accelerator"), ("scale_up_interconnect", "interconnect"),
               ("network_interconnect", "interconnect")],
}


def check_references(catalog, only: set[str] | None = None) -> None:
    """Every id a sheet names must exist in the catalog (only the ``kind:id`` keys given)."""
    for kind, fields in REFERENCES.items():
        for sheet_id, sheet in catalog.sheets.get(kind, {}).items():
            key = f"{kind}:{sheet_id}"
            if only is not None and key not in only:
                continue
            for field_name, target_kind in fields:
                target = sheet.get(field_name)
                if target and target not in catalog.sheets.get(target_kind, {}):
                    origin = catalog.origins.get(key, "specs")
                    raise SheetError(f"{origin}: {sheet_id}: {field_name}: unknown {target_kind} {target!r}")
