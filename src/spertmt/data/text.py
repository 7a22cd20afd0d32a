"""Splitting raw text into sentences and words, keeping character offsets.

Words: `unicode_words` (raw text for extraction) cuts at Unicode's default word boundaries
(UAX #29, as the `regex` library implements them): "3,000" and "O'Neil's" stay whole, combining
accents stay with their letter, each Chinese or Japanese ideograph is a word, an emoji sequence is
one; an abbreviation keeps its full stop ("U.S.", "Mr.", as in SpERT's datasets); BOMs and
zero-width characters are dropped from the words, control characters (NUL, BEL) part words as a
space does, and a word's text is NFC-normalised, while its offsets point into the original text.
`simple_words` (runs of letters and digits with inner hyphens, apostrophes and dots, or single
punctuation marks) and `whitespace_words` are the brat converter's splitters.

Sentences: predictable rules (no model). They end at a blank line or a list's item ("- ", "2. "),
after . ! ? … when a space (a line break inside a paragraph is one) and a capital letter, a digit or
a letter of a script without case follow (an opening quote or bracket between them allowed), and
after the full stops of Chinese and Japanese (。！？); but not after a full stop that ends an
abbreviation: an initial ("John F. Kennedy"), a dotted one ("U.S.", "a.m."; not "acme.com"), a title
or a month ("Lt. Bill Gordon", "Dec. 13"; `ABBREVIATIONS`), or "No." and the like before a number. A
cut inside a sentence loses every relation across it, while a missed cut only leaves two sentences
as one, so the rules lean to not cutting.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
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


# regex's \w holds combining marks, which re's leaves out: Hindi's vowel signs, Thai's, a decomposed
# accent (e + U+0301); \p{N} keeps re's numbers (km², ½)
_WORD = regex.compile(r"[\w\p{N}]+(?:[-'’.][\w\p{N}]+)*|[^\w\p{N}\s]")


def simple_words(text: str, offset: int = 0) -> list[Word]:
    """Runs of letters (with their combining marks) and digits, with inner hyphens, apostrophes and
    dots, and single punctuation marks."""
    return [Word(m.group(), offset + m.start(), offset + m.end()) for m in _WORD.finditer(text)]


# Words whose full stop ends no sentence, compared in lower case: titles, months and other
# abbreviations that a name, a number or a capitalised word follows in English text.
ABBREVIATIONS = frozenset("""
    mr mrs ms messrs dr prof sr jr st mt ft fr gen gov sen rep pres lt col capt cmdr sgt cpl pvt adm maj
    brig rev hon supt insp
    jan feb mar apr jun jul aug sep sept oct nov dec
    al approx ca cf vs viz dept univ assn bros inc corp co ltd
""".split())
# ... and these only before a number ("No. 10", "Fig. 3").
ABBREVIATIONS_BEFORE_NUMBERS = frozenset("""
    no nos fig figs eq eqs vol vols ch chap sec sect art tab ref refs pp app thm def prop alg ex
""".split())

# US states as news text abbreviates them ("Nashville, Tenn."): their full stop stays in the word,
# as in the datasets' words, but may end a sentence, as it often does (so not in ABBREVIATIONS).
STATE_ABBREVIATIONS = frozenset("""
    Ala Ariz Ark Calif Colo Conn Del Fla Ga Ill Ind Kan Kans Ky La Md Mass Mich Minn Miss Mo Mont Neb Nev
    Okla Ore Pa Tenn Tex Va Vt Wash Wis Wyo
