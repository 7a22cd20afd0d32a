"""How much F1 an exported folder's int8 encoder gives up against its fp32 one, on the model's dev set.

int8's cost moves from model to model: three CoNLL04 models of one setting lost 0.39, 0.73 and 2.42
RE+ F1 on dev with the same quantisation (docs/faster.md, "The int8 encoder of an exported model").
So `spertmt export` measures each model's own: both encoders of the written folder extract the dev
set without torch (the ONNX engine, as `--runtime onnx` runs them) and SpERT's evaluator scores
them (micro F1, NER and RE+). Where int8 loses more than the tolerance on either, export writes the
int8 encoder again with the feed-forward output layers in fp32 (the variant that kept most of
fp32's F1 over those three models) and keeps the one that loses less (export.choose_int8). The
manifest records what was measured; loading an int8 encoder that still loses more warns
(int8_warning).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ..config import Config
from ..data.documents import DataError, Document, Types, model_dev_set, read_documents
from ..evaluate import evaluate
from ..layout import ModelFiles

INT8_TOLERANCE = 0.5  # F1 points int8 may lose against fp32 on dev, NER or RE+ (issue 48's target)
HEADS = ("ner", "re_strict")  # SpERT's evaluator's names of the measures compared


def dev_documents(config: Config, types: Types, data: str | Path | None = None) -> list[Document] | None:
    """The documents to check int8 on: `data` where given, else the model's dev set (its `dev_path`, or
    the training documents its run held out: data.documents.model_dev_set); None where the config names none or it
    cannot be read on this machine (a model from the hub, data moved). A `data` that cannot be read
    raises, as the user named it."""
    if data is not None:
        return read_documents(data, types)
    try:
        return model_dev_set(config, types)[0] or None
    except (DataError, OSError, ValueError):
        return None


def f1_on(extractor, documents: list[Document], progress: bool = False) -> dict[str, float]:
    """Micro F1 of NER and RE+ of `extractor` (an exported folder's, portable.load_portable) on
    `documents`, scored as `spertmt eval` scores (SpERT's decoding); `progress`: a bar."""
    predicted = extractor.predict(documents, progress=progress)
    metrics = evaluate(documents, predicted, extractor.types, overlapping=extractor.config.overlapping)
    return {head: round(metrics[head]["micro"]["f1"], 4) for head in HEADS}


def losses(fp32: dict[str, float], int8: dict[str, float]) -> dict[str, float]:
    """F1 points int8 loses against fp32 per measure (negative: int8 scored higher)."""
    return {head: round(fp32[head] - int8[head], 2) for head in HEADS}


def warn_if_int8_lost(folder: Path, manifest: dict | None = None) -> None:
    """Warns where the exported `folder`'s int8 encoder, about to run, lost more F1 than the
    tolerance at export's dev check (`manifest`: the folder's, read here where not given)."""
    if manifest is None:
        try:
            manifest = json.loads((Path(folder) / ModelFiles.MANIFEST).read_text())
        except (OSError, ValueError):
            return  # an export without a manifest (or a damaged one: the runtime without torch names it)
    message = int8_warning(folder, manifest) if isinstance(manifest, dict) else None
    if message:
        warnings.warn(message, UserWarning, stacklevel=3)


def int8_warning(folder: Path, manifest: dict) -> str | None:
    """What to tell a user who loads the int8 encoder of an export whose dev check found it losing
    more F1 than the tolerance (None where it did not, or no check was made)."""
    check = manifest.get("int8", {}).get("dev_check")
    if not check or check.get("within_tolerance", True):
        return None
    lost = ", ".join(f"{'NER' if head == 'ner' else 'RE+'} {points:.2f}" for head, points in check["loss"].items()
                     if points > check["tolerance"])
    return (f"{folder}: its int8 encoder lost {lost} F1 points against fp32 on the model's dev set when it was "
            f"exported (tolerance {check['tolerance']}); use precision fp32 where that matters")


def format_int8_check(check: dict) -> str:
    """export's dev check (choose_int8's record) in a few lines."""
    def scores(f1: dict) -> str:
        return f"NER {f1['ner']:.2f}, RE+ {f1['re_strict']:.2f}"

    lines = [f"int8 against fp32 on {check['documents']} dev documents: fp32 {scores(check['fp32'])}"]
    for tried in check["tried"]:
        kept = "all linear layers int8" if not tried["fp32_layers"] else \
            f"{tried['fp32_layers']} feed-forward output layers in fp32"
        lines.append(f"  int8, {kept}: {scores(tried['f1'])} (loses {tried['loss']['ner']:+.2f} / "
                     f"{tried['loss']['re_strict']:+.2f})")
    if check["within_tolerance"]:
        lines.append(f"  within the tolerance of {check['tolerance']} F1 points"
                     + ("" if not check["fp32_layers"] else "; the second is written (slower, closer to fp32)"))
    else:
        lines.append(f"  int8 loses more than {check['tolerance']} F1 points on this model's dev set (written: the "
                     "one that loses less); use --precision fp32 where that matters")
    return "\n".join(lines)
