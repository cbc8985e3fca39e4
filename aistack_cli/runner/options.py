"""Options declared once, parsed once, at the edge.

A calculator declares its options as ``Opt`` specs: the kind of quantity, its physical range,
its help. The runner turns them into Typer options (with typed metavars such as SIZE or TIME and
catalog-id completion), reads their text from the command line or a scenario file, and hands the
calculator typed values: commands never parse text. Every option of a quantity kind can be swept
(see ``runner.sweep``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from aistack_cli import units
from aistack_cli.errors import InputError
from aistack_cli.runner.sweep import MAX_POINTS, Sweep, expand_range, is_range, is_thousands, split_items

# Quantity kinds (``units`` dimensions) and the metavar each shows in --help.
METAVARS = {
    "count": "COUNT", "int": "INT", "bytes": "SIZE", "nccl_bytes": "SIZE", "bytes_per_s": "RATE",
    "seconds": "TIME", "days": "TIME", "fraction": "FRACTION", "ratio": "RATIO", "usd": "USD",
    "usd_per_hour": "USD/H", "usd_per_kwh": "USD/KWH", "usd_per_kw_month": "USD/KW-MONTH",
    "usd_per_gb": "USD/GB", "usd_per_w": "USD/W", "watts": "POWER", "wh": "ENERGY", "flop": "FLOP",
    "flop_per_s": "FLOP/S",
    "mm": "LENGTH", "mm2": "AREA", "per_cm2": "DENSITY", "g_per_kwh": "G/KWH", "l_per_kwh": "L/KWH",
    "word": "WORD", "id": "ID", "text": "TEXT", "flag": "",
}
QUANTITIES = {k for k in METAVARS if k not in ("word", "id", "text", "flag")}


class Opt(NamedTuple):
    """One option: ``name`` is its Python name and scenario-file key (``--name-with-dashes``).
    (A NamedTuple: every command defines dozens of these at start-up, where a dataclass costs.)"""

    name: str
    kind: str
    help: str
    default: Any = None  # a typed default, or None: not given (the command decides)
    default_text: str | None = None  # how --help shows the default, when it is not ``default``
    lo: float | None = None  # physical range; lo_open/hi_open exclude the bound itself
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()  # for kind "word"
    aliases: tuple[tuple[str, str], ...] = ()  # accepted spellings of a word: (alias, choice)
    ids: str | None = None  # catalog kind of an id option (for completion)
    flags: tuple[str, ...] = ()  # extra spellings of the flag (--sizes beside --size)
    field: str | None = None  # the input key this option sets, when it is not ``name``
    sweep: bool = True  # may take a list or a range
    short: str | None = None
    # The cited default sheet (specs/defaults) standing in when the option is not given (--help shows
    # its value; ``o.default(name)`` reads it); several when the command picks one (per precision).
    default_id: str | tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        return self.field or self.name

    @property
    def integer(self) -> bool:
        return self.kind == "int"

    @property
    def metavar(self) -> str:
        if self.kind == "word" and self.choices and len("|".join(self.choices)) <= 30:
            return "|".join(self.choices).upper()
        return METAVARS[self.kind]

    def help_text(self) -> str:
        text = self.help
        if self.kind == "word" and self.choices and self.metavar == "WORD":
            text += " One of: " + ", ".join(self.choices) + "."
        if self.lo is not None or self.hi is not None:
            text += f" Range: {self.range_text()}."
        return text

    def range_text(self) -> str:
        low = "(" if self.lo_open else "["
        high = ")" if self.hi_open else "]"
        lo = _num(self.lo) if self.lo is not None else "-inf"
        hi = _num(self.hi) if self.hi is not None else "inf"
        return f"{low}{lo}, {hi}{high}"

    # ---- parsing ---------------------------------------------------------------------

    def parse(self, value: Any, notes: list[str]) -> Any:
        """A typed value, or a ``Sweep`` of them, from command-line text or a scenario value."""
        if self.kind == "flag":
            if isinstance(value, bool):
                return value
            raise InputError(f"{self.flag}: expected true or false, got {units.show(value)}")
        if isinstance(value, (list, tuple)):
            if not self.sweep:
                raise InputError(f"{self.flag}: takes one value, not a list")
            items = [v for item in value for v in self._values(item, notes)]
            return Sweep(items) if len(items) != 1 else items[0]
        values = self._values(value, notes)
        if len(values) > 1 and not self.sweep:
            raise InputError(f"{self.flag}: takes one value, not a list or range")
        return Sweep(values) if len(values) > 1 else values[0]

    def _values(self, value: Any, notes: list[str]) -> list[Any]:
        if isinstance(value, bool):
            raise InputError(f"{self.flag}: expected {self._expected()}, got {value!r}")
        if isinstance(value, (int, float)):
            return [self.one(value)]
        if not isinstance(value, str):
            raise InputError(f"{self.flag}: expected {self._expected()}, got a {type(value).__name__}")
        text = value.strip()
        if not text:
            raise InputError(f"{self.flag}: empty value; expected {self._expected()}")
        if "\n" in text or "\r" in text:
            raise InputError(f"{self.flag}: a value cannot span lines, got {units.show(text)}")
        numeric = self.kind in QUANTITIES
        if numeric and "," in text and is_thousands(text):
            return self._thousands(text, notes)
        values: list[Any] = []
        for item in split_items(text, self.flag) if self.sweep else [text]:
            if numeric and is_range(item):
                budget = MAX_POINTS - len(values)
                values += [self.one(v) for v in expand_range(item, self.flag, self._quantity, self.integer, budget)]
            else:
                values.append(self.one(item))
            if len(values) > MAX_POINTS:
                raise InputError(f"{self.flag}: more than {MAX_POINTS:,} values")
        return values

    def _thousands(self, text: str, notes: list[str]) -> list[Any]:
        """``16,384``: a number with thousands separators, or a list? Never a guess (see runner.sweep)."""
        number_text = text.replace(",", "")
        readings = []
        for reading in (lambda: [self.one(number_text)], lambda: [self.one(i) for i in split_items(text, self.flag)]):
            try:
                readings.append(reading())
            except InputError:
                readings.append(None)
        as_number, as_list = readings
        if as_number is not None and (as_list is None or not self.sweep):
            notes.append(f"{self.flag} {text} read as the number {number_text} (thousands separators)")
            return as_number
        if as_list is not None and as_number is None:
            return as_list
        spaced = text.replace(",", ", ")
        raise InputError(f"{self.flag}: {units.show(text)} reads as the number {number_text} or as the list "
                         f"{spaced}; write {number_text} for the number, or '{spaced}' (with spaces) for the list")

    def _quantity(self, text: str) -> float:
        return units.parse(text, "int" if self.kind == "int" else self.kind, self.flag)

    def one(self, value: Any) -> Any:
        """One typed value, checked against the option's range or choices."""
        if self.kind in ("id", "text"):
            text = str(value).strip()
            if not text:
                raise InputError(f"{self.flag}: empty value; expected {self._expected()}")
            return text
        if self.kind == "word":
            return self._word(str(value))
        number = units.parse(value, "int" if self.kind == "int" else self.kind, self.flag)
        if self.kind == "int":
            if number != int(number):
                raise InputError(f"{self.flag}: must be a whole number, got {units.show(value)}")
            number = int(number)
        self._check_range(number, value)
        return number

    def _word(self, text: str) -> str:
        key = text.strip().lower().replace("_", "-")
        key = dict(self.aliases).get(key, key)
        if key not in self.choices:
            raise InputError(f"{self.flag}: unknown value {units.show(text)}; expected one of {', '.join(self.choices)}")
        return key

    def _check_range(self, number: float, given: Any) -> None:
        low_bad = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        high_bad = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        if low_bad or high_bad:
            raise InputError(f"{self.flag}: must be in {self.range_text()}, got {units.show(given)}")

    def _expected(self) -> str:
        if self.kind == "word":
            return "one of " + ", ".join(self.choices)
        if self.kind == "id":
            return f"a {self.ids or 'catalog'} id"
        if self.kind == "text":
            return "a value"
        return "a quantity such as " + units.EXAMPLES.get("int" if self.kind == "int" else self.kind, "8")


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1e4 else f"{value:g}"


