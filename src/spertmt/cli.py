"""The `spertmt` command line: each sub-command parses its arguments and calls a plain function.

    spertmt train --config configs/conll04-offline-short.toml --output runs/demo
    spertmt eval --model runs/demo/best --data test.json --output runs/demo/eval
    spertmt predict --model runs/demo/best --input docs.json --output predictions.json
    spertmt export --format onnx runs/demo/best runs/demo/onnx
    spertmt push runs/demo/best your-name/conll04-spertmt --private
    spertmt score --gold test.json --pred predictions.json --types types.json
    spertmt convert --from brat --to spert annotations/ data.json
    spertmt validate data.json --types data_types.json
    spertmt download conll04 --dest datasets
    spertmt experiment experiments/conll04.toml --background
    spertmt info
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import EXTRACT_BATCH_SIZE, EXTRACTION_PRECISIONS, INPUT_FORMATS, OUTPUT_FORMATS, Config
from .serve.app import ServeSettings as ServeDefaults


def _load_config(args: argparse.Namespace):

    config = Config.load(args.config) if args.config else Config()
    return config.override(args.set or [])


def _add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", default="fp32", choices=EXTRACTION_PRECISIONS,
                        help="the encoder's: bf16 autocast (fast with bf16 units), int8 weights (CPU), or auto "
                             "(bf16 on a GPU or a CPU with bf16 units, else fp32: spertmt info says which); "
                             "speed and F1 of each in bench/RESULTS.md")
    parser.add_argument("--runtime", default="torch", metavar="ENGINE",
                        help="torch (default), or onnx: a model folder written by spertmt export, on ONNX Runtime "
                             "(on the CPU the whole model, without torch); or an engine a package registers")


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SpERT.MT on CoNLL04, offline encoder)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config key, e.g. --set epochs=2 (repeatable)")


def _train(args: argparse.Namespace) -> int:
    from .layout import RunFolder
    from .training.trainer import train, train_folds

    run = RunFolder(args.output)
    if args.resume:

        config = Config.load(run.config).override(args.set or [])
        train(config, args.output, progress=not args.quiet, resume=True, keep_resume=args.keep_resume)
        print(f"model folders: {run.best} and {run.last}")
        return 0
    config = _load_config(args)
    if args.all_folds:
        train_folds(config, args.output, progress=not args.quiet)
        return 0
    train(config, args.output, progress=not args.quiet, overwrite=args.overwrite, keep_resume=args.keep_resume)
    print(f"model folders: {run.best} and {run.last}")
    return 0


def _train_arguments(commands) -> None:
    train = commands.add_parser("train", help="train, pick the best epoch on dev, evaluate on test")
    _add_config_arguments(train)
    train.add_argument("--output", required=True, help="run folder (checkpoints, logs, metrics)")
    train.add_argument("--resume", action="store_true",
                       help="go on with the interrupted run in --output (its config.json; --set may change keys)")
    train.add_argument("--overwrite", action="store_true",
                       help="train into an --output that already holds a trained model, replacing it")
    train.add_argument("--keep-resume", action="store_true",
                       help="keep resume/ (model, optimizer and random states) when the run has ended; by default "
                            "it is removed then (about 260 MB with the offline encoder)")
    train.add_argument("--all-folds", action="store_true",
                       help="run folds 0 .. num_folds-1 (ADE) and average their metrics")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)


def _check_same_types(given, model_types, source: str, model: str) -> None:
    """--types must be the model's types: its heads score exactly those, in that order."""
    for kind in ("entities", "relations"):
        names = [t.name for t in getattr(given, kind)]
        expected = [t.name for t in getattr(model_types, kind)]
        if names != expected:
            missing, extra = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
            detail = "; ".join(part for part in (f"not in the model: {extra}" if extra else "",
                                                 f"missing: {missing}" if missing else "") if part) or "another order"
            raise ValueError(f"{source}: its {kind} are not those of the model {model} ({detail}); the model "
                             f"predicts {expected}: leave out --types, or evaluate a model trained on these types")


