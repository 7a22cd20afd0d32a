"""torchrun with the gloo backend on CPU: two processes train to the same weights and metrics as
one process that sees the same global batches."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ..conftest import FIXTURES


def _run(args: list[str], cwd) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_match_one_process(tiny_encoder, tmp_path):
    common = ["--quiet", "--set", f"data_root={FIXTURES}", "--set", "train_path=tiny_train.json",
              "--set", "dev_path=tiny_train.json", "--set", "test_path=tiny_train.json",
              "--set", "types_path=tiny_types.json", "--set", f"encoder={tiny_encoder}", "--set", "max_length=128",
              "--set", "epochs=2", "--set", "max_train_documents=4", "--set", "shuffle=false",
              "--set", "dropout=0", "--set", "threshold=-100", "--set", "lr=1e-3"]
    # One process, 2 documents a step; two processes, 1 document each a step: the same global
    # batches (the distributed sampler deals documents 0, 2 to rank 0 and 1, 3 to rank 1).
    _run([sys.executable, "-m", "spertmt", "train", "--output", str(tmp_path / "one"), "--set", "batch_size=2",
          *common], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
          "-m", "spertmt", "train", "--output", str(tmp_path / "two"), "--set", "batch_size=1", *common], tmp_path)
    one = load_file(tmp_path / "one" / "last" / "model.safetensors")
    two = load_file(tmp_path / "two" / "last" / "model.safetensors")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    log = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert log[0]["processes"] == 2 and [r["event"] for r in log].count("start") == 1  # rank 0 alone logs
    metrics_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    metrics_two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics_two["ner"]["micro"] == pytest.approx(metrics_one["ner"]["micro"])


def test_sharded_extraction_matches_one_process(tiny_encoder, tmp_path):
    from spertmt.config import Config
    from spertmt.data.documents import read_types
    from spertmt.model.encoder import load_encoder, load_tokenizer
    from spertmt.model.folder import save_checkpoint
    from spertmt.model.spertmt import SpERTMT

    model = tmp_path / "model"
    config = Config(encoder=tiny_encoder, max_length=128, threshold=-100.0)
    save_checkpoint(SpERTMT(config, read_types(f"{FIXTURES}/tiny_types.json"), load_encoder(tiny_encoder)),
                    load_tokenizer(tiny_encoder), model)
    texts = [f"Person {i} lives in City {i}. Ann works for Acme {i}." for i in range(7)]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    args = ["-m", "spertmt", "predict", "--quiet", "--device", "cpu", "--model", str(model),
            "--input", str(tmp_path / "in.txt"), "--batch-size", "2"]
    _run([sys.executable, *args, "--output", str(tmp_path / "one.jsonl")], tmp_path)
    one_rows = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    for output in ("two.jsonl", "two.json"):  # JSON lines, and SpERT JSON's one list joined from the parts
        _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29518",
              *args, "--output", str(tmp_path / output)], tmp_path)
        two = (tmp_path / output).read_text()
        two_rows = [json.loads(line) for line in two.splitlines()] if output.endswith(".jsonl") else json.loads(two)
        assert len(two_rows) == 7 and not list(tmp_path.glob("two*.part*"))
        # Same inputs in the same order, same decisions (scores may differ in the last bits).
        assert [_decisions(row) for row in two_rows] == [_decisions(row) for row in one_rows]


def _decisions(row: dict):
    """Tokens, entity spans and types, relations: the word offsets of either output format."""
    start, end = ("token_start", "token_end") if "text" in row else ("start", "end")
    return (row["tokens"], [(e[start], e[end], e["type"]) for e in row["entities"]],
            [(r["head"], r["tail"], r["type"]) for r in row["relations"]])
