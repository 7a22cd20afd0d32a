"""Packed encoding (spertmt.model.packed) against the encoder's own forward: equal at every real
piece, for each supported architecture, and not used where it does not apply."""

import pytest
import torch

from spertmt.model import packed

ARCHITECTURES = ["bert", "roberta", "xlm-roberta", "mpnet"]


def tiny(kind: str, **extra):
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    config = AutoConfig.for_model(kind, vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=64, **extra)
    return AutoModel.from_config(config).eval()


def batch(pad_id: int, lengths=(9, 3, 6, 1)):
    generator = torch.Generator().manual_seed(1)
    ids = torch.full((len(lengths), max(lengths)), pad_id)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(5, 100, (length,), generator=generator)
        mask[row, :length] = 1
    return ids, mask


@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_packed_equals_the_encoder_at_every_real_piece(kind):
    encoder = tiny(kind)
    ids, mask = batch(encoder.config.pad_token_id or 0)
    with torch.inference_mode():
        expected = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        got = packed.encode(encoder, ids, mask)
    assert got is not None and got.shape == expected.shape
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)
    assert not got[~real].any()  # padding: zeros, never read


def test_packed_equals_the_encoder_without_padding():
    encoder = tiny("bert")
    ids, mask = batch(0, lengths=(5, 5))
    with torch.inference_mode():
        torch.testing.assert_close(packed.encode(encoder, ids, mask),
                                   encoder(input_ids=ids, attention_mask=mask).last_hidden_state, rtol=1e-5, atol=1e-5)


def test_packed_is_not_used_in_training_int8_or_for_other_encoders():
    ids, mask = batch(0)
    assert packed.encode(tiny("bert").train(), ids, mask) is None  # dropout: the encoder's own forward
    assert packed.encode(tiny("bert", attn_implementation="eager"), ids, mask) is None
    assert packed.encode(tiny("distilbert", n_layers=1, n_heads=4, dim=32, hidden_dim=64), ids, mask) is None
    from spertmt.inference.runtimes import quantize_int8

    assert packed.encode(quantize_int8(tiny("bert")), ids, mask) is None  # int8 runs padded, as export's


def test_the_model_encodes_packed_as_it_encodes_padded(tiny_config, monkeypatch):
    """SpERTMT.encode (in one window and in several) gives the same hidden states at real pieces
    packed and padded."""
    import dataclasses
    from types import SimpleNamespace

    from spertmt.data.documents import read_types
    from spertmt.model.encoder import load_encoder
    from spertmt.model.spertmt import SpERTMT

    from ..conftest import FIXTURES

    model = SpERTMT(tiny_config, read_types(f"{FIXTURES}/tiny_types.json"), load_encoder(tiny_config.encoder)).eval()
    ids, mask = batch(0, lengths=(40, 12, 25))
    inputs = SimpleNamespace(input_ids=ids, attention_mask=mask)
    in_windows = dataclasses.replace(model.config, max_length=16)
    with torch.inference_mode():
        got = model.encode(inputs)
        model.config, one_window = in_windows, model.config
        got_windows = model.encode(inputs)
        monkeypatch.setattr(packed, "encode", lambda *args: None)
        expected_windows = model.encode(inputs)
        model.config = one_window
        expected = model.encode(inputs)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_windows[real], expected_windows[real], rtol=1e-5, atol=1e-5)
