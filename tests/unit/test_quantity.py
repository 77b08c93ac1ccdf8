"""core.objects.quantity against the tables of k8s.io/apimachinery's quantity_test.go.

The tables below are taken from upstream's TestQuantityParse,
TestParseQuantity, TestQuantityString and TestQuantityParseEmit (with
their negative and `+` variants, as upstream runs them); the properties
after them check the port on spellings no table lists. The integration test
tests/integration/test_steady_state.py holds the same function against the
real API server.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gitops_bot.core.objects import quantity
from gitops_bot.core.objects.quantity import INT64_MAX, Format, Quantity, canonical, parse

DSI, BSI, DEX = Format.DECIMAL_SI, Format.BINARY_SI, Format.DECIMAL_EXPONENT

# TestQuantityParse: the exact value and format of each spelling.
PARSED: list[tuple[str, int, int, Format]] = [
    ("0", 0, 0, DSI),
    ("0n", 0, 0, DSI),
    ("0u", 0, 0, DSI),
    ("0m", 0, 0, DSI),
    ("0Ki", 0, 0, BSI),
    ("0k", 0, 0, DSI),
    ("0Mi", 0, 0, BSI),
    ("0M", 0, 0, DSI),
    ("0Gi", 0, 0, BSI),
    ("0G", 0, 0, DSI),
    ("0Ti", 0, 0, BSI),
    ("0T", 0, 0, DSI),
    ("1", 1, 0, DSI),
    ("1Ki", 1024, 0, BSI),
    ("8Ki", 8192, 0, BSI),
    ("7Mi", 7340032, 0, BSI),
    ("6Gi", 6442450944, 0, BSI),
    ("5Ti", 5497558138880, 0, BSI),
    ("4Pi", 4503599627370496, 0, BSI),
    ("3Ei", 3458764513820540928, 0, BSI),
    ("10Ti", 10995116277760, 0, BSI),
    ("100Ti", 109951162777600, 0, BSI),
    ("5n", 5, -9, DSI),
    ("4u", 4, -6, DSI),
    ("3m", 3, -3, DSI),
    ("9", 9, 0, DSI),
    ("8k", 8, 3, DSI),
    ("50k", 5, 4, DSI),
    ("7M", 7, 6, DSI),
    ("6G", 6, 9, DSI),
    ("5T", 5, 12, DSI),
    ("40T", 4, 13, DSI),
    ("300T", 3, 14, DSI),
    ("2P", 2, 15, DSI),
    ("1E", 1, 18, DSI),
    ("1E-3", 1, -3, DEX),
    ("1e3", 1, 3, DEX),
    ("1E6", 1, 6, DEX),
    ("1e9", 1, 9, DEX),
    ("1E12", 1, 12, DEX),
    ("1e15", 1, 15, DEX),
    ("1E18", 1, 18, DEX),
    ("1e14", 1, 14, DEX),
    ("1e13", 1, 13, DEX),
    ("1e3", 1, 3, DEX),
    ("100.035k", 100035, 0, DSI),
    ("0.001", 1, -3, DSI),
    ("0.0005k", 5, -1, DSI),
    ("0.005", 5, -3, DSI),
    ("0.05", 5, -2, DSI),
    ("0.5", 5, -1, DSI),
    ("0.00050k", 5, -1, DSI),
    ("0.00500", 5, -3, DSI),
    ("0.05000", 5, -2, DSI),
    ("0.50000", 5, -1, DSI),
    ("0.5e0", 5, -1, DEX),
    ("0.5e-1", 5, -2, DEX),
    ("0.5e-2", 5, -3, DEX),
    ("0.5e0", 5, -1, DEX),
    ("10.035M", 10035, 3, DSI),
    ("1.2e3", 12, 2, DEX),
    ("1.3E+6", 13, 5, DEX),
    ("1.40e9", 14, 8, DEX),
    ("1.53E12", 153, 10, DEX),
    ("1.6e15", 16, 14, DEX),
    ("1.7E18", 17, 17, DEX),
    ("9.01", 901, -2, DSI),
    ("8.1k", 81, 2, DSI),
    ("7.123456M", 7123456, 0, DSI),
    ("6.987654321G", 6987654321, 0, DSI),
    ("5.444T", 5444, 9, DSI),
    ("40.1T", 401, 11, DSI),
    ("300.2T", 3002, 11, DSI),
    ("2.5P", 25, 14, DSI),
    ("1.01E", 101, 16, DSI),
    ("3.001n", 4, -9, DSI),
    ("1.1E-9", 2, -9, DEX),
    ("0.0000000001", 1, -9, DSI),
    ("0.0000000005", 1, -9, DSI),
    ("0.00000000050", 1, -9, DSI),
    ("0.5e-9", 1, -9, DEX),
    ("0.9n", 1, -9, DSI),
    ("0.00000012345", 124, -9, DSI),
    ("0.00000012354", 124, -9, DSI),
    ("12E", 12, 18, DSI),
    ("100.035Ki", 10243584, -2, BSI),
    ("0.5Mi", 524288, 0, BSI),
    ("0.05Gi", 536870912, -1, BSI),
    ("0.025Ti", 274877906944, -1, BSI),
    ("0.000000000001Ki", 2, -9, DSI),
    (".001", 1, -3, DSI),
    (".0001k", 100, -3, DSI),
    ("1.", 1, 0, DSI),
    ("1.G", 1, 9, DSI),
    ("9Ei", INT64_MAX, 0, BSI),
    ("9223372036854775807Ki", INT64_MAX, 0, BSI),
]
# TestParseQuantity: around 18 and 19 digits and the int64 bounds, as written back.
WRITTEN_BACK: list[tuple[str, str]] = [
    ("-999999999999999999", "-999999999999999999"),
    ("999999999999999999", "999999999999999999"),
    ("-999999999999999999.0", "-999999999999999999"),
    ("999999999999999999.0", "999999999999999999"),
    ("-999999999999999999.1", "-999999999999999999100m"),
    ("999999999999999999.1", "999999999999999999100m"),
    ("-9999999999999999999", "-9999999999999999999"),
    ("9999999999999999999", "9999999999999999999"),
    ("-1E", "-1E"),
    ("1E", "1E"),
    ("-1000000000000000000", "-1E"),
    ("1000000000000000000", "1E"),
    ("-9999999999999999999.0", "-9999999999999999999"),
    ("9999999999999999999.0", "9999999999999999999"),
    ("-1.0E", "-1E"),
    ("1.0E", "1E"),
    ("-1000000000000000000.0", "-1E"),
    ("1000000000000000000.0", "1E"),
    ("-9999999999999999999000m", "-9999999999999999999"),
    ("9999999999999999999000m", "9999999999999999999"),
    ("-9999999999999999999.1", "-9999999999999999999100m"),
    ("9999999999999999999.1", "9999999999999999999100m"),
    ("-1.0000000000000000001E", "-1000000000000000000100m"),
    ("1.0000000000000000001E", "1000000000000000000100m"),
    ("-1000000000000000000.1", "-1000000000000000000100m"),
    ("1000000000000000000.1", "1000000000000000000100m"),
    ("-1.000000000000000001E", "-1000000000000000001"),
    ("1.000000000000000001E", "1000000000000000001"),
    ("-1000000000000000001", "-1000000000000000001"),
    ("1000000000000000001", "1000000000000000001"),
    ("-10E", "-10E"),
    ("10E", "10E"),
    ("-10000000000000000000", "-10E"),
    ("10000000000000000000", "10E"),
    ("-10.0E", "-10E"),
    ("10.0E", "10E"),
    ("-10000000000000000000.0", "-10E"),
    ("10000000000000000000.0", "10E"),
    ("-10000000000000000000000m", "-10E"),
    ("10000000000000000000000m", "10E"),
    ("-10.0000000000000000001E", "-10000000000000000000100m"),
    ("10.0000000000000000001E", "10000000000000000000100m"),
    ("-10000000000000000000.1", "-10000000000000000000100m"),
    ("10000000000000000000.1", "10000000000000000000100m"),
    ("-10.000000000000000001E", "-10000000000000000001"),
    ("10.000000000000000001E", "10000000000000000001"),
    ("-10000000000000000001", "-10000000000000000001"),
    ("10000000000000000001", "10000000000000000001"),
    ("-9223372036854775809", "-9223372036854775809"),
    ("9223372036854775806", "9223372036854775806"),
    ("-9223372036854775809.0", "-9223372036854775809"),
    ("9223372036854775806.0", "9223372036854775806"),
    ("-9223372036854775809000m", "-9223372036854775809"),
    ("9223372036854775806000m", "9223372036854775806"),
    ("-9223372036854775809.1", "-9223372036854775809100m"),
    ("9223372036854775806.1", "9223372036854775806100m"),
    ("-9223372036854775808", "-9223372036854775808"),
    ("9223372036854775807", "9223372036854775807"),
    ("-9223372036854775808.0", "-9223372036854775808"),
    ("9223372036854775807.0", "9223372036854775807"),
    ("-9223372036854775808000m", "-9223372036854775808"),
    ("9223372036854775807000m", "9223372036854775807"),
    ("-9223372036854775808.1", "-9223372036854775808100m"),
    ("9223372036854775807.1", "9223372036854775807100m"),
    ("-9223372036854775807", "-9223372036854775807"),
    ("9223372036854775808", "9223372036854775808"),
    ("-9223372036854775807.0", "-9223372036854775807"),
    ("9223372036854775808.0", "9223372036854775808"),
    ("-9223372036854775807000m", "-9223372036854775807"),
    ("9223372036854775808000m", "9223372036854775808"),
    ("-9223372036854775807.1", "-9223372036854775807100m"),
    ("9223372036854775808.1", "9223372036854775808100m"),
]
# TestQuantityString: a value, its canonical text, and another spelling of it.
CANONICAL: list[tuple[int, int, Format, str, str]] = [
    (1073741824, 0, BSI, "1Gi", "1024Mi"),
    (314572800, 0, BSI, "300Mi", "307200Ki"),
    (6144, 0, BSI, "6Ki", ""),
    (1074815565824, 0, BSI, "1001Gi", "1025024Mi"),
    (1099511627776, 0, BSI, "1Ti", "1024Gi"),
    (5, 0, BSI, "5", "5000m"),
    (500, -3, BSI, "500m", "0.5"),
    (1, 9, DSI, "1G", "1000M"),
    (1000, 6, DSI, "1G", "0.001T"),
    (1000000, 3, DSI, "1G", ""),
    (1000000000, 0, DSI, "1G", ""),
    (1, -3, DSI, "1m", "1000u"),
    (80, -3, DSI, "80m", ""),
    (1080, -3, DSI, "1080m", "1.08"),
    (108, -2, DSI, "1080m", "1080000000n"),
    (10800, -4, DSI, "1080m", ""),
    (300, 6, DSI, "300M", ""),
    (1, 12, DSI, "1T", ""),
    (1234567, 6, DSI, "1234567M", ""),
    (1234567, -3, BSI, "1234567m", ""),
    (3, 3, DSI, "3k", ""),
    (1025, 0, BSI, "1025", ""),
    (0, 0, DSI, "0", ""),
    (0, 0, BSI, "0", ""),
    (1, 9, DEX, "1e9", ".001e12"),
    (1, -3, DEX, "1e-3", "0.001e0"),
    (1, -9, DEX, "1e-9", "1000e-12"),
    (80, -3, DEX, "80e-3", ""),
    (300, 6, DEX, "300e6", ""),
    (1, 12, DEX, "1e12", ""),
    (1, 3, DEX, "1e3", ""),
    (3, 3, DEX, "3e3", ""),
    (3, 3, DSI, "3k", ""),
    (0, 0, DEX, "0", "00"),
    (1, -9, DSI, "1n", ""),
    (80, -9, DSI, "80n", ""),
    (1080, -9, DSI, "1080n", ""),
    (108, -8, DSI, "1080n", ""),
    (10800, -10, DSI, "1080n", ""),
    (1, -6, DSI, "1u", ""),
    (80, -6, DSI, "80u", ""),
    (1080, -6, DSI, "1080u", ""),
]

# TestQuantityParseEmit
EMITTED = [
    ("1Ki", "1Ki"),
    ("1Mi", "1Mi"),
    ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"),
    ("1000M", "1G"),
    (".001Ki", "1024m"),
    (".000001Ki", "1024u"),
    (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),
]

INVALID = ["", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-"]
INVALID += ["1e", "1Ki2", "1k k", "1e99999999999999999999", "0x10", "1_000", "\uff11"]


def value(q: Quantity) -> tuple[int, int]:
    """(numerator, denominator) of q's exact value, in lowest terms."""
    f = Fraction(q.mantissa) * Fraction(10) ** q.exponent
    return f.numerator, f.denominator


