"""Resource quantities (`cpu: 2000m`) in the spelling the API server stores.

Owns: `canonical(value)`, the text kube-apiserver writes back for a
quantity written as `value` (a string, or a JSON number), and `parse`, the
exact value behind it. A port of k8s.io/apimachinery/pkg/api/resource
(quantity.go, suffix.go, amount.go): the number is kept exact (an integer
mantissa and a power of ten), magnitudes below 1n round up to 1n, binary
quantities cap at 2^63-1, and the canonical form has no fraction and the
largest suffix that loses nothing (`2000m` is `2`, `1024Mi` is `1Gi`,
`0.5` is `500m`, `1.5Gi` is `1536Mi`). Like the API server, a spelling that
is already canonical by Go's quick test is kept as written, sign and
leading zeros included (`+1` stays `+1`, `1e3` stays `1e3`, `1.500` stays
`1.500`): that is what the server stores, so it is what we must predict.
Refuses: anything the API server would refuse (ValueError from `parse`,
None from `canonical`): a caller that cannot predict the stored value must
ask the server.
"""

from __future__ import annotations

import decimal
import enum
import math
import re
from dataclasses import dataclass

INT64_MAX = (1 << 63) - 1
_MAX_INT64_FACTORS = 18  # decimal digits that always fit an int64
_NANO = -9


class Format(enum.Enum):
    DECIMAL_SI = "DecimalSI"  # 12M
    BINARY_SI = "BinarySI"  # 12Mi
    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6


