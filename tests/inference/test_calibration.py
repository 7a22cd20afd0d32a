"""Calibrated probabilities and θ for a precision asked for (spertmt.inference.calibration): the
maps and their fits, the statistics against exact values, the file, and both commands on the
committed tiny trained model; the runtime without torch applies the same calibration
(tests/inference/test_portable.py)."""

import json
import math
import shutil

import numpy as np
import pytest

import spertmt
from spertmt.cli import main
from spertmt.inference import calibration as cal
from spertmt.inference.decoding import decode_arrays

from ..conftest import FIXTURES
from ..fixtures.make_model_fixture import OUT as TRAINED

DATA = f"{FIXTURES}/tiny_train.json"


def _synthetic(n: int, seed: int):
    """Scores whose true probability of being right is sigmoid(3·score - 2), and a model whose own
    probability says sigmoid(score): overconfident below 1, underconfident above."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.5, 1.5, n)
    right = rng.random(n) < 1 / (1 + np.exp(-(3 * scores - 2)))
    return scores, right


def test_isotonic_is_pool_adjacent_violators_by_hand():
    # 0, 1, 0, 1, 1 over increasing scores: the violating pair (1, 0) is pooled to 0.5.
    fitted = cal.fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([0, 1, 0, 1, 1], dtype=bool))
    assert fitted.x == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert fitted.y == (cal.ISOTONIC_FLOOR, 0.5, 0.5, 1 - cal.ISOTONIC_FLOOR, 1 - cal.ISOTONIC_FLOOR)
    values = fitted(np.linspace(-1, 2, 50))
    assert (np.diff(values) >= 0).all() and values[0] == cal.ISOTONIC_FLOOR


def test_platt_recovers_the_logistic_it_was_drawn_from():
    scores, right = _synthetic(40_000, 0)
    fitted = cal.fit_platt(scores, right, logit_input=False)
    assert fitted.a == pytest.approx(3, abs=0.15) and fitted.b == pytest.approx(-2, abs=0.1)


def test_calibration_repairs_probabilities_where_it_was_not_fitted():
    scores, right = _synthetic(6_000, 1)
    candidates = cal.Candidates(np.array(["A"] * len(scores), dtype=object), scores, right,
                                np.arange(len(scores)) // 3, 1 / (1 + np.exp(-scores)), scores > 0)
    head, report = cal.choose_and_fit(candidates, logit_input=False)
    assert set(report) == {"platt", "platt per type", "isotonic", "isotonic per type", "model's own"}
    held_out, truth = _synthetic(6_000, 2)
    before = cal.expected_calibration_error(1 / (1 + np.exp(-held_out)), truth)
    after = cal.expected_calibration_error(head.probabilities(held_out, np.array(["A"] * len(held_out))), truth)
    assert before > 0.05 and after < 0.03


def test_ece_and_brier_by_hand():
    p = np.array([0.05, 0.15, 0.95, 0.95])
    right = np.array([False, True, True, False])
    # bins [0, 0.1): 1 item, right 0, p 0.05; [0.1, 0.2): 1 item, right 1, p 0.15; [0.9, 1]: 2 items, right 0.5, p 0.95
    assert cal.expected_calibration_error(p, right) == pytest.approx((0.05 + 0.85 + 2 * 0.45) / 4)
    assert cal.brier_score(p, right) == pytest.approx((0.05**2 + 0.85**2 + 0.05**2 + 0.95**2) / 4)


def test_the_ece_of_perfect_calibration_shrinks_with_the_items_and_a_miscalibrated_model_stands_above_it():
    """ece_if_calibrated: items drawn right with their own probability show an ECE above zero that
    shrinks as 1/sqrt(n); a model 0.2 too sure stands far above the floor."""
    rng = np.random.default_rng(1)
    few, many = rng.uniform(0.5, 1.0, 300), rng.uniform(0.5, 1.0, 30000)
    floor_few, floor_many = cal.ece_if_calibrated(few), cal.ece_if_calibrated(many, draws=100)
    assert 0 < floor_few["median"] < floor_few["p95"] < 0.1
    assert floor_many["p95"] < floor_few["median"] / 3
    right = rng.random(len(few)) < few - 0.2
    assert cal.expected_calibration_error(few, right) > 3 * floor_few["p95"]
    assert cal.ece_if_calibrated(np.array([])) == {"median": 0.0, "p95": 0.0}


@pytest.mark.parametrize("right,kept,p", [(1, 1, 0.3), (3, 10, 0.2), (9, 10, 0.9), (40, 50, 0.75), (7, 7, 0.5)])
def test_precision_p_value_is_the_binomial_tail(right, kept, p):
    exact = sum(math.comb(kept, k) * p**k * (1 - p) ** (kept - k) for k in range(right, kept + 1))
    assert cal.precision_p_value(right, kept, p) == pytest.approx(exact, rel=1e-9)


def test_clopper_pearson_bound_leaves_exactly_the_chance_asked_for():
    bound = cal.precision_lower_bound(45, 50, 0.95)
    assert cal.precision_p_value(45, 50, bound) == pytest.approx(0.05, abs=1e-9)
    assert 0.79 < bound < 0.9  # below the 0.9 seen, as a bound from 50 items is


def test_cut_for_precision_takes_the_lowest_theta_the_bound_allows():
    # 30 right items above 20 alternating ones: 30 of 30 has a 95% bound of 0.05 ** (1 / 30) = 0.905;
    # every lower cut adds as many wrong items as right ones, and its bound stays below 0.9.
    scores = np.arange(50, 0, -1, dtype=float)
    right = np.array([True] * 30 + [False, True] * 10)
    cut = cal.cut_for_precision(scores, right, num_gold=45, target=0.9, confidence=0.95)
    assert cut["threshold"] == 21.0 and cut["kept"] == 30 and cut["recall"] == pytest.approx(30 / 45)
    assert cut["bound"] >= 0.9 and cut["precision"] == 1.0
    assert cal.cut_for_precision(scores, right, 45, target=0.99, confidence=0.95)["threshold"] is None


def test_decoding_with_calibration_moves_probabilities_only():
    rng = np.random.default_rng(0)
    types = spertmt.read_types(f"{FIXTURES}/tiny_types.json")
    documents = spertmt.read_documents(DATA, types)[:2]
    B, S, P, R = 2, 6, 4, len(types.relations)
    arrays = [np.stack([np.array([[0, 1], [1, 2], [2, 3], [0, 2], [1, 3], [0, 3]])] * B), rng.random((B, S)) > 0.3,
              rng.integers(0, len(types.entities), (B, S)), rng.normal(1, 1, (B, S)).astype(np.float32),
              rng.random((B, S)).astype(np.float32), np.stack([np.array([[0, 1], [1, 0], [2, 3], [3, 2]])] * B),
              rng.random((B, P, R)) > 0.5, rng.normal(1, 1, (B, P, R)).astype(np.float32),
              rng.random((B, P, R)).astype(np.float32)]
    calibration = cal.Calibration({"entity": cal.HeadCalibration({"*": cal.Platt(2.0, -1.0, False)}, "platt", False),
                                   "relation": cal.HeadCalibration({"*": cal.Isotonic((0.0, 2.0), (0.1, 0.9)),
                                                                    types.relations[0].name: cal.Platt(1, 0, False)},
                                                                   "isotonic", True)})
    plain = decode_arrays(*arrays, documents, types)
    calibrated = decode_arrays(*arrays, documents, types, calibration=calibration)
    for a, b in zip(plain, calibrated):
        assert [(e.start, e.end, e.type, e.score) for e in a.entities] == [(e.start, e.end, e.type, e.score)
                                                                            for e in b.entities]
        assert [(r.head, r.tail, r.type, r.score) for r in a.relations] == [(r.head, r.tail, r.type, r.score)
                                                                             for r in b.relations]
        for e in b.entities:
            assert e.probability == pytest.approx(1 / (1 + math.exp(-(2 * e.score - 1))), abs=1e-6)
        for r in b.relations:
            own = r.type == types.relations[0].name
            want = 1 / (1 + math.exp(-r.score)) if own else float(np.interp(r.score, (0.0, 2.0), (0.1, 0.9)))
            assert r.probability == pytest.approx(want, abs=1e-6)
    assert sum(len(d.entities) + len(d.relations) for d in plain) > 0


def test_a_joint_cut_keeps_the_relations_whose_score_times_their_entities_reaches_it():
    types = spertmt.read_types(f"{FIXTURES}/tiny_types.json")
    documents = spertmt.read_documents(DATA, types)[:1]
    R, near = len(types.relations), [t.name for t in types.relations].index("Near")
    assert types.relations[near].symmetric and not types.relations[0].symmetric
    spans = np.array([[[0, 1], [1, 2], [2, 3]]])
    entity_scores = np.array([[0.9, 0.5, 1.0]], dtype=np.float32)
    pairs = np.array([[[0, 1], [1, 2], [0, 2], [2, 0]]])
    keep, scores = np.zeros((1, 4, R), bool), np.full((1, 4, R), 0.8, dtype=np.float32)
    keep[0, :3, 0] = True  # the first three pairs as the first type (not symmetric)
    keep[0, 2:, near] = True  # Near both ways: merged into one, with the higher score (0.7), then cut
    scores[0, 2:, near] = (0.6, 0.7)
    arrays = [spans, np.ones((1, 3), bool), np.zeros((1, 3), int), entity_scores, np.ones((1, 3), np.float32),
              pairs, keep, scores, np.ones((1, 4, R), np.float32)]

    def kept(**options):
        return [(r.head, r.tail, r.type, round(r.score, 3))
                for r in decode_arrays(*arrays, documents, types, **options)[0].relations]

    first = types.relations[0].name
    # scores that are probabilities: 0.8 * 0.9 * 0.5 = 0.36 and 0.8 * 0.5 * 1.0 = 0.4 stay below 0.5,
    # 0.8 * 0.9 * 1.0 = 0.72 and Near's 0.7 * 0.9 * 1.0 = 0.63 pass
    assert kept(relation_joint_cut=[0.5] * R) == [(0, 2, first, 0.8), (0, 2, "Near", 0.7)]
    assert len(kept(relation_joint_cut=[0.5] * R, given=True)) == 4  # given entities are certain
    # margins (SpERT.MT's heads) through the logistic: 0.305 (dropped), 0.314, 0.359 and Near's 0.347
    assert kept(relation_joint_cut=[0.31] * R, margins=True) == [(1, 2, first, 0.8), (0, 2, first, 0.8),
                                                                  (0, 2, "Near", 0.7)]
    assert len(kept()) == 4 and kept(relation_joint_cut=[math.inf] * R) == []
    # a relation calibration on the joint score maps it (here that of the scores as probabilities)
    platt = cal.Platt(2.0, -1.0, True)
    calibration = cal.Calibration({"relation": cal.HeadCalibration({"*": platt}, "platt", False, cal.JOINT_SCORE)})
    found = decode_arrays(*arrays, documents, types, calibration=calibration)[0].relations
    want = {(0, 1): 0.8 * 0.9 * 0.5, (1, 2): 0.8 * 0.5 * 1.0, (0, 2): 0.8 * 0.9 * 1.0}
    for r in found:
        joint = 0.7 * 0.9 * 1.0 if r.type == "Near" else want[(r.head, r.tail)]
        assert r.probability == pytest.approx(float(platt(np.array([joint]))[0]), abs=1e-6)


def test_a_cut_on_the_joint_score_keeps_in_extraction_what_it_kept_when_chosen(trained_copy):
    """The joint scores a precision target is chosen on (thresholds.relation_candidates) are the
    ones extraction compares with the stored cut: a cut at their median keeps the same relations."""
    import torch

    from spertmt.inference.thresholds import relation_candidates, relation_joint, tune_for_precision

    extractor = spertmt.load(trained_copy, device="cpu")
    documents = spertmt.read_documents(DATA, extractor.types)
    theta = -0.5
    rows, _ = relation_candidates(extractor, documents, torch.full((len(extractor.types.entities),), theta), 8)
    cut = float(np.median([row[-1] for row in rows]))
    want = sorted((row[3], row[0], row[-1]) for row in rows if row[-1] >= cut)
    extractor.thresholds = {"entity": {"*": theta}, "relation_joint": {"*": cut}}
    predicted = extractor.predict(documents)
    got = sorted((d, r.type, value) for d, doc in enumerate(predicted)
                 for r, value in zip(doc.relations, relation_joint([doc], extractor.config.multitask_heads)))
    assert got == want and 0 < len(got) < len(rows)
    # The tiny model gets no relation right: no cut reaches a target, and the stored null keeps none.
    chosen = extractor.tune_thresholds(documents, target_precision=0.05, confidence=0.5, per_type=False)
    assert chosen["relations_on"] == "joint" and chosen["relation"]["*"]["threshold"] is None
    assert extractor.thresholds["relation_joint"] == {"*": None} and "relation" not in extractor.thresholds
    assert not any(d.relations for d in extractor.predict(documents))
    assert tune_for_precision(extractor, documents, 0.05, 0.5, relations_on="score")["relations_on"] == "score"
    with pytest.raises(ValueError, match="relations_on is 'joint' or 'score'"):
        tune_for_precision(extractor, documents, 0.05, relations_on="sum")


def test_the_file_round_trips_and_a_damaged_one_is_named(tmp_path):
    calibration = cal.Calibration({"entity": cal.HeadCalibration(
        {"*": cal.Platt(1.5, 0.5, True), "Loc": cal.Isotonic((0.0, 1.0), (0.2, 0.8))}, "isotonic", True)})
    path = cal.save_calibration(tmp_path, calibration)
    again = cal.read_calibration(tmp_path)
    assert again.to_dict() == calibration.to_dict() and again.to_dict()["format"] == 1  # maps on scores: format 1
    assert cal.read_calibration(tmp_path / "elsewhere") is None  # no file: the model's own probabilities
    calibration.heads["relation"] = cal.HeadCalibration({"*": cal.Platt(2.0, -1.0, True)}, "platt", False,
                                                        cal.JOINT_SCORE)
    cal.save_calibration(tmp_path, calibration)
    again = cal.read_calibration(tmp_path)  # a map on the joint score: format 2, which a release before cannot misread
    assert again.to_dict() == calibration.to_dict() and again.to_dict()["format"] == 2
    assert again.reads("relation") == cal.JOINT_SCORE and again.reads("entity") == "score"
    with pytest.raises(ValueError, match="reads joint scores: pass them"):
        again.probabilities("relation", np.array([1.0]), np.array(["Loc"]), np.array([0.5]))
    for damage, expected in (("{", "calibration.json is damaged"), (json.dumps({"format": 9}), "format 9"),
                             (json.dumps({"format": 1, "entity": {"maps": {"*": {"method": "spline"}}}}),
                              "unknown calibration method 'spline'"),
                             (json.dumps({"format": 2, "relation": {"reads": "width", "maps": {"*": {}}}}),
                              "its maps read 'width'"),
                             (json.dumps({"format": 2, "entity": {"reads": "joint score", "maps": {"*": {
                                 "method": "platt", "a": 1, "b": 0, "input": "score"}}}}),
                              "an entity's read its score")):
        path.write_text(damage)
        with pytest.raises(ValueError, match=expected) as raised:
            cal.read_calibration(tmp_path)
        assert "calibration.json" in str(raised.value) and "spertmt calibrate" in str(raised.value)


@pytest.fixture
def trained_copy(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(TRAINED, folder)
    return folder


def test_calibrate_command_writes_what_extraction_then_reports(trained_copy, capsys):
    # θ = -1 keeps many of the tiny model's spans: items to calibrate and to compare
    (trained_copy / "thresholds.json").write_text(json.dumps({"entity": {"*": -1.0}, "relation": {"*": -1.0}}))
    texts = [" ".join(d.tokens) for d in spertmt.read_documents(DATA)]
    before = spertmt.load(trained_copy, device="cpu").extract(texts)
    assert main(["calibrate", "--quiet", "--model", str(trained_copy), "--data", DATA, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "--- entity:" in out and "--- relation:" in out and "model's own" in out and "calibration.json" in out
    extractor = spertmt.load(trained_copy, device="cpu")
    assert extractor.calibration is not None and "entity" in extractor.calibration.heads
    after = extractor.extract(texts)
    items = lambda rs: [(e.text, e.type, e.score) for r in rs for e in r.entities]  # noqa: E731
    assert items(after) == items(before) and items(after)  # calibration moves no decision
    head = extractor.calibration.heads["entity"]
    for e in (e for r in after for e in r.entities):
        assert e.probability == pytest.approx(float(head.probabilities(np.array([e.score]), np.array([e.type]))[0]),
                                              abs=1e-6)
    # save_pretrained carries it
    saved = extractor.save_pretrained(trained_copy.parent / "saved")
    assert (saved / "calibration.json").read_text() == (trained_copy / "calibration.json").read_text()


def test_fitting_on_the_models_own_test_set_warns(trained_copy, tmp_path, capsys):
    config = json.loads((trained_copy / "config.json").read_text())
    config.update(data_root=str(FIXTURES), test_path="tiny_train.json")
    (trained_copy / "config.json").write_text(json.dumps(config))
    for command in ("tune-threshold", "calibrate"):
        assert main([command, "--quiet", "--model", str(trained_copy), "--data", DATA, "--dry-run"]) == 0
        assert f"warning: {DATA} is the test set this model was scored on" in capsys.readouterr().err
    other = tmp_path / "dev.json"  # the same documents in another file: nothing to tell
    shutil.copy(DATA, other)
    assert main(["tune-threshold", "--quiet", "--model", str(trained_copy), "--data", str(other), "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_without_data_the_models_own_dev_set_is_fitted_on(trained_copy, capsys):
    """--data defaults to the dev set the model's config names (or the part of its training file its run
    held out), as export's int8 check does; where none can be read, a message says to give --data."""
    config = json.loads((trained_copy / "config.json").read_text())
    config.update(data_root=str(FIXTURES), dev_path="tiny_train.json")
    (trained_copy / "config.json").write_text(json.dumps(config))
    for command in ("tune-threshold", "calibrate"):
        assert main([command, "--quiet", "--model", str(trained_copy), "--data", DATA, "--dry-run"]) == 0
        given = capsys.readouterr().out
        assert main([command, "--quiet", "--model", str(trained_copy), "--dry-run"]) == 0
        captured = capsys.readouterr()
        assert captured.out == given and "using the model's dev set to" in captured.err and DATA in captured.err
    config.update(dev_path="", dev_split=0.5)  # the documents of its training file the run held out
    (trained_copy / "config.json").write_text(json.dumps(config))
    assert main(["tune-threshold", "--quiet", "--model", str(trained_copy), "--dry-run"]) == 0
    assert "documents of" in capsys.readouterr().err
    config.update(dev_path="gone.json", dev_split=0.0)
    (trained_copy / "config.json").write_text(json.dumps(config))
    assert main(["calibrate", "--quiet", "--model", str(trained_copy), "--dry-run"]) == 2
    assert "no --data given, and the model's own dev set cannot be read here: " in capsys.readouterr().err


