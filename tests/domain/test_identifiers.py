"""The BSN eleven-test (domain page §5), against an independent reading of the page's formula."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapter.domain.identifiers import is_valid_bsn


def page_elfproef(value: str) -> bool:
    """§5 as written: 9 digits (8 padded with a leading 0); 9a+8b+7c+6d+5e+4f+3g+2h−i a multiple of 11;
    all zeros is invalid."""
    if len(value) == 8:
        value = "0" + value
    if len(value) != 9 or any(c not in "0123456789" for c in value):
        return False
    a, b, c, d, e, f, g, h, i = (int(x) for x in value)
    total = 9 * a + 8 * b + 7 * c + 6 * d + 5 * e + 4 * f + 3 * g + 2 * h - i
    return total % 11 == 0 and value != "000000000"


def test_numbers_worked_out_by_hand() -> None:
    assert is_valid_bsn("111222333") is True  # 9+8+7+12+10+8+9+6-3 = 66 = 6 x 11
    assert is_valid_bsn("123456782") is True  # 9+16+21+24+25+24+21+16-2 = 154 = 14 x 11
    assert is_valid_bsn("123456789") is False  # 147: not a multiple of 11
    assert is_valid_bsn("111222334") is False  # one digit off: 65


def test_eight_digits_are_read_with_a_leading_zero() -> None:
    assert is_valid_bsn("10000008") is True  # 010000008: 8x1 - 8 = 0
    assert is_valid_bsn("10000004") is False  # 8x1 - 4 = 4


def test_other_lengths_all_zeros_and_non_digits_are_refused() -> None:
    assert is_valid_bsn("1000007") is False  # would pass padded to 001000007 (7x1 - 7), but has 7 digits
    assert is_valid_bsn("1112223330") is False  # its first nine digits pass, but it has 10
    assert is_valid_bsn("000000000") is False  # 0 is a multiple of 11, yet no BSN
    assert is_valid_bsn("00000000") is False
    assert is_valid_bsn("") is False
    assert is_valid_bsn("11122233a") is False
    assert is_valid_bsn("١١١٢٢٢٣٣٣") is False  # Arabic-Indic digits of 111222333: digits, not ASCII


@given(st.text(alphabet="0123456789", min_size=6, max_size=10))
def test_agrees_with_the_page_on_any_string_of_digits(value: str) -> None:
    assert is_valid_bsn(value) is page_elfproef(value)


@given(st.integers(1, 999_999_999))
def test_agrees_with_the_page_on_any_nine_digit_number(n: int) -> None:
    value = f"{n:09d}"
    assert is_valid_bsn(value) is page_elfproef(value)
