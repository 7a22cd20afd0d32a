import hashlib
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite runs in several processes (pytest-xdist, pyproject.toml's addopts): each takes its share
# of the cores, for itself and for the processes its tests start, as torch processes that each use
# every core slow each other many times over.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = str(share)
    torch.set_num_threads(share)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (real training)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A folder with a tiny randomly initialised BERT and the offline MiniLM tokenizer (fast tests)."""
    from transformers import BertConfig, BertModel

    from spertmt.model.encoder import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = load_tokenizer("offline:all-MiniLM-L6-v2")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # deterministic runs
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_config(tiny_encoder):
    """A Config over the fixtures and the tiny encoder: seconds per epoch."""
    from spertmt.config import Config

    return Config(
        data_root=FIXTURES, train_path="tiny_train.json", dev_path="tiny_train.json", test_path="tiny_train.json",
        types_path="tiny_types.json", encoder=tiny_encoder, epochs=1, batch_size=2, eval_batch_size=2,
        max_length=128,
    )


COMMIT = "8f2c1d0e9b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"  # any 40 hex digits name a hub snapshot


def put_in_hub_cache(folder, cache, repo_id: str) -> None:
    """`folder` as huggingface_hub caches a downloaded repo: blobs named by their etag (sha256 for
    LFS files such as weights and ONNX graphs, git's blob sha1 for the rest), snapshots/<commit>/
    of symlinks to them, refs/main naming the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = file.read_bytes()
        etag = (hashlib.sha256(data).hexdigest() if file.suffix in (".safetensors", ".onnx")
                else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        blob = repo / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / COMMIT / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The committed tiny trained model (tests/fixtures/model-format1) exported to ONNX, once for the
    whole run (an export takes seconds): tests read it and copy it before changing anything."""
    from spertmt.cli import main

    from .fixtures.make_model_fixture import OUT as TRAINED

    folder = tmp_path_factory.mktemp("exported") / "onnx"
    assert main(["export", "--format", "onnx", str(TRAINED), str(folder)]) == 0
    return folder
