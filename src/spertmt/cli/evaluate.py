"""`spertmt eval`, `score` and `validate`: scoring a model or predictions, checking data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Config
from .common import (
    add_device_argument,
    add_path_arguments,
    add_quiet_argument,
    add_runtime_arguments,
    add_trust_argument,
    check_same_types,
    read_predictions,
)


def _eval(args: argparse.Namespace) -> int:
    from ..config import PREDICTION_KEYS
    from ..data.documents import read_documents, read_types, require_documents, write_documents
    from ..evaluate import evaluate, format_metrics, write_metrics
    from ..inference.loading import load_extractor

    overrides = args.set or []
    keys = {assignment.split("=", 1)[0].strip() for assignment in overrides}
    refused = sorted(keys - set(PREDICTION_KEYS))
    if refused:
        print(f"spertmt eval: --set {', '.join(refused)}: not a prediction setting (it describes how the model was "
              f"built or trained); eval can change {', '.join(PREDICTION_KEYS)}", file=sys.stderr)
        return 2
    # An exported folder on the ONNX runtime scores without torch (scoring is plain Python).
    extractor = load_extractor(args.model, device=args.device, precision=args.precision, runtime=args.runtime,
                               trust_remote_code=args.trust_remote_code)
    config = extractor.config.override(overrides).resolved()
    extractor.set_prediction_settings(**{key: getattr(config, key) for key in keys})
    threshold = args.threshold if args.threshold is not None else (config.threshold if "threshold" in keys else None)
    types = read_types(args.types) if args.types else extractor.types
    if args.types:
        check_same_types(types, extractor.types, args.types, args.model)
    data = Path(args.data) if args.data else config.data_path("test_path")
    documents = require_documents(read_documents(data, types), data, "to evaluate on")
    batch_size = config.eval_batch_size if args.batch_size is None else args.batch_size
    predictions = extractor.predict(documents, batch_size=batch_size, threshold=threshold, progress=not args.quiet,
                                    flat_ner=bool(config.flat_ner) and "flat_ner" in keys)
    metrics = evaluate(documents, predictions, types, overlapping=config.overlapping)
    print(f"{data}, scored with {args.model}:")
    print(format_metrics(metrics))
    if args.output:  # named as a run folder's test outputs
        from ..layout import RunFolder

        written = RunFolder(args.output)
        write_metrics(written.metrics, metrics)
        write_documents(written.predictions, predictions)
        print(f"wrote {written.metrics} and {written.predictions.name}")
    return 0


def eval_arguments(commands) -> None:
    evaluate = commands.add_parser("eval", help="evaluate a model folder on a SpERT JSON file")
    evaluate.add_argument("--model", required=True, help="model folder (e.g. runs/demo/best)")
    evaluate.add_argument("--data", help="SpERT JSON file (default: the model config's test_path)")
    evaluate.add_argument("--types", help="types file (default: the model's types)")
    evaluate.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="change a prediction setting (threshold, max_span_width, multi_label_relations, "
                               "max_pairs, overlapping, eval_batch_size, test_path, data_root)")
    evaluate.add_argument("--output", help="folder for metrics.json and predictions.json")
    evaluate.add_argument("--batch-size", type=int, help="documents per batch (default: the model's eval_batch_size)")
    evaluate.add_argument("--threshold", type=float, help="prediction threshold (default: the model's)")
    add_device_argument(evaluate)
    add_runtime_arguments(evaluate)
    add_quiet_argument(evaluate)
    evaluate.set_defaults(func=_eval)


def _score(args: argparse.Namespace) -> int:
    from ..data.documents import collect_types, read_documents, read_types
    from ..evaluate import evaluate, format_metrics, write_metrics

    types = read_types(args.types) if args.types else None
    gold = read_documents(args.gold, types)
    pred = read_predictions(args.pred, types)  # SpERT JSON, or predict's JSON lines
    if types is None:
        types = collect_types(gold + pred)
        print("no --types: relation types are taken as asymmetric", file=sys.stderr)
    metrics = evaluate(gold, pred, types, overlapping=not args.no_overlapping)
    print(format_metrics(metrics))
    if args.output:
        from ..layout import RunFolder

        write_metrics(RunFolder(args.output).metrics, metrics)
        print(f"wrote {RunFolder(args.output).metrics}")
    return 0


def score_arguments(commands) -> None:
    score = commands.add_parser("score", help="score a predictions file against gold (SpERT JSON)")
    add_path_arguments(score, ("gold", "the gold documents, SpERT JSON"),
                       ("pred", "the predictions: SpERT JSON, or the JSON lines of spertmt predict (same documents, "
                                "same order)"))
    score.add_argument("--types", help="types file (symmetric relations); default: types found in the files")
    score.add_argument(
        "--no-overlapping", action="store_true", help="drop overlapping entities (SpERT's no_overlapping)"
    )
    score.add_argument("--output", help="folder for metrics.json")
    score.set_defaults(func=_score)


def _validate(args: argparse.Namespace) -> int:
    from ..data.documents import read_types
    from ..data.validate import format_report, report_json, validate

    types = read_types(args.types) if args.types else None
    tokenizer, max_length, max_width = None, Config.max_length, Config.max_span_width
    if args.model:
        from ..layout import ModelFiles
        from ..model.folder import load_tokenizer_from
        from ..repos import resolve_model_folder

        model = resolve_model_folder(args.model)
        config = Config.load(model / ModelFiles.CONFIG)
        tokenizer = load_tokenizer_from(model, args.trust_remote_code)
        max_length, max_width = config.max_length, config.max_span_width
        types = types or read_types(model / ModelFiles.TYPES)
    if args.max_length is not None:  # given: it wins over the model's
        max_length = args.max_length
    if args.max_span_width is not None:
        max_width = args.max_span_width
    report = validate(args.data, types, max_span_width=max_width, tokenizer=tokenizer, max_length=max_length,
                      train=args.train)
    print(report_json(report) if args.json else format_report(report))
    return 1 if report["errors"] else 0


def validate_arguments(commands) -> None:
    check = commands.add_parser("validate", help="statistics and every error of a dataset, before training")
    add_path_arguments(check, ("data", "SpERT JSON file"))
    check.add_argument("--types", help="types file")
    check.add_argument("--model", help="model folder: its types, window and max span width")
    check.add_argument("--max-span-width", type=int,
                       help="count the entities wider than this many words, which a model cannot predict "
                            f"(default: the model's with --model, else {Config.max_span_width})")
    check.add_argument("--max-length", type=int,
                       help="with --model: count the documents longer than this many of its tokenizer's pieces, "
                            "which are read in overlapping windows (default: the model's window)")
    check.add_argument("--train", help="a training file (SpERT JSON): count the documents of DATA (a dev or test "
                                       "set) that have the words of one of its documents")
    check.add_argument("--json", action="store_true", help="print the statistics and errors as JSON")
    add_trust_argument(check)
    check.set_defaults(func=_validate)
