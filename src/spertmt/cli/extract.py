"""`spertmt predict`, `serve` and `visualize`: extraction from files, as a service, as HTML."""

from __future__ import annotations

import argparse
import os
import sys

from ..config import INPUT_FORMATS, OUTPUT_FORMATS
from ..serve.app import ServeSettings as ServeDefaults
from .common import (
    add_device_argument,
    add_path_arguments,
    add_quiet_argument,
    add_runtime_arguments,
    read_predictions,
)


def _predict(args: argparse.Namespace) -> int:
    from ..config import check_threshold
    from ..data.encoding import BATCH_SIZE, check_count
    from ..files import is_stdio
    from ..inference.loading import load_extractor
    from ..inference.streaming import Columns, check_files, merge_parts, predict_file

    world = int(os.environ.get("WORLD_SIZE", "1"))
    check_files(args.input, args.output, args.input_format, args.output_format, world,  # before the model loads
                Columns(args.text_column, args.id_column))
    check_count(BATCH_SIZE, args.batch_size)
    if args.threshold is not None:
        check_threshold(args.threshold, "--threshold")
    job, rank, device = None, 0, args.device
    if world > 1:
        from ..runtime import Distributed

        job = Distributed(args.device)  # under torchrun: each process extracts its share, rank 0 joins the parts
        world, rank, device = job.world, job.rank, str(job.device)
    extractor = load_extractor(args.model, device=device, precision=args.precision, runtime=args.runtime,
                               trust_remote_code=args.trust_remote_code)
    if is_stdio(args.input) and sys.stdin.isatty():  # nothing piped in: say what it waits for
        print("reading texts from standard input, one per line; end with Ctrl-D", file=sys.stderr)
    count = predict_file(extractor, args.input, args.output, input_format=args.input_format,
                         output_format=args.output_format, batch_size=args.batch_size, threshold=args.threshold,
                         relations=not args.entities_only, progress=not args.quiet and rank == 0,
                         flat_ner=args.flat_ner, resume=args.resume, text_column=args.text_column,
                         id_column=args.id_column,
                         rank=rank, world=world, html=args.html if world == 1 else None,
                         **({"max_sentence_words": args.max_sentence_words} if args.max_sentence_words else {}))
    if job is not None and world > 1:
        job.barrier()
        if rank == 0:
            count = merge_parts(args.output, world, args.output_format)
        job.barrier()
        job.close()
    results = f"{count} result{'' if count == 1 else 's'}"
    if rank == 0 and is_stdio(args.output):
        print(f"wrote {results} to standard output", file=sys.stderr)
    elif rank == 0:
        print(f"wrote {results} to {args.output}")
    return 0


def predict_arguments(commands) -> None:
    predict = commands.add_parser("predict", help="extract entities and relations from a file of texts")
    predict.add_argument("--model", required=True, help="model folder, exported folder or hub repo id")
    predict.add_argument("--input", required=True,
                         help=".txt (a text per line; an empty line gets an empty result), .jsonl ({'text'} or "
                              "{'tokens'}, optional 'id' and 'entities'; blank lines skipped), .csv or .tsv (a "
                              "first line naming the columns: 'text', optionally 'id'), .json (SpERT JSON) or a "
                              "folder (each of its .txt files a text, compressed too, with subfolders'); "
                              "- reads standard input (text lines unless --input-format says otherwise); "
                              "--input-format paragraphs reads a text file's paragraphs (blank lines between them) "
                              "as texts, for text wrapped at a width; a file named .gz, .bz2 or .xz is "
                              "decompressed (texts.jsonl.gz: JSON lines)")
    predict.add_argument("--output", required=True,
                         help=".jsonl (one result per input) or .json (SpERT JSON); - writes JSON lines to "
                              "standard output as they are extracted; --output-format doccano writes doccano's "
                              "JSON lines, labelstudio Label Studio's tasks with predictions, prodigy Prodigy's "
                              "tasks, brat a folder of brat files and webanno a folder of WebAnno TSV 3 files for "
                              "INCEpTION: annotations to correct; "
                              "results.jsonl.gz (.bz2, .xz) is written compressed")
    predict.add_argument("--input-format", choices=INPUT_FORMATS, help="default: from the file's extension")
    predict.add_argument("--text-column", default="text",
                         help="the column of a CSV or TSV input, or the key of a JSON lines one, that holds each "
                              "text (default: text)")
    predict.add_argument("--id-column", default="id",
                         help="the column (or key) that holds each text's id, which its result keeps (default: "
                              "id, where there is one; else the line number)")
    predict.add_argument("--output-format", choices=OUTPUT_FORMATS, help="default: from the file's extension")
    predict.add_argument("--batch-size", type=int,
                         help="texts per batch at most (default: 64 on a CPU, where a batch also holds at most "
                              "384 padded pieces; 16 on a GPU)")
    predict.add_argument("--threshold", type=float, help="θ of both heads (default: tuned, else the model's)")
    predict.add_argument("--entities-only", action="store_true", help="skip the relation work")
    predict.add_argument("--flat-ner", action=argparse.BooleanOptionalAction, default=None,
                         help="no two entities overlap: of overlapping spans the best-scoring one is kept, and "
                              "relations join kept entities only; --no-flat-ner: nested spans as SpERT (default: "
                              "the model's flat_ner, set when training from its data)")
    predict.add_argument("--html", help="also write the HTML view of the first 200 results to this file")
    predict.add_argument("--resume", action="store_true",
                         help="for a long run: write the results to OUTPUT.partial as they are extracted, keep them "
                              "if stopped, and go on from there when the same command with --resume runs again; "
                              "OUTPUT.partial becomes OUTPUT at the end (JSON lines, one process)")
    add_device_argument(predict)
    predict.add_argument("--max-sentence-words", type=int,
                         help="longer sentences of raw text (text without punctuation) are extracted in "
                              "pieces of this many words; no relation crosses two pieces (default: 128)")
    add_runtime_arguments(predict)
    add_quiet_argument(predict)
    predict.set_defaults(func=_predict)


