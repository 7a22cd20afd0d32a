"""torchrun with the gloo backend on CPU: two processes train to the same weights and metrics as
one process that sees the same global batches."""

import json
import os
import subprocess
import sys

import pytest
import torch

from .conftest import FIXTURES


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
    one = torch.load(tmp_path / "one" / "last" / "weights.pt")
    two = torch.load(tmp_path / "two" / "last" / "weights.pt")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    log = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert log[0]["processes"] == 2 and [r["event"] for r in log].count("start") == 1  # rank 0 alone logs
    metrics_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    metrics_two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics_two["ner"]["micro"] == pytest.approx(metrics_one["ner"]["micro"])
