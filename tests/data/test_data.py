"""Reading SpERT JSON (with errors that name file, document and problem), word-to-piece alignment,
training samples and batches."""

import json
import random
import re

import pytest
import torch

from spertmt.data.batching import Collator, DocumentDataset, encode_documents
from spertmt.data.convert import read_dygie
from spertmt.data.documents import DataError, Document, read_documents, read_types
from spertmt.data.encoding import encode_words
from spertmt.data.sampling import candidate_spans, make_sample
from spertmt.model.encoder import load_tokenizer

from ..conftest import FIXTURES


@pytest.fixture(scope="module")
def types():
    return read_types(f"{FIXTURES}/tiny_types.json")


@pytest.fixture(scope="module")
def docs(types):
    return read_documents(f"{FIXTURES}/tiny_train.json", types)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("offline:all-MiniLM-L6-v2")


def test_reader(docs, types):
    assert len(docs) == 5 and docs[0].tokens[:2] == ["John", "Smith"]
    assert [t.name for t in types.entities] == ["Peop", "Loc", "Org"]
    assert types.relation_index["Near"].symmetric and not types.relation_index["Live_In"].symmetric
    assert docs[1].relations[2].type == "Work_For" and docs[0].orig_id == "d0"


BROKEN = [
    ({"tokens": ["a", "b"], "entities": [{"type": "Peop", "start": 1, "end": 1}]}, "entity 0 has end 1 <= start 1"),
    ({"tokens": ["a", "b"], "entities": [{"type": "Peop", "start": 1, "end": 3}]}, "out of range of 2 tokens"),
    ({"tokens": ["a"], "entities": [{"type": "Person", "start": 0, "end": 1}]}, "unknown type 'Person'"),
    ({"tokens": ["a"], "entities": [{"type": "Peop", "start": 0, "end": 1}],
      "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}, "relation 0 points at a missing entity"),
    ({"tokens": "a b"}, "'tokens' must be a list of strings"),
    ({"tokens": ["a"], "entities": [{"type": "Peop", "start": 0}]}, "entity 0 needs 'type', 'start' and 'end'"),
    # raw texts where documents of words belong: told where texts go (was "must be a JSON object, not str")
    ("John met Mary.", "a text, not a document: SpERT JSON holds documents of words ('tokens'); texts to extract"),
    ({"text": "John met Mary."}, "a text, not a document"),
    # another tool's records: told which converter reads them
    ({"text": "John met Mary.", "entities": []}, "not a SpERT document; it holds doccano records: `spertmt convert "
                                                 "--from doccano --to spert FILE OUT.json` makes SpERT JSON of it"),
    ({"data": {"text": "a"}, "annotations": []}, "it holds Label Studio tasks: `spertmt convert --from labelstudio"),
    ({"text": "a", "tokens": [{"text": "a", "start": 0, "end": 1}], "spans": []}, "it holds Prodigy tasks"),
    ({"doc_key": "x", "sentences": [["a"]], "ner": [[]]}, "it holds DyGIE++ documents: `spertmt convert --from dygie"),
    (3, "a document must be a JSON object, not int"),
]


@pytest.mark.parametrize("doc,message", BROKEN, ids=[m for _, m in BROKEN])
def test_broken_documents_name_file_document_and_problem(tmp_path, types, doc, message):
    path = tmp_path / "broken.json"
    good = {"tokens": ["ok"], "entities": [], "relations": []}
    path.write_text(json.dumps([good, doc]))
    with pytest.raises(DataError) as error:
        read_documents(path, types)
    assert str(path) in str(error.value) and "document 1" in str(error.value) and message in str(error.value)


def test_broken_json_and_missing_file(tmp_path, types):
    path = tmp_path / "bad.json"
    path.write_text('[{"tokens": ["a"],]')
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        read_documents(path, types)
    # JSON lines where one list belongs, and from their first record which converter reads them
    path.write_text('{"text": "a", "tokens": [{"text": "a", "start": 0, "end": 1}]}\n{"text": "b"}\n')
    with pytest.raises(DataError, match=re.escape("bad.json: not valid JSON: Extra data: line 2 column 1 (char 63) "
                                                  "(JSON lines, a value a line, where SpERT JSON is one list; it holds "
                                                  "Prodigy tasks: `spertmt convert --from prodigy --to spert")):
        read_documents(path, types)
    path.write_text('{"tokens": ["a"]}\n{"tokens": ["b"]}\n')
    with pytest.raises(DataError, match=re.escape("(char 18) (JSON lines, a value a line, where SpERT JSON is one "
                                                  "list)")):
        read_documents(path, types)
    path.write_text("[" * 100_000 + "]" * 100_000)  # nested deeper than Python's reader goes: was a RecursionError
    with pytest.raises(DataError, match="bad.json: not valid JSON: maximum recursion depth"):
        read_documents(path, types)
    nested = tmp_path / "nested.jsonl"
    nested.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match="nested.jsonl, line 1: not valid JSON: maximum recursion depth"):
        read_dygie(nested)
    with pytest.raises(DataError, match=r"missing.json: no such file$"):
        read_documents(tmp_path / "missing.json", types)
    # Without the datasets folder at all (a fresh clone without ../shared/datasets): where to get them.
    with pytest.raises(DataError, match=r"no such file \(nor its folder .*spertmt download conll04.*SPERTMT_DATA"):
        read_documents(tmp_path / "datasets" / "conll04" / "conll04_train.json", types)


def test_word_piece_alignment(tokenizer):
    words = ["Hakawati", "Theatre", "", "\u200b", "."]
    enc = encode_words(tokenizer, words)
    pieces = tokenizer.convert_ids_to_tokens(enc.input_ids)
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert pieces[enc.word_starts[0]:enc.word_ends[0]] == ["ha", "##kawa", "##ti"]
    assert pieces[enc.word_starts[1]:enc.word_ends[1]] == ["theatre"]
    assert enc.word_starts[2] == enc.word_ends[2]  # no pieces: an empty range
    assert pieces[enc.word_starts[4]:enc.word_ends[4]] == ["."]


def test_documents_tokenized_together_align_as_one_by_one(tokenizer):
    """encode_documents tokenizes a whole batch in one call: the same pieces and ranges as a call per
    document, with empty documents and words without pieces among them."""
    word_lists = [["Hakawati", "Theatre", "", "\u200b", "."], [], ["Paris"] * 300, ["\u200b"], ["a", "b"]]
    together = encode_documents(tokenizer, [Document(words) for words in word_lists])
    assert together == [encode_words(tokenizer, words) for words in word_lists]
    assert together[1].num_words == 0 and together[1].input_ids == tokenizer("")["input_ids"]
    assert together[2].word_ends[-1] == 301 and together[3].word_starts == together[3].word_ends


def test_roberta_style_tokenizer(tmp_path):
    """Other special tokens and pad id: alignment comes from word_ids, not from BERT's tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", cls_token="<s>", sep_token="</s>")
    enc = encode_words(tok, ["Hi", "you"])
    assert enc.input_ids[0] == 0 and enc.input_ids[-1] == 2 and tok.pad_token_id == 1
    assert (enc.word_starts, enc.word_ends) == ([1, 4], [4, 8])  # "ĠHi" = 3 bytes, "Ġyou" = 4


def test_byte_level_words_get_the_space_running_text_gives_them(tmp_path):
    """ModernBERT's tokenizer (byte-level BPE without a prefix space, transformers' generic class)
    read each word alone as the start of a text ("P" "aris" where running text has "ĠParis"): the
    tokenizer spertmt trains with puts the space before every word, and the folder it saves (read by
    transformers, or by the tokenizers library as the runtime without torch reads it) keeps it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerFast

    from spertmt.model.encoder import load_tokenizer

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]").save_pretrained(tmp_path / "encoder")
    AutoConfig.for_model("modernbert", vocab_size=len(vocab)).save_pretrained(tmp_path / "encoder")

    tok = load_tokenizer(str(tmp_path / "encoder"))
    enc = encode_words(tok, ["Hi", "you"])
    assert tok.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "Ġ", "H", "i", "Ġ", "y", "o", "u", "[SEP]"]
    assert (enc.word_starts, enc.word_ends) == ([1, 4], [4, 8])
    tok.save_pretrained(tmp_path / "saved")
    assert AutoTokenizer.from_pretrained(tmp_path / "saved")(["Hi", "you"], is_split_into_words=True)[
        "input_ids"] == enc.input_ids
    assert Tokenizer.from_file(str(tmp_path / "saved" / "tokenizer.json")).encode(
        ["Hi", "you"], is_pretokenized=True).ids == enc.input_ids


