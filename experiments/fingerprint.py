"""The SHA-256 of a trained model's weights: proof that a change moved no number (issue 22).

    python experiments/fingerprint.py --output /tmp/fp-before            # one CoNLL04 epoch, seed 0
    python experiments/fingerprint.py --output /tmp/fp-tiny --tiny        # the test fixture, 10 epochs
    python experiments/fingerprint.py --model runs/c04/best [--runtime onnx]  # predictions of a trained model

Trains with `configs/conll04-offline.toml` (or, with --tiny, the tests' fixture documents and a
tiny random BERT written to the output folder with a fixed seed) and prints one line per model
folder (`last/`, `best/`): the hash over every tensor of its state dict (dtypes, shapes and bytes,
in state-dict order; the names are hashed apart) and the test metrics. Run it at two commits with the same arguments and
compare the lines: equal hashes mean bit-identical weights. Extra `--set key=value` overrides apply.

With `--model`, nothing is trained: the hash is over what the model predicts on its dev set, as
`predict` returns it (documents) and as `extract` returns it (the sentences as raw text), every
span, type, score and probability at full precision: proof that a change of the inference code
moved no prediction (run the script file of one commit against the library of each, PYTHONPATH).

Floating-point sums on a CPU depend on how many threads share them: the hashes are of one `--threads`
(default 1) on one machine, and each line says its thread count. (The predictions hash of one CoNLL04
model was fe292614... on one thread and ba62318f... on two, with the same decisions.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from spertmt.layout import BEST, LAST

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def state_hash(folder: Path) -> tuple[str, str]:
    """(hash of the values: dtypes, shapes and bytes of every tensor in the model's state-dict order;
    hash of the parameter names) of a model folder. Equal value hashes mean bit-identical weights even
    where a change renamed parameters (checkpoint format 1 -> 2 did) without reordering them, or
    changed the weights' file (format 3: safetensors, which keeps no order): the folder is loaded
    into the model and its state dict read back."""
    from spertmt.model.folder import load_model

    state = load_model(folder).state_dict()
    values, names = hashlib.sha256(), hashlib.sha256()
    for name, tensor in state.items():
        tensor = tensor.contiguous()
        values.update(f"{tensor.dtype}|{list(tensor.shape)}|".encode())
        values.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        names.update(f"{name}|".encode())
    return values.hexdigest(), names.hexdigest()[:16]


def predictions_hash(model: str, runtime: str) -> tuple[str, int]:
    """(sha256 of the predictions on the model's dev set, sentences) with the engine `runtime`."""
    import spertmt

    extractor = spertmt.load(model, device="cpu", runtime=runtime)
    documents = spertmt.read_documents(extractor.config.data_path("dev_path"), extractor.types)
    digest = hashlib.sha256()
    for doc in extractor.predict(documents):
        digest.update(json.dumps([[(e.start, e.end, e.type, e.score, e.probability) for e in doc.entities],
                                  [(r.head, r.tail, r.type, r.score, r.probability) for r in doc.relations]]).encode())
    for result in extractor.extract([" ".join(doc.tokens) for doc in documents]):
        digest.update(json.dumps(result.to_dict()).encode())
    return digest.hexdigest(), len(documents)


def tiny_encoder(folder: Path) -> str:
    """The tests' tiny BERT (tests/conftest.py), written with the same seed."""
    from transformers import BertConfig, BertModel

    from spertmt.model.encoder import load_tokenizer

    tokenizer = load_tokenizer("offline:all-MiniLM-L6-v2")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", help="where the run goes (training)")
    parser.add_argument("--model", help="hash a trained model's predictions on its dev set instead of training")
    parser.add_argument("--runtime", default="torch", help="the engine that runs --model")
    parser.add_argument("--tiny", action="store_true", help="the test fixture and a tiny encoder (seconds)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (the hashes depend on it)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model:
        digest, count = predictions_hash(args.model, args.runtime)
        print(f"predictions ({args.runtime}, {count} dev sentences, threads {args.threads}): sha256 {digest}")
        return 0
    if not args.output:
        parser.error("--output (a run to train) or --model (a model to hash the predictions of)")

    import spertmt
    from spertmt.config import Config

    output = Path(args.output)
    if args.tiny:
        encoder = tiny_encoder(output / "tiny-encoder")
        config = Config(data_root=str(FIXTURES), train_path="tiny_train.json", dev_path="tiny_train.json",
                        test_path="tiny_train.json", types_path="tiny_types.json", encoder=encoder, epochs=10,
                        batch_size=2, eval_batch_size=2, max_length=128, lr=1e-3, threshold=0.0)
    else:
        config = Config.load(Path(__file__).resolve().parents[1] / "configs" / "conll04-offline.toml")
        config = config.override(["epochs=1"])
    config = config.override(args.set)
    metrics = spertmt.train(config, output / "run", progress=False)
    for folder in (LAST, BEST):
        values, names = state_hash(output / "run" / folder)
        print(f"{folder}: sha256 {values} (names {names}; threads {args.threads})")
    print("metrics: " + json.dumps({s: round(metrics[s]["micro"]["f1"], 6) for s in ("ner", "re", "re_strict")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
