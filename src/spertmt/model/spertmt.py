"""The SpERT.MT model (docs/method.md), with SpERT itself and the ablations as switches of one class.

Representations (d1 = encoder size, d2 = width embedding size):
- span     c(s) = maxpool(pieces of s) ∘ W_width[width(s)],  x(s) = c(s) ∘ e_CLS
- pair     r(s1, s2) = c(s1) ∘ maxpool(pieces strictly between) ∘ c(s2) [∘ p(s1) ∘ p(s2)]
  where p(s) are the entity class scores of s (entity logits; not in `spert` mode or under
  -entity-logits). p keeps its gradient (the relation loss also trains the entity classifier)
  unless `entity_logits_grad = false`.
Heads (spertmt.model.heads, one class per kind), chosen once from the mode:
- spertmt: MultiTaskHead for entities and relations (identification + ranking, θ on class scores).
- spertmt with multi_task=False (-MTL): NoneClassHead for both (softmax with a "none" class).
- spert: NoneClassHead for entities, SigmoidHead for relations (multi-label, θ = 0.4).
Dropout applies to the classifier inputs; width embeddings are drawn from N(0, 0.02) as the
classifier weights are (BERT's initialisation, as SpERT applies it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import ops
from ..config import Config
from ..data.batching import Batch
from ..data.documents import Types
from ..data.encoding import window_plan
from . import packed
from .encoder import position_limit
from .heads import LossOptions, MultiTaskHead, NoneClassHead, SigmoidHead
from .losses import SampleReduction

MAX_WIDTH_EMBEDDINGS = 100  # as SpERT: gold entities wider than max_span_width still train
# Parameter names of checkpoint format 1 (before the heads were modules of their own) -> today's.
_FORMAT1_NAMES = {f"{head}_{part}.": f"{head}_head.{part}." for head in ("entity", "relation")
                  for part in ("identifier", "classifier")}


@dataclass
class LossOutput:
    loss: Tensor
    entity_loss: Tensor
    relation_loss: Tensor


@dataclass
class RawPredictions:
    """Decisions of one batch, before conversion to documents (spertmt.inference.engines.pytorch)."""

    spans: Tensor  # [B, S, 2] word ranges of the candidate spans
    entity_keep: Tensor  # [B, S] bool: predicted as an entity
    entity_types: Tensor  # [B, S] type index
    entity_scores: Tensor  # [B, S]
    pairs: Tensor  # [B, P, 2] candidate (head, tail) as indices into spans
    pair_mask: Tensor  # [B, P]
    relation_keep: Tensor  # [B, P, R] bool, one row per pair (several types when multi-label)
    relation_scores: Tensor  # [B, P, R]
    entity_probabilities: Tensor  # [B, S] in [0, 1] (heads.Head.probabilities), for the chosen type
    relation_probabilities: Tensor  # [B, P, R] in [0, 1]


class SpERTMT(nn.Module):
    """Span-based joint entity and relation extraction; `config.mode` picks SpERT.MT or SpERT.

    `forward` gives the training loss and `predict` the decisions; the steps between are public for
    diagnostics and benchmarks: `encode` (piece embeddings), `piece_ranges`, `span_representations`
    (c(s)), `score_entities` and `score_relations` (the heads' outputs)."""

    def __init__(self, config: Config, types: Types, encoder: nn.Module):
        super().__init__()
        self.config = config.resolved()
        self.types = types
        self.encoder = encoder
        self.position_limit = position_limit(encoder)  # of the encoder built here (a runtime may replace it)
        cfg = self.config
        d1, d2 = encoder.config.hidden_size, cfg.width_embedding_size
        num_e, num_r = len(types.entities), len(types.relations)
        self.use_entity_logits = cfg.mode == "spertmt" and cfg.entity_logits
        entity_in = 2 * d1 + d2
        relation_in = 3 * d1 + 2 * d2 + (2 * num_e if self.use_entity_logits else 0)

        self.width_embedding = nn.Embedding(MAX_WIDTH_EMBEDDINGS, d2)
        nn.init.normal_(self.width_embedding.weight, std=0.02)
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.multitask_heads:
            self.entity_head, self.relation_head = MultiTaskHead(entity_in, num_e), MultiTaskHead(relation_in, num_r)
        else:
            self.entity_head = NoneClassHead(entity_in, num_e)
            self.relation_head = (SigmoidHead if cfg.mode == "spert" else NoneClassHead)(relation_in, num_r)
        self.loss_options = LossOptions(cfg.alpha, cfg.beta, cfg.margin_pos, cfg.margin_neg, cfg.gamma, cfg.delta,
                                        cfg.negative_ranking_weight, cfg.ranking_average == "separate")
        self._register_load_state_dict_pre_hook(_rename_format1_parameters)
        if cfg.loss_balance == "uncertainty":  # s_entity, s_relation of exp(-s) L + s (Kendall et al. 2018)
            self.loss_log_weights = nn.Parameter(torch.zeros(2))

    def set_prediction_settings(self, **settings) -> None:
        """Changes how the trained model predicts (Config.with_prediction_settings: θ, span width,
        decoding, ...); what it was built or trained with cannot change."""
        self.config = self.config.with_prediction_settings(**settings)

    def take_weights(self, trained: SpERTMT) -> None:
        """Starts from a trained model's weights (Config.init_model), built with the same settings of
        config.INIT_MODEL_KEYS: every parameter is copied, but each head's classifier has a row per
        type (after a "none" row where it has one), and the relation head's layers a column per entity
        type twice over where they read entity logits (relation_parts): those are copied for the
        types both models have, by name. A type only this model has keeps its fresh initialisation,
        but an entity type's logit columns start at 0, so that the relation types both have are
        scored as the trained model scores them until training moves them."""
        ours, theirs = self.state_dict(), trained.state_dict()
        missing = sorted(set(ours) - set(theirs) - {"loss_log_weights"})  # loss_balance may differ
        if missing:
            raise ValueError(f"the trained model has no {missing[0]}: it was built otherwise")
        entities = _shared_types(self.types.entities, trained.types.entities)
        relations = _shared_types(self.types.relations, trained.types.relations)
        for key in theirs.keys() & ours.keys():
            head, _, rest = key.partition(".")
            if head not in ("entity_head", "relation_head"):
                ours[key] = theirs[key]
                continue
            typed_rows = rest.startswith("classifier.")
            rows = (entities if head == "entity_head" else relations) if typed_rows else _NO_TYPES
            logits = head == "relation_head" and key.endswith("weight") and self.use_entity_logits
            ours[key] = _copy_types(ours[key], theirs[key], rows, entities if logits else None)
        self.load_state_dict(ours)

    @property
    def window(self) -> int:
        """The most pieces the encoder reads at once: max_length, at most its position limit; a longer
        document is encoded in overlapping windows."""
        return min(self.config.max_length, self.position_limit)

    # ------------------------------------------------------------------------------------------
    # Representations

    def encode(self, batch: Batch) -> Tensor:
        """[B, T, d1] piece embeddings; documents longer than the window (`max_length`, at most
        the encoder's position limit) are encoded in overlapping windows (`_encode_windows`)."""
        if batch.input_ids.shape[1] <= self.window:
            hidden = packed.hidden_states(self.encoder, batch.input_ids, batch.attention_mask)
        else:
            hidden = self._encode_windows(batch.input_ids, batch.attention_mask, self.window)
        # The span kernels take float32, float64 and bfloat16; fp16 autocast output pools in float32.
        return hidden.float() if hidden.dtype == torch.float16 else hidden

    def _encode_windows(self, input_ids: Tensor, attention_mask: Tensor, window: int) -> Tensor:
        """Encodes long documents in overlapping windows and stitches them (data.encoding.window_plan)."""
        device = input_ids.device
        ids, mask, source = window_plan(input_ids.cpu().numpy(), attention_mask.sum(1).tolist(), window)
        out = packed.hidden_states(self.encoder, torch.from_numpy(ids).to(device),
                                   torch.from_numpy(mask).to(device=device, dtype=attention_mask.dtype))
        flat = torch.cat([out.reshape(-1, out.shape[-1]), out.new_zeros(1, out.shape[-1])])  # last row: padding
        return flat[torch.from_numpy(source).to(device)]

    @staticmethod
    def piece_ranges(batch: Batch, word_spans: Tensor) -> Tensor:
        """[B, N, 2] word ranges -> [B, N, 2] piece ranges (first word's first piece, last word's end)."""
        if batch.word_starts.shape[1] == 0:
            return torch.zeros_like(word_spans)
        if word_spans.dim() == 2:  # the same spans for every document
            word_spans = word_spans.unsqueeze(0).expand(batch.word_starts.shape[0], -1, -1)
        last = batch.word_starts.shape[1] - 1
        first_word = word_spans[..., 0].clamp(0, last)
        last_word = (word_spans[..., 1] - 1).clamp(0, last)
        starts = batch.word_starts.gather(1, first_word)
        ends = torch.maximum(batch.word_ends.gather(1, last_word), starts)
        return torch.stack([starts, ends], -1)

    def span_representations(self, pooled: Tensor, widths: Tensor) -> Tensor:
        """c(s) = pooled ∘ W_width[width]."""
        width_emb = self.width_embedding(widths.clamp(0, MAX_WIDTH_EMBEDDINGS - 1))
        if width_emb.dim() == 2:
            width_emb = width_emb.unsqueeze(0).expand(pooled.shape[0], -1, -1)
        return torch.cat([pooled, width_emb], -1)

    def score_entities(self, c: Tensor, cls: Tensor):
        """-> (identification logits or None, classifier outputs, entity type scores p(s))."""
        if self.training and self.dropout.p > 0:  # dropout draws a mask for each span's copy of [CLS]
            ident, outputs = self.entity_head(self.dropout(torch.cat([c, cls.unsqueeze(1).expand(-1, c.shape[1], -1)],
                                                                     -1)))
        else:  # the [CLS] part of x(s) once per sentence: no [B, S, 2 d1 + d2] copy (10 % of extraction)
            ident, outputs = self.entity_head([c, cls.unsqueeze(1)])
        return ident, outputs, self.entity_head.type_scores(outputs)

    def relation_parts(self, head: Tensor, context: Tensor, tail: Tensor, head_types: Tensor,
                       tail_types: Tensor) -> list[Tensor]:
        """r(s1, s2) as its parts, in the relation head's order: c(s1), the context, c(s2), and the
        entity type scores p(s1), p(s2) where the model feeds them (entity_logits)."""
        return [head, context, tail] + ([head_types, tail_types] if self.use_entity_logits else [])

    def score_relations(self, hidden: Tensor, c: Tensor, piece_ranges: Tensor, type_scores: Tensor,
                       pairs: Tensor):
        """-> (identification logits or None, classifier outputs) for [B, P, 2] pairs of span rows."""
        def take(t: Tensor, which: Tensor) -> Tensor:
            return t.gather(1, which.unsqueeze(-1).expand(-1, -1, t.shape[-1]))

        head, tail = pairs[..., 0], pairs[..., 1]
        # .to(c.dtype): bf16 states' maxima widened to the heads' fp32 (what cat would promote to)
        context = ops.pair_context_max_pool(hidden, take(piece_ranges, head), take(piece_ranges, tail)).to(c.dtype)
        if self.use_entity_logits and not self.config.entity_logits_grad:
            type_scores = type_scores.detach()
        parts = self.relation_parts(take(c, head), context, take(c, tail), take(type_scores, head),
                                    take(type_scores, tail))
        if self.training and self.dropout.p > 0:
            return self.relation_head(self.dropout(torch.cat(parts, -1)))
        return self.relation_head(parts)  # no dropout: the parts meet their slices of the weights

    # ------------------------------------------------------------------------------------------
    # Training

    def forward(self, batch: Batch, reduce: SampleReduction | None = None) -> LossOutput:
        """The training loss of a batch of training samples; `reduce` makes each head's loss over its
        samples a scalar (default: as config.loss_reduction says, for one process)."""
        cfg = self.config
        reduce = reduce or SampleReduction(cfg.loss_reduction)
        hidden = self.encode(batch)
        cls = hidden[:, 0]
        piece_ranges = self.piece_ranges(batch, batch.entity_spans)
        pooled = ops.span_max_pool(hidden, piece_ranges[..., 0], piece_ranges[..., 1])
        widths = batch.entity_spans[..., 1] - batch.entity_spans[..., 0]
        c = self.span_representations(pooled, widths)
        ident, outputs, type_scores = self.score_entities(c, cls)
        mask = batch.entity_mask.to(hidden.dtype)
        # The IoU-scaled identification loss (-EIL: plain BCE) of the multi-task entity head.
        en_iou = (ops.span_en_iou(batch.entity_spans, batch.gold_spans, batch.gold_mask)
                  if self.entity_head.uses_en_iou and cfg.iou_loss else None)
        entity_loss = self.entity_head.loss(ident, outputs, batch.entity_labels, mask, reduce, self.loss_options,
                                            en_iou)

        # Also run with no relation sample (a 0-size batch costs nothing, the loss is 0): every
        # process of a distributed run then takes part in the same collectives.
        ident, outputs = self.score_relations(hidden, c, piece_ranges, type_scores, batch.rel_pairs)
        mask = batch.rel_mask.to(hidden.dtype)
        relation_loss = self.relation_head.loss(ident, outputs, batch.rel_labels, mask, reduce, self.loss_options)
        if cfg.loss_balance == "uncertainty":
            s = self.loss_log_weights
            loss = torch.exp(-s[0]) * entity_loss + torch.exp(-s[1]) * cfg.relation_weight * relation_loss + s.sum()
        else:
            loss = entity_loss + cfg.relation_weight * relation_loss
        return LossOutput(loss, entity_loss.detach(), relation_loss.detach())

    # ------------------------------------------------------------------------------------------
    # Prediction

    @torch.no_grad()
    def predict(self, batch: Batch, threshold: float | None = None, multi_label_relations: bool | None = None, *,
                entity_threshold: float | Tensor | None = None, relation_threshold: float | Tensor | None = None,
                entity_spans: Tensor | None = None, entity_mask: Tensor | None = None,
                relations: bool = True) -> RawPredictions:
        """Entities over every span of width 1..max_span_width, then relations over the ordered
        pairs of predicted entities (built on the device, no loop over pairs).

        Args:
            threshold: θ of both heads (default: the config's).
            entity_threshold, relation_threshold: θ per head, a number or a per-type tensor ([E], [R]).
            entity_spans, entity_mask: [B, E, 2] word ranges and [B, E] mask of given entities: they
                are taken as the entities, and only the relations among them are predicted.
            relations: False predicts entities only (no relation work).
        """
        cfg = self.config
        base = cfg.threshold if threshold is None else threshold
        entity_threshold = base if entity_threshold is None else entity_threshold
        relation_threshold = base if relation_threshold is None else relation_threshold
        multi_label = cfg.multi_label_relations if multi_label_relations is None else multi_label_relations
        hidden = self.encode(batch)
        # Under bf16 autocast only the encoder runs in bf16: the heads are cheap, and their scores
        # are compared with θ, where bf16's 8-bit mantissa could flip decisions. The max pooling
        # reads the bf16 hidden states and its results are widened (exact: a max commutes with
        # widening), so the [B, T, d1] states are never copied to fp32.
        with torch.autocast(hidden.device.type, enabled=False):
            return self._decide(batch, hidden, entity_threshold, relation_threshold, multi_label, entity_spans,
                                entity_mask, relations)

    def _decide(self, batch: Batch, hidden: Tensor, entity_threshold, relation_threshold, multi_label: bool,
                entity_spans: Tensor | None, entity_mask: Tensor | None, relations: bool) -> RawPredictions:
        """predict() after the encoder."""
        cfg = self.config
        B = hidden.shape[0]
        if entity_spans is None:
            enumerated = ops.enumerate_span_max_pool(hidden, batch.word_starts, batch.word_ends, batch.num_words,
                                                     cfg.max_span_width)
            spans, span_mask, pooled = (
                enumerated.spans.unsqueeze(0).expand(B, -1, -1),
                enumerated.mask,
                enumerated.pooled,
            )
        else:
            spans, span_mask = entity_spans, entity_mask
            ranges = self.piece_ranges(batch, spans)
            pooled = ops.span_max_pool(hidden, ranges[..., 0], ranges[..., 1])
        c = self.span_representations(pooled.float(), spans[..., 1] - spans[..., 0])
        ident, outputs, type_scores = self.score_entities(c, hidden[:, 0].float())
        entity_keep, entity_types, entity_scores = self.entity_head.best_type(outputs, entity_threshold)
        entity_keep = span_mask if entity_spans is not None else entity_keep & span_mask
        entity_probs = self.entity_head.probabilities(ident, outputs).gather(-1, entity_types.unsqueeze(-1))[..., 0]

        num_r = len(self.types.relations)
        if relations:
            pairs, pair_mask, flat = ordered_pairs(entity_keep)
        else:
            pairs, pair_mask, flat = spans.new_zeros(B, 0, 2), span_mask.new_zeros(B, 0), None
        if pairs.shape[1] == 0 or num_r == 0:
            empty = torch.zeros(pairs.shape[:2] + (num_r,), device=hidden.device)
            return RawPredictions(spans, entity_keep, entity_types, entity_scores, pairs, pair_mask,
                                  empty.bool(), empty, entity_probs, empty)
        # The batch's pairs are classified as one flat list, not padded per document to the largest
        # document's count (entities per sentence vary a lot: padding to k_max^2 pairs per document
        # had made batches of 32 slower than batches of 8). The batch is viewed as one sequence:
        # piece ranges shift by b * T, span rows by b * S.
        T, S = hidden.shape[1], spans.shape[1]
        doc, head, tail, slot = flat
        piece_ranges = self.piece_ranges(batch, spans) + (torch.arange(B, device=hidden.device) * T).view(B, 1, 1)
        flat_pairs = torch.stack([doc * S + head, doc * S + tail], -1).unsqueeze(0)
        views = (hidden.reshape(1, B * T, -1), c.reshape(1, B * S, -1), piece_ranges.reshape(1, B * S, 2),
                 type_scores.reshape(1, B * S, -1))
        # Pairs grow with the square of the entities: classify them in chunks so that memory stays
        # bounded by max_pairs whatever the model predicts (SpERT chunks the same way).
        scored = [self.score_relations(*views, chunk) for chunk in flat_pairs.split(cfg.max_pairs, dim=1)]
        flat_out = torch.cat([out for _, out in scored], dim=1)[0]
        outputs = flat_out.new_zeros(B, pairs.shape[1], flat_out.shape[-1])
        outputs[doc, slot] = flat_out
        relation_ident = None
        if scored[0][0] is not None:  # heads with an identification logit
            flat_ident = torch.cat([i for i, _ in scored], dim=1)[0]
            relation_ident = flat_ident.new_zeros(B, pairs.shape[1])
            relation_ident[doc, slot] = flat_ident
        keep, scores = self.relation_head.kept_types(outputs, relation_threshold, multi_label)
        keep &= pair_mask.unsqueeze(-1)
        relation_probs = self.relation_head.probabilities(relation_ident, outputs)
        return RawPredictions(spans, entity_keep, entity_types, entity_scores, pairs, pair_mask, keep, scores,
                              entity_probs, relation_probs)


@dataclass(frozen=True)
class _SharedTypes:
    """The types two models both have, by name: their places in each model's types."""

    ours: list[int]
    theirs: list[int]
    our_count: int
    their_count: int

    def indices(self, our_size: int, their_size: int, blocks: int = 1) -> tuple[Tensor, Tensor]:
        """Matching places along a dimension whose last `blocks` * count places are the types, in
        blocks: the places before them (a "none" row, the relation classifier's representation
        columns) and each shared type's."""
        lead = our_size - blocks * self.our_count
        if lead != their_size - blocks * self.their_count or lead < 0:
            raise ValueError(f"a dimension of {our_size} for {self.our_count} types cannot take one of "
                             f"{their_size} for {self.their_count}: the trained model was built otherwise")
        ours, theirs = list(range(lead)), list(range(lead))
        for block in range(blocks):
            ours += [lead + block * self.our_count + i for i in self.ours]
            theirs += [lead + block * self.their_count + j for j in self.theirs]
        return torch.tensor(ours, dtype=torch.long), torch.tensor(theirs, dtype=torch.long)


_NO_TYPES = _SharedTypes([], [], 0, 0)  # a dimension without a place per type: copied whole


def _shared_types(ours: list, theirs: list) -> _SharedTypes:
    where = {t.name: j for j, t in enumerate(theirs)}
    shared = [(i, where[t.name]) for i, t in enumerate(ours) if t.name in where]
    return _SharedTypes([i for i, _ in shared], [j for _, j in shared], len(ours), len(theirs))


def _copy_types(fresh: Tensor, trained: Tensor, rows: _SharedTypes, entity_columns: _SharedTypes | None = None
                ) -> Tensor:
    """`fresh` (a head layer's weight or bias) with the rows of the shared types, and where given the
    relation head's entity-logit columns of the shared entity types (two blocks: the head entity's
    and the tail's), taken from `trained`."""
    out = fresh.clone()
    our_rows, their_rows = rows.indices(fresh.shape[0], trained.shape[0])
    if fresh.dim() == 1:
        out[our_rows] = trained[their_rows]
        return out
    if entity_columns is None:
        our_columns, their_columns = _NO_TYPES.indices(fresh.shape[1], trained.shape[1])
    else:
        our_columns, their_columns = entity_columns.indices(fresh.shape[1], trained.shape[1], blocks=2)
        out[:, fresh.shape[1] - 2 * entity_columns.our_count:] = 0  # the logits of a new entity type: unread
    out[our_rows[:, None], our_columns] = trained[their_rows[:, None], their_columns]
    return out


def _rename_format1_parameters(state_dict, prefix, *args) -> None:
    """Loads the weights of checkpoint format 1 (entity_classifier.weight, ...) under today's names."""
    for key in list(state_dict):
        for old, new in _FORMAT1_NAMES.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
def ordered_pairs(keep: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """All ordered pairs (i, j), i != j, of the kept rows of each document, built on the device.

    Returns the padded view ([B, P, 2] pairs, [B, P] mask; P = the largest document's count) and
    the flat list (document, head row, tail row, slot in the padded view), each [N] with N the
    real pairs. In each document, pairs run head-major over the kept rows in their order.
    """
    B = keep.shape[0]
    device = keep.device
    counts = keep.sum(1)
    rows = keep.nonzero()  # [M, 2] (document, row), document-major
    doc_of = rows[:, 0]
    per_row = counts[doc_of]  # each kept row pairs with every kept row of its document
    total = int(per_row.sum()) if rows.shape[0] else 0
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return keep.new_zeros(B, 0, 2, dtype=torch.long), keep.new_zeros(B, 0), (empty,) * 4
    head_row = torch.repeat_interleave(torch.arange(rows.shape[0], device=device), per_row, output_size=total)
    block_start = torch.cumsum(per_row, 0) - per_row
    first_row_of_doc = torch.cumsum(counts, 0) - counts
    tail_row = first_row_of_doc[doc_of[head_row]] + (torch.arange(total, device=device) - block_start[head_row])
    distinct = head_row != tail_row
    head_row, tail_row = head_row[distinct], tail_row[distinct]
    doc = doc_of[head_row]
    head, tail = rows[head_row, 1], rows[tail_row, 1]
    pairs_per_doc = counts * (counts - 1)
    slot = torch.arange(doc.shape[0], device=device) - (torch.cumsum(pairs_per_doc, 0) - pairs_per_doc)[doc]
    P = int(pairs_per_doc.max())
    pairs = torch.zeros(B, P, 2, dtype=torch.long, device=device)
    pairs[doc, slot] = torch.stack([head, tail], -1)
    mask = torch.zeros(B, P, dtype=torch.bool, device=device)
    mask[doc, slot] = True
    return pairs, mask, (doc, head, tail, slot)