@pytest.mark.parametrize("single, framed", [("$A [SEP] [CLS]", "0 special token(s) before the words and 2 after"),
                                            ("$A", "0 special token(s) before the words and 0 after")])
def test_a_tokenizer_that_frames_a_document_otherwise_than_cls_pieces_sep_is_named(tmp_path, single, framed):
    """XLNet's tokenizer puts [SEP] [CLS] after the pieces, GPT-2's puts none: read as `[CLS] pieces
    [SEP]`, the first piece was taken for the context and the windows cut a piece off (XLNet ended in a
    numpy error). Training refuses such a tokenizer, and says how it frames a document."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from spertmt.model.encoder import load_tokenizer

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "John": 4, "Smith": 5}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single=single, special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]").save_pretrained(tmp_path / "encoder")
    (tmp_path / "encoder" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match=rf"its tokenizer frames two words as \[.*\], {re.escape(framed)}; spertmt "
                                         r"reads one before \(\[CLS\]"):
        load_tokenizer(str(tmp_path / "encoder"))


def test_a_sentencepiece_tokenizer_without_tokenizer_json_loads_or_says_what_it_needs(tmp_path, monkeypatch):
    """DeBERTa v3 ships its tokenizer as spm.model alone, which transformers converts with sentencepiece
    and protobuf (the sentencepiece extra; the test extra holds them): its words align, each with
    SentencePiece's space mark. Without sentencepiece it said only that tiktoken was missing."""
    import shutil
    import sys

    from transformers import AutoConfig

    folder = tmp_path / "encoder"
    folder.mkdir()
    shutil.copy(f"{FIXTURES}/tiny-spm.model", folder / "spm.model")  # tests/fixtures/make_spm_fixture.py
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer"}))
    AutoConfig.for_model("deberta-v2", vocab_size=64).save_pretrained(folder)

    tok = load_tokenizer(str(folder))
    enc = encode_words(tok, ["John", "lives", "in", "Paris"])
    pieces = tok.convert_ids_to_tokens(enc.input_ids)
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    words = ["".join(pieces[start:end]) for start, end in zip(enc.word_starts, enc.word_ends)]
    assert words == ["\u2581John", "\u2581lives", "\u2581in", "\u2581Paris"]

    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # not installed
    with pytest.raises(ValueError, match=r"tokenizer cannot be loaded; one that is a SentencePiece model without "
                                         r"tokenizer.json \(as DeBERTa v3's\) needs sentencepiece: pip install "
                                         r"'spertmt\[sentencepiece\]'"):
        load_tokenizer(str(folder))