class Options:
    """The values of one point, as attributes: ``o.gpus``, ``o.context``; ``given`` names the
    options the user set (on the command line or in a scenario file), for notes on defaults.
    ``o.default(name)`` is an option backed by a cited default (``Opt(default_id=...)``)."""

    def __init__(self, values: dict[str, Any], given: frozenset[str], catalog=None,
                 opts: dict[str, Opt] | None = None, notes: bool = True):
        self.__dict__.update(values)
        self._given = given
        self._catalog = catalog
        self._opts = opts or {}
        self._write_notes = notes  # off for the Monte Carlo draws of --ranges, whose notes nobody reads
        self.notes: list[str] = []  # assumption lines of o.default(); the runner adds them to the point

    def given(self, name: str) -> bool:
        return name in self._given

    def default(self, name: str) -> Any:
        """The option's value when the user gave it, else its cited default's (read through the
        catalog, so ``--ranges`` samples it), with the assumption line either way. One wording in
        every command: ``--pue 1.58 (default; <evidence>)`` or ``--pue 1.3 (given)``."""
        opt = self._opts[name]
        value = self.__dict__[name]
        sheet = None
        if value is None:
            sheet = self._catalog.get("default", opt.default_id)
            value = sheet.value
        if self._write_notes:
            key = (opt.flag, opt.key, value, None if sheet is None else sheet.evidence)
            self.notes.append(_NOTES.get(key) or _note(key, opt, value, sheet))
        return value


_NOTES: dict[tuple, str] = {}  # a sweep writes the same lines for every point: build each once


def _note(key: tuple, opt: Opt, value: Any, sheet) -> str:
    from aistack_cli.render.text import humanize

    shown = f"{opt.flag} {humanize(opt.key, value)}"
    text = shown + " (given)" if sheet is None else sheet.note(shown)
    if len(_NOTES) > 4096:
        _NOTES.clear()
    _NOTES[key] = text
    return text

    def __getattr__(self, name: str) -> Any:  # only reached for an option the calculator did not declare
        raise AttributeError(f"no option {name!r}")
