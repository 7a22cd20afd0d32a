"""Documents longer than the encoder's window: overlapping windows, stitched so that each piece
takes its embedding from the window where it has the most context; training, prediction and
relations across window borders on a 3,000-word document with a 32-piece window."""

import pytest
import torch

from spertmt.config import Config
from spertmt.data.batching import Collator, DocumentDataset, encode_documents
from spertmt.data.documents import Document, Entity, Relation, read_documents, read_types
from spertmt.inference.extractor import Extractor
from spertmt.model.encoder import load_encoder, load_tokenizer
from spertmt.model.spertmt import SpERTMT

from ..conftest import FIXTURES

WINDOW = 32


@pytest.fixture(scope="module")
def setup(tiny_encoder):
    types = read_types(f"{FIXTURES}/tiny_types.json")
    tokenizer = load_tokenizer(tiny_encoder)
    config = Config(encoder=tiny_encoder, max_length=WINDOW, threshold=-100.0, dropout=0.0)
    torch.manual_seed(0)
    model = SpERTMT(config, types, load_encoder(tiny_encoder)).eval()
    sentences = read_documents(f"{FIXTURES}/tiny_train.json", types)
    long_doc = Document([], [], [])
    while len(long_doc.tokens) < 3000:  # the fixtures one after another, annotations shifted
        for s in sentences:
            offset, base = len(long_doc.tokens), len(long_doc.entities)
            long_doc.tokens += s.tokens
            long_doc.entities += [Entity(e.start + offset, e.end + offset, e.type) for e in s.entities]
            long_doc.relations += [Relation(r.head + base, r.tail + base, r.type) for r in s.relations]
    return types, tokenizer, model, long_doc, sentences


def _batch(tokenizer, types, docs, train=False):
    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=train)
    return Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(docs))])


def _reference(model, ids, length):
    """Each inner piece from the window (half-overlapping) where its smaller distance to an edge
    not at the document's ends is largest; an independent, position-by-position reading of the rule."""
    inner, stride = WINDOW - 2, (WINDOW - 2) // 2
    n = length - 2
    starts = list(range(0, max(n - inner, 0) + 1, stride))
    if starts[-1] + inner < n:
        starts.append(n - inner)
    outputs = []
    for a in starts:
        m = min(inner, n - a)
        window_ids = torch.cat([ids[:1], ids[1 + a:1 + a + m], ids[length - 1:length]]).unsqueeze(0)
        outputs.append(model.encoder(input_ids=window_ids).last_hidden_state[0])
    expected = torch.zeros(length, outputs[0].shape[-1])
    for p in range(1, length - 1):
        best, best_ctx = None, -1
        for k, a in enumerate(starts):
            m = min(inner, n - a)
            i = p - 1 - a
            if not 0 <= i < m:
                continue
            left = i if a > 0 else 10**9
            right = m - 1 - i if a + m < n else 10**9
            if min(left, right) > best_ctx:
                best, best_ctx = (k, i), min(left, right)
        expected[p] = outputs[best[0]][1 + best[1]]
    expected[0] = outputs[0][0]
    expected[length - 1] = outputs[-1][1 + min(inner, n - starts[-1])]
    return expected


def test_windows_are_stitched_by_most_context(setup):
    types, tokenizer, model, long_doc, sentences = setup
    short = sentences[1]
    batch = _batch(tokenizer, types, [long_doc, short])
    with torch.no_grad():
        hidden = model.encode(batch)
        length = int(batch.attention_mask[0].sum())
        assert length > 3000  # about 200 windows
        expected = _reference(model, batch.input_ids[0], length)
        torch.testing.assert_close(hidden[0, :length], expected, rtol=1e-4, atol=1e-5)
        # A document that fits one window gets what plain encoding gives it.
        n = int(batch.attention_mask[1].sum())
        plain = model.encoder(input_ids=batch.input_ids[1:2, :n]).last_hidden_state[0]
        torch.testing.assert_close(hidden[1, :n], plain, rtol=1e-4, atol=1e-5)
        assert (hidden[1, n:] == 0).all()


def test_training_step_and_prediction_on_a_long_document(setup):
    types, tokenizer, model, long_doc, _ = setup
    model.train()
    batch = _batch(tokenizer, types, [long_doc], train=True)
    out = model(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    model.zero_grad()
    model.eval()
    extractor = Extractor(model, tokenizer, torch.device("cpu"))
    words = long_doc.tokens
    # Given entities far apart: the relation's context spans many windows.
    first, last = long_doc.entities[0], long_doc.entities[-1]
    given = [[{"token_start": first.start, "token_end": first.end, "type": "Peop"},
              {"token_start": last.start, "token_end": last.end, "type": "Loc"}]]
    result = extractor.extract([words], given)[0]
    assert [(e.token_start, e.token_end) for e in result.entities] == [first.span, last.span]
    # θ = -100 keeps a relation each way (a symmetric type is reported once, in start order).
    assert result.relations and {(r.head, r.tail) for r in result.relations} <= {(0, 1), (1, 0)}
    found = extractor.extract([words], relations=False)[0]
    assert max(e.token_end for e in found.entities) == len(words)  # spans up to the very end



def test_roberta_family_windows_leave_out_the_positions_it_never_uses(setup):
    """RoBERTa's family numbers positions from its padding id + 1: of RoBERTa-base's 514 position
    embeddings (padding id 1) 512 hold pieces, of this encoder's 33 (padding id 0) 32. The window was
    the 33 (the 33rd piece read past the table: IndexError at extraction of any longer sentence)."""
    from transformers import AutoConfig, AutoModel

    types, tokenizer, _, long_doc, _ = setup
    torch.manual_seed(0)
    encoder = AutoModel.from_config(AutoConfig.for_model(
        "roberta", vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=WINDOW + 1 + tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id))
    model = SpERTMT(Config(encoder="roberta", threshold=-100.0), types, encoder).eval()
    with torch.no_grad():
        hidden = model.encode(_batch(tokenizer, types, [long_doc]))
    assert hidden.shape[1] > 3000 and torch.isfinite(hidden).all()
    assert model.window == WINDOW  # max_length 512, at most the encoder's limit
