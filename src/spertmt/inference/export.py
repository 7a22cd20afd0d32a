"""The whole model as ONNX for the runtime without torch (spertmt.inference.portable): beside the
encoder (runtimes.export_encoder), two graphs of the heads, each with its decision rule inside:

- `entities.onnx`: max-pooled span features, span widths and [CLS] -> span representations c(s),
  type scores p(s), and per span the best type, its score, its probability and a gate (the head's
  own decision before θ: SpERT's "none" class, or always open for a thresholded head);
- `relations.onnx`: the parts of a pair's input (head c, context, tail c, and the entity type scores
  where the model feeds them) -> per pair and type a score, a probability and a gate (single-label
  heads keep the best type only).

What stays outside the graphs is the same for both runtimes and written once in numpy (portable.py):
tokenisation, max pooling over piece ranges, `score >= θ`, building pairs, decoding. Max pooling over
ranges of varying length has no ONNX operator (a graph would need a loop, or a [B, S, L, H] copy of
the hidden states), and a custom operator would tie the runtime to our build: numpy's
`maximum.reduceat` pools every range in one pass instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .._version import __version__
from ..layout import MANIFEST_FORMAT, ModelFiles


class _EntityGraph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pooled: torch.Tensor, widths: torch.Tensor, cls: torch.Tensor):
        model = self.model
        c = model.span_representations(pooled, widths)
        ident, outputs, type_scores = model.score_entities(c, cls)
        gate, types, scores = model.entity_head.best_type(outputs, float("-inf"))
        probabilities = model.entity_head.probabilities(ident, outputs).gather(-1, types.unsqueeze(-1))[..., 0]
        return c, type_scores, gate, types, scores, probabilities


class _RelationGraph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, head: torch.Tensor, context: torch.Tensor, tail: torch.Tensor, head_types: torch.Tensor,
                tail_types: torch.Tensor):
        model = self.model
        ident, outputs = model.relation_head(model.relation_parts(head, context, tail, head_types, tail_types))
        gate, scores = model.relation_head.kept_types(outputs, float("-inf"), model.config.multi_label_relations)
        return gate, scores, model.relation_head.probabilities(ident, outputs)


def _export(module: torch.nn.Module, example: tuple, names: list[str], outputs: list[str], shapes: dict,
            path: Path) -> None:
    from .runtimes import _quiet

    with torch.no_grad(), _quiet():
        program = torch.onnx.export(module.eval(), example, input_names=names, output_names=outputs,
                                    dynamic_shapes=shapes, dynamo=True, verbose=False)
    program.save(str(path), external_data=False)


def export_heads(model, pad_id: int, folder: Path) -> None:
    """Writes entities.onnx, relations.onnx and manifest.json into `folder` (fp32; the heads are
    small: int8 is for the encoder); `pad_id`: the tokenizer's."""
    hidden = model.encoder.config.hidden_size
    width = model.width_embedding.embedding_dim
    num_e = len(model.types.entities)
    # Sizes of 3 and more: a dimension of size 0 or 1 would be fixed as a constant by the exporter.
    batch, spans, pairs = torch.export.Dim("batch"), torch.export.Dim("spans"), torch.export.Dim("pairs")
    example = (torch.randn(3, 5, hidden), torch.randint(1, 4, (3, 5)), torch.randn(3, hidden))
    _export(_EntityGraph(model), example, ["pooled", "widths", "cls"],
            ["c", "type_scores", "gate", "types", "scores", "probabilities"],
            {"pooled": {0: batch, 1: spans}, "widths": {0: batch, 1: spans}, "cls": {0: batch}},
            folder / ModelFiles.ENTITY_GRAPH)
    d = hidden + width
    example = (torch.randn(7, d), torch.randn(7, hidden), torch.randn(7, d), torch.randn(7, num_e),
               torch.randn(7, num_e))
    names = ["head", "context", "tail", "head_types", "tail_types"]
    _export(_RelationGraph(model), example, names, ["gate", "scores", "probabilities"],
            {name: {0: pairs} for name in names}, folder / ModelFiles.RELATION_GRAPH)
    manifest = {
        "format": MANIFEST_FORMAT, "spertmt": __version__, "torch": torch.__version__,
        "graphs": {"encoder": {"fp32": ModelFiles.ENCODER_ONNX, "int8": ModelFiles.ENCODER_ONNX_INT8},
                   "entities": ModelFiles.ENTITY_GRAPH, "relations": ModelFiles.RELATION_GRAPH},
        "tokenizer": f"{ModelFiles.TOKENIZER}/tokenizer.json",
        "pad_id": pad_id,
        # What the runtime decides outside the graphs, as the PyTorch model does (SpERTMT._decide).
        "window": min(model.config.max_length, getattr(model.encoder.config, "max_position_embeddings", 512)),
        "entity_thresholded": model.entity_head.thresholded,
        "relation_thresholded": model.relation_head.thresholded,
        "uses_entity_logits": bool(model.use_entity_logits),
    }
    # Every file the runtime reads, with its size, checked when the folder loads: a graph cut short
    # by a failed copy is named, not left to fail inside ONNX Runtime. (thresholds.json is not
    # among them: tune-threshold may rewrite it.)
    needed = [*manifest["graphs"]["encoder"].values(), manifest["graphs"]["entities"], manifest["graphs"]["relations"],
              manifest["tokenizer"], ModelFiles.CONFIG, ModelFiles.TYPES]
    manifest["files"] = {name: (folder / name).stat().st_size for name in needed}
    (folder / ModelFiles.MANIFEST).write_text(json.dumps(manifest, indent=2))