def test_a_tokenizer_in_python_only_encodes_word_by_word_as_its_fast_form_does(docs, tokenizer):
    """BertJapaneseTokenizer, BERTweet's and PhoBERT's exist in Python only (no word_ids()): words are
    encoded one by one. With BERT's vocabulary the pieces and ranges are those of the fast tokenizer,
    words without pieces and documents without words included."""
    from transformers import BertJapaneseTokenizer

    from spertmt.data.encoding import encode_word_lists
    from spertmt.model.encoder import offline_encoder_path

    slow = BertJapaneseTokenizer(str(offline_encoder_path() / "vocab.txt"), do_lower_case=True,
                                 word_tokenizer_type="basic", subword_tokenizer_type="wordpiece")
    assert not slow.is_fast
    word_lists = [d.tokens for d in docs] + [["Hakawati", "Theatre", "", "\u200b", "U.S.", "."], [], ["\u200b"]]
    assert encode_word_lists(slow, word_lists) == encode_word_lists(tokenizer, word_lists)


def test_training_sample(docs, types, tokenizer):
    doc = docs[1]  # Mary works for Acme Corp in Berlin; (Mary, Berlin) holds two relation types
    sample = make_sample(1, doc, encode_words(tokenizer, doc.tokens), types, train=True, max_span_width=3,
                         neg_entity_count=5, neg_relation_count=100, rng=random.Random(0))
    assert sample.entity_spans[:3].tolist() == [[0, 1], [3, 5], [6, 7]]
    assert sample.entity_labels[:3].int().tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert sample.entity_spans.shape[0] == 3 + 5 and not sample.entity_labels[3:].any()
    negatives = {tuple(s) for s in sample.entity_spans[3:].tolist()}
    assert negatives <= set(candidate_spans(8, 3)) - {(0, 1), (3, 5), (6, 7)}
    pairs = sample.rel_pairs.tolist()
    labels = dict(zip(map(tuple, pairs), sample.rel_labels.int().tolist()))
    assert labels[(0, 2)] == [1, 1, 0]  # Live_In and Work_For: one sample with both (lavis-nlp/spert#46)
    assert labels[(0, 1)] == [0, 1, 0]
    assert len(pairs) == 6 and len(set(map(tuple, pairs))) == 6  # every ordered pair once