def _eval(args: argparse.Namespace) -> int:
    from .config import PREDICTION_KEYS
    from .data.documents import read_documents, read_types, require_documents, write_documents
    from .evaluate import evaluate, format_metrics, write_metrics
    from .inference.loading import load_extractor

    overrides = args.set or []
    keys = {assignment.split("=", 1)[0].strip() for assignment in overrides}
    refused = sorted(keys - set(PREDICTION_KEYS))
    if refused:
        print(f"spertmt eval: --set {', '.join(refused)}: not a prediction setting (it describes how the model was "
              f"built or trained); eval can change {', '.join(PREDICTION_KEYS)}", file=sys.stderr)
        return 2
    # An exported folder on the ONNX runtime scores without torch (scoring is plain Python).
    extractor = load_extractor(args.model, device=args.device, precision=args.precision, runtime=args.runtime)
    config = extractor.config.override(overrides).resolved()
    extractor.set_prediction_settings(**{key: getattr(config, key) for key in keys})
    threshold = args.threshold if args.threshold is not None else (config.threshold if "threshold" in keys else None)
    types = read_types(args.types) if args.types else extractor.types
    if args.types:
        _check_same_types(types, extractor.types, args.types, args.model)
    data = Path(args.data) if args.data else config.data_path("test_path")
    documents = require_documents(read_documents(data, types), data, "to evaluate on")
    predictions = extractor.predict(documents, batch_size=args.batch_size or config.eval_batch_size,
                                    threshold=threshold, progress=not args.quiet,
                                    flat_ner=bool(config.flat_ner) and "flat_ner" in keys)
    metrics = evaluate(documents, predictions, types, overlapping=config.overlapping)
    print(f"{data}, scored with {args.model}:")
    print(format_metrics(metrics))
    if args.output:  # named as a run folder's test outputs
        from .layout import RunFolder

        written = RunFolder(args.output)
        write_metrics(written.metrics, metrics)
        write_documents(written.predictions, predictions)
        print(f"wrote {written.metrics} and {written.predictions.name}")
    return 0


def _eval_arguments(commands) -> None:
    evaluate = commands.add_parser("eval", help="evaluate a model folder on a SpERT JSON file")
    evaluate.add_argument("--model", required=True, help="model folder (e.g. runs/demo/best)")
    evaluate.add_argument("--data", help="SpERT JSON file (default: the model config's test_path)")
    evaluate.add_argument("--types", help="types file (default: the model's types)")
    evaluate.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="change a prediction setting (threshold, max_span_width, multi_label_relations, "
                               "max_pairs, overlapping, eval_batch_size, test_path, data_root)")
    evaluate.add_argument("--output", help="folder for metrics.json and predictions.json")
    evaluate.add_argument("--batch-size", type=int, default=0)
    evaluate.add_argument("--threshold", type=float, help="prediction threshold (default: the model's)")
    evaluate.add_argument("--device", default="auto")
    _add_runtime_arguments(evaluate)
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(func=_eval)


def _predict(args: argparse.Namespace) -> int:
    import os

    from .config import check_threshold
    from .files import check_output
    from .inference.loading import load_extractor
    from .inference.streaming import merge_parts, predict_file

    check_output(args.output, args.input)  # before the model loads (seconds), not after
    if args.threshold is not None:
        check_threshold(args.threshold, "--threshold")
    job, world, rank, device = None, 1, 0, args.device
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from .runtime import Distributed

        job = Distributed(args.device)  # under torchrun: each process extracts its share, rank 0 joins the parts
        world, rank, device = job.world, job.rank, str(job.device)
    extractor = load_extractor(args.model, device=device, precision=args.precision, runtime=args.runtime)
    count = predict_file(extractor, args.input, args.output, input_format=args.input_format,
                         output_format=args.output_format, batch_size=args.batch_size, threshold=args.threshold,
                         relations=not args.entities_only, progress=not args.quiet and rank == 0,
                         flat_ner=args.flat_ner,
                         rank=rank, world=world, html=args.html if world == 1 else None,
                         **({"max_sentence_words": args.max_sentence_words} if args.max_sentence_words else {}))
    if job is not None and world > 1:
        job.barrier()
        if rank == 0:
            count = merge_parts(args.output, world, args.output_format)
        job.barrier()
        job.close()
    if rank == 0:
        print(f"wrote {count} results to {args.output}")
    return 0


