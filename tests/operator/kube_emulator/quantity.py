"""resource.Quantity as kube-apiserver stores it: parse, then print in canonical form.

Follows k8s.io/apimachinery/pkg/api/resource (quantity.go ParseQuantity, CanonicalizeBytes;
amount.go AsCanonicalBytes, AsCanonicalBase1024Bytes; suffix.go), written independently of
the operator's own formatter (voxtral_operator.api.quantity) so that a test comparing the two
is not a comparison of a function with itself. The value is kept as an integer and a decimal
scale (value = unscaled × 10^-scale), like the inf.Dec of the Go code.

Modelled: the three formats (a decimal suffix or none: DecimalSI; Ki..Ei: BinarySI; e/E and an
exponent: DecimalExponent), rounding up to 1n, BinarySI of less than 1024 or of a fraction of a
byte printed as DecimalSI, BinarySI capped at 2^63-1, the exponent kept a multiple of 3 and
as large as possible. Not modelled: the fast path's echo of some non-canonical inputs as they
were written ("+1", "01", "1E6"): the operator never writes those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_OF = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_OF = {0: "", **{exp: suffix for suffix, exp in _BINARY.items()}}
_GRAMMAR = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(.*)$")
_MAX_INT64 = 2**63 - 1


class QuantityError(ValueError):
    pass


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: str  # "DecimalSI", "BinarySI" or "DecimalExponent"


def parse(text: str) -> Quantity:
    match = _GRAMMAR.match(text.strip())
    if not match or not (match.group(2) or match.group(3)):
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    sign, whole, frac, suffix = match.groups()
    digits = Fraction(int((whole or "0") + (frac or "")), 10 ** len(frac or ""))
    if suffix in _DECIMAL:
        value, fmt = digits * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    elif suffix in _BINARY:
        value, fmt = digits * 2 ** _BINARY[suffix], "BinarySI"
    elif re.fullmatch(r"[eE][+-]?\d+", suffix):
        value, fmt = digits * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    else:
        raise QuantityError(f"unable to parse quantity's suffix: {text!r}")
    # Anything finer than a nano-unit rounds up (away from zero) to the next nano-unit.
    nanos = value * 10**9
    if nanos.denominator != 1:
        nanos = Fraction(-((-nanos.numerator) // nanos.denominator))
        value = nanos / 10**9
    if fmt == "BinarySI":
        value = min(value, Fraction(_MAX_INT64))
        if 0 < value < 1:
            fmt = "DecimalSI"
    return Quantity(-value if sign == "-" else value, fmt)


def canonical(quantity: str | int | float) -> str:
    """What the API server answers for a quantity written as `quantity`."""
    q = parse(str(quantity))
    if q.value == 0:
        return "0"
    sign = "-" if q.value < 0 else ""
    magnitude = abs(q.value)
    fmt = q.format
    if fmt == "BinarySI" and (magnitude < 1024 or magnitude.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        number, exp = int(magnitude), 0
        while number >= 1024 and number % 1024 == 0 and exp < 60:
            number //= 1024
            exp += 10
        return f"{sign}{number}{_BINARY_OF[exp]}"
    # mantissa × 10^exponent, mantissa an integer, exponent a multiple of 3, as large as can be
    exponent = -9
    mantissa = magnitude * 10**9
    assert mantissa.denominator == 1
    number = mantissa.numerator
    while number % 10 == 0 and number:
        number //= 10
        exponent += 1
    while exponent % 3:
        number *= 10
        exponent -= 1
    if fmt == "DecimalExponent":
        return f"{sign}{number}" + (f"e{exponent}" if exponent else "")
    if exponent > 18:  # no suffix beyond E: the Go code prints the digits alone
        return f"{sign}{number}"
    return f"{sign}{number}{_SUFFIX_OF[exponent]}"
