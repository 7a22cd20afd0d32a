"""What several commands share: the config from --config and --set, the runtime flags, checks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import EXTRACTION_PRECISIONS, Config
from ..files import check_writable


def load_config(args: argparse.Namespace):
    config = Config.load(args.config) if args.config else Config()
    return config.override(args.set or [])


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", default="fp32", choices=EXTRACTION_PRECISIONS,
                        help="the encoder's: bf16 autocast (fast with bf16 units), int8 weights (CPU), or auto "
                             "(bf16 on a GPU or a CPU with bf16 units, else fp32: spertmt info says which); "
                             "speed and F1 of each in bench/RESULTS.md")
    parser.add_argument("--runtime", default="torch", metavar="ENGINE",
                        help="torch (default), or onnx: a model folder written by spertmt export, on ONNX Runtime "
                             "(on the CPU the whole model, without torch); or an engine a package registers")
    add_trust_argument(parser)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the encoder's or tokenizer's own Python code, where the model has some (Python files "
                             "in its encoder/ or tokenizer/ folder): only for code you trust")


def add_path_arguments(parser: argparse.ArgumentParser, *paths: tuple[str, str]) -> None:
    """Paths a command takes by position that may also be given by flag, as predict and eval take
    theirs (`export M OUT` or `export --model M --output OUT`): each (name, help).
    resolve_path_arguments reads them after parsing."""
    for name, text in paths:
        parser.add_argument(name, nargs="?", metavar=name.upper(), help=f"{text} (or {_flag(name)})")
        parser.add_argument(_flag(name), dest=f"{name}_by_flag", metavar=name.upper(),
                            help=f"the same as {name.upper()}")
    parser.set_defaults(paths_by_position_or_flag=[name for name, _ in paths])
    parser.formatter_class = _PathsInTheirPlace


class _PathsInTheirPlace(argparse.HelpFormatter):
    """Usage that shows each path of add_path_arguments as `MODEL`, not `[MODEL]`: one of its two
    forms is required, and its place is the form usage shows."""

    def _format_args(self, action, default_metavar):
        if not action.option_strings and action.nargs == "?":  # only add_path_arguments' paths
            return action.metavar
        return super()._format_args(action, default_metavar)


def resolve_path_arguments(args: argparse.Namespace) -> None:
    """Each path of add_path_arguments, from its position or its flag; a ValueError where neither is
    given, or both, different."""
    for name in getattr(args, "paths_by_position_or_flag", []):
        by_position, by_flag = getattr(args, name), getattr(args, f"{name}_by_flag")
        if by_position is None and by_flag is None:
            raise ValueError(f"{name.upper()} is missing: give it in its place or as {_flag(name)}")
        if None not in (by_position, by_flag) and by_position != by_flag:
            raise ValueError(f"{name.upper()} is given twice: {by_position!r} in its place and {by_flag!r} as "
                             f"{_flag(name)}")
        setattr(args, name, by_flag if by_position is None else by_position)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="auto (default: a GPU where torch sees one, else the CPU), cpu, cuda or cuda:N")


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SpERT.MT on CoNLL04, offline encoder)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config key, e.g. --set epochs=2 (repeatable)")


def check_same_types(given, model_types, source: str, model: str) -> None:
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


def local_folder(extractor, model: str, command: str, writes: str, dry_run: bool = False) -> None:
    """Refuses, before the work, a hub repo id where a command writes into the model folder, and
    (unless it only shows what it would write) a folder that takes no files."""
    if extractor.folder != Path(model):  # a hub repo id: its folder is the hub's cache
        raise ValueError(f"{model} is a hub model: {command} writes {writes} into the model folder, "
                         f"so use a local copy (python -c \"import spertmt; spertmt.load('{model}')"
                         f".save_pretrained('my-model')\", then --model my-model)")
    if not dry_run:
        check_writable(model, Path(model) / writes)


def probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a number between 0 and 1")
    return value


def read_predictions(path: str, types=None):
    """SpERT JSON, or the JSON lines of `spertmt predict` (word offsets)."""
    from ..data.documents import Document, Entity, Relation, read_documents, utf8_lines
    from ..files import extension, open_binary

    if extension(path) != ".jsonl":
        return read_documents(path, types)
    documents = []
    with open_binary(path) as f:
        for line_number, line in utf8_lines(f, path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                documents.append(Document(
                    row["tokens"], [Entity(e["token_start"], e["token_end"], e["type"], e.get("score"))
                                    for e in row["entities"]],
                    [Relation(r["head"], r["tail"], r["type"], r.get("score")) for r in row["relations"]],
                    row.get("id")))
            except (ValueError, KeyError, TypeError) as error:  # a JSON lines file of something else
                raise ValueError(f"{path}, line {line_number}: not a result of spertmt predict with its "
                                 f"words ({type(error).__name__}: {error})") from None
    return documents


def read_dev_set(path: str | None, extractor, purpose: str):
    """The documents tune-threshold and calibrate fit on: `path`, with a warning where it is the
    model's own test set (θ or a calibration fitted there makes that set's figures optimistic), or
    where None the model's own dev set (data.documents.model_dev_set), named on standard error."""
    from ..data.documents import DataError, model_dev_set, read_documents, require_documents

    config = extractor.config
    if path is None:
        try:
            documents, where = model_dev_set(config, extractor.types)
        except DataError as error:
            raise DataError(f"no --data given, and the model's own dev set cannot be read here: {error}; "
                            "give --data") from None
        print(f"using the model's dev set {purpose}: {where}", file=sys.stderr)
        return require_documents(documents, where, purpose)
    test = config.data_path("test_path") if config.test_path else None
    if test is not None and test.exists() and Path(path).resolve() == test.resolve():
        print(f"warning: {path} is the test set this model was scored on (its config's test_path): fitting on "
              "it makes the test figures optimistic; fit on a dev set", file=sys.stderr)
    return require_documents(read_documents(path, extractor.types), path, purpose)


def add_dev_set_arguments(parser: argparse.ArgumentParser, writes: str, prints: str) -> None:
    """What the commands that fit something of a model folder on a dev set take (tune-threshold, calibrate)."""
    parser.add_argument("--model", required=True, help=f"model folder; {writes} is written into it")
    parser.add_argument("--data", help="dev set, SpERT JSON (never the test set); default: the model's own (its "
                                       "config's dev_path, or the training documents its run held out)")
    parser.add_argument("--dry-run", action="store_true", help=f"print {prints}, write nothing")
    parser.add_argument("--batch-size", type=int, default=Config.eval_batch_size,
                        help="documents per batch (default %(default)s)")
    add_device_argument(parser)
    add_trust_argument(parser)
    add_quiet_argument(parser)
