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


def _ranges(results: tuple[str, ...]) -> dict[str, Any]:
    """``ranges`` (--ranges): keyed like ``results``; P10/P50/P90 of a numeric result, else null."""
    spread = {"type": "object", "properties": {q: {"type": "number"} for q in ("p10", "p50", "p90")},
              "required": ["p10", "p50", "p90"], "additionalProperties": False}
    props = {k: ({"anyOf": [spread, {"type": "null"}]} if fields.unit(k) not in ("text", "id", "bool")
                 else {"type": "null"}) for k in results}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "description": "P10/P50/P90 of each numeric result over the published P10-P90 of the cited defaults "
                           "the point used (--ranges)"}


def _sensitivity(results: tuple[str, ...]) -> dict[str, Any]:
    """``sensitivity`` (--sensitivity): the tornado of one result."""
    number = {"type": ["number", "null"]}
    bar = {"type": "object", "properties": {"default": {"type": "string"}, "unit": {"type": "string"},
                                            "p10": {"type": "number"}, "p90": {"type": "number"},
                                            "at_p10": number, "at_p90": number, "swing": {"type": "number"}},
           "required": ["default", "unit", "p10", "p90", "at_p10", "at_p90", "swing"], "additionalProperties": False}
    numeric = [k for k in results if fields.unit(k) not in ("text", "id", "bool")]
    return {"type": "object", "properties": {"target": {"enum": [*numeric, None]}, "value": number,
                                             "inputs": {"type": "array", "items": bar},
                                             "held": {"type": "array", "items": {"type": "string"}}},
            "required": ["target", "value", "inputs", "held"], "additionalProperties": False,
            "description": "each cited default at its P10 and P90 in turn, largest swing of the target first "
                           "(--sensitivity)"}


def command_schema(command: str) -> dict[str, Any]:
    """JSON Schema of ``aistack COMMAND --format json`` (any run: one point or a sweep)."""
    inputs, results = fields.COMMANDS[command]
    notes = {"type": "array", "items": {"type": "string"}}
    step = {"type": "object", "properties": {"quantity": {"type": "string"}, "formula": {"type": "string"},
                                             "substituted": {"type": "string"}, "value": {"type": ["number", "null"]},
                                             "unit": {"type": "string"}, "source": {"type": "string"}}}
    row = {"type": "object",
           "properties": {"inputs": _block(inputs), "results": _block(results), "warnings": notes,
                          "error": {"type": ["string", "null"]}, "explain": {"type": "array", "items": step},
                          "ranges": _ranges(results), "sensitivity": {"anyOf": [_sensitivity(results), {"type": "null"}]}},
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
            "ranges": {"anyOf": [_ranges(results), {"type": "null"}]},
            "sensitivity": {"anyOf": [_sensitivity(results), {"type": "null"}]},
            "assumptions": notes,
            "warnings": notes,
        },
        "required": ["schema_version", "aistack", "command", "swept", "rows", "inputs", "results", "assumptions",
                     "warnings"],
        "additionalProperties": False,
    }


def compare_schema() -> dict[str, Any]:
    """JSON Schema of ``aistack compare --format json``."""
    notes = {"type": "array", "items": {"type": "string"}}
    difference = {"type": "object", "properties": {"delta": {"type": ["number", "null"]},
                                                   "relative": {"type": ["number", "null"]},
                                                   "same": {"type": "boolean"}},
                  "required": ["delta", "relative", "same"], "additionalProperties": False}
    scenario = {"type": "object", "properties": {"name": {"type": "string"}, "file": {"type": "string"},
                                                 "inputs": {"type": "object"}, "results": {"type": "object"},
                                                 "assumptions": notes, "warnings": notes},
                "required": ["name", "file", "inputs", "results", "assumptions", "warnings"],
                "additionalProperties": False}
    diff = {"type": "object", "properties": {"name": {"type": "string"},
                                             "inputs": {"type": "array", "items": {"type": "string"}},
                                             "results": {"type": "object", "additionalProperties": difference}},
            "required": ["name", "inputs", "results"], "additionalProperties": False}
    return {
        "$schema": DRAFT, "$id": f"https://aistack.dev/schema/v{SCHEMA_VERSION}/compare.json",
        "title": "aistack compare --format json", "type": "object",
        "properties": {"schema_version": {"const": SCHEMA_VERSION}, "aistack": {"type": "string"},
                       "command": {"const": "compare"}, "compared": {"enum": list(fields.COMMANDS)},
                       "baseline": {"type": "string"}, "scenarios": {"type": "array", "items": scenario, "minItems": 2},
                       "differences": {"type": "array", "items": diff}, "assumptions": notes, "warnings": notes},
        "required": ["schema_version", "aistack", "command", "compared", "baseline", "scenarios", "differences",
                     "assumptions", "warnings"],
        "additionalProperties": False,
    }


def all_schemas() -> dict[str, Any]:
    """One schema for any calculator's output, selected by ``command``."""
    return {"$schema": DRAFT, "$id": f"https://aistack.dev/schema/v{SCHEMA_VERSION}/aistack.json",
            "title": "aistack --format json", "oneOf": [command_schema(c) for c in fields.COMMANDS]}