""".split())

_CASED_WORD = regex.compile(r"(?:[\p{Lu}\p{Ll}\p{Lt}]+\.)*[\p{Lu}\p{Ll}\p{Lt}]+")  # "Mr", "U.S", "F"


def closes_abbreviation(word: str, following: str) -> bool:
    """Whether a full stop right after `word` closes an abbreviation: an initial (one cased letter:
    not a Chinese or Japanese ideograph), a dotted one of short parts ("U.S", "a.m", "Ph.D"; not a
    domain such as "acme.com"), one of ABBREVIATIONS, or one of ABBREVIATIONS_BEFORE_NUMBERS where
    `following` (the first character after the stop and its spaces) is a digit."""
    if not _CASED_WORD.fullmatch(word):
        return False
    lower = word.lower()
    dotted = "." in word and all(len(part) <= 2 for part in word.split("."))
    return (len(word) == 1 or dotted or lower in ABBREVIATIONS
            or (lower in ABBREVIATIONS_BEFORE_NUMBERS and following[:1].isdigit()))


_BOUNDARY = regex.compile(r"(?w)\b")  # (?w): Unicode's default word boundaries (UAX #29)
_INVISIBLE = regex.compile(r"\p{Cf}")  # format characters: BOM, zero-width space and joiners, soft hyphen
_NEXT_VISIBLE = regex.compile(r"[\s\p{Cf}]*(\S?)")
_EDGES = regex.compile(r"\p{Cf}*(.*?)\p{Cf}*", regex.S)
_SHOWN = regex.compile(r"[^\s\p{Cc}]")  # a character a reader sees: not a space, not a control character (NUL, BEL)


HYPHENS = ("-", "\u2010", "\u2011")  # hyphen-minus, hyphen, non-breaking hyphen


def unicode_words(text: str, offset: int = 0, join_hyphens: bool = False) -> list[Word]:
    """The segments between Unicode word boundaries that hold more than spaces, control characters
    and invisible characters (a control character parts words, as a space does); each word's text
    NFC-normalised without its format characters, offsets exact and without the format characters
    at its edges. An abbreviation keeps its full stop ("U.S.", "Mr.", "Inc.", "Tenn."), as SpERT's
    datasets (Penn Treebank words) keep it; `join_hyphens` keeps a hyphenated word whole
    ("strife-torn", "1-900-WEATHER", "U.S.-led")."""
    cuts = sorted({0, len(text), *(m.start() for m in _BOUNDARY.finditer(text))})

    def touch(left: Word, right_start: int) -> bool:  # nothing visible between the two
        return left.end == right_start or not _INVISIBLE.sub("", text[left.end - offset:right_start - offset])

    words: list[Word] = []
    for cut, next_cut in zip(cuts, cuts[1:]):
        visible = _INVISIBLE.sub("", text[cut:next_cut])
        if not visible.strip() or (not visible.isprintable() and not _SHOWN.search(visible)):
            continue  # spaces, control characters (the regex only where a character is unprintable: fast)
        # the format characters at a segment's edges (where regex puts a boundary beside a BOM or a
        # zero-width space changed with its release of 2026-11-24) are left out of the offsets
        if len(visible) < next_cut - cut:
            edges = _EDGES.fullmatch(text, cut, next_cut)
            cut, next_cut = edges.span(1)
        start, end = offset + cut, offset + next_cut
        if (visible == "." and words and touch(words[-1], start)
                and (words[-1].text in STATE_ABBREVIATIONS
                     or closes_abbreviation(words[-1].text, _NEXT_VISIBLE.match(text, next_cut).group(1)))):
            words[-1] = Word(words[-1].text + ".", words[-1].start, end)
            continue
        word = Word(unicodedata.normalize("NFC", visible), start, end)
        if (join_hyphens and len(words) > 1 and words[-1].text in HYPHENS and touch(words[-2], words[-1].start)
                and touch(words[-1], word.start) and word.text[0].isalnum()
                and words[-2].text.rstrip(".")[-1:].isalnum()):  # "U.S.-led": an abbreviation's full stop too
            hyphen = words.pop()
            word = Word(words[-1].text + hyphen.text + word.text, words.pop().start, word.end)
        words.append(word)
    return words


def utf16_offsets(text: str) -> list[int]:
    """Each character offset of `text` (and its end) in UTF-16 code units, as Java and JavaScript count
    them (INCEpTION's files and documents): a character beyond the Basic Multilingual Plane (an emoji) takes two."""
    offsets, at = [], 0
    for character in text:
        offsets.append(at)
        at += 2 if ord(character) > 0xFFFF else 1
    return offsets + [at]


def joined_spans(words: list[str], spans: Iterable[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each span of words [start, end) as its characters
    [start, end) in that text (how a converter writes a document's entities as text)."""
    text, characters = joined_words(words)
    return text, [(characters[start][0], characters[end - 1][1]) for start, end in spans]


def joined_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's characters [start, end) in that text."""
    characters, at = [], 0
    for word in words:
        characters.append((at, at + len(word)))
        at += len(word) + 1
    return " ".join(words), characters


def word_ends(words: list[Word]) -> dict[int, int]:
    """Each word's index by its end offset, and by the end before its full stop where a word is an
    abbreviation with one ("Acme Corp" of "Acme Corp."): a span given in characters may end either way."""
    ends = {w.end - 1: k for k, w in enumerate(words) if len(w.text) > 1 and w.text.endswith(".")}
    ends.update({w.end: k for k, w in enumerate(words)})
    return ends


WORD_SPLITTERS: dict[str, Callable[[str, int], list[Word]]] = {"whitespace": whitespace_words, "simple": simple_words,
                                                                "unicode": unicode_words}


_SENTENCE_END = regex.compile(
    # . ! ? … (and the stops of other scripts: Devanagari's dandas, Arabic's question mark, Urdu's,
    # Armenian's and Ethiopic's full stops) then a space and a capital, a digit or a letter of a
    # script without case
    r"(?P<stop>[.!?…।॥؟۔։።]+)[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[\p{Lu}\p{Lt}\p{Lo}\d])"
    r"|[。！？]+[」』）”’\"']*\s*(?=\S)")  # Chinese and Japanese full stops need no space
_LAST_WORD = regex.compile(r"(?:\p{L}+\.)*\p{L}+$")  # "Mr", "U.S", "F" before the stop


def _ends_sentence(paragraph: str, end) -> bool:
    """Whether the candidate `end` (a match of _SENTENCE_END in `paragraph`) ends a sentence: not
    where a lone full stop closes an abbreviation."""
    if end.group("stop") != "." or not paragraph[end.end("stop")].isspace():
        return True  # ! ? ... a closing quote or bracket, or a Chinese or Japanese stop
    word = _LAST_WORD.search(paragraph[max(0, end.start() - 40):end.start()])
    return word is None or not closes_abbreviation(word.group(), paragraph[end.end()])


_BULLET = re.compile(r"\s*(?:[-*•‣◦▪]|\d{1,3}[.)])\s")  # "- item", "• item", "2. item", "3) item"


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Character ranges of the runs of non-blank lines; a line that starts with a bullet or a
    number of a list starts a run of its own."""
    ranges: list[tuple[int, int]] = []
    start = end = None
    at = 0
    for line in text.split("\n"):
        first, at = at, at + len(line) + 1
        if not line.strip() or (start is not None and _BULLET.match(line)):
            if start is not None:
                ranges.append((start, end))
            start = None
        if line.strip():
            start = first if start is None else start
            end = first + len(line.rstrip())
    if start is not None:
        ranges.append((start, end))
    return ranges


def split_sentences(text: str, by_lines: bool) -> list[tuple[int, int]]:
    """Character ranges of sentences: one per non-empty line (`by_lines`), or else where the
    module's rules end them within a paragraph: a line break inside a paragraph is a space (text
    wrapped at a width, as from a PDF or an e-mail, keeps its sentences whole), a blank line or a
    list's item ends one, and a list's number ("2.") is no sentence of its own."""
    if by_lines:
        return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    ranges = []
    for first, last in _paragraphs(text):
        paragraph, start = text[first:last], first
        for end in _SENTENCE_END.finditer(paragraph):
            before = first + end.start() - start  # "2. " alone (a list's number) is no sentence
            list_number = before <= 8 and text[start:first + end.start()].strip().isdigit()
            if _ends_sentence(paragraph, end) and not list_number:
                ranges.append((start, first + end.end()))
                start = first + end.end()
        ranges.append((start, last))
    return ranges
