"""The end of a run: θ tuned on dev (config.threshold_selection, or config.target_precision) for
last/ and best/, their probabilities calibrated on dev (config.calibrate), and the test set scored
with both (SpERT's code reports the last epoch's model; we select on dev, and keep both)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..data.documents import write_documents
from ..evaluate import format_metrics, write_metrics
from ..inference.calibration import Calibration
from ..layout import BEST, LAST, Event
from ..model.folder import load_model
from .callbacks import Callback, JsonLog
from .scoring import f1s, halves, predict_and_score

if TYPE_CHECKING:
    from .trainer import Trainer


class FinalEvaluation(Callback):
    """On the main process at the end: θ selection and test scoring; `state.result` is the test
    metrics of best/ (`metrics.json`), or without a test set the last dev metrics (at the tuned θ
    when θ was tuned)."""

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.main:
            trainer.state.result = final_evaluation(trainer)


def final_evaluation(trainer: Trainer) -> dict:
    cfg, run, device = trainer.config, trainer.run, trainer.device
    model, tokenizer, types, progress = trainer.model, trainer.tokenizer, trainer.types, trainer.progress
    dev_docs, test_docs = trainer.dev_docs, trainer.test_docs
    dev_metrics = trainer.state.dev_metrics
    best = load_model(run.best, device=device, trust_remote_code=cfg.trust_remote_code)  # the code trained with
    thresholds: dict[str, dict] = {LAST: {}, BEST: {}}
    calibrations: dict[str, Calibration | None] = {LAST: None, BEST: None}
    for name, trained_model in ((LAST, model), (BEST, best)) if dev_docs else ():
        if cfg.target_precision is not None:
            thresholds[name] = select_for_precision(trained_model, tokenizer, dev_docs, cfg, device, run.path / name,
                                                    trainer.log)
        elif cfg.threshold_selection != "fixed":
            thresholds[name] = select_thresholds(trained_model, tokenizer, dev_docs, cfg, device, run.path / name,
                                                 trainer.log)
            if thresholds[name]:
                cross_check_thresholds(trained_model, tokenizer, dev_docs, types, cfg, device, name, trainer.log)
        if cfg.calibrate:
            calibrations[name] = fit_calibration(trained_model, tokenizer, dev_docs, cfg, device, thresholds[name],
                                                 run.path / name, trainer.log)
    if thresholds[LAST] and not test_docs:  # the dev metrics returned are those at the tuned θ
        _, dev_metrics = predict_and_score(model, tokenizer, dev_docs, types, cfg, device, progress, thresholds[LAST])
    if not test_docs:
        return dev_metrics
    _, last_metrics = predict_and_score(model, tokenizer, test_docs, types, cfg, device, progress, thresholds[LAST])
    write_metrics(run.metrics_last, last_metrics)
    trainer.log.write(Event.TEST_LAST, metrics=last_metrics)
    predictions, metrics = predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress,
                                             thresholds[BEST])
    write_metrics(run.metrics, metrics)
    if calibrations[BEST] is not None:  # the test items' probabilities before and after calibration
        from ..inference.thresholds import calibration_quality

        trainer.log.write(Event.TEST_CALIBRATION,
                          **calibration_quality(predictions, test_docs, types, calibrations[BEST],
                                                best.config.multitask_heads))
        # the predictions written are what best/ predicts once loaded: calibrated (the same decisions)
        predictions, _ = predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress, thresholds[BEST],
                                           calibrations[BEST])
    write_documents(run.predictions, predictions)
    trainer.log.write(Event.TEST, metrics=metrics)
    if thresholds[BEST]:  # θ was tuned: the config's θ scored too, so both readings sit side by side
        _, fixed_metrics = predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress)
        write_metrics(run.metrics_fixed_threshold, fixed_metrics)
        trainer.log.write(Event.TEST_FIXED_THRESHOLD, metrics=fixed_metrics)
    print(f"Test set {cfg.data_path('test_path')}, scored with best/ (the epoch chosen on dev; last/'s scores "
          f"are in {run.metrics_last}):")
    print(format_metrics(metrics))
    return metrics


def select_thresholds(model, tokenizer, dev_docs, cfg: Config, device, folder: Path, log: JsonLog) -> dict:
    """θ of `model` tuned on the dev set (threshold_selection "global" or "per_type"), written to
    `folder`/thresholds.json and logged with the dev F1 each reaches; {} for a model with no θ (-MTL)."""
    from ..inference.extractor import Extractor
    from ..inference.thresholds import save_thresholds, thresholds_file_content, tune_thresholds

    if not (model.entity_head.thresholded or model.relation_head.thresholded):
        return {}
    per_type = cfg.threshold_selection == "per_type"
    tuned = tune_thresholds(Extractor(model, tokenizer, device), dev_docs, batch_size=cfg.eval_batch_size,
                            per_type=per_type)
    content = thresholds_file_content(tuned, per_type=per_type)
    save_thresholds(folder, content)
    log.write(Event.THRESHOLDS, checkpoint=folder.name, thresholds=content,
              dev={head: tuned[head]["*"] for head in ("entity", "relation") if head in tuned})
    return content


def select_for_precision(model, tokenizer, dev_docs, cfg: Config, device, folder: Path, log: JsonLog) -> dict:
    """θ of `model` chosen on the dev set for config.target_precision (thresholds.tune_for_precision),
    written to `folder`/thresholds.json and logged with the dev precision, bound and recall of each."""
    from ..inference.extractor import Extractor
    from ..inference.thresholds import precision_thresholds_content, save_thresholds, tune_for_precision

    per_type = cfg.threshold_selection != "global"  # per type unless one θ per head is asked for
    chosen = tune_for_precision(Extractor(model, tokenizer, device), dev_docs, cfg.target_precision,
                                cfg.target_confidence, batch_size=cfg.eval_batch_size, per_type=per_type)
    content = precision_thresholds_content(chosen, per_type)
    save_thresholds(folder, content)
    log.write(Event.THRESHOLDS, checkpoint=folder.name, thresholds=content,
              dev={head: chosen[head] for head in ("entity", "relation") if head in chosen})
    return content


def fit_calibration(model, tokenizer, dev_docs, cfg: Config, device, thresholds: dict, folder: Path,
                    log: JsonLog) -> Calibration | None:
    """The probabilities of `model` calibrated on the dev set under `thresholds` (inference.thresholds.calibrate),
    written to `folder`/calibration.json; None when dev has nothing to fit on."""
    from ..inference.calibration import save_calibration
    from ..inference.extractor import Extractor
    from ..inference.thresholds import calibrate

    calibration, report = calibrate(Extractor(model, tokenizer, device, thresholds), dev_docs,
                                    batch_size=cfg.eval_batch_size)
    log.write(Event.CALIBRATION, checkpoint=folder.name, dev=report)
    if not calibration.heads:
        return None
    save_calibration(folder, calibration)
    return calibration


def cross_check_thresholds(model, tokenizer, dev_docs, types, cfg: Config, device, checkpoint: str,
                           log: JsonLog) -> None:
    """θ tuned on one half of dev, scored on the other against the config's θ, both ways round:
    the gain of tuning θ measured where it was not tuned (the dev F1 of `select_thresholds` is
    read on the set it was tuned on, and so optimistic)."""
    from ..inference.extractor import Extractor
    from ..inference.thresholds import thresholds_file_content, tune_thresholds

    per_type = cfg.threshold_selection == "per_type"
    results = []
    for name, (tune_on, score_on) in (("even", halves(dev_docs)), ("odd", halves(dev_docs)[::-1])):
        tuned = tune_thresholds(Extractor(model, tokenizer, device), tune_on, batch_size=cfg.eval_batch_size,
                                per_type=per_type)
        content = thresholds_file_content(tuned, per_type=per_type)
        _, at_tuned = predict_and_score(model, tokenizer, score_on, types, cfg, device, False, content)
        _, at_fixed = predict_and_score(model, tokenizer, score_on, types, cfg, device, False)
        results.append({"tuned_on": name, "thresholds": content, "tuned": f1s(at_tuned), "fixed": f1s(at_fixed)})
    log.write(Event.THRESHOLD_CROSS_CHECK, checkpoint=checkpoint, results=results)
