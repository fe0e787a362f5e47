"""Kubernetes resource quantities ("100Gi", "500m", "2"): parsing and comparison."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

# The API server's grammar: a signed decimal number, then a binary (Ki..Ei), a decimal
# (n, u, m, k, M, G, T, P, E) or an exponent (e3, E-2) suffix, or none.
QUANTITY_PATTERN: Final = r"^[+-]?(\d+\.?\d*|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$"
_QUANTITY_RE: Final = re.compile(QUANTITY_PATTERN)

_SUFFIXES: Final[dict[str, Decimal]] = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float) -> Decimal:
    """The value of a quantity in base units (bytes, cores)."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = value.strip()
    match = _QUANTITY_RE.match(text)
    if not match:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity: write a number with an optional "
            "suffix, e.g. 100Gi, 512Mi, 500m or 2"
        )
    number, suffix = match.group(1), match.group(2) or ""
    sign = -1 if text.startswith("-") else 1
    try:
        if suffix[:1] in ("e", "E"):
            return sign * Decimal(number) * (Decimal(10) ** int(suffix[1:]))
        return sign * Decimal(number) * _SUFFIXES[suffix]
    except InvalidOperation as exc:  # pragma: no cover - the regex rules it out
        raise QuantityError(f"{value!r} is not a Kubernetes quantity") from exc


def same_quantity(a: object, b: object) -> bool:
    """Whether two quantities are equal in value ("1000m" == "1", "1Gi" == "1024Mi")."""
    if not isinstance(a, str | int | float) or not isinstance(b, str | int | float):
        return False
    try:
        return parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return False
