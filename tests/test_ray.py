"""BatchPredictor on a local Ray cluster (2 CPUs): a few hundred lines through Ray Data give what
`spertmt predict` gives, in order; the predictor pickles without its model and takes pandas batches."""

import json
import pickle

import pytest
import ray

from spertmt import BatchPredictor
from spertmt.cli import main

from .conftest import FIXTURES

MODEL = f"{FIXTURES}/model-format1"
THRESHOLD = -0.47  # some of the fixture's spans and relations pass


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_data_gives_what_predict_gives_in_order(cluster, tmp_path):
    names = ["John Smith", "Mary", "Acme Corp", "Paris", "Berlin"]
    lines = [f"{names[i % 5]} works for {names[(i + 2) % 5]} in {names[(i + 3) % 5]}. Line {i}." for i in range(300)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n")
    assert main(["predict", "--quiet", "--model", MODEL, "--input", str(tmp_path / "corpus.txt"), "--output",
                 str(tmp_path / "out.jsonl"), "--threshold", str(THRESHOLD), "--device", "cpu"]) == 0
    expected = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]

    ray.data.DataContext.get_current().execution_options.preserve_order = True
    results = ray.data.read_text(str(tmp_path / "corpus.txt")).map_batches(
        BatchPredictor, fn_constructor_kwargs={"model": MODEL, "device": "cpu", "threshold": THRESHOLD, "threads": 1},
        compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5, batch_size=64)  # a CPU left for reading
    results.write_parquet(str(tmp_path / "parquet"))
    rows = ray.data.read_parquet(str(tmp_path / "parquet")).take_all()
    assert [row["text"] for row in rows] == lines
    assert [json.loads(row["entities"]) for row in rows] == [e["entities"] for e in expected]
    assert [json.loads(row["relations"]) for row in rows] == [e["relations"] for e in expected]
    assert any(e["relations"] for e in expected), "the fixture finds relations at this θ"


def test_the_predictor_pickles_without_its_model_and_takes_pandas_batches():
    import pandas as pd

    predictor = BatchPredictor(MODEL, device="cpu", threshold=THRESHOLD)
    frame = pd.DataFrame({"text": ["John Smith works for Acme Corp.", "Mary lives in Paris."], "id": [7, 8]})
    first = predictor(frame)
    assert list(first.columns) == ["text", "id", "entities", "relations"] and list(first["id"]) == [7, 8]
    copy = pickle.loads(pickle.dumps(predictor))
    assert copy._extractor is None and len(pickle.dumps(predictor)) < 2000  # the model stays behind
    assert copy(frame).equals(first)
    with pytest.raises(KeyError, match="the batch has no column 'text' \\(its columns: body\\)"):
        predictor({"body": ["x"]})
