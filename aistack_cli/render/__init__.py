"""One report, five formats, each writing to a stream and streaming where it can.

``table`` is for people (``render.text``); ``json``, ``yaml``, ``toml`` and ``csv`` for machines
(``render.machine``). PyYAML and tomli-w are imported only by the writer that needs them.
"""

from __future__ import annotations

from enum import Enum
from typing import TextIO

from aistack_cli.result import Report


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    toml = "toml"
    csv = "csv"


FORMATS = tuple(f.value for f in Format)


def write(report: Report, fmt: Format, out: TextIO) -> None:
    """Write ``report`` to ``out`` in ``fmt``."""
    from aistack_cli.render import machine

    if fmt is Format.json:
        encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "")
        machine.write_json(report, out, ascii_only=encoding not in ("utf8", "utf16", "utf32"))
    elif fmt is Format.csv:
        machine.write_csv(report, out)
    elif fmt is Format.yaml:
        machine.write_yaml(report, out)
    elif fmt is Format.toml:
        machine.write_toml(report, out)
    else:
        from aistack_cli.render.text import render_table

        for line in render_table(report):
            out.write(line + "\n")
