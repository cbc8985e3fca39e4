"""The default price of an accelerator: one basis for every sheet, stated wherever it is used.

A sheet lists every price found for the part (on-demand list, reserved or contract, spot, purchase), each
with its provider class, currency and date. Commands that need one price per GPU-hour take the default:
the median of the sheet's prices on ONE basis, so that ranking GPUs by cost ranks the GPUs and not the
price dates or the kind of provider. Prices on other bases stay on the sheet (``aistack specs show``) and
are named when no default exists, so the user can pass one with ``--price-per-gpu-hour``.

Standard library only: this runs when sheets are compiled and when a command writes its price note.
"""

from __future__ import annotations

from statistics import median

# The default basis. Specialist GPU clouds (neoclouds and marketplaces) are the one class with published
# on-demand list prices for nearly every current GPU; hyperscaler list prices run 2-3x higher and would
# rank providers rather than GPUs. The window spans the dated neocloud prices gathered for catalog v2
# (the oldest from April 2025) up to the catalog's date; a price dated by year only counts when the whole
# year lies inside the window.
BASIS_TYPE = "on-demand"
BASIS_CLASSES = ("neocloud", "marketplace")
BASIS_CURRENCY = "USD"
WINDOW = ("2025-04", "2026-12")


def basis_text() -> str:
    """The default basis in words, as every price note states it."""
    return (f"median of the sheet's {BASIS_TYPE} list prices from neoclouds and GPU marketplaces "
            f"({BASIS_CURRENCY}, dated {WINDOW[0]} to {WINDOW[1]})")


def _span(date: str) -> tuple[str, str]:
    """First and last month a date (2026, 2026-03 or 2026-03-17) can mean."""
    if len(date) == 4:
        return f"{date}-01", f"{date}-12"
    return date[:7], date[:7]


def in_window(date: str, window: tuple[str, str] = WINDOW) -> bool:
    first, last = _span(date)
    return window[0] <= first and last <= window[1]


def on_basis(entry: dict) -> bool:
    return (entry["type"] == BASIS_TYPE and entry["provider_class"] in BASIS_CLASSES
            and entry["currency"] == BASIS_CURRENCY and in_window(entry["as_of"]))


def default_price(entries: list[dict]) -> tuple[float | None, str | None, str]:
    """(USD per accelerator-hour, date of the newest price used, the basis in words) or (None, None, why)."""
    chosen = [e for e in entries if on_basis(e)]
    if not chosen:
        return None, None, f"no price on the default basis: {basis_text()}"
    value = round(median(e["usd_per_hour"] for e in chosen), 4)
    newest = max(e["as_of"] for e in chosen)
    providers = ", ".join(sorted({e["provider"] for e in chosen}))
    return value, newest, f"{basis_text()}: {len(chosen)} price{'s' if len(chosen) > 1 else ''} ({providers})"


def purchase_price(entries: list[dict]) -> tuple[float | None, str | None]:
    """Median purchase price per accelerator and the newest date among them, or (None, None)."""
    chosen = [e for e in entries if e["type"] == "purchase"]
    if not chosen:
        return None, None
    return round(median(e["usd"] for e in chosen), 2), max(e["as_of"] for e in chosen)


def other_prices(entries: list[dict], limit: int = 3) -> str:
    """The sheet's rental prices off the default basis, newest first, in a few words."""
    others = sorted((e for e in entries if e["type"] != "purchase" and not on_basis(e)),
                    key=lambda e: e["as_of"], reverse=True)[:limit]
    return "; ".join(f"{e['provider_class']} {e['type']} ${e['usd_per_hour']:,.2f} ({e['provider']}, {e['as_of']})"
                     for e in others)
