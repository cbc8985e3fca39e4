"""Reading and validating sheets from YAML files (user sheets and the bundled ``specs/``).

YAML is read with ``yaml.safe_load_all`` only: a ``!!python/object`` tag is an error, never
code. Validation reports every error of every sheet at once, one line each, naming the file, the
sheet id and the field, so a new sheet is fixed in one pass.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from aistack_cli import units
from aistack_cli.catalog.schema import Sheet
from aistack_cli.errors import InputError, SheetError
from aistack_cli.runner.config import REFUSED_ROOTS, load_yaml, read_text

_ADAPTER = TypeAdapter(Sheet)
SUFFIXES = (".yaml", ".yml")
MAX_FILES = 2000  # sheet files under one --specs folder
MAX_DEPTH = 12  # folder levels searched under one --specs folder


def sheet_files(path: Path) -> list[Path]:
    """A file, or every YAML file under a folder (not following links, not into /proc, /sys or
    /dev, at most MAX_DEPTH levels and MAX_FILES files), in a stable order."""
    text = str(path)
    if "\n" in text or "\x00" in text:
        raise SheetError(f"--specs: a path cannot hold a newline or NUL byte: {units.show(text)}")
    real = os.path.realpath(text)
    if real.startswith(REFUSED_ROOTS) or real in ("/proc", "/sys", "/dev"):
        raise SheetError(f"--specs: {units.show(text, 160)} is a system folder, not a folder of sheets")
    if os.path.isdir(real):
        return _walk(Path(real), text)
    if os.path.isfile(real):
        return [Path(real)]
    raise SheetError(f"--specs: {units.show(text)}: no such spec file or folder")


def _walk(root: Path, shown: str) -> list[Path]:
    found: list[Path] = []
    base_depth = len(root.parts)
    for folder, subfolders, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).parts) - base_depth
        subfolders[:] = sorted(d for d in subfolders if depth < MAX_DEPTH and not d.startswith(".")
                               and not os.path.join(folder, d).startswith(REFUSED_ROOTS))
        for name in sorted(files):
            file = Path(folder, name)
            if file.suffix in SUFFIXES and file.is_file() and not file.is_symlink():
                found.append(file)
                if len(found) > MAX_FILES:
                    raise SheetError(f"--specs: more than {MAX_FILES:,} sheet files under {units.show(shown, 160)}; "
                                     "point at the folder that holds your sheets")
    if not found:
        raise SheetError(f"--specs: no sheet files (.yaml, .yml) under {units.show(shown, 160)} "
                         f"(searched {MAX_DEPTH} levels deep)")
    return sorted(found)


def _documents(path: Path) -> list[dict]:
    try:
        docs = load_yaml(read_text(str(path), "--specs"), str(path), "--specs", many=True)
    except InputError as exc:
        raise SheetError(str(exc)) from None
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


KIND_NAMES = ("accelerator", "interconnect", "system", "model", "process-node", "part", "default")


def _location(error: dict) -> str:
    parts = [str(part) for part in error["loc"]]
    # The discriminated union puts the kind first in the location; drop it.
    if parts and parts[0] in KIND_NAMES:
        parts = parts[1:]
    # Quantities go through a validator whose name Pydantic appends ("function-before[...]").
    parts = [p for p in parts if not p.startswith(("function-", "constrained-"))]
    return ".".join(parts) or "sheet"


def describe(exc: ValidationError) -> list[str]:
    """Every error of one sheet as ``field: message``."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{_location(error)}: {message}")
    return lines


def validate(doc: dict, origin: str):
    """Validate one sheet mapping; return the Pydantic model, or raise naming all its errors on one line."""
    sheet_id = doc.get("id", "<no id>")
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        problems = describe(exc)
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise SheetError(f"{origin}: {sheet_id}: {count}{'; '.join(problems)}") from None


def load_user_sheets(paths: list[Path]) -> list[tuple[str, dict, str]]:
    """(kind, runtime dict, origin file) for every sheet under ``paths``; an id given twice is an
    error that names both places (one user sheet overriding a bundled one is the point). Every
    invalid sheet of every file is reported in one error, one line per problem."""
    loaded = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for path in paths:
        for file in sheet_files(path):
            try:
                docs = _documents(file)
            except SheetError as exc:
                problems.append(str(exc))
                continue
            for doc in docs:
                try:
                    sheet = validate(doc, str(file))
                except SheetError as exc:
                    problems.append(str(exc))
                    continue
                key = f"{sheet.kind}:{sheet.id}"
                if key in seen:
                    problems.append(f"{file}: {sheet.kind} {sheet.id!r} is also defined in {seen[key]}")
                    continue
                seen[key] = str(file)
                loaded.append((sheet.kind, sheet.to_runtime(), str(file)))
    if problems:  # one line per sheet, each naming every problem of that sheet
        raise SheetError("\n".join(problems))
    return loaded


REFERENCES = {
    "accelerator": [("scale_up_interconnect", "interconnect"), ("process_node", "process-node")],
    "system": [("accelerator", "accelerator"), ("scale_up_interconnect", "interconnect"),
               ("network_interconnect", "interconnect")],
}


def check_references(catalog, only: set[str] | None = None) -> None:
    """Every id a sheet names must exist in the catalog (only the ``kind:id`` keys given); all
    unknown references are reported at once."""
    problems = []
    for kind, fields in REFERENCES.items():
        for sheet_id, sheet in catalog.sheets.get(kind, {}).items():
            key = f"{kind}:{sheet_id}"
            if only is not None and key not in only:
                continue
            for field_name, target_kind in fields:
                target = sheet.get(field_name)
                if target and target not in catalog.sheets.get(target_kind, {}):
                    origin = catalog.origins.get(key, "specs")
                    problems.append(f"{origin}: {sheet_id}: {field_name}: unknown {target_kind} {target!r}")
    if problems:
        raise SheetError("\n".join(problems))