def _serve(args: argparse.Namespace) -> int:
    import math
    import signal

    try:
        import uvicorn
    except ImportError:
        raise ValueError("spertmt serve needs Starlette and uvicorn: pip install 'spertmt[serve]'") from None
    from ..inference.loading import load_extractor
    from ..serve import ServeSettings, create_app
    from ..serve.batching import ModelThread

    if not (math.isfinite(args.max_body_mb) and math.isfinite(args.max_wait_ms)):
        raise ValueError("--max-body-mb and --max-wait-ms must be finite numbers")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise ValueError(f"--threshold must be a finite number, not {args.threshold}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535 (0: any free port), not {args.port}")
    settings = ServeSettings(max_batch=args.max_batch, max_wait=args.max_wait_ms / 1000, max_queue=args.max_queue,
                             max_body=int(args.max_body_mb * 2**20), threshold=args.threshold)
    if min(settings.max_batch, settings.max_queue, settings.max_body) < 1 or settings.max_wait < 0:
        raise ValueError("--max-batch, --max-queue and --max-body-mb must be positive, --max-wait-ms at least 0")

    # The address and the model first: a port in use or a folder that cannot be read is one named
    # line before anything listens, not a traceback from the server's start-up.
    listening = _listening_socket(args.host, args.port)
    model = ModelThread()  # the model loads on the thread that runs its batches (serve.batching.ModelThread)
    extractor = model.submit(load_extractor, args.model, device=args.device, precision=args.precision,
                             runtime=args.runtime, threads=args.threads,
                             trust_remote_code=args.trust_remote_code).result()
    app = create_app(lambda: extractor, settings, describe={"model": str(args.model), "runtime": args.runtime},
                     thread=model)
    print(f"spertmt serve: {args.model} on http://{args.host}:{listening.getsockname()[1]} (POST /v1/extract, "
          "GET /health, GET /metrics; Label Studio's POST /setup and /predict; INCEpTION's POST /inception/predict); "
          "SIGTERM or Ctrl-C stops it after the requests in flight", flush=True)
    # uvicorn stops taking requests on SIGTERM, answers those in flight, then raises the signal again
    # under the handler it found: ignoring it there makes a graceful stop exit 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = uvicorn.Config(app, log_level="warning" if args.quiet else "info", timeout_graceful_shutdown=None)
    uvicorn.Server(config).run(sockets=[listening])
    return 0


def _listening_socket(host: str, port: int):
    """A TCP socket bound to (host, port), as uvicorn binds one (SO_REUSEADDR)."""
    import errno
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as error:  # gaierror (an unknown host), EADDRINUSE, EACCES, EADDRNOTAVAIL
        hint = "; another server holds it: choose one with --port" if error.errno == errno.EADDRINUSE else ""
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") from None
    return listening


def serve_arguments(commands) -> None:
    serve = commands.add_parser("serve", help="an HTTP extraction service (dynamic batching, metrics, back-pressure)")
    serve.add_argument("--model", required=True, help="model folder, exported folder or hub repo id")
    add_device_argument(serve)
    serve.add_argument("--threads", type=int, help="CPU threads of the model (default: one per core)")
    add_runtime_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default %(default)s)")
    defaults = ServeDefaults()
    serve.add_argument("--max-batch", type=int, default=defaults.max_batch,
                       help="texts per model call, from requests that arrive together (default %(default)s)")
    serve.add_argument("--max-wait-ms", type=float, default=defaults.max_wait * 1000,
                       help="how long the oldest request waits for others to join its batch (default %(default)s)")
    serve.add_argument("--max-queue", type=int, default=defaults.max_queue,
                       help="texts waiting at most; beyond, requests get 503 and Retry-After (default %(default)s)")
    serve.add_argument("--max-body-mb", type=float, default=defaults.max_body / 2**20,
                       help="largest request body in MiB; beyond, 413 (default %(default)s)")
    serve.add_argument("--threshold", type=float,
                       help="θ of both heads where a request gives none, as Label Studio's never does (default: the "
                            "model's tuned θ, else its config's)")
    serve.add_argument("--quiet", action="store_true", help="log warnings only, not every request")
    serve.set_defaults(func=_serve)


def _visualize(args: argparse.Namespace) -> int:
    from ..data.documents import read_documents, read_types
    from ..inference.visualize import write_html

    types = read_types(args.types) if args.types else None
    predicted = read_predictions(args.pred)
    gold = read_documents(args.gold) if args.gold else None
    path = write_html(args.output, predicted, gold, types, limit=args.limit)
    print(f"wrote {path}")
    return 0


def visualize_arguments(commands) -> None:
    view = commands.add_parser("visualize", help="an HTML page of predictions (and gold, with errors marked)")
    add_path_arguments(view, ("pred", "predictions: SpERT JSON (.json) or spertmt predict's JSON lines (.jsonl)"),
                       ("output", "the .html file"))
    view.add_argument("--gold", help="gold documents, SpERT JSON, in the same order")
    view.add_argument("--types", help="types file (colour order, symmetric relations)")
    view.add_argument("--limit", type=int, help="only the first N documents")
    view.set_defaults(func=_visualize)