def exact(mantissa: int, exponent: int) -> tuple[int, int]:
    return value(Quantity(mantissa, exponent, DSI))


@pytest.mark.parametrize(("text", "mantissa", "exponent", "fmt"), PARSED)
@pytest.mark.parametrize("sign", ["", "-", "+"])
def test_parse_reads_the_exact_value_and_format(
    text: str, mantissa: int, exponent: int, fmt: Format, sign: str
) -> None:
    q = parse(sign + text)
    assert value(q) == exact(-mantissa if sign == "-" else mantissa, exponent)
    assert q.format is fmt


@pytest.mark.parametrize(("text", "written"), WRITTEN_BACK)
def test_large_numbers_are_written_back_as_upstream_does(text: str, written: str) -> None:
    assert str(parse(text)) == written
    assert canonical(text) == written


@pytest.mark.parametrize(("mantissa", "exponent", "fmt", "text", "other"), CANONICAL)
def test_canonical_text_of_a_value_and_of_its_other_spellings(
    mantissa: int, exponent: int, fmt: Format, text: str, other: str
) -> None:
    assert str(Quantity(mantissa, exponent, fmt)) == text
    assert parse(text).kept == text  # canonical already: kept as written
    if other:
        assert parse(other).kept is None
        assert canonical(other) == text
    if mantissa:
        assert str(Quantity(-mantissa, exponent, fmt)) == "-" + text


