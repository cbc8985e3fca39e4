"""Scenario files: option values by name, in YAML, TOML or JSON, read safely.

- Only regular files (or ``-`` for standard input), at most ``MAX_BYTES``; devices, FIFOs,
  folders and ``/proc`` or ``/sys`` entries are refused before anything is opened for reading.
- YAML is read as a scenario means it: no YAML 1.1 surprises (``1:16:2`` stays the text of a
  range, not the base-60 integer 4562; ``yes``/``on`` stay words), no duplicate keys, at most
  ``MAX_DEPTH`` levels and ``MAX_NODES`` values once aliases are expanded (an alias bomb is
  refused in milliseconds).
- An aistack output saved with ``-f yaml``/``-f toml``/``-f json`` is a scenario too: its
  ``inputs`` block is read; its other top-level keys are ignored, and a note says so.
- Several ``--config`` files layer in order: a later file wins; the command line wins over all.
- Errors name the file and the line, never the file's content.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from aistack_cli import units
from aistack_cli.errors import InputError

MAX_BYTES = 2 * 2**20
MAX_DEPTH = 32
MAX_NODES = 100_000
REFUSED_ROOTS = ("/proc/", "/sys/", "/dev/")


def read_text(path: str, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The text of a regular file (``-``: standard input), refusing anything that could hang."""
    if path == "":
        raise InputError(f"{what}: empty path; give a file, or - for standard input")
    if "\n" in path or "\x00" in path:
        raise InputError(f"{what}: a path cannot hold a newline or NUL byte: {units.show(path, 160)}")
    if path == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        data = _read_regular(path, what, max_bytes)
    if len(data) > max_bytes:
        raise InputError(f"{what}: {units.show(path, 160)} is larger than {max_bytes // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: {units.show(path, 160)} is not UTF-8 text (byte {exc.start})") from None


def _read_regular(path: str, what: str, max_bytes: int) -> bytes:
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "cannot be read"
        raise InputError(f"{what}: {units.show(path, 160)}: {reason.lower()}") from None
    if not stat.S_ISREG(info.st_mode) or real.startswith(REFUSED_ROOTS):
        raise InputError(f"{what}: {units.show(path, 160)} is not a regular file (a folder, device, FIFO or "
                         "/proc entry); give a scenario file")
    if info.st_size > max_bytes:
        raise InputError(f"{what}: {units.show(path, 160)} is larger than {max_bytes // 2**20} MiB")
    try:
        with open(real, "rb") as handle:
            return handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{what}: {units.show(path, 160)}: {(exc.strerror or 'cannot be read').lower()}") from None


def parse_document(text: str, path: str, what: str) -> Any:
    """YAML (default), TOML (``.toml``) or JSON (``.json``) into Python values."""
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return _toml(text, path, what)
    if suffix == ".json":
        return _json(text, path, what)
    return load_yaml(text, path, what)


def _toml(text: str, path: str, what: str) -> Any:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{what}: {units.show(path, 160)} is not valid TOML: {str(exc).splitlines()[0][:120]}") from None
    except RecursionError:
        raise InputError(f"{what}: {units.show(path, 160)} is nested too deeply") from None
    _check_depth(data, path, what)
    _check_text(data, path, what)
    return data


def _json(text: str, path: str, what: str) -> Any:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: {units.show(path, 160)} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{what}: {units.show(path, 160)} is nested too deeply") from None
    _check_depth(data, path, what)
    _check_text(data, path, what)
    return data


def _check_depth(data: Any, path: str, what: str) -> None:
    stack = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            raise InputError(f"{what}: {units.show(path, 160)} is nested deeper than {MAX_DEPTH} levels or holds "
                             f"more than {MAX_NODES:,} values")
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]


# ---- YAML, read as people mean it -------------------------------------------------------

