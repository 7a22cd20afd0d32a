"""Splitting raw text into sentences and words, keeping character offsets.

Words: `unicode_words` (raw text for extraction) cuts at Unicode's default word boundaries
(UAX #29, as the `regex` library implements them): "3,000" and "O'Neil's" stay whole, combining
accents stay with their letter, each Chinese or Japanese ideograph is a word, an emoji sequence is
one; BOMs and zero-width characters are dropped from the words, and a word's text is NFC-normalised,
while its offsets point into the original text. `simple_words` (runs of letters and digits with
inner hyphens, apostrophes and dots, or single punctuation marks) and `whitespace_words` are the
brat converter's splitters. Sentences: predictable rules (no model): they end at line breaks and
after . ! ? when a space and a capital letter, a digit or an opening quote follow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import regex


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


_BOUNDARY = regex.compile(r"(?w)\b")  # (?w): Unicode's default word boundaries (UAX #29)
_INVISIBLE = regex.compile(r"\p{Cf}")  # format characters: BOM, zero-width space and joiners, soft hyphen


def unicode_words(text: str, offset: int = 0) -> list[Word]:
    """The segments between Unicode word boundaries that hold more than spaces and invisible
    characters; each word's text NFC-normalised without its format characters, offsets exact."""
    cuts = sorted({0, len(text), *(m.start() for m in _BOUNDARY.finditer(text))})
    words = []
    for start, end in zip(cuts, cuts[1:]):
        visible = _INVISIBLE.sub("", text[start:end])
        if visible.strip():
            words.append(Word(unicodedata.normalize("NFC", visible), offset + start, offset + end))
    return words


WORD_SPLITTERS: dict[str, Callable[[str, int], list[Word]]] = {"whitespace": whitespace_words, "simple": simple_words,
                                                                "unicode": unicode_words}


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