def _predict_arguments(commands) -> None:
    predict = commands.add_parser("predict", help="extract entities and relations from a file of texts")
    predict.add_argument("--model", required=True)
    predict.add_argument("--input", required=True,
                         help=".txt (a text per line; an empty line gets an empty result), .jsonl ({'text'} or "
                              "{'tokens'}, optional 'id' and 'entities'; blank lines skipped) or .json (SpERT JSON)")
    predict.add_argument("--output", required=True, help=".jsonl (one result per input) or .json (SpERT JSON)")
    predict.add_argument("--input-format", choices=INPUT_FORMATS)
    predict.add_argument("--output-format", choices=OUTPUT_FORMATS)
    predict.add_argument("--batch-size", type=int, default=EXTRACT_BATCH_SIZE)
    predict.add_argument("--threshold", type=float, help="θ of both heads (default: tuned, else the model's)")
    predict.add_argument("--entities-only", action="store_true", help="skip the relation work")
    predict.add_argument("--flat-ner", action=argparse.BooleanOptionalAction, default=None,
                         help="no two entities overlap: of overlapping spans the best-scoring one is kept, and "
                              "relations join kept entities only; --no-flat-ner: nested spans as SpERT (default: "
                              "the model's flat_ner, set when training from its data)")
    predict.add_argument("--html", help="also write the HTML view of the first 200 results to this file")
    predict.add_argument("--device", default="auto")
    predict.add_argument("--max-sentence-words", type=int,
                         help="longer sentences of raw text (text without punctuation) are extracted in "
                              "pieces of this many words; no relation crosses two pieces (default: 128)")
    _add_runtime_arguments(predict)
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(func=_predict)


def _serve(args: argparse.Namespace) -> int:
    import signal

    try:
        import uvicorn
    except ImportError:
        raise ValueError("spertmt serve needs Starlette and uvicorn: pip install 'spertmt[serve]'") from None
    from .serve import ServeSettings, build_app

    settings = ServeSettings(max_batch=args.max_batch, max_wait=args.max_wait_ms / 1000, max_queue=args.max_queue,
                             max_body=int(args.max_body_mb * 2**20))
    if min(settings.max_batch, settings.max_queue, settings.max_body) < 1 or settings.max_wait < 0:
        raise ValueError("--max-batch, --max-queue and --max-body-mb must be positive, --max-wait-ms at least 0")

    app = build_app(args.model, args.runtime, args.device, args.precision, args.threads, settings)
    print(f"spertmt serve: {args.model} on http://{args.host}:{args.port} (POST /v1/extract, GET /health, "
          "GET /metrics); SIGTERM or Ctrl-C stops it after the requests in flight", flush=True)
    # uvicorn stops taking requests on SIGTERM, answers those in flight, then raises the signal again
    # under the handler it found: ignoring it there makes a graceful stop exit 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                timeout_graceful_shutdown=None)
    return 0


def _serve_arguments(commands) -> None:
    serve = commands.add_parser("serve", help="an HTTP extraction service (dynamic batching, metrics, back-pressure)")
    serve.add_argument("--model", required=True, help="model folder, exported folder or hub repo id")
    serve.add_argument("--device", default="auto")
    serve.add_argument("--threads", type=int, help="CPU threads of the model (default: one per core)")
    _add_runtime_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8080)
    defaults = ServeDefaults()
    serve.add_argument("--max-batch", type=int, default=defaults.max_batch,
                       help="texts per model call, from requests that arrive together (default %(default)s)")
    serve.add_argument("--max-wait-ms", type=float, default=defaults.max_wait * 1000,
                       help="how long the oldest request waits for others to join its batch (default %(default)s)")
    serve.add_argument("--max-queue", type=int, default=defaults.max_queue,
                       help="texts waiting at most; beyond, requests get 503 and Retry-After (default %(default)s)")
    serve.add_argument("--max-body-mb", type=float, default=defaults.max_body / 2**20,
                       help="largest request body in MiB; beyond, 413 (default %(default)s)")
    serve.add_argument("--quiet", action="store_true", help="log warnings only, not every request")
    serve.set_defaults(func=_serve)


def _export(args: argparse.Namespace) -> int:
    from .inference.export import export_onnx
    from .inference.runtimes import ONNX_FILES
    from .repos import resolve_model_folder

    output = export_onnx(resolve_model_folder(args.model), args.output)
    print(f"wrote {output / ONNX_FILES['fp32']}, {ONNX_FILES['int8']} and the heads' graphs; run them with "
          f"--model {output} --runtime onnx --precision fp32 (or int8), or without torch in Python: "
          f"spertmt.load({str(output)!r}, runtime='onnx')")
    return 0


