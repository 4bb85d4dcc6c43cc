"""Dutch identifiers."""

from __future__ import annotations


def is_valid_bsn(value: str) -> bool:
    """The BSN eleven-test (elfproef): 9 digits (8 padded with a leading 0), 9a+8b+...+2h-i a multiple
    of 11, and not all zeros."""
    if not value.isascii() or not value.isdigit() or len(value) not in (8, 9):
        return False
    digits = [int(c) for c in value.zfill(9)]
    if not any(digits):
        return False
    total = sum((9 - i) * d for i, d in enumerate(digits[:8])) - digits[8]
    return total % 11 == 0
