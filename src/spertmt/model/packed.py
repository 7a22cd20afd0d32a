"""Encoding without padding, for inference on a CPU.

A batch of texts of different lengths is padded to its longest; the encoder's position-wise layers
(every linear layer, GELU and layer norm: most of extraction's time on a CPU) then compute the
padding too. Here they run on the real pieces only, packed into one sequence of them; only
attention sees the padded batch (as the encoder itself computes it: the same mask, the same
operations). The output equals the encoder's at every real piece (tests/model/test_packed.py holds
them equal); padded positions are zero, and nothing reads them.

Supported: BERT's layer layout with SDPA attention (BERT, RoBERTa, XLM-R, CamemBERT: MiniLM and
the SpERT encoders) and MPNet (all-mpnet-base-v2). `encode` answers None for any other encoder
(and for one being trained, or with int8 linear layers: quantised packed, the int8 ONNX encoder
lost more RE+ F1 on dev, docs/faster.md), which then runs as it is. Not used on a GPU: packing's
boolean indexing waits for the device, and GPU kernels pay less for padding. The fp32 ONNX encoder
that `spertmt export` writes is this computation too (its graph packs with NonZero and Gather).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BERT_LAYOUT = ("BertModel", "RobertaModel", "XLMRobertaModel", "CamembertModel")


def hidden_states(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """The encoder's [B, T, d] last hidden states: packed where `encode` applies, else as it runs."""
    hidden = encode(encoder, input_ids, attention_mask)
    if hidden is None:
        hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return hidden


def _packed_layers(encoder: nn.Module):
    """The function that runs `encoder`'s layers on packed rows, or None for an encoder that is not
    packed (another architecture, or int8 linear layers)."""
    kind = type(encoder).__name__
    config = encoder.config
    if kind in _BERT_LAYOUT and config._attn_implementation == "sdpa" and not config.is_decoder \
            and getattr(config, "position_embedding_type", "absolute") == "absolute":
        layers = _bert_layers
    elif kind == "MPNetModel":
        layers = _mpnet_layers
    else:
        return None
    if not isinstance(encoder.encoder.layer[0].output.dense, nn.Linear):  # int8 (quantize_int8): padded
        return None
    return layers


def packs(encoder: nn.Module) -> bool:
    """Whether `encode` packs this encoder (in eval mode, on a CPU)."""
    return _packed_layers(encoder) is not None


def encode(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor | None:
    """[B, T, d] hidden states of the real pieces (zeros at padding), or None where packing does
    not apply (then call the encoder)."""
    if encoder.training or input_ids.device.type != "cpu":
        return None
    layers = _packed_layers(encoder)
    if layers is None:
        return None
    mask = attention_mask.bool()
    flat = mask.reshape(-1)
    real = flat.nonzero().squeeze(1)  # the real pieces' places in the flattened batch
    # each place's packed row, for unpacking by a gather (ONNX Runtime gathers faster than it
    # scatters); a padded place reads row 0, which attention's mask then hides
    slot = torch.where(flat, flat.long().cumsum(0) - 1, 0)
    hidden = encoder.embeddings(input_ids=input_ids)
    packed = layers(encoder, hidden.reshape(-1, hidden.shape[-1])[real].unsqueeze(0), mask, real, slot)
    return _unpack(packed, slot, mask)


# Packed rows are [1, pieces, d]: one sequence of every real piece, so that a linear layer stays one
# matrix product (and ONNX's MatMul, which the int8 quantiser rewrites).

def _unpack(rows: Tensor, slot: Tensor, mask: Tensor) -> Tensor:
    """[1, pieces, d] -> [B, T, d] with zeros at padding."""
    return rows[0][slot].view(*mask.shape, -1).masked_fill(~mask.unsqueeze(-1), 0)


def _heads(rows: Tensor, slot: Tensor, mask: Tensor, heads: int) -> Tensor:
    """[1, pieces, d] -> [B, heads, T, d / heads], as attention takes them (padded places hold a
    copy of a real piece's row: the mask keeps attention from reading them, and _rows drops them)."""
    return rows[0][slot].view(*mask.shape, heads, -1).transpose(1, 2)


def _rows(context: Tensor, real: Tensor) -> Tensor:
    """[B, heads, T, d / heads] -> [1, pieces, d]."""
    batch, _, length, _ = context.shape
    return context.transpose(1, 2).reshape(batch * length, -1)[real].unsqueeze(0)


def _bert_layers(encoder: nn.Module, x: Tensor, mask: Tensor, real: Tensor, slot: Tensor) -> Tensor:
    """BertLayer.forward (eval, SDPA) on packed rows; HF's SDPA attention takes this boolean mask."""
    keys = mask[:, None, None, :]
    if torch.onnx.is_in_onnx_export():  # ONNX Runtime's Attention operator wants the query dimension spelled out
        keys = keys.expand(-1, -1, mask.shape[1], -1)
    heads = encoder.config.num_attention_heads
    for layer in encoder.encoder.layer:
        attention = layer.attention.self
        q, k, v = (_heads(linear(x), slot, mask, heads) for linear in (attention.query, attention.key, attention.value))
        scale = getattr(attention, "scaling", None)  # None: SDPA's own 1/sqrt(d), BERT's (transformers < 5)
        context = _rows(F.scaled_dot_product_attention(q, k, v, attn_mask=keys, scale=scale), real)
        x = layer.attention.output(context, x)  # dense, + x, layer norm
        x = layer.output(layer.intermediate(x), x)
    return x


def _mpnet_layers(encoder: nn.Module, x: Tensor, mask: Tensor, real: Tensor, slot: Tensor) -> Tensor:
    """MPNetLayer.forward (eval) on packed rows, attention computed as MPNetSelfAttention does."""
    batch, length = mask.shape
    bias = encoder.encoder.compute_position_bias(x.new_empty(batch, length, 1))
    additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # HF's extended mask
    heads = encoder.config.num_attention_heads
    for layer in encoder.encoder.layer:
        attention = layer.attention.attn
        q, k, v = (_heads(linear(x), slot, mask, heads) for linear in (attention.q, attention.k, attention.v))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(attention.attention_head_size)
        scores += bias
        probabilities = F.softmax(scores + additive, dim=-1)
        x = layer.attention.LayerNorm(attention.o(_rows(torch.matmul(probabilities, v), real)) + x)
        x = layer.output(layer.intermediate(x), x)
    return x