def _export_arguments(commands) -> None:
    export = commands.add_parser("export", help="write the whole model as ONNX (the encoder in fp32 and int8, "
                                                "the heads' graphs) for ONNX Runtime, with or without torch")
    export.add_argument("--format", default="onnx", choices=["onnx"])
    export.add_argument("model", help="model folder (e.g. runs/demo/best)")
    export.add_argument("output", help="the new model folder: a copy of MODEL with encoder.onnx, "
                                       "encoder-int8.onnx, entities.onnx and relations.onnx (MODEL itself: the "
                                       "files are added to it)")
    export.set_defaults(func=_export)


def _push(args: argparse.Namespace) -> int:
    from .inference.loading import load_extractor

    card = {key: value for key, value in (("language", args.language), ("license", args.license)) if value}
    extractor = load_extractor(args.model, device="cpu")
    url = extractor.push_to_hub(args.repo_id, private=args.private or None, token=args.token,
                                commit_message=args.message, revision=args.revision, **card)
    print(f"pushed {args.model} to {args.repo_id}: {url}\nload it with spertmt.load({args.repo_id!r})")
    return 0


def _push_arguments(commands) -> None:
    push = commands.add_parser("push", help="upload a model folder to the Hugging Face Hub, with a model card")
    push.add_argument("model", help="model folder (e.g. runs/demo/best)")
    push.add_argument("repo_id", help="the hub repo, owner/name (created if it does not exist)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--token", help="hub token (default: the login of `hf auth login`, or HF_TOKEN)")
    push.add_argument("--revision", help="branch to push to (default: main)")
    push.add_argument("--message", default="Upload spertmt model", help="commit message")
    push.add_argument("--language", help="the model card's language (default: en for the offline encoder)")
    push.add_argument("--license", help="the model card's license, e.g. mit or cc-by-4.0")
    push.set_defaults(func=_push)


def _local_folder(extractor, model: str, command: str, writes: str) -> None:
    """Refuses a hub repo id where a command writes into the model folder."""
    if extractor.folder != Path(model):  # a hub repo id: its folder is the hub's cache
        raise ValueError(f"{model} is a hub model: {command} writes {writes} into the model folder, "
                         f"so use a local copy (python -c \"import spertmt; spertmt.load('{model}')"
                         f".save_pretrained('my-model')\", then --model my-model)")


def _tune(args: argparse.Namespace) -> int:
    from .data.documents import read_documents, require_documents
    from .inference import thresholds as tuning
    from .inference.loading import load_extractor

    extractor = load_extractor(args.model, device=args.device)
    _local_folder(extractor, args.model, "tune-threshold", "thresholds.json")
    documents = require_documents(read_documents(args.data, extractor.types), args.data, "to tune θ on")
    if args.target_precision is not None:
        chosen = tuning.tune_for_precision(extractor, documents, args.target_precision, args.confidence,
                                           batch_size=args.batch_size, progress=not args.quiet)
        print(tuning.format_precision_cuts(chosen))
        content = tuning.precision_thresholds_content(chosen)
    else:
        tuned = tuning.tune_thresholds(extractor, documents, batch_size=args.batch_size, progress=not args.quiet,
                                       per_type=not args.global_only)
        print(tuning.format_tuning(tuned))
        content = tuning.thresholds_file_content(tuned, per_type=not args.global_only)
    if args.dry_run:
        print(json.dumps(content, indent=2))
    else:
        print(f"stored in {tuning.save_thresholds(args.model, content)}; predict and extract use them "
              "(--threshold overrides)")
        if extractor.calibration is not None:
            print("calibration.json was fitted under the former θ: fit it again (spertmt calibrate)")
    return 0


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a number between 0 and 1")
    return value


def _tune_arguments(commands) -> None:
    tune = commands.add_parser("tune-threshold", help="choose θ on a dev set, globally and per type")
    tune.add_argument("--model", required=True, help="model folder; thresholds.json is written into it")
    tune.add_argument("--data", required=True, help="dev set, SpERT JSON (never the test set)")
    tune.add_argument("--global-only", action="store_true", help="one θ per head, no per-type values")
    tune.add_argument("--target-precision", type=_probability, metavar="P",
                      help="instead of the best F1: per type the lowest θ whose dev precision reaches P with "
                           "--confidence (a Clopper-Pearson bound), e.g. 0.9")
    tune.add_argument("--confidence", type=_probability, default=0.95,
                      help="confidence of --target-precision's bound (default 0.95)")
    tune.add_argument("--dry-run", action="store_true", help="print the values, write nothing")
    tune.add_argument("--batch-size", type=int, default=8)
    tune.add_argument("--device", default="auto")
    tune.add_argument("--quiet", action="store_true")
    tune.set_defaults(func=_tune)


