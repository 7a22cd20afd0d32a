"""Words to encoder pieces: `[CLS] p1 .. pn [SEP]` with each word's piece range.

Alignment uses the fast tokenizer's `word_ids()`, not assumptions about BERT's tokens, so cased
and uncased BERT, RoBERTa-style encoders (other special tokens and pad ids) and SciBERT/BioBERT
all work. A tokenizer that transformers has in Python only (the Japanese BERTs' BertJapaneseTokenizer,
BERTweet's, PhoBERT's) encodes word by word, as SpERT's own code does for every tokenizer. A word that
yields no piece (a control character, say) gets an empty range: a span made only of such words pools
to zeros.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np


@dataclass
class Encoding:
    """Pieces of one document and the piece range [word_starts[i], word_ends[i]) of each word."""

    input_ids: list[int]
    word_starts: list[int]
    word_ends: list[int]

    @property
    def num_words(self) -> int:
        return len(self.word_starts)


def candidate_spans(num_words: int, max_width: int) -> list[tuple[int, int]]:
    """Every word range [start, end) of width 1..max_width, width-major then start (SpERT's order, as
    ops.enumerate_span_max_pool enumerates them)."""
    return [(i, i + w) for w in range(1, max_width + 1) for i in range(num_words - w + 1)]


BATCH_SIZE = "the batch size (--batch-size)"  # as messages name it


def check_count(name: str, value) -> None:
    """A count a user gives (a batch's texts or pieces; None: the default) is a whole number of at
    least 1: a bool or a float would be taken as one (True as 1, 2.5 as 3) without a word."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")


def longest_first(encodings: list[Encoding], batch_size: int, max_pieces: int | None = None) -> list[list[int]]:
    """The documents' indices in batches, longest (in pieces) first: less padding of pieces and of
    candidate spans. Both inference loops batch so (results go back in input order).

    A batch holds at most `batch_size` documents and, with `max_pieces`, at most that many pieces
    once padded to its longest (its first) document, so batches of long documents hold fewer: on a
    CPU the work grows with the padded pieces, not with the documents (bench/extract_batching.py).
    A document longer than `max_pieces` makes a batch of its own."""
    check_count(BATCH_SIZE, batch_size)
    check_count("batch_pieces", max_pieces)
    order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].input_ids))
    if max_pieces is None:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    for i in order:
        if not batches or len(batches[-1]) >= batch_size \
                or (len(batches[-1]) + 1) * len(encodings[batches[-1][0]].input_ids) > max_pieces:
            batches.append([])
        batches[-1].append(i)
    return batches


def encode_words(tokenizer, words: list[str]) -> Encoding:
    """Tokenizes pre-split words and aligns words to pieces.

    Nothing is cut: a document longer than the encoder's window is encoded in overlapping
    windows by the model (SpERTMT.encode).
    """
    return encode_word_lists(tokenizer, [words])[0]


def encode_word_lists(tokenizer, word_lists: list[list[str]]) -> list[Encoding]:
    """`encode_words` of many documents in one tokenizer call (a call per document cost as much
    as the span kernels at extraction)."""
    if not getattr(tokenizer, "is_fast", False):
        marked = tokenizer.build_inputs_with_special_tokens([-1])  # where the pieces go among the special tokens
        return [_encode_word_by_word(tokenizer, words, marked) for words in word_lists]
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


def _encode_word_by_word(tokenizer, words: list[str], marked: list[int]) -> Encoding:
    """`encode_words` with a tokenizer that has no `word_ids()`: each word's pieces on their own, then
    the special tokens around them as the tokenizer places them around the -1 of `marked`."""
    ids: list[int] = []
    owners: list[int | None] = []
    for w, word in enumerate(words):
        pieces = tokenizer.encode(word, add_special_tokens=False)
        ids += pieces
        owners += [w] * len(pieces)
    before = marked.index(-1)
    full = marked[:before] + ids + marked[before + 1:]
    return align_pieces(full, [None] * before + owners + [None] * (len(marked) - before - 1), len(words))


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


def window_plan(input_ids: np.ndarray, lengths: list[int], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How documents longer than the encoder's window are encoded (SpERTMT.encode, and the runtime
    without torch): in windows `[CLS] pieces [SEP]` of `window` pieces that overlap by half, each
    piece taking its embedding from the window where it has the most context (the larger of its
    smaller distances to a window edge; the document's own ends count as full context); [CLS] comes
    from the first window, [SEP] from the last.

    `input_ids` [B, T], `lengths`: each document's real pieces. Returns the windows' ids and
    attention mask [R, window] and `source` [B, T]: for each piece, its row in the encoder's output
    flattened to [R * window + 1, H], whose last row (zeros) serves the padding."""
    B, T = input_ids.shape
    inner = window - 2
    stride = max(1, inner // 2)
    rows, row_lengths = [], []
    source = np.full((B, T), -1, dtype=np.int64)
    context = np.full((B, T), -1, dtype=np.int64)
    for b in range(B):
        n_inner = max(0, int(lengths[b]) - 2)
        starts = list(range(0, max(n_inner - inner, 0) + 1, stride))
        if starts[-1] + inner < n_inner:
            starts.append(n_inner - inner)
        for k, a in enumerate(starts):
            n_in = min(inner, n_inner - a)
            row = len(rows)
            pieces = input_ids[b, 1 + a:1 + a + n_in]
            rows.append(np.concatenate([input_ids[b, :1], pieces, input_ids[b, lengths[b] - 1:lengths[b]]]))
            row_lengths.append(n_in + 2)
            offsets = np.arange(n_in)
            left = offsets if a > 0 else np.full_like(offsets, T)
            right = (n_in - 1 - offsets) if a + n_in < n_inner else np.full_like(offsets, T)
            ctx = np.minimum(left, right)
            positions = 1 + a + offsets
            better = ctx > context[b, positions]
            context[b, positions[better]] = ctx[better]
            source[b, positions[better]] = row * window + 1 + offsets[better]
            if k == 0:
                source[b, 0] = row * window
            if k == len(starts) - 1:
                source[b, lengths[b] - 1] = row * window + 1 + n_in
    ids = np.zeros((len(rows), window), dtype=input_ids.dtype)
    mask = np.zeros((len(rows), window), dtype=np.int64)
    for r, (row, n) in enumerate(zip(rows, row_lengths)):
        ids[r, :n] = row
        mask[r, :n] = 1
    return ids, mask, np.where(source >= 0, source, len(rows) * window)
