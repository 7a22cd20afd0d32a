"""The real offline encoder fits 8 CoNLL04 sentences, and a saved model predicts the same after
loading. Reads CoNLL04 from the data root (SPERTMT_DATA or ../shared/datasets). About five
minutes on 2 CPU cores, so opt-in: python -m pytest --runslow tests/test_integration.py"""

import json

import pytest

import spertmt
from spertmt.config import Config, default_data_root


@pytest.mark.slow
def test_offline_encoder_fits_eight_conll04_sentences(tmp_path):
    source = Config().data_path("train_path")
    if not source.exists():
        pytest.skip(f"CoNLL04 not found under {default_data_root()} (set SPERTMT_DATA)")
    eight = tmp_path / "eight.json"
    eight.write_text(json.dumps(json.loads(source.read_text())[:8]))
    config = Config(train_path=str(eight), dev_path=str(eight), test_path=str(eight),
                    types_path=str(Config().data_path("types_path")),
                    # Memorising 8 sentences: more steps and a larger step size than the paper's
                    # 20 epochs at 5e-5 over 922 sentences, no dropout, and torch's AdamW: SpERT's
                    # (no bias correction) makes the first steps 3x larger, too large at 3e-4
                    # (RE+ 84.6 after 100 epochs).
                    epochs=100, batch_size=1, lr=3e-4, dropout=0.0, eval_every_epoch=False, seed=0,
                    adam_bias_correction=True)
    metrics = spertmt.train(config, tmp_path / "run", progress=False)
    assert metrics["ner"]["micro"]["f1"] >= 90, metrics["ner"]["micro"]
    assert metrics["re_strict"]["micro"]["f1"] >= 90, metrics["re_strict"]["micro"]

    extractor = spertmt.load(tmp_path / "run" / "best", device="cpu")
    again = extractor.predict(spertmt.read_documents(eight, extractor.types))
    saved = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert [d.to_json() for d in again] == saved