def _calibrate(args: argparse.Namespace) -> int:
    from .data.documents import read_documents, require_documents
    from .inference.calibration import save_calibration
    from .inference.loading import load_extractor
    from .inference.thresholds import calibrate, format_calibration

    extractor = load_extractor(args.model, device=args.device)
    _local_folder(extractor, args.model, "calibrate", "calibration.json")
    documents = require_documents(read_documents(args.data, extractor.types), args.data, "to calibrate on")
    calibration, report = calibrate(extractor, documents, batch_size=args.batch_size, progress=not args.quiet)
    print(format_calibration(report))
    if args.dry_run:
        print(json.dumps(calibration.to_dict(), indent=2))
    elif calibration.heads:
        print(f"stored in {save_calibration(args.model, calibration)}; predict and extract report calibrated "
              "probabilities")
    return 0


def _calibrate_arguments(commands) -> None:
    calibrate = commands.add_parser("calibrate", help="fit the probabilities' calibration on a dev set")
    calibrate.add_argument("--model", required=True, help="model folder; calibration.json is written into it")
    calibrate.add_argument("--data", required=True, help="dev set, SpERT JSON (never the test set)")
    calibrate.add_argument("--dry-run", action="store_true", help="print the fitted maps, write nothing")
    calibrate.add_argument("--batch-size", type=int, default=8)
    calibrate.add_argument("--device", default="auto")
    calibrate.add_argument("--quiet", action="store_true")
    calibrate.set_defaults(func=_calibrate)


def _score(args: argparse.Namespace) -> int:
    from .data.convert import collect_types
    from .data.documents import read_documents, read_types
    from .evaluate import evaluate, format_metrics, write_metrics

    types = read_types(args.types) if args.types else None
    gold = read_documents(args.gold, types)
    pred = _read_predictions(args.pred, types)  # SpERT JSON, or predict's JSON lines
    if types is None:
        types = collect_types(gold + pred)
        print("no --types: relation types are taken as asymmetric", file=sys.stderr)
    metrics = evaluate(gold, pred, types, overlapping=not args.no_overlapping)
    print(format_metrics(metrics))
    if args.output:
        from .layout import RunFolder

        write_metrics(RunFolder(args.output).metrics, metrics)
        print(f"wrote {RunFolder(args.output).metrics}")
    return 0


def _score_arguments(commands) -> None:
    score = commands.add_parser("score", help="score a predictions file against gold (SpERT JSON)")
    score.add_argument("--gold", required=True)
    score.add_argument("--pred", required=True)
    score.add_argument("--types", help="types file (symmetric relations); default: types found in the files")
    score.add_argument(
        "--no-overlapping", action="store_true", help="drop overlapping entities (SpERT's no_overlapping)"
    )
    score.add_argument("--output", help="folder for metrics.json")
    score.set_defaults(func=_score)


def _convert(args: argparse.Namespace) -> int:
    from .data.convert import convert

    report = convert(args.source, args.target, args.input, args.output, types_path=args.types, words=args.words,
                     sentences=args.sentences)
    print(f"converted {args.input} ({args.source}) to {args.output} ({args.target}); {report}")
    return 0


def _convert_arguments(commands) -> None:
    from .data.text import WORD_SPLITTERS

    # The formats are a registry that installed packages may add to (spertmt.data.convert): convert()
    # checks the names, so that building the parser loads no plugin.
    conv = commands.add_parser("convert", help="convert between spert, dygie and brat formats (or a registered one)")
    conv.add_argument("--from", dest="source", required=True, metavar="FORMAT", help="spert, dygie, brat, ...")
    conv.add_argument("--to", dest="target", required=True, metavar="FORMAT", help="spert, dygie, brat, ...")
    conv.add_argument("input", help="a file (spert, dygie) or a folder of .txt/.ann (brat)")
    conv.add_argument("output", help="a file (spert, dygie) or a folder (brat)")
    conv.add_argument("--types", help="check the types against this file (else <output>_types.json is written)")
    conv.add_argument("--words", default="simple", choices=tuple(WORD_SPLITTERS),
                      help="brat word splitter (unicode: Unicode word boundaries, as raw-text extraction)")
    conv.add_argument("--sentences", choices=["lines", "punctuation"], help="brat sentence splitter")
    conv.set_defaults(func=_convert)