def test_target_precision_writes_per_type_theta_and_leaves_out_what_cannot_reach_it(trained_copy, capsys):
    assert main(["tune-threshold", "--quiet", "--model", str(trained_copy), "--data", DATA, "--device", "cpu",
                 "--target-precision", "0.5", "--confidence", "0.6"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((trained_copy / "thresholds.json").read_text())
    assert stored["target_precision"] == {"precision": 0.5, "confidence": 0.6}
    assert "*" in stored["entity"] and "θ for precision 0.50" in out
    # A null θ (no cut reaches the target) extracts nothing of that type; the rest by their θ.
    types = spertmt.read_types(f"{FIXTURES}/tiny_types.json")
    names = [t.name for t in types.entities]
    stored["entity"] = {"*": -1e9, names[0]: None}
    (trained_copy / "thresholds.json").write_text(json.dumps(stored))
    texts = [" ".join(d.tokens) for d in spertmt.read_documents(DATA)]
    found = {e.type for r in spertmt.load(trained_copy, device="cpu").extract(texts) for e in r.entities}
    assert found and names[0] not in found


def test_the_python_api_tunes_and_calibrates_an_extractor_in_place(trained_copy):
    extractor = spertmt.load(trained_copy, device="cpu")
    documents = spertmt.read_documents(DATA, extractor.types)
    chosen = extractor.tune_thresholds(documents, target_precision=0.5, confidence=0.6)
    assert extractor.thresholds["target_precision"] == {"precision": 0.5, "confidence": 0.6}
    assert set(chosen["entity"]) >= {"*"} and extractor.calibration is None
    extractor.thresholds = {"entity": {"*": -1.0}, "relation": {"*": -1.0}}
    report = extractor.calibrate(documents)
    assert report["entity"]["chosen"] and extractor.calibration is not None
    texts = [" ".join(d.tokens) for d in documents]
    head = extractor.calibration.heads["entity"]
    found = [e for r in extractor.extract(texts) for e in r.entities]
    assert found and all(e.probability == pytest.approx(float(head.probabilities(np.array([e.score]),
                                                                                  np.array([e.type]))[0]), abs=1e-6)
                         for e in found)
    extractor.tune_thresholds(documents)  # θ for F1: the calibration, fitted under the former θ, goes
    assert extractor.calibration is None and "target_precision" not in extractor.thresholds


def test_a_global_precision_target_stores_one_theta_per_head(trained_copy, capsys):
    assert main(["tune-threshold", "--quiet", "--model", str(trained_copy), "--data", DATA, "--device", "cpu",
                 "--target-precision", "0.5", "--confidence", "0.6", "--global-only"]) == 0
    stored = json.loads((trained_copy / "thresholds.json").read_text())
    assert set(stored["entity"]) == {"*"} and set(stored.get("relation_joint", {"*": 0})) == {"*"}
    printed = capsys.readouterr().out
    assert "entity all types" in printed and "entity Peop" not in printed  # what is stored, no per-type lines


def test_precision_target_and_confidence_are_checked(trained_copy, capsys):
    assert main(["tune-threshold", "--model", str(trained_copy), "--data", DATA, "--confidence", "0.9"]) == 2
    assert "--confidence is the confidence of --target-precision's bound" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tune-threshold", "--model", str(trained_copy), "--data", DATA, "--target-precision", "1.5"])
    assert "1.5 is not a number between 0 and 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="target_precision = 0 is out of range"):
        spertmt.Config(target_precision=0).validate()
