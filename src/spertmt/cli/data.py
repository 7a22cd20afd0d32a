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
    conv = commands.add_parser("convert", help="convert between spert, dygie, brat, doccano, labelstudio, prodigy "
                                               "and conll formats, and from INCEpTION's webanno (or a registered one)")
    files = "spert, dygie, doccano, labelstudio, prodigy, conll"
    known = "spert, dygie, brat, doccano, labelstudio, prodigy, conll, ..."
    conv.add_argument("--from", dest="source", required=True, metavar="FORMAT", help=known + " (and webanno)")
    conv.add_argument("--to", dest="target", required=True, metavar="FORMAT", help=known)
    add_path_arguments(conv, ("input", f"a file ({files}, webanno) or a folder of .txt/.ann (brat) or of .tsv "
                                       "(webanno)"),
                       ("output", f"a file ({files}) or a folder (brat)"))
    conv.add_argument("--types", help="check the types against this file (else <output>_types.json is written)")
    conv.add_argument("--words", default="simple", choices=tuple(WORD_SPLITTERS),
                      help="brat's, doccano's and Label Studio's word splitter, and Prodigy's for tasks without "
                           "tokens (unicode: as raw-text extraction splits)")
    conv.add_argument("--sentences", choices=["lines", "punctuation"],
                      help="brat's, doccano's, Label Studio's and Prodigy's sentence splitter")
    conv.set_defaults(func=_convert)


def _split(args: argparse.Namespace) -> int:
    from ..data.split import split_file
    from ..files import uncompressed

    split, files = split_file(args.input, args.output, args.dev, args.test, args.seed, args.by == "sentence")
    unit = "documents" if args.by == "sentence" else "source texts"
    for name, file in files.items():
        documents = split.documents[name]
        print(f"{file}: {len(documents)} documents from {split.sources[name]} {unit}, "
              f"{sum(len(d.entities) for d in documents)} entities, {sum(len(d.relations) for d in documents)} "
              "relations")
    paths = " ".join(f"--set {name}_path={files[name]}" if name in files else f"--set {name}_path="
                     for name in ("train", "dev", "test"))
    source = uncompressed(Path(args.input))
    types = source.with_name(source.stem + "_types.json")  # the types file convert writes beside its output
    print(f"train on them: spertmt train {paths} --set types_path={types if types.exists() else 'TYPES'} "
          "--output runs/mine")
    return 0


def split_arguments(commands) -> None:
    split = commands.add_parser("split", help="split one SpERT JSON file into train, dev and test sets, each "
                                              "source text's sentences in one set")
    add_path_arguments(split, ("input", "a SpERT JSON file (convert an annotation tool's export first)"),
                       ("output", "the folder to write train.json, dev.json and test.json into"))
    split.add_argument("--dev", type=float, default=0.1, help="the dev set's share of the documents (default "
                                                              "0.1; 0: no dev set)")
    split.add_argument("--test", type=float, default=0.1, help="the test set's share (default 0.1; 0: no test set)")
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
