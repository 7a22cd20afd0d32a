"""The `spertmt` command line: each sub-command parses its arguments and calls a plain function.

    spertmt train --config configs/conll04-offline-short.toml --output runs/demo
    spertmt eval --model runs/demo/best --data test.json --output runs/demo/eval
    spertmt predict --model runs/demo/best --input docs.json --output predictions.json
    spertmt download conll04 --dest datasets
    spertmt info
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load_config(args: argparse.Namespace):
    from .config import Config

    config = Config.load(args.config) if args.config else Config()
    return config.override(args.set or [])


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SpERT.MT on CoNLL04, offline encoder)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config key, e.g. --set epochs=2 (repeatable)")


def _train(args: argparse.Namespace) -> int:
    from .trainer import train, train_folds

    config = _load_config(args)
    if args.all_folds:
        train_folds(config, args.output, progress=not args.quiet)
        return 0
    train(config, args.output, progress=not args.quiet)
    print(f"model folders: {Path(args.output) / 'best'} and {Path(args.output) / 'last'}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .api import load
    from .data.documents import read_documents, read_types, write_documents
    from .evaluate import evaluate, format_metrics, write_metrics

    extractor = load(args.model, device=args.device)
    config = extractor.config.override(args.set or [])
    types = read_types(args.types) if args.types else extractor.types
    data = Path(args.data) if args.data else config.data_path("test_path")
    documents = read_documents(data, types)
    predictions = extractor.predict(documents, batch_size=args.batch_size or config.eval_batch_size,
                                    threshold=args.threshold, progress=not args.quiet)
    metrics = evaluate(documents, predictions, types, overlapping=config.overlapping)
    print(format_metrics(metrics))
    if args.output:
        write_metrics(Path(args.output) / "metrics.json", metrics)
        write_documents(Path(args.output) / "predictions.json", predictions)
        print(f"wrote {Path(args.output) / 'metrics.json'} and predictions.json")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .api import load
    from .data.documents import read_documents, write_documents

    extractor = load(args.model, device=args.device)
    documents = read_documents(args.input)  # gold annotations, if any, are not used
    predictions = extractor.predict(documents, batch_size=args.batch_size, threshold=args.threshold,
                                    progress=not args.quiet)
    write_documents(args.output, predictions)
    print(f"wrote {len(predictions)} documents to {args.output}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .data.download import BASE_URL, download

    written = download(args.datasets, args.dest, base_url=args.base_url or BASE_URL, progress=not args.quiet)
    print(f"{len(written)} files in {args.dest}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .info import collect, format_info

    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spertmt", description="SpERT.MT joint entity and relation extraction.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train, pick the best epoch on dev, evaluate on test")
    _add_config_arguments(train)
    train.add_argument("--output", required=True, help="run folder (checkpoints, logs, metrics)")
    train.add_argument("--all-folds", action="store_true",
                       help="run folds 0 .. num_folds-1 (ADE) and average their metrics")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("eval", help="evaluate a model folder on a SpERT JSON file")
    evaluate.add_argument("--model", required=True, help="model folder (e.g. runs/demo/best)")
    evaluate.add_argument("--data", help="SpERT JSON file (default: the model config's test_path)")
    evaluate.add_argument("--types", help="types file (default: the model's types)")
    evaluate.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    evaluate.add_argument("--output", help="folder for metrics.json and predictions.json")
    evaluate.add_argument("--batch-size", type=int, default=0)
    evaluate.add_argument("--threshold", type=float, help="prediction threshold (default: the model's)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(func=_eval)

    predict = commands.add_parser("predict", help="predict entities and relations for a SpERT JSON file")
    predict.add_argument("--model", required=True)
    predict.add_argument("--input", required=True, help="SpERT JSON documents (tokens are enough)")
    predict.add_argument("--output", required=True, help="SpERT JSON predictions, with scores")
    predict.add_argument("--batch-size", type=int, default=8)
    predict.add_argument("--threshold", type=float)
    predict.add_argument("--device", default="auto")
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(func=_predict)

    fetch = commands.add_parser("download", help="fetch the public SpERT copies of CoNLL04, SciERC and ADE")
    fetch.add_argument("datasets", nargs="*", default=["conll04", "scierc", "ade"])
    fetch.add_argument("--dest", default="datasets", help="folder (point data_root or SPERTMT_DATA at it)")
    fetch.add_argument("--base-url", help="mirror of the SpERT dataset folder")
    fetch.add_argument("--quiet", action="store_true")
    fetch.set_defaults(func=_download)

    info = commands.add_parser("info", help="versions and native-kernel status")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data.documents import DataError

    try:
        return args.func(args)
    except (DataError, OSError, ValueError) as error:
        print(f"spertmt {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