def test_symmetric_reverse_is_not_a_negative(docs, types, tokenizer):
    doc = docs[2]  # Near(Geneva, Lyon), symmetric
    sample = make_sample(2, doc, encode_words(tokenizer, doc.tokens), types, train=True, rng=random.Random(0))
    assert sample.rel_pairs.tolist() == [[1, 0]]


def test_nested_and_empty_documents_and_batches(docs, types, tokenizer):
    dataset = DocumentDataset(docs, encode_documents(tokenizer, docs), types, train=True, max_span_width=4,
                              neg_entity_count=3, neg_relation_count=3, seed=1)
    batch = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    assert batch.input_ids.shape[0] == 5 and batch.num_words.tolist() == [6, 8, 5, 7, 3]
    assert batch.gold_mask.sum(1).tolist() == [2, 3, 2, 3, 0]
    assert batch.entity_mask.sum(1).tolist() == [5, 6, 5, 6, 3]
    assert (batch.input_ids[~batch.attention_mask.bool()] == tokenizer.pad_token_id).all()
    # Negatives are redrawn each epoch, reproducibly.
    again = dataset[3].entity_spans
    dataset.set_epoch(1)
    assert torch.equal(again, DocumentDataset(docs, dataset.encodings, types, train=True, max_span_width=4,
                                              neg_entity_count=3, neg_relation_count=3, seed=1)[3].entity_spans)
    assert not torch.equal(again, dataset[3].entity_spans) or len(candidate_spans(7, 4)) <= 6


def test_length_buckets_cover_every_document_once_with_less_padding():
    import random as _random

    import torch

    from spertmt.data.batching import LengthBucketSampler

    rng = _random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1000)]
    sampler = LengthBucketSampler(lengths, 8, torch.Generator().manual_seed(0), pool=10)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 125
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    shuffled = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).tolist()
    padded_random = sum(max(lengths[i] for i in shuffled[k:k + 8]) * 8 for k in range(0, 1000, 8))
    assert padded < 0.8 * padded_random
    again = list(LengthBucketSampler(lengths, 8, torch.Generator().manual_seed(0), pool=10))
    assert again == batches  # the generator decides everything
    assert list(sampler) != batches  # the next epoch draws other batches


def test_training_with_length_buckets(tiny_config, tmp_path):
    import dataclasses

    from spertmt.training.trainer import train

    metrics = train(dataclasses.replace(tiny_config, length_buckets=True), tmp_path / "run", progress=False)
    assert "ner" in metrics
    with pytest.raises(ValueError, match="length_buckets"):
        train(dataclasses.replace(tiny_config, length_buckets=True, shuffle=False), tmp_path / "run2", progress=False)


def test_longest_first_caps_padded_pieces():
    from spertmt.data.encoding import Encoding, longest_first

    lengths = [12, 40, 7, 40, 25, 3, 100, 9]
    encodings = [Encoding(list(range(n)), [], []) for n in lengths]
    assert longest_first(encodings, 3) == [[6, 1, 3], [4, 0, 7], [2, 5]]  # by count alone
    batches = longest_first(encodings, 4, max_pieces=80)
    assert batches == [[6], [1, 3], [4, 0, 7], [2, 5]]  # 100 alone (over the cap), 2 x 40, 3 x 25, 2 x 7
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) == 1 or len(b) * lengths[b[0]] <= 80 for b in batches)
    assert all(lengths[b[0]] == max(lengths[i] for i in b) for b in batches)
    assert longest_first(encodings, 2, max_pieces=1000) == longest_first(encodings, 2)  # the count still caps


def test_joins_hyphenated_words_follows_the_majority():
    from spertmt.data.documents import Document, joins_hyphenated_words

    joined = Document(["a", "strife-torn", "city", "and", "a", "1-900-WEATHER", "line"])
    apart = Document(["methotrexate", "-", "induced", "hepatitis"])
    assert joins_hyphenated_words([joined])
    assert not joins_hyphenated_words([apart])
    assert not joins_hyphenated_words([Document(["no", "hyphen", "-", "5"])])  # no hyphenated word either way
    assert joins_hyphenated_words([joined, apart])  # 2 against 1


def test_a_types_file_of_entities_only_may_leave_out_relations(tmp_path):
    (tmp_path / "ner.json").write_text(json.dumps({"entities": {"Peop": {"short": "Peop", "verbose": "Person"}}}))
    types = read_types(tmp_path / "ner.json")
    assert [t.name for t in types.entities] == ["Peop"] and types.relations == []
    (tmp_path / "none.json").write_text(json.dumps({"relations": {}}))
    with pytest.raises(DataError, match="none.json: a types file needs the key 'entities'"):
        read_types(tmp_path / "none.json")
