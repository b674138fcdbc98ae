"""The normalised form that is indexed and that queries are matched in.

Traditional → simplified (OpenCC) and full-width → half-width, so a simplified
query finds a traditional document and "６５０" matches "650". Display text is
never normalised: staff see the document as published.
"""
from __future__ import annotations

from functools import lru_cache

import opencc

# U+FF01..U+FF5E are the full-width forms of ASCII 0x21..0x7E; U+3000 is the ideographic space.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH[0x3000] = 0x20
_WIDTH[0xA0] = 0x20


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    # Building the converter loads its dictionaries; do it once per process.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def half_width(text: str) -> str:
    return text.translate(_WIDTH)


# Answering normalises the same passages question after question: remembered, they cost nothing.
@lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """The search form of a text: simplified script, half-width letters, digits and punctuation."""
    return to_simplified(half_width(text))