def _validate(args: argparse.Namespace) -> int:
    from .data.documents import read_types
    from .data.validate import format_report, report_json, validate

    types = read_types(args.types) if args.types else None
    tokenizer, max_length, max_width = None, args.max_length, args.max_span_width
    if args.model:
        from .layout import ModelFiles
        from .model.folder import load_tokenizer_from
        from .repos import resolve_model_folder

        model = resolve_model_folder(args.model)
        config = Config.load(model / ModelFiles.CONFIG)
        tokenizer, max_length, max_width = load_tokenizer_from(model), config.max_length, config.max_span_width
        types = types or read_types(model / ModelFiles.TYPES)
    report = validate(args.data, types, max_span_width=max_width, tokenizer=tokenizer, max_length=max_length)
    print(report_json(report) if args.json else format_report(report))
    return 1 if report["errors"] else 0


def _validate_arguments(commands) -> None:
    check = commands.add_parser("validate", help="statistics and every error of a dataset, before training")
    check.add_argument("data", help="SpERT JSON file")
    check.add_argument("--types", help="types file")
    check.add_argument("--model", help="model folder: its types, window and max span width")
    check.add_argument("--max-span-width", type=int, default=Config.max_span_width)
    check.add_argument("--max-length", type=int, default=Config.max_length)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=_validate)


def _read_predictions(path: str, types=None):
    """SpERT JSON, or the JSON lines of `spertmt predict` (word offsets)."""
    from .data.documents import Document, Entity, Relation, read_documents

    if not path.endswith(".jsonl"):
        return read_documents(path, types)
    documents = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                documents.append(Document(
                    row["tokens"], [Entity(e["token_start"], e["token_end"], e["type"], e.get("score"))
                                    for e in row["entities"]],
                    [Relation(r["head"], r["tail"], r["type"], r.get("score")) for r in row["relations"]],
                    row.get("id")))
    return documents


def _visualize(args: argparse.Namespace) -> int:
    from .data.documents import read_documents, read_types
    from .inference.visualize import write_html

    types = read_types(args.types) if args.types else None
    predicted = _read_predictions(args.pred)
    gold = read_documents(args.gold) if args.gold else None
    path = write_html(args.output, predicted, gold, types, limit=args.limit)
    print(f"wrote {path}")
    return 0


def _visualize_arguments(commands) -> None:
    view = commands.add_parser("visualize", help="an HTML page of predictions (and gold, with errors marked)")
    view.add_argument("--pred", required=True,
                      help="predictions: SpERT JSON (.json) or spertmt predict's JSON lines (.jsonl)")
    view.add_argument("--gold", help="gold documents, SpERT JSON, in the same order")
    view.add_argument("--types", help="types file (colour order, symmetric relations)")
    view.add_argument("--output", required=True, help="the .html file")
    view.add_argument("--limit", type=int, help="only the first N documents")
    view.set_defaults(func=_visualize)


def _download(args: argparse.Namespace) -> int:
    from .data.download import BASE_URL, download

    written = download(args.datasets, args.dest, base_url=args.base_url or BASE_URL, progress=not args.quiet)
    print(f"{len(written)} files in {args.dest}")
    return 0


def _download_arguments(commands) -> None:
    fetch = commands.add_parser("download", help="fetch the public SpERT copies of CoNLL04, SciERC and ADE")
    fetch.add_argument("datasets", nargs="*", default=["conll04", "scierc", "ade"])
    fetch.add_argument("--dest", default="datasets", help="folder (point data_root or SPERTMT_DATA at it)")
    fetch.add_argument("--base-url", help="mirror of the SpERT dataset folder")
    fetch.add_argument("--quiet", action="store_true")
    fetch.set_defaults(func=_download)


