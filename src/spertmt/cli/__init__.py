"""The `spertmt` command line: each sub-command parses its arguments and calls a plain function of
the layers above. The commands stand in modules by what they work on (train.py: train, experiment;
evaluate.py: eval, score, validate; extract.py: predict, serve, visualize; models.py: export, push,
tune-threshold, calibrate; data.py: convert, download; info.py), each one's arguments beside the
function that runs it; common.py holds what several share.

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
import contextlib
import os
import sys

from .common import resolve_path_arguments
from .data import convert_arguments, download_arguments, split_arguments
from .evaluate import eval_arguments, score_arguments, validate_arguments
from .extract import predict_arguments, serve_arguments, visualize_arguments
from .info import info_arguments
from .models import calibrate_arguments, export_arguments, push_arguments, tune_arguments
from .train import experiment_arguments, train_arguments

# In the order `spertmt --help` lists them.
COMMANDS = (train_arguments, eval_arguments, predict_arguments, export_arguments, push_arguments,
            tune_arguments, calibrate_arguments, score_arguments, convert_arguments, split_arguments,
            validate_arguments, visualize_arguments, download_arguments, experiment_arguments, serve_arguments,
            info_arguments)


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

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
    from ..data.documents import DataError

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        resolve_path_arguments(args)
        return args.func(args)
    except BrokenPipeError:  # the reader of standard output stopped early (`| head`): end quietly, as other tools do
        with contextlib.suppress(OSError):  # and let the interpreter's last flush of stdout find nowhere to fail
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe ended
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