@pytest.mark.parametrize(("text", "emitted"), EMITTED)
def test_parse_then_emit(text: str, emitted: str) -> None:
    assert canonical(text) == emitted
    assert canonical("-" + text) == "-" + emitted


@pytest.mark.parametrize("text", INVALID)
def test_what_the_server_refuses_has_no_canonical_form(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any refusal will do
        parse(text)
    assert canonical(text) is None


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        # How podinfo, ingress-nginx and friends write them, and what comes back.
        ("2000m", "2"),
        ("1000m", "1"),
        ("100m", "100m"),
        ("0.1", "100m"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1024Mi", "1Gi"),
        ("2048Mi", "2Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("512Ki", "512Ki"),
        ("1000Ki", "1000Ki"),
        ("1000k", "1M"),
        ("1000000000n", "1"),
        ("1e3", "1e3"),  # canonical already: kept as written
        ("1E3", "1E3"),
        ("1e+3", "1e+3"),
        ("1000e0", "1e3"),
        ("+1", "+1"),
        ("01", "01"),
        ("1.500", "1.500"),
        ("1.50", "1500m"),
        ("0", "0"),
        ("0m", "0"),
        ("0Gi", "0"),
        ("00", "0"),
        ("-0", "0"),
        ("1000E", "1"),  # upstream has no suffix past E, and writes none
        ("1e-2147483648", "1e-9"),  # rounded up to 1n without computing 10**2147483639
        ("1e2147483648", "1e-9"),  # the exponent wraps at 32 bits, as in Go: e-2147483648
        (" 1", "1"),
        ("1 ", "1"),
        # JSON numbers: the text Go's JSON encoder gives them, then parsed.
        (1, "1"),
        (2, "2"),
        (0, "0"),
        (-1, "-1"),
        (0.5, "500m"),
        (2.0, "2"),
        (0.1, "100m"),
        (1e-7, "100e-9"),
        (1e21, "1e+21"),
        (1.5e16, "15P"),
        (2**64, "18446744073709552k"),  # beyond int64: a float64 first
        # Nothing the server would take as a quantity.
        (True, None),
        (None, None),
        ("1\t", None),
        ("½", None),
        (float("nan"), None),
    ],
)
def test_spellings_found_in_charts(written: object, stored: str | None) -> None:
    assert canonical(written) == stored


def test_go_float_text() -> None:
    assert [quantity._go_float(f) for f in (1e-7, 1.5e-7, 1e21, 1.2345e22, 1e-6, 100.0)] == [
        "1e-7",
        "1.5e-7",
        "1e+21",
        "1.2345e+22",
        "0.000001",
        "100",
    ]


# -- properties ------------------------------------------------------------

SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


@st.composite
def spellings(draw: st.DrawFn, *, positive: bool = False) -> str:
    """Quantity text as people write it: sign, zeros, fractions, suffixes, exponents."""
    sign = draw(st.sampled_from(["", "+"] if positive else ["", "", "-", "+"]))
    lowest = 1 if positive else 0
    whole = draw(st.sampled_from(["", "0", "00"])) + str(draw(st.integers(lowest, 10**20)))
    fraction = draw(st.one_of(st.just(None), st.text("0123456789", max_size=12)))
    number = whole if fraction is None else f"{whole}.{fraction}"
    if draw(st.booleans()):
        suffix = draw(st.sampled_from(SUFFIXES))
    else:
        e = draw(st.integers(-30, 30))
        suffix = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+"])) + str(e)
        suffix = suffix.replace("+-", "-")
    return sign + number + suffix


def beyond_exa(q: Quantity) -> bool:
    """Upstream writes a decimal quantity of 1000E or more without its suffix
    ("1000E" reads back as "1"): a bug we copy, not a property to check."""
    numerator, denominator = value(q)
    return q.format is not DEX and abs(numerator) >= 1000 * 10**18 * denominator


@given(spellings())
def test_canonical_text_parses_to_the_same_value_and_stays_put(text: str) -> None:
    q = parse(text)
    assume(not beyond_exa(q))
    stored = str(q)
    again = parse(stored)
    assert value(again) == value(q)
    assert str(again) == stored  # what the server wrote back, it keeps on the next write


@given(st.integers(-(10**18), 10**18), st.integers(-9, 18), st.sampled_from([DSI, BSI, DEX]))
def test_every_value_round_trips_through_its_canonical_text(
    mantissa: int, exponent: int, fmt: Format
) -> None:
    q = Quantity(mantissa, exponent, fmt)
    assume(not beyond_exa(q))
    numerator, denominator = value(q)
    assume(fmt is not BSI or abs(numerator) <= INT64_MAX * denominator)  # parse caps binary there
    text = str(q)
    assert "." not in text  # never a fraction
    assert value(parse(text)) == value(q)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30))
def test_a_json_number_means_the_same_as_its_go_text(number: float) -> None:
    stored = canonical(number)
    assert stored is not None
    want = Fraction(quantity._go_float(number).replace("e+", "e"))
    got = Fraction(*value(parse(stored)))
    if abs(want) >= Fraction(1, 10**9):
        assert got == want or (got - want) * (1 if want > 0 else -1) < Fraction(1, 10**9)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("1500u", "2m"),
        ("1n", "1m"),
        ("-1500u", "-2m"),
        ("1000u", "1m"),
        ("1001u", "2m"),
        ("1.0001", "1001m"),
        ("0.0000000001", "1m"),
        ("100m", "100m"),
        ("+1", "+1"),  # nothing finer than 1m: the spelling is kept
        ("1.500", "1.500"),
        ("1Ki", "1Ki"),
        (1e-7, "1e-3"),  # "1e-7" to Go: an exponent, and it stays one
        ("0", "0"),
    ],
)
def test_a_resource_list_rounds_up_to_milli(written: object, stored: str) -> None:
    # core/v1's SetDefaults_ResourceList: val.RoundUp(resource.Milli).
    assert canonical(written, resource_list=True) == stored
