"""`spertmt convert`, `split` and `download`: datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_path_arguments, add_quiet_argument


def _convert(args: argparse.Namespace) -> int:
    from ..data.convert import convert

    report = convert(args.source, args.target, args.input, args.output, types_path=args.types, words=args.words,
                     sentences=args.sentences)
    print(f"converted {args.input} ({args.source}) to {args.output} ({args.target}); {report}")
    return 0


def convert_arguments(commands) -> None:
    from ..data.text import WORD_SPLITTERS

    # The formats are a registry that installed packages may add to (spertmt.data.convert): convert()
    # checks the names, so that building the parser loads no plugin.
    conv = commands.add_parser("convert", help="convert between spert, dygie, brat, doccano, labelstudio, prodigy, "
                                               "INCEpTION's webanno and conll formats (or a registered one)")
    files = "spert, dygie, doccano, labelstudio, prodigy, webanno, conll"
    known = "spert, dygie, brat, doccano, labelstudio, prodigy, webanno, conll, ..."
    conv.add_argument("--from", dest="source", required=True, metavar="FORMAT", help=known)
    conv.add_argument("--to", dest="target", required=True, metavar="FORMAT", help=known)
    add_path_arguments(conv, ("input", f"a file ({files}) or a folder of .txt/.ann (brat) or of .tsv (webanno)"),
                       ("output", f"a file ({files}) or a folder (brat)"))
    conv.add_argument("--types", help="check the types against this file (else <output>_types.json is written)")
    conv.add_argument("--words", default="simple", choices=tuple(WORD_SPLITTERS),
                      help="brat's, doccano's and Label Studio's word splitter, and Prodigy's for tasks without "
                           "tokens (unicode: as raw-text extraction splits)")
    conv.add_argument("--sentences", choices=["lines", "punctuation"],
                      help="brat's, doccano's, Label Studio's and Prodigy's sentence splitter")
    conv.set_defaults(func=_convert)


def _types_beside(data: Path) -> Path | None:
    """The types file of a data file: the one convert writes beside its output (all.json's
    all_types.json), else the only types file of its folder (conll04_dev.json's conll04_types.json)."""
    from ..files import uncompressed

    source = uncompressed(data)
    own = source.with_name(source.stem + "_types.json")
    if own.exists():
        return own
    others = sorted(source.parent.glob("*_types.json"))
    return others[0] if len(others) == 1 else None


def _split(args: argparse.Namespace) -> int:
    from ..data.split import fold_file, split_file

    types_path = f"--set types_path={_types_beside(Path(args.input)) or ''}"  # empty: the types the data uses
    shares = {name: share for name, share in (("dev", args.dev), ("test", args.test)) if share is not None}
    if args.folds is not None:
        if shares:
            raise ValueError("--folds makes each fold the test set of one run and training holds its dev set out "
                             "(dev_split): leave out --dev and --test")
        folds = fold_file(args.input, args.output, args.folds, args.seed, args.by == "sentence")
        for train, test, train_file, test_file in folds:
            print(f"{train_file}: {len(train)} documents; {test_file}: {len(test)} documents, "
                  f"{_counts(test)}")
        pattern = Path(args.output) / "fold_{fold}"
        print(f"train on them, fold by fold: spertmt train --set train_path={pattern}_train.json --set test_path="
              f"{pattern}_test.json --set dev_path= --set dev_split=0.1 --set num_folds={args.folds} {types_path} "
              "--all-folds --output runs/mine")
        return 0
    split, files = split_file(args.input, args.output, **shares, seed=args.seed, by_sentence=args.by == "sentence")
    unit = "documents" if args.by == "sentence" else "source texts"
    for name, file in files.items():
        print(f"{file}: {len(split.documents[name])} documents from {split.sources[name]} {unit}, "
              f"{_counts(split.documents[name])}")
    paths = " ".join(f"--set {name}_path={files[name]}" if name in files else f"--set {name}_path="
                     for name in ("train", "dev", "test"))
    print(f"train on them: spertmt train {paths} {types_path} --output runs/mine")
    return 0


def _counts(documents) -> str:
    return (f"{sum(len(d.entities) for d in documents)} entities, {sum(len(d.relations) for d in documents)} "
            "relations")


def split_arguments(commands) -> None:
    split = commands.add_parser("split", help="split one SpERT JSON file into train, dev and test sets (or folds), "
                                              "each source text's sentences in one set")
    add_path_arguments(split, ("input", "a SpERT JSON file (convert an annotation tool's export first)"),
                       ("output", "the folder to write train.json, dev.json and test.json (or the folds) into"))
    split.add_argument("--dev", type=float, help="the dev set's share of the documents (default 0.1; 0: no dev set)")
    split.add_argument("--test", type=float, help="the test set's share (default 0.1; 0: no test set)")
    split.add_argument("--folds", type=int, help="K folds for cross-validation instead: fold_k_train.json and "
                                                 "fold_k_test.json for each k, every document in one test fold")
    split.add_argument("--seed", type=int, default=0, help="the shuffle's seed (default 0): the same split again")
    split.add_argument("--by", choices=("source", "sentence"), default="source",
                       help="deal out whole source texts (default: a document's orig_id without the ':N' or '#N' "
                            "that convert adds for its sentence) or single sentences")
    split.set_defaults(func=_split)


def _download(args: argparse.Namespace) -> int:
    from ..data.download import BASE_URL, download

    written = download(args.datasets, args.dest, base_url=args.base_url or BASE_URL, progress=not args.quiet)
    print(f"{len(written)} files in {args.dest}")
    return 0


def download_arguments(commands) -> None:
    fetch = commands.add_parser("download", help="fetch the public SpERT copies of CoNLL04, SciERC and ADE")
    fetch.add_argument("datasets", nargs="*", default=["conll04", "scierc", "ade"],
                       help="which of conll04, scierc and ade (default: all three)")
    fetch.add_argument("--dest", default="datasets", help="folder (point data_root or SPERTMT_DATA at it)")
    fetch.add_argument("--base-url", help="mirror of the SpERT dataset folder")
    add_quiet_argument(fetch)
    fetch.set_defaults(func=_download)
