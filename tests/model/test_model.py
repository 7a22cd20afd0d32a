"""The model with a tiny random BERT: losses against docs/method.md's formulas by hand, every mode and
ablation, multi-label targets, prediction and a save/load round trip."""

import dataclasses
import math

import pytest
import torch

from spertmt.data.batching import Collator, DocumentDataset, encode_documents
from spertmt.data.documents import read_documents, read_types
from spertmt.inference.decoding import decode_arrays
from spertmt.inference.engines.pytorch import arrays
from spertmt.model.encoder import load_encoder, load_tokenizer
from spertmt.model.folder import load_model, save_checkpoint
from spertmt.model.losses import MEAN, SampleReduction, multilabel_bce, multitask_loss, none_class_cross_entropy
from spertmt.model.spertmt import SpERTMT, ordered_pairs


def softplus(x):
    return math.log1p(math.exp(x))


def test_multitask_loss_by_hand():
    # Two entity samples: a gold "type 1" span and a negative overlapping it (ENIoU 0.5); one padding row.
    ident = torch.tensor([[0.4, -0.3, 9.0]])
    scores = torch.tensor([[[0.2, 1.0], [0.5, -0.2], [9.0, 9.0]]])
    labels = torch.tensor([[[False, True], [False, False], [True, True]]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    en_iou = torch.tensor([[1.0, 0.5, 0.0]])
    d, mp, mn, g = 0.25, 2.5, 0.5, 2.0
    ident_pos = (1 - d) * softplus(-0.4)  # -q (1 - δ) log p
    ident_neg = d * (1 + 0.5) * softplus(-0.3)  # -δ (1 - q)(1 + ENIoU) log(1 - p)
    rank_pos = softplus(g * (mp - 1.0)) + softplus(g * (mn + 0.2))  # L+ and L- (best wrong class: 0)
    rank_neg = softplus(g * (mn + 0.5))  # no class: L- over the best class
    want = 1.0 * (ident_pos + ident_neg) / 2 + 1.0 * (rank_pos + rank_neg) / 2
    got = multitask_loss(ident, scores, labels, mask, alpha=1.0, beta=1.0, m_pos=mp, m_neg=mn, gamma=g,
                         en_iou=en_iou, delta=d)
    assert got.item() == pytest.approx(want, rel=1e-6)
    # -EIL and relations: plain BCE; alpha and beta weight the two parts.
    plain = multitask_loss(ident, scores, labels, mask, alpha=0.5, beta=2.0, m_pos=mp, m_neg=mn, gamma=g, delta=d)
    want_plain = 0.5 * (softplus(-0.4) + softplus(-0.3)) / 2 + 2.0 * (rank_pos + rank_neg) / 2
    assert plain.item() == pytest.approx(want_plain, rel=1e-6)


def test_multitask_loss_reductions_and_negative_weights_by_hand():
    """The paper's Σ (reduction "sum"), a weight on the negatives' ranking loss, and positives and
    negatives averaged apart (config keys loss_reduction, negative_ranking_weight, ranking_average)."""
    ident = torch.tensor([[0.4, -0.3, 0.1, 9.0]])
    scores = torch.tensor([[[0.2, 1.0], [0.5, -0.2], [-0.1, 0.3], [9.0, 9.0]]])
    labels = torch.tensor([[[False, True], [False, False], [False, False], [True, True]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    mp, mn, g = 2.5, 0.5, 2.0
    bce = [softplus(-0.4), softplus(-0.3), softplus(0.1)]  # plain BCE: gold, negative, negative
    rank = [softplus(g * (mp - 1.0)) + softplus(g * (mn + 0.2)), softplus(g * (mn + 0.5)), softplus(g * (mn + 0.3))]
    common = dict(alpha=0.5, beta=2.0, m_pos=mp, m_neg=mn, gamma=g, delta=0.25)
    summed = multitask_loss(ident, scores, labels, mask, reduce=SampleReduction("sum"), **common)
    assert summed.item() == pytest.approx(0.5 * sum(bce) + 2.0 * sum(rank), rel=1e-6)
    weighted = multitask_loss(ident, scores, labels, mask, negative_weight=0.1, **common)
    want = 0.5 * sum(bce) / 3 + 2.0 * (rank[0] + 0.1 * (rank[1] + rank[2])) / 3
    assert weighted.item() == pytest.approx(want, rel=1e-6)
    separate = multitask_loss(ident, scores, labels, mask, separate=True, negative_weight=0.5, **common)
    want = 0.5 * sum(bce) / 3 + 2.0 * (rank[0] + 0.5 * (rank[1] + rank[2]) / 2)
    assert separate.item() == pytest.approx(want, rel=1e-6)


def test_baseline_losses_sum_over_samples():
    labels = torch.tensor([[[True, False], [False, False], [False, True]]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    logits = torch.tensor([[[0.3, -1.0], [0.0, 0.5], [5.0, 5.0]]])
    for loss in (multilabel_bce, lambda x, y, m, r=MEAN: none_class_cross_entropy(
            torch.cat([torch.zeros_like(x[..., :1]), x], -1), y, m, r)):
        summed = loss(logits, labels, mask, SampleReduction("sum"))
        assert summed.item() == pytest.approx(2 * loss(logits, labels, mask).item(), rel=1e-6)


def test_baseline_losses_and_two_gold_relation_types():
    labels = torch.tensor([[[True, True, False], [False, False, False]]])  # a pair with two gold types
    mask = torch.ones(1, 2)
    logits = torch.tensor([[[0.3, -1.0, 0.2], [0.0, 0.5, -0.5]]])
    # SpERT: BCE per type, averaged over types: both gold types are positive targets.
    bce = lambda x, y: y * softplus(-x) + (1 - y) * softplus(x)  # noqa: E731
    row0 = (bce(0.3, 1) + bce(-1.0, 1) + bce(0.2, 0)) / 3
    row1 = (bce(0.0, 0) + bce(0.5, 0) + bce(-0.5, 0)) / 3
    assert multilabel_bce(logits, labels, mask).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # -MTL: softmax over [none, types]; a softmax has one answer, the first gold type.
    ce_logits = torch.tensor([[[0.1, 0.3, -1.0, 0.2], [0.2, 0.0, 0.5, -0.5]]])
    lse = [math.log(sum(math.exp(v) for v in row)) for row in ce_logits[0].tolist()]
    want = ((lse[0] - 0.3) + (lse[1] - 0.2)) / 2
    assert none_class_cross_entropy(ce_logits, labels, mask).item() == pytest.approx(want, rel=1e-6)


def test_ordered_pairs():
    keep = torch.tensor([[False, True, False, True, True], [True, False, False, False, False]])
    pairs, mask, _ = ordered_pairs(keep)
    real = {tuple(p) for p, m in zip(pairs[0].tolist(), mask[0].tolist()) if m}
    assert real == {(1, 3), (1, 4), (3, 1), (3, 4), (4, 1), (4, 3)}
    assert not mask[1].any()


@pytest.mark.parametrize("seed", range(5))
def test_ordered_pairs_flat_and_padded_views_match_a_loop(seed):
    generator = torch.Generator().manual_seed(seed)
    B, S = 6, 40
    density = torch.rand(B, 1, generator=generator) ** 3  # very uneven counts, some documents empty
    keep = torch.rand(B, S, generator=generator) < density
    pairs, mask, (doc, head, tail, slot) = ordered_pairs(keep)
    expected = [[(i, j) for i in keep[b].nonzero().flatten().tolist() for j in keep[b].nonzero().flatten().tolist()
                 if i != j] for b in range(B)]
    assert mask.shape[1] == max(len(e) for e in expected)
    for b in range(B):
        n = len(expected[b])
        assert mask[b].tolist() == [True] * n + [False] * (mask.shape[1] - n)
        assert [tuple(p) for p in pairs[b, :n].tolist()] == expected[b]
    flat = [(d, (h, t)) for d, h, t in zip(doc.tolist(), head.tolist(), tail.tolist())]
    assert flat == [(b, pair) for b in range(B) for pair in expected[b]]
    assert torch.equal(pairs[doc, slot], torch.stack([head, tail], -1))
    empty = ordered_pairs(torch.zeros(3, 4, dtype=torch.bool))
    assert empty[0].shape == (3, 0, 2) and empty[2][0].numel() == 0


MODES = [
    dict(mode="spertmt"),
    dict(mode="spertmt", multi_task=False),
    dict(mode="spertmt", iou_loss=False),
    dict(mode="spertmt", entity_logits=False),
    dict(mode="spert"),
]


@pytest.fixture(scope="module")
def fixture_data():
    from ..conftest import FIXTURES

    types = read_types(f"{FIXTURES}/tiny_types.json")
    return types, read_documents(f"{FIXTURES}/tiny_train.json", types)


@pytest.mark.parametrize("switches", MODES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_every_mode_trains_and_predicts(tiny_config, fixture_data, switches):
    types, docs = fixture_data
    config = dataclasses.replace(tiny_config, **switches)
    tokenizer = load_tokenizer(config.encoder)
    torch.manual_seed(0)
    model = SpERTMT(config, types, load_encoder(config.encoder))
    collate = Collator(tokenizer.pad_token_id)
    train = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=True, max_span_width=4)
    batch = collate([train[i] for i in range(len(train))])
    out = model(batch)
    assert torch.isfinite(out.loss) and out.relation_loss > 0
    out.loss.backward()
    assert model.entity_head.classifier.weight.grad.abs().sum() > 0
    assert model.relation_head.classifier.weight.grad.abs().sum() > 0
    expected_in = 3 * 32 + 2 * 25 + (2 * 3 if model.use_entity_logits else 0)
    assert model.relation_head.classifier.in_features == expected_in

    model.eval()
    evaluation = DocumentDataset(docs, train.encodings, types, train=False)
    raw = model.predict(collate([evaluation[i] for i in range(len(evaluation))]), threshold=-100.0)
    predictions = decode_arrays(*arrays(raw), docs, types)
    assert len(predictions) == 5 and all(p.tokens == d.tokens for p, d in zip(predictions, docs))
    for p in predictions:
        assert all(e.end - e.start <= config.max_span_width for e in p.entities)
        assert all(0 <= r.head < len(p.entities) and 0 <= r.tail < len(p.entities) for r in p.relations)


def test_relation_weight_scales_the_relation_loss(tiny_config, fixture_data):
    types, docs = fixture_data
    tokenizer = load_tokenizer(tiny_config.encoder)
    train = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=True, max_span_width=4)
    batch = Collator(tokenizer.pad_token_id)([train[i] for i in range(len(train))])
    config = dataclasses.replace(tiny_config, relation_weight=0.25, dropout=0.0)
    torch.manual_seed(0)
    out = SpERTMT(config, types, load_encoder(config.encoder))(batch)
    assert out.relation_loss > 0
    torch.testing.assert_close(out.loss, out.entity_loss + 0.25 * out.relation_loss)


def test_uncertainty_balance_learns_one_weight_per_head(tiny_config, fixture_data):
    types, docs = fixture_data
    tokenizer = load_tokenizer(tiny_config.encoder)
    train = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=True, max_span_width=4)
    batch = Collator(tokenizer.pad_token_id)([train[i] for i in range(len(train))])
    config = dataclasses.replace(tiny_config, loss_balance="uncertainty", dropout=0.0)
    torch.manual_seed(0)
    model = SpERTMT(config, types, load_encoder(config.encoder))
    with torch.no_grad():
        model.loss_log_weights.copy_(torch.tensor([0.5, -1.0]))
    out = model(batch)
    want = math.exp(-0.5) * out.entity_loss + math.exp(1.0) * out.relation_loss + (0.5 - 1.0)
    torch.testing.assert_close(out.loss.detach(), want)
    out.loss.backward()
    # d/ds_k of exp(-s_k) L_k + s_k = 1 - exp(-s_k) L_k
    torch.testing.assert_close(
        model.loss_log_weights.grad,
        torch.stack([1 - math.exp(-0.5) * out.entity_loss, 1 - math.exp(1.0) * out.relation_loss]),
    )


@pytest.mark.parametrize("with_grad", [True, False])
def test_entity_logits_carry_gradient_to_the_entity_classifier(tiny_config, fixture_data, with_grad):
    """The relation scores reach the entity classifier through p(s), unless entity_logits_grad is off."""
    types, docs = fixture_data
    tokenizer = load_tokenizer(tiny_config.encoder)
    config = dataclasses.replace(tiny_config, entity_logits_grad=with_grad)
    model = SpERTMT(config, types, load_encoder(tiny_config.encoder))
    train = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=True)
    batch = Collator(tokenizer.pad_token_id)([train[i] for i in range(4)])
    hidden = model.encode(batch)
    ranges = model.piece_ranges(batch, batch.entity_spans)
    from spertmt import ops

    pooled = ops.span_max_pool(hidden, ranges[..., 0], ranges[..., 1])
    c = model.span_representations(pooled, batch.entity_spans[..., 1] - batch.entity_spans[..., 0])
    _, _, type_scores = model.score_entities(c, hidden[:, 0])
    _, rel_scores = model.score_relations(hidden, c, ranges, type_scores, batch.rel_pairs)
    (grad,) = torch.autograd.grad(rel_scores.sum(), model.entity_head.classifier.weight, allow_unused=True)
    assert (grad is not None and grad.abs().sum() > 0) == with_grad


def test_save_and_load_predict_the_same(tiny_config, fixture_data, tmp_path):
    types, docs = fixture_data
    tokenizer = load_tokenizer(tiny_config.encoder)
    model = SpERTMT(tiny_config, types, load_encoder(tiny_config.encoder)).eval()
    save_checkpoint(model, tokenizer, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=False)
    batch = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(5)])
    a, b = model.predict(batch, threshold=-0.01), loaded.predict(batch, threshold=-0.01)
    for field in ("entity_keep", "entity_types", "entity_scores", "pairs", "relation_keep", "relation_scores"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert loaded.config == model.config


def test_relation_chunks_give_the_same_predictions(tiny_config, fixture_data):
    types, docs = fixture_data
    tokenizer = load_tokenizer(tiny_config.encoder)
    model = SpERTMT(tiny_config, types, load_encoder(tiny_config.encoder)).eval()
    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=False)
    batch = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(5)])
    whole = model.predict(batch, threshold=-100.0)
    assert whole.pairs.shape[1] > 7
    model.config.max_pairs = 7  # many chunks
    chunked = model.predict(batch, threshold=-100.0)
    assert torch.equal(whole.relation_keep, chunked.relation_keep)
    torch.testing.assert_close(whole.relation_scores, chunked.relation_scores)


