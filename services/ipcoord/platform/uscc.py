"""Unified Social Credit Code (GB 32100-2015) validation."""

from __future__ import annotations

from collections.abc import Set

_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(_CHARSET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 3^(i-1) mod 31 for positions 1..17


def check_character(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str, allow_list: Set[str] = frozenset()) -> str | None:
    """Why ``code`` is not a valid USCC, or None when it is (or is an allow-listed legacy code)."""
    if code in allow_list:
        return None
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    for position, char in enumerate(code, start=1):
        if char not in _VALUE:
            return f"character {char!r} at position {position} is not allowed (never I O Z S V)"
    if not code[2:8].isdigit():
        return "positions 3-8 must be a 6-digit administrative division code"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None
