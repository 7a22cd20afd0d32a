"""Scoring a model on documents during and after training: predictions and metrics at a θ, and the
dev set's two halves for the held-out diagnostics (experiments/held_out_dev.py)."""

from __future__ import annotations

from ..config import Config
from ..data.documents import Types
from ..evaluate import evaluate
from ..inference.calibration import Calibration
from ..inference.decoding import threshold_arguments
from ..inference.engines.base import predict_documents
from ..inference.engines.pytorch import TorchEngine


def metric(metrics: dict, dotted: str) -> float:
    """One figure of a metrics dict by its dotted name ("re_strict.micro.f1")."""
    value = metrics
    for part in dotted.split("."):
        value = value[part]
    return float(value)


def check_metric_type(dotted: str, types: Types) -> None:
    """Refuses, before training, a per-type dev metric ("re_strict.per_type.Work_For.f1", as
    select_metric may name one) whose type the run's types (its types file's, or the data's where
    types_path is empty) do not list."""
    task, average, *rest = dotted.split(".")
    if average == "per_type":
        names = [t.name for t in (types.entities if task == "ner" else types.relations)]
        if rest[0] not in names:
            kind = "entity" if task == "ner" else "relation"
            raise ValueError(f"select_metric = {dotted!r}: the run's types have no {kind} type {rest[0]!r}; its "
                             f"{kind} types: {', '.join(names) or 'none'}")


def predict_and_score(model, tokenizer, documents, types, cfg: Config, device, progress: bool,
                      thresholds: dict | None = None, calibration: Calibration | None = None):
    """Predictions and metrics; `thresholds` as thresholds.json ({} or None: the config's θ);
    `calibration` (calibration.json's) calibrates the probabilities, which no metric reads."""
    predictions = predict_documents(TorchEngine(model, tokenizer, device), documents, batch_size=cfg.eval_batch_size,
                                    progress=progress, calibration=calibration,
                                    **threshold_arguments(model.config, model.types, thresholds))
    return predictions, evaluate(documents, predictions, types, overlapping=cfg.overlapping)


def halves(documents: list) -> tuple[list, list]:
    """The dev set's two halves for the held-out diagnostics: even and odd documents."""
    return documents[0::2], documents[1::2]


def f1s(metrics: dict) -> dict:
    return {setting: {a: metrics[setting][a]["f1"] for a in ("micro", "macro")} for setting in metrics}


def half_scores(documents: list, predictions: list, types, cfg: Config) -> list[dict]:
    """Dev F1 on each half: choosing the epoch on one half and reading the other is an estimate of
    dev selection that is not read on the set it chose on (experiments/held_out_dev.py)."""
    return [f1s(evaluate(gold, pred, types, overlapping=cfg.overlapping))
            for gold, pred in zip(halves(documents), halves(predictions))]