@pytest.mark.parametrize("mode", ["spertmt", "spert"])
def test_a_batch_predicts_what_each_document_predicts_alone(tiny_config, fixture_data, mode):
    """The batch's pairs are classified as one flat list over the batch viewed as one sequence:
    a wrong offset would pool another document's pieces as context."""
    types, docs = fixture_data
    config = dataclasses.replace(tiny_config, mode=mode)
    tokenizer = load_tokenizer(config.encoder)
    torch.manual_seed(0)
    model = SpERTMT(config, types, load_encoder(config.encoder)).eval()
    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=False)
    collate = Collator(tokenizer.pad_token_id)
    indices = list(range(min(5, len(docs))))
    together = model.predict(collate([dataset[i] for i in indices]), threshold=-100.0)
    assert together.pair_mask.sum() > together.pair_mask.shape[1]  # pairs in several documents
    for b, i in enumerate(indices):
        alone = model.predict(collate([dataset[i]]), threshold=-100.0)
        n = int(alone.pair_mask.sum())
        assert int(together.pair_mask[b].sum()) == n

        def by_word_ranges(raw, row):  # span rows depend on the batch's longest document
            spans = raw.spans[row].tolist()
            return {(tuple(spans[h]), tuple(spans[t])): raw.relation_scores[row, p]
                    for p, (h, t) in enumerate(raw.pairs[row, :n].tolist())}

        want, got = by_word_ranges(alone, 0), by_word_ranges(together, b)
        assert want.keys() == got.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5)


