"""The evaluator on hand-made cases whose scores are worked out by hand (docs/method.md, "Evaluation")."""

import pytest

from spertmt.data.documents import Document, Entity, Relation, Types
from spertmt.evaluate import evaluate, format_metrics, summary

TYPES = Types.from_dict({
    "entities": {"Peop": {}, "Loc": {}, "Org": {}, "Drug": {}, "AE": {}},
    "relations": {"Live_In": {}, "Work_For": {}, "Near": {"symmetric": True}, "Causes": {}},
})
TOKENS = [f"w{i}" for i in range(12)]


def doc(entities, relations=()):
    return Document(TOKENS, [Entity(*e) for e in entities], [Relation(*r) for r in relations])


def prf(m):
    return m["precision"], m["recall"], m["f1"]


def test_ner_micro_macro_and_per_type():
    gold = [doc([(0, 1, "Peop"), (3, 5, "Loc"), (7, 8, "Org")])]
    pred = [doc([(0, 1, "Peop"), (3, 5, "Org"), (9, 10, "Loc")])]
    m = evaluate(gold, pred, TYPES)["ner"]
    # tp: Peop(0,1). fp: Org(3,5), Loc(9,10). fn: Loc(3,5), Org(7,8).
    assert prf(m["micro"]) == pytest.approx((100 / 3, 100 / 3, 100 / 3))
    assert m["per_type"]["Peop"] == {**m["per_type"]["Peop"], "precision": 100.0, "recall": 100.0, "support": 1}
    assert m["per_type"]["Loc"]["f1"] == 0 and m["per_type"]["Loc"]["support"] == 1
    # Macro over the observed types only (Peop, Loc, Org), not over the five of the types file.
    assert set(m["per_type"]) == {"Peop", "Loc", "Org"}
    assert m["macro"]["f1"] == pytest.approx(100 / 3)


def test_duplicates_count_once():
    gold = [doc([(0, 1, "Peop")])]
    pred = [doc([(0, 1, "Peop"), (0, 1, "Peop")])]
    assert evaluate(gold, pred, TYPES)["ner"]["micro"]["precision"] == 100.0


def test_re_boundaries_versus_strict():
    gold = [doc([(0, 1, "Peop"), (3, 5, "Loc")], [(0, 1, "Live_In")])]
    pred = [doc([(0, 1, "Peop"), (3, 5, "Org")], [(0, 1, "Live_In")])]  # tail type wrong
    m = evaluate(gold, pred, TYPES)
    assert m["re"]["micro"]["f1"] == 100.0  # spans and relation type match
    assert m["re_strict"]["micro"]["f1"] == 0.0  # an entity type differs
    reversed_pred = [doc([(0, 1, "Peop"), (3, 5, "Loc")], [(1, 0, "Live_In")])]
    assert evaluate(gold, reversed_pred, TYPES)["re"]["micro"]["f1"] == 0.0  # direction matters


def test_symmetric_relations_ignore_direction():
    gold = [doc([(0, 1, "Loc"), (3, 4, "Loc")], [(1, 0, "Near")])]
    pred = [doc([(0, 1, "Loc"), (3, 4, "Loc")], [(0, 1, "Near")])]
    m = evaluate(gold, pred, TYPES)
    assert m["re"]["micro"]["f1"] == 100.0 and m["re_strict"]["micro"]["f1"] == 100.0
    both = [doc([(0, 1, "Loc"), (3, 4, "Loc")], [(0, 1, "Near"), (1, 0, "Near")])]
    assert evaluate(gold, both, TYPES)["re"]["micro"]["precision"] == 100.0  # one relation after ordering


def test_overlapping_entities_ade_style():
    # A drug inside an adverse effect, as in ADE: "methotrexate - induced CNS abnormalities".
    gold = [doc([(0, 5, "AE"), (0, 1, "Drug"), (8, 9, "Drug")], [(0, 1, "Causes"), (0, 2, "Causes")])]
    pred = [doc([(0, 5, "AE"), (0, 1, "Drug")], [(0, 1, "Causes")])]
    kept = evaluate(gold, pred, TYPES, overlapping=True)
    assert prf(kept["ner"]["micro"]) == pytest.approx((100, 200 / 3, 80))
    assert prf(kept["re_strict"]["micro"]) == pytest.approx((100, 50, 200 / 3))
    removed = evaluate(gold, pred, TYPES, overlapping=False)
    # The nested pair overlaps: both entities and the relation between them go, in gold and predictions.
    assert removed["ner"]["per_type"] == {"Drug": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}}
    assert removed["re_strict"]["per_type"]["Causes"]["support"] == 1  # gold (AE, Drug at 8) stays


def test_same_span_with_two_types_overlaps_without_overlapping():
    gold = [doc([(0, 2, "Peop"), (0, 2, "Org"), (5, 6, "Loc")])]
    m = evaluate(gold, gold, TYPES, overlapping=False)["ner"]
    assert set(m["per_type"]) == {"Loc"}


def test_spert_json_objects_and_a_types_object_score_as_documents_do():
    """As json.load reads the files (an AttributeError before); an unknown type in them is named."""
    gold = [doc([(0, 1, "Peop"), (3, 5, "Loc")], [(0, 1, "Live_In")])]
    pred = [doc([(0, 1, "Peop"), (3, 5, "Org")], [(0, 1, "Live_In")])]
    assert evaluate([d.to_json() for d in gold], [d.to_json() for d in pred], TYPES.to_dict()) == \
        evaluate(gold, pred, TYPES)
    unknown = {**pred[0].to_json(), "entities": [{"type": "Person", "start": 0, "end": 1}]}
    with pytest.raises(ValueError, match=r"pred\[0\]: entity 0 has unknown type 'Person'"):
        evaluate(gold, [unknown], TYPES)


def test_checks_and_table():
    with pytest.raises(ValueError, match="gold documents but"):
        evaluate([doc([])], [], TYPES)
    other = Document(["x"], [], [])
    with pytest.raises(ValueError, match="document 0"):
        evaluate([doc([])], [other], TYPES)
    gold = [doc([(0, 1, "Peop")])]
    table = format_metrics(evaluate(gold, gold, TYPES))
    assert "RE+ (strict, with NER)" in table and "micro" in table and "100.00" in table
    empty = evaluate([doc([])], [doc([])], TYPES)
    assert empty["ner"]["micro"]["f1"] == 0.0 and empty["ner"]["per_type"] == {}
    # relations of a corpus of entities only: no table of zeros, and no "re F1 0.00" after each epoch
    assert "--- RE+ (strict, with NER) ---\nnothing to score" in format_metrics(evaluate(gold, gold, TYPES))
    assert summary(evaluate(gold, gold, TYPES)) == "ner F1 100.00"
    assert summary(empty) == "nothing to score: no item in the gold or the predictions"


def test_spertmt_evaluate_is_the_function_whatever_was_imported_before(tmp_path):
    """The package's modules import the submodule spertmt/evaluate.py; the public name must stay
    the function (it had become the module after spertmt.load)."""
    import subprocess
    import sys

    code = ("import sys, spertmt, spertmt.inference.engines.pytorch, spertmt.evaluate\n"
            "from spertmt.evaluate import format_metrics\n"
            "assert callable(spertmt.evaluate) and spertmt.evaluate.__name__ == 'evaluate', spertmt.evaluate\n"
            "assert 'torch' in sys.modules  # the PyTorch engine loaded it; plain `import spertmt` does not\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    subprocess.run([sys.executable, "-c", "import sys, spertmt; assert 'torch' not in sys.modules"], check=True,
                   cwd=tmp_path)
