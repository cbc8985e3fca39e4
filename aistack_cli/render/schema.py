"""The JSON Schema of each command's output, generated from the field registry."""

from __future__ import annotations

from typing import Any

from aistack_cli import fields
from aistack_cli.render.machine import SCHEMA_VERSION

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NUMBER_UNITS = {u for u in fields.UNITS if u not in ("text", "id", "bool")}


def _value_schema(key: str) -> dict[str, Any]:
    unit = fields.unit(key)
    description = f"{fields.meaning(key)} [{unit}]"
    if unit == "bool":
        return {"type": ["boolean", "null"], "description": description}
    if unit in ("text", "id"):
        schema: dict[str, Any] = {"type": ["string", "null"], "description": description}
        if key in fields.CHOICES:
            schema["enum"] = [*fields.CHOICES[key], None]
        return schema
    return {"type": ["number", "null"], "description": description}


def _block(keys: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: _value_schema(k) for k in keys}, "required": list(keys),
            "additionalProperties": False}


def _scenario(keys: tuple[str, ...]) -> dict[str, Any]:
    """Top-level ``inputs``: a point's values, or for a sweep a swept input's list of values."""
    props = {k: {"anyOf": [_value_schema(k), {"type": "array", "items": _value_schema(k)}]} for k in keys}
    return {"type": "object", "properties": props, "additionalProperties": False}


def command_schema(command: str) -> dict[str, Any]:
    """JSON Schema of ``aistack COMMAND --format json`` (any run: one point or a sweep)."""
    inputs, results = fields.COMMANDS[command]
    notes = {"type": "array", "items": {"type": "string"}}
    step = {"type": "object", "properties": {"quantity": {"type": "string"}, "formula": {"type": "string"},
                                             "substituted": {"type": "string"}, "value": {"type": ["number", "null"]},
                                             "unit": {"type": "string"}, "source": {"type": "string"}}}
    row = {"type": "object",
           "properties": {"inputs": _block(inputs), "results": _block(results), "warnings": notes,
                          "error": {"type": ["string", "null"]}, "explain": {"type": "array", "items": step}},
           "required": ["inputs", "results", "warnings", "error"], "additionalProperties": False}
    return {
        "$schema": DRAFT,
        "$id": f"https://aistack.dev/schema/v{SCHEMA_VERSION}/{command}.json",
        "title": f"aistack {command} --format json",
        "type": "object",
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "aistack": {"type": "string"},
            "command": {"const": command},
            "swept": {"type": "array", "items": {"enum": list(inputs)}},
            "rows": {"type": "array", "items": row, "minItems": 1},
            "inputs": _scenario(inputs),
            "results": {"anyOf": [_block(results), {"type": "null"}]},
            "assumptions": notes,
            "warnings": notes,
        },
        "required": ["schema_version", "aistack", "command", "swept", "rows", "inputs", "results", "assumptions",
                     "warnings"],
        "additionalProperties": False,
    }


def all_schemas() -> dict[str, Any]:
    """One schema for any calculator's output, selected by ``command``."""
    return {"$schema": DRAFT, "$id": f"https://aistack.dev/schema/v{SCHEMA_VERSION}/aistack.json",
            "title": "aistack --format json", "oneOf": [command_schema(c) for c in fields.COMMANDS]}