def test_head_lr_gives_everything_but_the_encoder_its_own_learning_rate(tiny_config, fixture_data):
    from spertmt.training.trainer import make_optimizer

    types, _ = fixture_data
    model = SpERTMT(tiny_config, types, load_encoder(tiny_config.encoder))
    lr_of = {}
    for config, expect_head in ((tiny_config, tiny_config.lr), (dataclasses.replace(tiny_config, head_lr=1e-3), 1e-3)):
        optimizer = make_optimizer(model, config)
        lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
        assert len(lr_of) == sum(1 for p in model.parameters() if p.requires_grad)  # each parameter once
        for name, param in model.named_parameters():
            lr, decay = lr_of[id(param)]
            assert lr == (config.lr if name.startswith("encoder.") else expect_head), name
            assert decay == (0.0 if name.endswith("bias") or "LayerNorm" in name else config.weight_decay), name


def test_a_model_folder_of_checkpoint_format_1_loads_and_predicts_as_it_did():
    """tests/fixtures/model-format1 was written by an earlier spertmt (see make_model_fixture.py)."""
    import json
    from pathlib import Path

    import spertmt

    from ..fixtures.make_model_fixture import OUT, expected_outputs

    got = expected_outputs(spertmt.load(OUT, device="cpu"))
    want = json.loads((Path(OUT) / "expected.json").read_text())
    for kind in ("entities", "relations"):
        assert [[row[:-1] for row in doc] for doc in got[kind]] == [[row[:-1] for row in doc] for doc in want[kind]]
        assert [row[-1] for doc in got[kind] for row in doc] == pytest.approx(
            [row[-1] for doc in want[kind] for row in doc], abs=2e-5)
    assert sum(len(doc) for doc in want["relations"]) > 0


