"""Words to encoder pieces: `[CLS] p1 .. pn [SEP]` with each word's piece range.

Alignment uses the fast tokenizer's `word_ids()`, not assumptions about BERT's tokens, so cased
and uncased BERT, RoBERTa-style encoders (other special tokens and pad ids) and SciBERT/BioBERT
all work. A word that yields no piece (a control character, say) gets an empty range: a span made
only of such words pools to zeros.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Encoding:
    """Pieces of one document and the piece range [word_starts[i], word_ends[i]) of each word."""

    input_ids: list[int]
    word_starts: list[int]
    word_ends: list[int]

    @property
    def num_words(self) -> int:
        return len(self.word_starts)


def encode_words(tokenizer, words: list[str]) -> Encoding:
    """Tokenizes pre-split words with a fast tokenizer and aligns words to pieces.

    Nothing is cut: a document longer than the encoder's window is encoded in overlapping
    windows by the model (SpERTMT.encode).
    """
    return encode_word_lists(tokenizer, [words])[0]


def encode_word_lists(tokenizer, word_lists: list[list[str]]) -> list[Encoding]:
    """`encode_words` of many documents in one tokenizer call (a call per document cost as much
    as the span kernels at extraction)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"spertmt needs a fast tokenizer (word_ids); got {type(tokenizer).__name__}")
    filled = [words for words in word_lists if words]
    aligned: list[Encoding] = []
    if filled:
        encoded = tokenizer(filled, is_split_into_words=True, add_special_tokens=True, truncation=False,
                            verbose=False)
        aligned = [align_pieces(list(encoded["input_ids"][k]), encoded.word_ids(k), len(words))
                   for k, words in enumerate(filled)]
    empty: list[int] = []
    if len(filled) < len(word_lists):  # a document without words: the special tokens alone
        empty = list(tokenizer([], is_split_into_words=True, add_special_tokens=True)["input_ids"])
    next_aligned = iter(aligned)
    return [next(next_aligned) if words else Encoding(list(empty), [], []) for words in word_lists]


def align_pieces(ids: list[int], word_ids: list[int | None], num_words: int) -> Encoding:
    """Each word's piece range from the tokenizer's piece-to-word map."""
    starts = [-1] * num_words
    ends = [-1] * num_words
    for position, w in enumerate(word_ids):
        if w is None:
            continue
        if starts[w] < 0:
            starts[w] = position
        ends[w] = position + 1
    # Words without pieces: an empty range where the next word begins.
    # (With no piece at all, before the closing special token.)
    cursor = next((p for p, w in enumerate(word_ids) if w is not None), max(0, len(ids) - 1))
    for w in range(num_words):
        if starts[w] < 0:
            starts[w] = ends[w] = cursor
        cursor = ends[w]
    return Encoding(ids, starts, ends)
