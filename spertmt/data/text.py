"""Splitting raw text into sentences and words, keeping character offsets.

Simple, predictable rules (no model): sentences end at line breaks and after . ! ? when a space
and a capital letter, a digit or an opening quote follow; words are runs of letters and digits
(with inner hyphens, apostrophes and dots) or single punctuation marks. `whitespace_words` splits
on whitespace only, for text that is already tokenised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable


@dataclass
class Word:
    text: str
    start: int  # character offsets in the document text, end exclusive
    end: int


def whitespace_words(text: str, offset: int = 0) -> list[Word]:
    """Words separated by whitespace."""
    return [Word(m.group(), offset + m.start(), offset + m.end()) for m in re.finditer(r"\S+", text)]


_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def simple_words(text: str, offset: int = 0) -> list[Word]:
    """Runs of letters and digits (with inner hyphens, apostrophes and dots), and single punctuation marks."""
    return [Word(m.group(), offset + m.start(), offset + m.end()) for m in _WORD.finditer(text)]


WORD_SPLITTERS: dict[str, Callable[[str, int], list[Word]]] = {"whitespace": whitespace_words, "simple": simple_words}


def split_sentences(text: str, by_lines: bool) -> list[tuple[int, int]]:
    """Character ranges of sentences: one per non-empty line, or also split after . ! ? that a
    space and an upper-case letter or digit follow."""
    ranges = []
    for line in re.finditer(r"[^\n]+", text):
        if not line.group().strip():
            continue
        if by_lines:
            ranges.append((line.start(), line.end()))
            continue
        start = line.start()
        for m in re.finditer(r"[.!?][\"')\]]*\s+(?=[A-Z0-9\"'(])", line.group()):
            ranges.append((start, line.start() + m.end()))
            start = line.start() + m.end()
        ranges.append((start, line.end()))
    return ranges