def test_the_heads_score_parts_as_they_score_their_concatenation(tiny_encoder):
    """Without dropout the heads take x(s) and r(s1, s2) as parts (spertmt.model.heads.linear), not
    concatenated: the same scores as the concatenation, for every kind of head."""
    import torch

    from spertmt.model.heads import MultiTaskHead, NoneClassHead, SigmoidHead, linear

    torch.manual_seed(0)
    c, cls = torch.randn(3, 7, 10), torch.randn(3, 1, 6)
    whole = torch.cat([c, cls.expand(-1, 7, -1)], -1)
    for head in (MultiTaskHead(16, 4), NoneClassHead(16, 4), SigmoidHead(16, 4)):
        for a, b in zip(head(whole), head([c, cls])):
            if a is not None:
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="the parts have 15 features, the layer takes 16"):
        linear(torch.nn.Linear(16, 2), [c, cls[..., :5]])


def test_a_trained_model_changes_only_its_prediction_settings(tiny_config, fixture_data):
    types, _ = fixture_data
    model = SpERTMT(tiny_config, types, load_encoder(tiny_config.encoder))
    model.set_prediction_settings(threshold=0.3, flat_ner=True)
    assert model.config.threshold == 0.3 and model.config.flat_ner is True
    with pytest.raises(ValueError, match="lr, mode: not a prediction setting"):
        model.set_prediction_settings(mode="spert", lr=1e-3)
    with pytest.raises(ValueError, match="threshold"):
        model.set_prediction_settings(threshold="high")
    assert model.config.mode == tiny_config.mode and model.config.threshold == 0.3