def _experiment(args: argparse.Namespace) -> int:
    from .experiment.grid import Grid
    from .experiment.locks import hold_lock, release_lock, running_pid, start_background
    from .experiment.runner import Experiment

    experiment = Experiment(Grid.load(args.grid), results=args.results, runs=args.runs,
                            keep_checkpoints=args.keep_checkpoints, threads=args.threads, jobs=args.jobs)
    if args.status or args.aggregate:
        if args.aggregate:
            for key in experiment.add_missing_counts():
                print(f"{key}: per-sentence test counts added to its record")
            experiment.aggregate()
        print(experiment.status())
        pid = running_pid(experiment)
        print(f"runner: process {pid}" if pid else "runner: none")
        return 0
    if args.background:
        if running_pid(experiment):
            raise ValueError(f"grid {experiment.grid.name} already has a runner (process {running_pid(experiment)})")
        argv = [a for a in (args.argv or []) if a != "--background"]
        pid, log = start_background(argv, experiment)
        print(f"runner started in the background: process {pid}, log {log}\n"
              f"progress: spertmt experiment {args.grid} --status")
        return 0
    if not args.dry_run:
        if running_pid(experiment):
            raise ValueError(f"grid {experiment.grid.name} already has a runner (process {running_pid(experiment)})")
        hold_lock(experiment)
    try:
        failed = experiment.run_all(dry_run=args.dry_run)
    finally:
        if not args.dry_run:
            release_lock(experiment)
    print(experiment.status())
    print(f"results: {experiment.results / (experiment.grid.name + '.md')}")
    return 1 if failed else 0


def _experiment_arguments(commands) -> None:
    grid = commands.add_parser("experiment", help="run a grid of trainings (seeds, modes, overrides), resumable")
    grid.add_argument("grid", help="grid file (TOML), e.g. experiments/conll04.toml")
    grid.add_argument("--results", default="results", help="folder for the records and tables")
    grid.add_argument("--runs", default="runs/experiments", help="folder for the run outputs (checkpoints)")
    grid.add_argument("--background", action="store_true", help="detach; output to <runs>/<name>/runner.log")
    grid.add_argument("--status", action="store_true", help="what is done, interrupted and pending")
    grid.add_argument("--aggregate", action="store_true",
                      help="rewrite the tables from the records (and add per-sentence test counts to records "
                           "written without them, from run folders that remain)")
    grid.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    grid.add_argument("--keep-checkpoints", action="store_true",
                      help="keep last/ and resume/ of finished runs (default: best/ only)")
    grid.add_argument("--threads", type=int, metavar="N",
                      help="CPU threads per training run (OMP_NUM_THREADS); on 2 cores, two grids with "
                           "--threads 1 side by side train 1.33x faster in all than one at a time")
    grid.add_argument("--jobs", type=int, default=1, metavar="N",
                      help="training runs at a time (default 1); several share one large GPU well, "
                           "each with a CPU core of its own")
    grid.set_defaults(func=_experiment)


def _info(args: argparse.Namespace) -> int:
    from .info import collect, format_info

    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _info_arguments(commands) -> None:
    info = commands.add_parser("info", help="versions and native-kernel status")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)


# In the order `spertmt --help` lists them.
COMMANDS = (_train_arguments, _eval_arguments, _predict_arguments, _export_arguments, _push_arguments,
            _tune_arguments, _calibrate_arguments, _score_arguments, _convert_arguments, _validate_arguments,
            _visualize_arguments, _download_arguments, _experiment_arguments, _serve_arguments, _info_arguments)


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="spertmt", description="SpERT.MT joint entity and relation extraction.")
    parser.add_argument("--version", action="version", version=f"spertmt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_arguments in COMMANDS:  # each command's arguments stand beside the function that runs it
        add_arguments(commands)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that `finally` blocks and the atomic writers clean up."""


def _raise_terminated(*_) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Runs a command; errors in the input end in one line and exit code 2, Ctrl-C (SIGINT) in
    exit code 130 and SIGTERM in 143, each after the command's temporary files are removed."""
    import signal

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "quiet", False):  # the libraries' bars too (transformers' "Loading weights", the hub's)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when transformers is imported
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()
    from .data.documents import DataError

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return args.func(args)
    except (DataError, OSError, ValueError, FloatingPointError) as error:
        print(f"spertmt {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spertmt {args.command}: interrupted (Ctrl-C); nothing half-written was left", file=sys.stderr)
        return 130
    except Terminated:
        print(f"spertmt {args.command}: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
