"""Words to encoder pieces: `[CLS] p1 .. pn [SEP]` with each word's piece range.

Alignment uses the fast tokenizer's `word_ids()`, not assumptions about BERT's tokens, so cased
and uncased BERT, RoBERTa-style encoders (other special tokens and pad ids) and SciBERT/BioBERT
all work. A word that yields no piece (a control character, say) gets an empty range: a span made
only of such words pools to zeros.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass
class Encoding:
    """Pieces of one document and the piece range [word_starts[i], word_ends[i]) of each word.

    `num_words` may be smaller than the document's word count when the document was longer than
    the encoder's window (the rest is cut; see `encode_words`).
    """

    input_ids: list[int]
    word_starts: list[int]
    word_ends: list[int]

    @property
    def num_words(self) -> int:
        return len(self.word_starts)


def encode_words(tokenizer, words: list[str], max_length: int | None = None) -> Encoding:
    """Tokenizes pre-split words with a fast tokenizer and aligns words to pieces.

    Args:
        tokenizer: a Hugging Face fast tokenizer.
        words: the document's words.
        max_length: the encoder's window (default: the tokenizer's model_max_length, capped at 512);
            longer documents keep the words that fit whole, and a warning says how many were cut.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"spertmt needs a fast tokenizer (word_ids); got {type(tokenizer).__name__}")
    limit = max_length or min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    if not words:
        ids = tokenizer([], is_split_into_words=True, add_special_tokens=True)["input_ids"]
        return Encoding(list(ids), [], [])
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False,
                        verbose=False)
    ids = list(encoded["input_ids"])
    word_ids = encoded.word_ids()
    starts = [-1] * len(words)
    ends = [-1] * len(words)
    for position, w in enumerate(word_ids):
        if w is None:
            continue
        if starts[w] < 0:
            starts[w] = position
        ends[w] = position + 1
    # Words without pieces: an empty range where the next word begins.
    first_special_end = next((p for p, w in enumerate(word_ids) if w is not None), len(ids))
    cursor = first_special_end
    for w in range(len(words)):
        if starts[w] < 0:
            starts[w] = ends[w] = cursor
        cursor = ends[w]
    if len(ids) > limit:
        trailing = [ids[p] for p, w in enumerate(word_ids) if w is None and p >= cursor]
        budget = limit - len(trailing)
        keep = 0
        while keep < len(words) and ends[keep] <= budget:
            keep += 1
        warnings.warn(f"document of {len(words)} words ({len(ids)} pieces) is longer than the encoder's "
                      f"window of {limit} pieces: only its first {keep} words are used", stacklevel=2)
        cut = ends[keep - 1] if keep else first_special_end
        ids = ids[:cut] + trailing
        starts, ends = starts[:keep], ends[:keep]
    return Encoding(ids, starts, ends)