def _types_reordered_with_one_new(types):
    """The fixture's types in another order, with one entity and one relation type more, less one
    relation type (a corpus that shares most of its types with the model it starts from)."""
    from spertmt.data.documents import Types

    entities = {t.name: {} for t in reversed(types.entities)} | {"Misc": {}}
    relations = {t.name: {} for t in reversed(types.relations[1:])} | {"Kill": {}}
    return Types.from_dict({"entities": entities, "relations": relations})


def _head_outputs(model, batch, spans, mask):
    """Both heads' outputs (identification logits or None, classifier outputs) for the given spans and
    the ordered pairs of them."""
    from spertmt import ops

    with torch.no_grad():
        hidden = model.encode(batch)
        ranges = model.piece_ranges(batch, spans)
        c = model.span_representations(ops.span_max_pool(hidden, ranges[..., 0], ranges[..., 1]),
                                       spans[..., 1] - spans[..., 0])
        entity_ident, entity_outputs, type_scores = model.score_entities(c, hidden[:, 0])
        pairs = ordered_pairs(mask)[0]
        return (entity_ident, entity_outputs), model.score_relations(hidden, c, ranges, type_scores, pairs)


@pytest.mark.parametrize("switches", MODES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_a_model_started_from_a_trained_one_scores_the_types_they_share_as_it_does(tiny_config, fixture_data,
                                                                                    switches):
    """take_weights (init_model) copies each head's rows by type name, and the entity-logit columns
    of the relation head's layers too (copied by place, a reordered types file scored every type as
    another); a type the trained model lacks starts fresh, its entity logits unread."""
    types, docs = fixture_data
    config = dataclasses.replace(tiny_config, **switches)
    tokenizer = load_tokenizer(config.encoder)
    torch.manual_seed(0)
    trained = SpERTMT(config, types, load_encoder(config.encoder)).eval()
    with torch.no_grad():  # weights unlike a fresh model's everywhere, the encoder's too
        for parameter in trained.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    theirs = _types_reordered_with_one_new(types)
    started = SpERTMT(config, theirs, load_encoder(config.encoder)).eval()
    fresh = {key: value.clone() for key, value in started.state_dict().items()}
    started.take_weights(trained)

    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=False)
    batch = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(docs))])
    most = max(len(d.entities) for d in docs)  # the gold entities and their pairs
    spans = torch.tensor([[[e.start, e.end] for e in d.entities] + [[0, 1]] * (most - len(d.entities)) for d in docs])
    mask = torch.tensor([[i < len(d.entities) for i in range(most)] for d in docs])
    (want_entity, want_relation), (got_entity, got_relation) = (_head_outputs(m, batch, spans, mask)
                                                                for m in (trained, started))
    for want, got, old, new in ((want_entity, got_entity, types.entities, theirs.entities),
                                (want_relation, got_relation, types.relations, theirs.relations)):
        if want[0] is not None:  # the identification logit: no type in it
            torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-5)
        lead = want[1].shape[-1] - len(old)  # a "none" class first, or none
        assert got[1].shape[-1] - len(new) == lead
        index = {t.name: t.index for t in new}
        shared = [t for t in old if t.name in index]
        assert len(shared) == len(new) - 1
        torch.testing.assert_close(got[1][..., [lead + index[t.name] for t in shared]],
                                   want[1][..., [lead + t.index for t in shared]], rtol=1e-4, atol=1e-5)
        if lead:
            torch.testing.assert_close(got[1][..., 0], want[1][..., 0], rtol=1e-4, atol=1e-5)
    state = started.state_dict()
    misc = theirs.entity_index["Misc"].index
    kill = theirs.relation_index["Kill"].index
    for key, row in (("entity_head.classifier.weight", misc), ("relation_head.classifier.weight", kill)):
        row += state[key].shape[0] - (len(theirs.entities) if key.startswith("entity") else len(theirs.relations))
        if not started.use_entity_logits or key.startswith("entity"):
            assert torch.equal(state[key][row], fresh[key][row])
        assert not torch.equal(state[key][row], torch.zeros_like(state[key][row]))


def test_a_model_started_from_one_built_otherwise_is_refused(tiny_config, fixture_data):
    types, _ = fixture_data
    trained = SpERTMT(tiny_config, types, load_encoder(tiny_config.encoder))
    other = SpERTMT(dataclasses.replace(tiny_config, width_embedding_size=8), types, load_encoder(tiny_config.encoder))
    with pytest.raises(ValueError, match="the trained model was built otherwise"):
        other.take_weights(trained)