_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {e: s for s, e in _DECIMAL.items()}
_BINARY_SUFFIX = {e: s for s, e in _BINARY.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_EXPONENT = re.compile(r"[+-]?[0-9]+\Z")
_AFTER_LETTERS = re.compile(r"[+-]?[0-9]*\Z")


@dataclass(frozen=True)
class Quantity:
    """mantissa * 10**exponent, exactly; `kept` is the spelling the server keeps."""

    mantissa: int
    exponent: int
    format: Format
    kept: str | None = None

    def __str__(self) -> str:
        return self.kept if self.kept is not None else _canonical_text(self)


@dataclass(frozen=True)
class _Scan:
    positive: bool
    num: str  # digits before the point, leading zeros stripped ("0" if none)
    denom: str  # digits after the point
    suffix: str
    digits: bool = True  # whether the number had a digit at all ("." has none)


def _scan(text: str) -> _Scan:
    """parseQuantityString: sign, digits, fraction and suffix, as Go splits them."""
    end, pos, positive = len(text), 0, True
    if text[:1] in ("+", "-"):
        positive, pos = text[0] == "+", 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return _Scan(positive, "0", "", "")
    start = pos
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    digits = pos > start or start > (1 if text[:1] in ("+", "-") else 0)
    denom = ""
    if pos < end and text[pos] == ".":
        start = pos = pos + 1
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
        digits = digits or pos > start
    suffix = text[pos:]
    letters = len(suffix) - len(suffix.lstrip("".join(_SUFFIX_CHARS)))
    rest = suffix[letters:]
    if not _AFTER_LETTERS.match(rest):
        raise ValueError(f"{text!r} is not a quantity (a number and a suffix such as m, Mi, k)")
    return _Scan(positive, num, denom, suffix, digits)


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) of a suffix."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], Format.DECIMAL_SI
    if suffix in _BINARY:
        return 2, _BINARY[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT.match(suffix[1:]):
        exponent = int(suffix[1:])
        if not -(1 << 63) <= exponent <= INT64_MAX:
            raise ValueError(f"the exponent of {suffix!r} is out of range")
        return 10, (exponent + (1 << 31)) % (1 << 32) - (1 << 31), Format.DECIMAL_EXPONENT
    raise ValueError(f"{suffix!r} is not a quantity suffix (n u m k M G T P E Ki Mi Gi Ti Pi Ei)")


def parse(text: str) -> Quantity:
    """ParseQuantity: the exact value of `text`, its format, and whether it is kept."""
    if not text:
        raise ValueError("an empty string is not a quantity")
    if text == "0":
        return Quantity(0, 0, Format.DECIMAL_SI, kept="0")
    scan = _scan(text)
    base, exponent, fmt = _interpret(scan.suffix)
    quick = _quick(text, scan, exponent, fmt)
    if quick is not None:
        return quick
    if not scan.digits:
        raise ValueError(f"{text!r} has no digits")
    return _exact(scan, base, exponent, fmt)


def _quick(text: str, scan: _Scan, exponent: int, fmt: Format) -> Quantity | None:
    """Go's int64 fast path: the value when it fits without rounding, and the
    text kept when it already looks canonical; None if it does not apply."""
    multiplier, scale = 1, exponent
    if fmt is Format.BINARY_SI:
        scale = 0
        if exponent < 0 or scan.denom:
            return None
        multiplier = 1 << exponent
        precision = 15 - len(scan.num) - exponent * 3 // 10 - 1
    else:
        precision = _MAX_INT64_FACTORS - len(scan.num) - len(scan.denom)
    scale -= len(scan.denom)
    if precision < 0 or scale < _NANO:
        return None
    shifted = scan.num + scan.denom
    value = int(shifted)
    result = value * multiplier
    if result > INT64_MAX:
        return None
    if fmt is Format.BINARY_SI:
        keep = value & 0x07 != 0
    else:
        keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return Quantity(result if scan.positive else -result, scale, fmt, kept=text if keep else None)


def _exact(scan: _Scan, base: int, exponent: int, fmt: Format) -> Quantity:
    """Go's inf.Dec path: any size, magnitudes rounded up to 1n, binary capped."""
    mantissa, power = int(scan.num + scan.denom), -len(scan.denom)
    if base == 10:
        power += exponent
    else:
        mantissa <<= exponent
    if mantissa and power < _NANO:
        # Round up, away from zero; below 1n is 1n (without 10**places for a huge exponent).
        places = _NANO - power
        mantissa = 1 if places >= len(str(mantissa)) else -(-mantissa // 10**places)
        power = _NANO
    if fmt is Format.BINARY_SI:
        if _compare(mantissa, power, INT64_MAX) > 0:
            mantissa, power = INT64_MAX, 0
        if mantissa and _compare(mantissa, power, 1) < 0:
            fmt = Format.DECIMAL_SI
    return Quantity(mantissa if scan.positive else -mantissa, power, fmt)


def _compare(mantissa: int, power: int, other: int) -> int:
    """Sign of mantissa * 10**power - other, for mantissa >= 0."""
    left, right = (mantissa * 10**power, other) if power >= 0 else (mantissa, other * 10**-power)
    return (left > right) - (left < right)


def _canonical_text(q: Quantity) -> str:
    """CanonicalizeBytes: no fraction, the largest exact suffix, the format kept."""
    if q.mantissa == 0:
        return "0"
    fmt = q.format
    integer: int | None = None
    if fmt is Format.BINARY_SI:
        magnitude = abs(q.mantissa)
        if _compare(magnitude, q.exponent, 1024) < 0:
            fmt = Format.DECIMAL_SI
        elif q.exponent >= 0:
            integer = q.mantissa * 10**q.exponent
        elif magnitude % 10**-q.exponent == 0:
            integer = q.mantissa // 10**-q.exponent
        else:
            fmt = Format.DECIMAL_SI  # a fraction would be lost: show it in decimal
    if integer is not None:
        times = 0
        while integer % 1024 == 0:
            integer //= 1024
            times += 1
        return f"{integer}{_BINARY_SUFFIX.get(times * 10, '')}"
    mantissa, exponent = q.mantissa, q.exponent
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    # Go emits no suffix past E (10^18): 1000E is written back as "1".
    return f"{mantissa}{_DECIMAL_SUFFIX.get(exponent, '')}"


def round_up_to_milli(q: Quantity) -> Quantity:
    """Quantity.RoundUp(Milli), which core/v1's defaulting applies to every
    ResourceList value: finer values round up, away from zero, and lose the
    spelling they were written in."""
    if q.exponent >= -3:
        return q
    places, magnitude = -3 - q.exponent, abs(q.mantissa)
    if magnitude:
        magnitude = 1 if places >= len(str(magnitude)) else -(-magnitude // 10**places)
    return Quantity(magnitude if q.mantissa >= 0 else -magnitude, -3, q.format)


def canonical(value: object, *, resource_list: bool = False) -> str | None:
    """What the API server stores for a quantity written as `value`, or None if
    it would refuse it (or this port cannot say).

    A string is parsed as written (surrounding spaces trimmed, as Go's
    UnmarshalJSON does); a number first becomes the text Go's JSON encoder
    writes for it (`0.5`, `1e-7`, `1e+21`), because that is what the
    server's own decoding hands to the quantity parser. `resource_list`:
    the value is in a core/v1 ResourceList, so it is rounded up to 1m.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value) if -(1 << 63) <= value <= INT64_MAX else _go_float(float(value))
    elif isinstance(value, float):
        text = _go_float(value)
    elif isinstance(value, str) and value.isascii():
        text = value.strip(" ")
    else:
        return None
    if not text:
        return None
    try:
        q = parse(text)
    except ValueError:
        return None
    return str(round_up_to_milli(q) if resource_list else q)


def _go_float(value: float) -> str:
    """encoding/json's text for a float64: the shortest digits that read back
    as the same float, fixed-point from 1e-6 to 1e21, else with an exponent
    (`1e-7`, `1.5e+21`)."""
    if not math.isfinite(value):
        return ""  # JSON has no such number
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign, digit_tuple, exponent = _decimal_parts(value)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len("".join(map(str, digit_tuple))) - len(digits)
    point = len(digits) + exponent  # digits[:point] is the integer part
    if 1e-6 <= abs(value) < 1e21:
        if point <= 0:
            text = "0." + "0" * -point + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits))
        else:
            text = digits[:point] + "." + digits[point:]
    else:
        power = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
        if power < 0 and abs(power) < 10:
            text = f"{mantissa}e-{abs(power)}"  # Go cleans e-07 up to e-7
    return sign + text


def _decimal_parts(value: float) -> tuple[str, tuple[int, ...], int]:
    """Sign, digits and exponent of the shortest decimal that reads back as `value`."""
    parts = decimal.Decimal(repr(value)).as_tuple()
    return ("-" if parts.sign else ""), parts.digits, int(parts.exponent)
