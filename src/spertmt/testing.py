"""Shared helpers for the op tests and benchmarks: dtypes, devices, random ranges and words."""

from __future__ import annotations

import torch

DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def devices() -> list[str]:
    """"cpu", plus "cuda" when a GPU is visible."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_ranges(batch: int, num_spans: int, num_pieces: int, max_len: int, generator: torch.Generator,
                  device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(starts, ends) of shape [batch, num_spans] with 0 <= start <= end <= num_pieces.

    Includes empty ranges, ranges of one piece and ranges touching either end of the sequence.
    """
    starts = torch.randint(0, num_pieces + 1, (batch, num_spans), generator=generator)
    lengths = torch.randint(0, max_len + 1, (batch, num_spans), generator=generator)
    ends = torch.minimum(starts + lengths, torch.tensor(num_pieces))
    if num_spans >= 3 and num_pieces >= 1:  # the edges, always present
        starts[:, 0], ends[:, 0] = 0, 1
        starts[:, 1], ends[:, 1] = num_pieces - 1, num_pieces
        starts[:, 2], ends[:, 2] = 0, num_pieces
    return starts.to(device), ends.to(device)


def random_words(batch: int, max_words: int, max_pieces_per_word: int, generator: torch.Generator,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Piece ranges of words laid out as a tokenizer would: [CLS] w1 .. wn [SEP] padding.

    Returns (word_starts, word_ends, num_words, num_pieces); padding words hold zeros.
    """
    num_words = torch.randint(0, max_words + 1, (batch,), generator=generator)
    num_words[0] = max_words  # one full document
    counts = torch.randint(1, max_pieces_per_word + 1, (batch, max_words), generator=generator)
    counts = torch.where(torch.arange(max_words) < num_words.unsqueeze(1), counts, 0)
    ends = 1 + counts.cumsum(1)  # piece 0 is [CLS]
    starts = ends - counts
    num_pieces = int(ends.max()) + 1 if max_words else 2  # room for [SEP]
    return starts.to(device), ends.to(device), num_words.to(device), num_pieces