def load_yaml(text: str, path: str, what: str, *, many: bool = False) -> Any:
    """Safe YAML with YAML 1.2-style scalars, no duplicate keys and bounded size after aliases."""
    import yaml

    loader = _loader_class()(text)
    try:
        if many:
            docs = []
            while loader.check_node():
                docs.append(_construct(loader, loader.get_node(), path, what))
            return docs
        node = loader.get_single_node()
        return None if node is None else _construct(loader, node, path, what)
    except yaml.YAMLError as exc:
        raise InputError(f"{what}: {units.show(path, 160)} is not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise InputError(f"{what}: {units.show(path, 160)} is nested too deeply") from None
    finally:
        loader.dispose()


def _construct(loader, node, path: str, what: str) -> Any:
    _check_nodes(node, path, what)
    data = loader.construct_document(node)
    _check_text(data, path, what)
    return data


def _check_text(data: Any, path: str, what: str) -> None:
    """No lone surrogates (they cannot be printed or saved as UTF-8)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if any("\ud800" <= ch <= "\udfff" for ch in value):
                raise InputError(f"{what}: {units.show(path, 160)} holds a lone surrogate (\\ud800-\\udfff), "
                                 "which is not text")
        elif isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value


def _check_nodes(root, path: str, what: str) -> None:
    """Depth and expanded size of a node graph, aliases counted as often as they are used."""
    import yaml

    sizes: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise InputError(f"{what}: {units.show(path, 160)} is nested deeper than {MAX_DEPTH} levels")
        if id(node) in sizes:
            return sizes[id(node)]
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        if total > MAX_NODES:
            raise InputError(f"{what}: {units.show(path, 160)} expands to more than {MAX_NODES:,} values "
                             "(YAML aliases multiply what they repeat)")
        sizes[id(node)] = total
        return total

    size(root, 1)


def _yaml_problem(exc) -> str:
    problem = getattr(exc, "problem", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return f"{problem}{where}"[:160]


_LOADER = None


def _loader_class():
    """A SafeLoader whose implicit scalars follow YAML 1.2's core schema, and that refuses
    duplicate keys. Built once, on first use (PyYAML is imported only when a file is read)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import re

    import yaml

    class ScenarioLoader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict = {}

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        first = seen.get(key)
                    except TypeError:
                        raise yaml.constructor.ConstructorError(
                            None, None, "a mapping key must be a plain value", key_node.start_mark) from None
                    if first is not None:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {units.show(key, 30)} (first on line {first})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    resolvers = [
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", "-+0123456789"),
        ("tag:yaml.org,2002:int", r"^0o[0-7]+$|^0x[0-9a-fA-F]+$", "0"),
        ("tag:yaml.org,2002:float",
         r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", "-+0123456789."),
        ("tag:yaml.org,2002:float", r"^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$", "-+."),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ]
    for tag, pattern, first in resolvers:
        ScenarioLoader.add_implicit_resolver(tag, re.compile(pattern), list(first))

    def construct_int(loader, node):
        text = loader.construct_scalar(node)
        if len(text.lstrip("+-")) > 40:  # beyond float range, and beyond anything a sheet measures
            raise yaml.constructor.ConstructorError(None, None, "integer with more than 40 digits", node.start_mark)
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)

    ScenarioLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
    _LOADER = ScenarioLoader
    return _LOADER


# ---- scenarios ---------------------------------------------------------------------------

def load_scenario(path: str, what: str = "--config") -> dict[str, Any]:
    """A scenario file's document: a mapping (empty for an empty file)."""
    data = parse_document(read_text(path, what), path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{what}: {units.show(path, 160)} must hold a mapping of option names to values")
    return data


def scenario_command(data: dict) -> str | None:
    """The command a scenario names: a saved output's ``command``, or a scenario's own
    ``command: train-cost`` line (what ``aistack compare`` runs it with)."""
    command = data.get("command")
    return command if isinstance(command, str) else None


def read_scenario(path: str, command: str, notes: list[str], data: dict | None = None) -> dict[str, Any]:
    """The option values a scenario file gives (keys as written), with an output's inputs unwrapped.
    ``data``: the document already read (``aistack compare`` reads each file once)."""
    data = load_scenario(path) if data is None else data
    if "schema_version" in data and ("inputs" in data or "rows" in data):
        return _saved_output(data, path, command, notes)
    if "command" in data:
        named = scenario_command(data)
        if named != command:
            raise InputError(f"--config: {units.show(path, 160)} is a scenario for {units.show(named)}, "
                             f"not for '{command}'")
        data = {k: v for k, v in data.items() if k != "command"}
    return data


def _saved_output(data: dict, path: str, command: str, notes: list[str]) -> dict:
    saved = data.get("command")
    if saved is not None and saved != command:
        raise InputError(f"--config: {units.show(path, 160)} is the output of '{saved}', not of '{command}'")
    inputs = data.get("inputs")
    if not isinstance(inputs, dict):
        raise InputError(f"--config: {units.show(path, 160)} has no inputs block to read back")
    others = [str(k) for k in data if k != "inputs"]
    notes.append(f"--config {Path(path).name}: an aistack output; its inputs are read back and its "
                 f"{', '.join(others)} ignored")
    return {k: v for k, v in inputs.items() if v is not None}
