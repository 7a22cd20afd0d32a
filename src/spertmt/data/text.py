"""Splitting raw text into sentences and words, keeping character offsets.

Words: `unicode_words` (raw text for extraction) cuts at Unicode's default word boundaries
(UAX #29, as the `regex` library implements them): "3,000" and "O'Neil's" stay whole, combining
accents stay with their letter, each Chinese or Japanese ideograph is a word, an emoji sequence is
one; BOMs and zero-width characters are dropped from the words, and a word's text is NFC-normalised,
while its offsets point into the original text. `simple_words` (runs of letters and digits with
inner hyphens, apostrophes and dots, or single punctuation marks) and `whitespace_words` are the
brat converter's splitters. Sentences: predictable rules (no model): they end at line breaks,
after . ! ? when a space and a capital letter or a digit follow (an opening quote or bracket
between them allowed), and after the full stops of Chinese and Japanese (。！？), but not after a
full stop that ends an abbreviation: an initial ("John F. Kennedy"), a dotted one ("U.S.",
"a.m."), a title or a month ("Lt. Bill Gordon", "Dec. 13"; `ABBREVIATIONS`), or "No." and the
like before a number. A cut inside a sentence loses every relation across it, while a missed cut
only leaves two sentences as one, so the rules lean to not cutting.
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


# Words whose full stop ends no sentence, compared in lower case: titles, months and other
# abbreviations that a name, a number or a capitalised word follows in English text.
ABBREVIATIONS = frozenset("""
    mr mrs ms messrs dr prof sr jr st mt ft fr gen gov sen rep pres lt col capt cmdr sgt cpl pvt adm maj
    brig rev hon supt insp
    jan feb mar apr jun jul aug sep sept oct nov dec
    al approx ca cf vs viz dept univ assn bros inc corp co ltd
""".split())
# ... and these only before a number ("No. 10", "Fig. 3").
ABBREVIATIONS_BEFORE_NUMBERS = frozenset("no nos fig figs eq eqs vol vols ch sec art tab ref refs pp".split())

_SENTENCE_END = regex.compile(
    r"(?P<stop>[.!?]+)[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[\p{Lu}\d])"  # . ! ? then a space and a capital or digit
    r"|[。！？]+[」』）”’\"']*\s*(?=\S)")  # Chinese and Japanese full stops need no space
_LAST_WORD = regex.compile(r"(?:\p{L}+\.)*\p{L}+$")  # "Mr", "U.S", "F" before the stop


def _ends_sentence(line: str, end) -> bool:
    """Whether the candidate `end` (a match of _SENTENCE_END in `line`) ends a sentence: not where
    a lone full stop closes an abbreviation."""
    if end.group("stop") != "." or not line[end.end("stop")].isspace():
        return True  # ! ? ... a closing quote or bracket, or a Chinese or Japanese stop
    word = _LAST_WORD.search(line[max(0, end.start() - 40):end.start()])
    if word is None:
        return True  # a number or punctuation before the stop
    word = word.group()
    if len(word) == 1 or "." in word or word.lower() in ABBREVIATIONS:
        return False
    return not (word.lower() in ABBREVIATIONS_BEFORE_NUMBERS and line[end.end()].isdigit())


def split_sentences(text: str, by_lines: bool) -> list[tuple[int, int]]:
    """Character ranges of sentences: one per non-empty line, or also split where a sentence ends
    inside a line (the module's rules)."""
    ranges = []
    for line in re.finditer(r"[^\n]+", text):
        if not line.group().strip():
            continue
        if by_lines:
            ranges.append((line.start(), line.end()))
            continue
        start = line.start()
        for end in _SENTENCE_END.finditer(line.group()):
            if _ends_sentence(line.group(), end):
                ranges.append((start, line.start() + end.end()))
                start = line.start() + end.end()
        ranges.append((start, line.end()))
    return ranges
