"""Kubernetes resource quantities ("100Gi", "500m", "2"): parsing and comparison."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext
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
        if suffix in _SUFFIXES:  # "E" is exa, "Ei" exbi: only "e3", "E-2"... are exponents
            return sign * Decimal(number) * _SUFFIXES[suffix]
        return sign * Decimal(number) * (Decimal(10) ** int(suffix[1:]))
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


_DECIMAL_SUFFIX: Final = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
_DECIMAL_SUFFIX.update({15: "P", 18: "E"})
_BINARY_SUFFIX: Final = {0: "", 1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}
_NANO: Final = Decimal("1e-9")


def canonical_quantity(value: str | int | float) -> str:
    """A quantity as the API server stores it (resource.Quantity's canonical form), so that
    what the operator writes reads back unchanged and a resync finds nothing to change:
    "0.5" -> "500m", "1000m" -> "1", "12.5" -> "12500m", "65536Mi" -> "64Gi", "0.5Gi" ->
    "512Mi", "1e3" stays "1e3". The rules of k8s.io/apimachinery pkg/api/resource: the format
    follows the suffix written (decimal, binary, exponent); precision finer than 1n rounds
    up; a binary amount under 1024 or not a whole number of bytes is written in decimal; the
    decimal exponent is a multiple of 3, as large as the digits allow."""
    with localcontext() as context:
        context.prec = 60  # exact for every quantity the API server accepts
        return _canonical(str(value).strip() if not isinstance(value, float) else repr(value))


def _canonical(text: str) -> str:
    amount = parse_quantity(text)
    match = _QUANTITY_RE.match(text.lstrip("+-"))
    assert match is not None  # parse_quantity accepted it
    suffix = match.group(2) or ""
    style = "binary" if suffix.endswith("i") else "decimal" if suffix in _SUFFIXES else "exponent"
    magnitude = abs(amount)
    if magnitude != magnitude.quantize(_NANO, rounding=ROUND_CEILING):
        magnitude = magnitude.quantize(_NANO, rounding=ROUND_CEILING)  # away from zero
    if magnitude == 0:
        return "0"
    sign = "-" if amount < 0 else ""
    if style == "binary":
        magnitude = min(magnitude, Decimal(2**63 - 1))
        if magnitude >= 1024 and magnitude == magnitude.to_integral_value():
            whole, power = int(magnitude), 0
            while whole % 1024 == 0 and power < 6:
                whole //= 1024
                power += 1
            return f"{sign}{whole}{_BINARY_SUFFIX[power]}"
        style = "decimal"
    digits = int((magnitude / _NANO).to_integral_value())
    exponent = -9
    while digits % 10 == 0:
        digits //= 10
        exponent += 1
    shift = exponent % 3
    digits, exponent = digits * 10**shift, exponent - shift
    if style == "exponent":
        return f"{sign}{digits}" + (f"e{exponent}" if exponent else "")
    if exponent > 18:
        return f"{sign}{digits}"  # as the API server prints it: no suffix beyond E
    return f"{sign}{digits}{_DECIMAL_SUFFIX[exponent]}"
