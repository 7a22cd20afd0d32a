"""`spertmt export`, `push`, `tune-threshold` and `calibrate`: what is done to a trained model folder."""

from __future__ import annotations

import argparse
import json

from ..inference.int8_check import INT8_TOLERANCE
from .common import (
    add_dev_set_arguments,
    add_path_arguments,
    add_quiet_argument,
    add_trust_argument,
    local_folder,
    probability,
    read_dev_set,
)


def _export(args: argparse.Namespace) -> int:
    from ..inference.export import export_onnx
    from ..inference.int8_check import format_int8_check
    from ..inference.runtimes import ONNX_FILES
    from ..layout import ModelFiles
    from ..repos import resolve_model_folder

    output = export_onnx(resolve_model_folder(args.model), args.output, data=args.data,
                         int8_tolerance=None if args.no_int8_check else args.int8_tolerance, progress=not args.quiet,
                         trust_remote_code=args.trust_remote_code)
    print(f"wrote {output / ONNX_FILES['fp32']}, {ONNX_FILES['int8']} and the heads' graphs; run them with "
          f"--model {output} --runtime onnx --precision fp32 (or int8), or without torch in Python: "
          f"spertmt.load({str(output)!r}, runtime='onnx')")
    check = json.loads((output / ModelFiles.MANIFEST).read_text())["int8"].get("dev_check")
    if check:
        print(format_int8_check(check))
    return 0


def _points(text: str) -> float:
    value = float(text)
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"{text} is not a number of F1 points (0 or more, below 100)")
    return value


def export_arguments(commands) -> None:
    export = commands.add_parser("export", help="write the whole model as ONNX (the encoder in fp32 and int8, "
                                                "the heads' graphs) for ONNX Runtime, with or without torch")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="the only one: ONNX (default)")
    add_path_arguments(export, ("model", "model folder (e.g. runs/demo/best)"),
                       ("output", "the new model folder: a copy of MODEL with encoder.onnx, encoder-int8.onnx, "
                                  "entities.onnx and relations.onnx (MODEL itself: the files are added to it)"))
    export.add_argument("--data", help="dev set (SpERT JSON) on which the int8 encoder's F1 is checked against "
                                       "fp32's (default: the model's own dev set, where it can be read)")
    export.add_argument("--int8-tolerance", type=_points, default=INT8_TOLERANCE, metavar="POINTS",
                        help="F1 points (NER or RE+) int8 may lose on that dev set before the int8 encoder is "
                             f"written again with its feed-forward output layers in fp32 (default {INT8_TOLERANCE})")
    export.add_argument("--no-int8-check", action="store_true", help="write the int8 encoder without checking it")
    add_trust_argument(export)
    add_quiet_argument(export)
    export.set_defaults(func=_export)


def _push(args: argparse.Namespace) -> int:
    from ..inference.loading import load_extractor

    card = {key: value for key, value in (("language", args.language), ("license", args.license)) if value}
    extractor = load_extractor(args.model, device="cpu", trust_remote_code=args.trust_remote_code)
    url = extractor.push_to_hub(args.repo_id, private=args.private or None, token=args.token,
                                commit_message=args.message, revision=args.revision, **card)
    print(f"pushed {args.model} to {args.repo_id}: {url}\nload it with spertmt.load({args.repo_id!r})")
    return 0


def push_arguments(commands) -> None:
    push = commands.add_parser("push", help="upload a model folder to the Hugging Face Hub, with a model card")
    add_path_arguments(push, ("model", "model folder (e.g. runs/demo/best)"),
                       ("repo_id", "the hub repo, owner/name (created if it does not exist)"))
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--token", help="hub token (default: the login of `hf auth login`, or HF_TOKEN)")
    push.add_argument("--revision", help="branch to push to (default: main)")
    push.add_argument("--message", default="Upload spertmt model", help="commit message")
    push.add_argument("--language", help="the model card's language (default: en for the offline encoder)")
    push.add_argument("--license", help="the model card's license, e.g. mit or cc-by-4.0")
    add_trust_argument(push)
    push.set_defaults(func=_push)


def _tune(args: argparse.Namespace) -> int:
    from ..inference import thresholds as tuning
    from ..inference.loading import load_extractor

    if args.confidence is not None and args.target_precision is None:
        raise ValueError("--confidence is the confidence of --target-precision's bound: give a target too")
    extractor = load_extractor(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    local_folder(extractor, args.model, "tune-threshold", "thresholds.json", args.dry_run)
    documents = read_dev_set(args.data, extractor, "to tune θ on")
    calibrated = extractor.calibration is not None
    chosen = extractor.tune_thresholds(documents, args.target_precision, args.confidence or 0.95,
                                       per_type=not args.global_only, batch_size=args.batch_size,
                                       progress=not args.quiet)
    print(tuning.format_precision_cuts(chosen, per_type=not args.global_only) if args.target_precision is not None
          else tuning.format_tuning(chosen))
    if args.dry_run:
        print(json.dumps(extractor.thresholds, indent=2))
        return 0
    print(f"stored in {tuning.save_thresholds(args.model, extractor.thresholds)}; predict and extract use them "
          "(--threshold overrides)")
    if calibrated:
        print("calibration.json was fitted under the former θ: fit it again (spertmt calibrate)")
    return 0


def tune_arguments(commands) -> None:
    tune = commands.add_parser("tune-threshold", help="choose θ on a dev set, globally and per type")
    add_dev_set_arguments(tune, "thresholds.json", "the values")
    tune.add_argument("--global-only", action="store_true", help="one θ per head, no per-type values")
    tune.add_argument("--target-precision", type=probability, metavar="P",
                      help="instead of the best F1: per type the lowest θ whose dev precision reaches P with "
                           "--confidence (a Clopper-Pearson bound), e.g. 0.9; relations are cut on their joint "
                           "score, their own times their entities' (docs/using.md)")
    tune.add_argument("--confidence", type=probability,
                      help="confidence of --target-precision's bound for each cut tried (default 0.95; "
                           "0.99 where it must hold after trying every cut: docs/using.md)")
    tune.set_defaults(func=_tune)


def _calibrate(args: argparse.Namespace) -> int:
    from ..inference.calibration import save_calibration
    from ..inference.loading import load_extractor
    from ..inference.thresholds import format_calibration

    extractor = load_extractor(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    local_folder(extractor, args.model, "calibrate", "calibration.json", args.dry_run)
    documents = read_dev_set(args.data, extractor, "to calibrate on")
    print(format_calibration(extractor.calibrate(documents, batch_size=args.batch_size, progress=not args.quiet)))
    if extractor.calibration is None:
        return 0
    if args.dry_run:
        print(json.dumps(extractor.calibration.to_dict(), indent=2))
    else:
        print(f"stored in {save_calibration(args.model, extractor.calibration)}; predict and extract report "
              "calibrated probabilities")
    return 0


def calibrate_arguments(commands) -> None:
    calibrate = commands.add_parser("calibrate", help="fit the probabilities' calibration on a dev set")
    add_dev_set_arguments(calibrate, "calibration.json", "the fitted maps")
    calibrate.set_defaults(func=_calibrate)
