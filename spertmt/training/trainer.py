"""Training: AdamW, linear warm-up and decay, gradient clipping, seeds, a progress bar with the
running loss, dev evaluation after each epoch, best and last checkpoints, JSON-lines logs."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .. import ops
from ..config import Config
from ..data.batching import Collator, DocumentDataset, LengthBucketSampler, encode_documents
from ..data.documents import (has_overlapping_entities, read_documents, read_types, require_documents,
                              write_documents)
from ..evaluate import evaluate, format_metrics, summary, write_metrics
from ..files import atomic_folder, recover_folder
from ..inference.pipeline import predict_documents
from ..model.encoder import load_encoder, load_tokenizer
from ..model.folder import load_model, save_checkpoint
from ..model.spertmt import SpERTMT
from ..runtime import Distributed, autocast, seed_everything, warn_if_slow
from .averaging import WeightAverage
from .optim import AdamWNoBiasCorrection


def _metric(metrics: dict, dotted: str) -> float:
    value = metrics
    for part in dotted.split("."):
        value = value[part]
    return float(value)


def make_optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, LayerNorm weights and loss weights (as SpERT and BERT);
    everything outside the encoder at `head_lr` when it is set. Without bias correction by
    default, as SpERT's code (spertmt.training.optim)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decays = not (name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
                      or name.endswith("loss_log_weights"))
        groups.setdefault((name.startswith("encoder."), decays), []).append(param)
    head_lr = config.head_lr if config.head_lr is not None else config.lr
    param_groups = [{"params": params, "weight_decay": config.weight_decay if decays else 0.0,
                     "lr": config.lr if in_encoder else head_lr}
                    for (in_encoder, decays), params in sorted(groups.items(), reverse=True)]
    if config.adam_bias_correction:
        return torch.optim.AdamW(param_groups, lr=config.lr, eps=config.adam_eps, foreach=True)
    return AdamWNoBiasCorrection(param_groups, lr=config.lr, eps=config.adam_eps)


def _scheduler(optimizer, total_steps: int, warmup: float):
    warmup_steps = int(total_steps * warmup)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class JsonLog:
    """Appends one JSON object per line."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")


RESUME_DIR = "resume"


def _save_resume(folder: Path, model, optimizer, scheduler, scaler, average, generator, epoch: int,
                 step: int, best_score: float, saved_best: bool) -> None:
    """Everything an interrupted run needs to go on as if it had not stopped, written to a
    temporary folder and renamed into place (a kill mid-write leaves the previous state intact)."""
    with atomic_folder(folder) as tmp:
        torch.save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "average": average.state_dict() if average is not None else None,
            "loader_generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
            "epoch": epoch, "step": step, "best_score": best_score, "saved_best": saved_best,
        }, tmp / "state.pt")


def train(config: Config, output_dir: str | Path, progress: bool = True, resume: bool = False,
          overwrite: bool = False, keep_resume: bool = False) -> dict:
    """Trains on `train_path`, selects the best epoch on `dev_path`, evaluates it on `test_path`.

    Writes to `output_dir`: `best/` and `last/` checkpoints (load with `spertmt.load`),
    `log.jsonl`, `config.json`, and for the test set `metrics.json` and `predictions.json`.
    Returns the test metrics of the best dev checkpoint (`metrics.json`; the last epoch's are in
    `metrics_last.json`; with θ tuned on dev, those at the config's θ in
    `metrics_fixed_threshold.json`), or the last dev metrics when there is no test set.

    Under `torchrun` (WORLD_SIZE > 1) each process trains on its share of every global batch
    (`batch_size` documents per process) with DistributedDataParallel; rank 0 alone logs,
    evaluates and writes, and the other ranks return {}.

    After every epoch, `<output>/resume/` holds the model, optimizer, scheduler, sampler and
    random-number states (removed when the run has ended, unless `keep_resume`: about 260 MB with
    MiniLM); `resume=True` goes on from there and ends, on CPU, with the weights
    and metrics of an uninterrupted run. A loss that is not finite stops the run with the step
    and the batch's documents, before anything is written for that epoch.
    """
    from tqdm.auto import tqdm

    cfg = config.resolved()
    recover_folder(Path(output_dir) / RESUME_DIR)  # a kill during the last save left it half swapped
    state_file = Path(output_dir) / RESUME_DIR / "state.pt"
    if resume and not state_file.exists():  # before any work
        if (Path(output_dir) / "best" / "version.json").exists():
            raise FileNotFoundError(f"{output_dir}: nothing to resume: this run has ended (its resume/ is removed "
                                    "at the end unless it trained with --keep-resume); train a new run to go on")
        raise FileNotFoundError(f"{state_file}: nothing to resume (no epoch of this run has finished); run the same "
                                "command without --resume to start it again")
    trained_before = [name for name in ("best", "last") if (Path(output_dir) / name / "version.json").exists()]
    if trained_before and not (resume or overwrite):
        raise FileExistsError(f"{output_dir} already holds a trained model ({'/, '.join(trained_before)}/): "
                              "pass --resume to go on with its run, --overwrite to replace it, or another --output")
    job = Distributed(cfg.device)
    device = job.device
    warn_if_slow(device, cfg.precision)
    # The data is read and checked before anything is written: a bad file leaves no run folder.
    types = read_types(cfg.data_path("types_path"))
    train_docs = require_documents(read_documents(cfg.data_path("train_path"), types), cfg.data_path("train_path"),
                                   "to train on")
    if cfg.max_train_documents:
        train_docs = train_docs[: cfg.max_train_documents]
    dev_docs = _eval_docs(cfg, "dev_path", types) if job.main else []
    if job.main and cfg.dev_path:
        require_documents(dev_docs, cfg.data_path("dev_path"), "to select the best epoch on")
    test_docs = _eval_docs(cfg, "test_path", types) if job.main else []

    output = Path(output_dir)
    log = JsonLog(output / "log.jsonl")
    if job.main:
        output.mkdir(parents=True, exist_ok=True)
        cfg.save(output / "config.json")
    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(cfg.encoder, cfg.lowercase)

    model = SpERTMT(cfg, types, load_encoder(cfg.encoder)).to(device)
    if model.config.flat_ner is None:  # raw-text extraction's decoding, from the training data (config.py)
        model.config = dataclasses.replace(model.config, flat_ner=not has_overlapping_entities(train_docs))
    trained = job.wrap(model)
    encodings = encode_documents(tokenizer, train_docs)
    dataset = DocumentDataset(train_docs, encodings, types,
                              train=True, max_span_width=cfg.max_span_width,
                              neg_entity_count=cfg.neg_entity_count, neg_relation_count=cfg.neg_relation_count,
                              seed=cfg.seed)
    collate = Collator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    sampler = (DistributedSampler(dataset, num_replicas=job.world, rank=job.rank, shuffle=cfg.shuffle, seed=cfg.seed)
               if job.world > 1 else None)
    generator = torch.Generator().manual_seed(cfg.seed)
    if cfg.length_buckets:
        if job.world > 1 or not cfg.shuffle:
            raise ValueError("length_buckets = true needs shuffle = true and a single process")
        buckets = LengthBucketSampler([len(e.input_ids) for e in encodings], cfg.batch_size, generator)
        loader = DataLoader(dataset, batch_sampler=buckets, collate_fn=collate, num_workers=cfg.num_workers)
    else:
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=cfg.shuffle if sampler is None else False,
                            sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers, generator=generator)
    total_steps = cfg.epochs * len(loader)
    optimizer = make_optimizer(model, cfg)
    scheduler = _scheduler(optimizer, total_steps, cfg.warmup)
    # fp16 gradients can overflow: scale the loss (bf16 has fp32's range and needs no scaler).
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None
    reduce = job.sample_reduction(cfg.loss_reduction)
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay else None

    best_score, step, saved_best, first_epoch = float("-inf"), 0, False, 0
    if resume:
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        if average is not None:
            average.load_state_dict(state["average"])
        generator.set_state(state["loader_generator"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        random.setstate(state["python_rng"])
        np.random.set_state(state["numpy_rng"])
        first_epoch, step = state["epoch"] + 1, state["step"]
        best_score, saved_best = state["best_score"], state["saved_best"]
    if job.main:
        log.write(event="resume" if resume else "start", documents=len(train_docs), steps=total_steps,
                  first_epoch=first_epoch + 1, device=str(device), processes=job.world,
                  native=ops.native_available(device.type))

    dev_metrics: dict = {}
    for epoch in range(first_epoch, cfg.epochs):
        trained.train()
        dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        running = None
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (progress and job.main),
                   dynamic_ncols=True)
        for batch in bar:
            with autocast(device, cfg.precision):
                out = trained(batch.to(device), reduce=reduce)
            loss = out.loss.item()
            if not math.isfinite(loss):
                documents = [train_docs[i].orig_id if train_docs[i].orig_id is not None else i
                             for i in batch.doc_indices.tolist()]
                raise FloatingPointError(
                    f"the training loss is {loss} at step {step + 1} (epoch {epoch + 1}), batch of documents "
                    f"{documents} (orig_id or index in {cfg.train_path}); nothing of this epoch was written. "
                    "Hint: lower lr, check these documents, or train in fp32 (precision = \"fp32\").")
            if scaler is not None:
                scaler.scale(out.loss).backward()
                scaler.unscale_(optimizer)
            else:
                out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            stepped = True
            if scaler is not None:
                scale = scaler.get_scale()
                scaler.step(optimizer)  # skips the step when the gradients overflowed
                scaler.update()
                stepped = scaler.get_scale() >= scale
            else:
                optimizer.step()
            if stepped:
                scheduler.step()
                if average is not None:
                    average.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running = loss if running is None else 0.98 * running + 0.02 * loss
            bar.set_postfix(loss=f"{running:.4f}")
            if job.main and (step % 50 == 0 or step == total_steps):
                log.write(event="step", epoch=epoch + 1, step=step, loss=loss, entity_loss=out.entity_loss.item(),
                          relation_loss=out.relation_loss.item(), lr=scheduler.get_last_lr()[0])
        if job.main:
            with average.applied() if average is not None else nullcontext():  # the weights that are kept
                save_checkpoint(model, tokenizer, output / "last")
                if dev_docs and cfg.eval_every_epoch:
                    dev_predictions, dev_metrics = _predict_and_score(model, tokenizer, dev_docs, types, cfg,
                                                                      device, progress)
                    score = _metric(dev_metrics, cfg.select_metric)
                    log.write(event="dev", epoch=epoch + 1, **{cfg.select_metric: score}, metrics=dev_metrics,
                              halves=_half_scores(dev_docs, dev_predictions, types, cfg))
                    print(f"epoch {epoch + 1}: dev {summary(dev_metrics)}", flush=True)
                    if score > best_score:
                        best_score, saved_best = score, True
                        save_checkpoint(model, tokenizer, output / "best")
            _save_resume(output / RESUME_DIR, model, optimizer, scheduler, scaler, average, generator, epoch,
                         step, best_score, saved_best)
            log.write(event="epoch", epoch=epoch + 1, step=step)  # this epoch is saved: a resume starts after it
        job.barrier()
    if not job.main:
        job.close()
        return {}
    if average is not None:  # from here on the model is the averaged one, as saved in last/
        average.copy_to_model()
    if not saved_best:  # no dev set: the last epoch is the best we know
        save_checkpoint(model, tokenizer, output / "best")
    job.close()

    best = load_model(output / "best", device=device)
    thresholds = {"last": {}, "best": {}}
    if cfg.threshold_selection != "fixed" and dev_docs:
        for name, trained_model in (("last", model), ("best", best)):
            thresholds[name] = _select_thresholds(trained_model, tokenizer, dev_docs, cfg, device, output / name, log)
            if thresholds[name]:
                _cross_check_thresholds(trained_model, tokenizer, dev_docs, types, cfg, device, name, log)
            if name == "last" and not test_docs:  # the dev metrics returned are those at the tuned θ
                _, dev_metrics = _predict_and_score(model, tokenizer, dev_docs, types, cfg, device, progress,
                                                    thresholds["last"])
    if not test_docs:
        return _end(output, keep_resume, dev_metrics)
    # SpERT's code reports the last epoch's model on the test set; we select on dev, and keep both.
    _, last_metrics = _predict_and_score(model, tokenizer, test_docs, types, cfg, device, progress,
                                         thresholds["last"])
    write_metrics(output / "metrics_last.json", last_metrics)
    log.write(event="test_last", metrics=last_metrics)
    predictions, metrics = _predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress,
                                              thresholds["best"])
    write_metrics(output / "metrics.json", metrics)
    write_documents(output / "predictions.json", predictions)
    log.write(event="test", metrics=metrics)
    if thresholds["best"]:  # θ was tuned: the config's θ scored too, so both readings sit side by side
        _, fixed_metrics = _predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress)
        write_metrics(output / "metrics_fixed_threshold.json", fixed_metrics)
        log.write(event="test_fixed_threshold", metrics=fixed_metrics)
    print(f"Test set {cfg.data_path('test_path')}, scored with best/ (the epoch chosen on dev; last/'s scores "
          f"are in {output / 'metrics_last.json'}):")
    print(format_metrics(metrics))
    return _end(output, keep_resume, metrics)


def _end(output: Path, keep_resume: bool, metrics: dict) -> dict:
    """The run has ended, its outputs written: its resume state is spent unless kept."""
    if not keep_resume:
        # state.pt first: a kill while deleting then leaves nothing that looks resumable
        (output / RESUME_DIR / "state.pt").unlink(missing_ok=True)
        shutil.rmtree(output / RESUME_DIR, ignore_errors=True)
    return metrics


def _eval_docs(cfg: Config, key: str, types):
    if not getattr(cfg, key):
        return []
    docs = read_documents(cfg.data_path(key), types)
    return docs[: cfg.max_eval_documents] if cfg.max_eval_documents else docs


def _predict_and_score(model, tokenizer, documents, types, cfg: Config, device, progress: bool,
                       thresholds: dict | None = None):
    """Predictions and metrics; `thresholds` as thresholds.json ({} or None: the config's θ)."""
    from ..inference.extractor import Extractor

    threshold_args = Extractor(model, tokenizer, device, thresholds)._threshold_args(None)
    predictions = predict_documents(model, tokenizer, documents, batch_size=cfg.eval_batch_size, device=device,
                                    progress=progress, **threshold_args)
    return predictions, evaluate(documents, predictions, types, overlapping=cfg.overlapping)


def _select_thresholds(model, tokenizer, dev_docs, cfg: Config, device, folder: Path, log: JsonLog) -> dict:
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
    log.write(event="thresholds", checkpoint=folder.name, thresholds=content,
              dev={head: tuned[head]["*"] for head in ("entity", "relation") if head in tuned})
    return content


def _halves(documents: list) -> tuple[list, list]:
    """The dev set's two halves for the held-out diagnostics: even and odd documents."""
    return documents[0::2], documents[1::2]


def _f1s(metrics: dict) -> dict:
    return {setting: {a: metrics[setting][a]["f1"] for a in ("micro", "macro")} for setting in metrics}


def _half_scores(documents: list, predictions: list, types, cfg: Config) -> list[dict]:
    """Dev F1 on each half: choosing the epoch on one half and reading the other is an estimate of
    dev selection that is not read on the set it chose on (experiments/held_out_dev.py)."""
    return [_f1s(evaluate(gold, pred, types, overlapping=cfg.overlapping))
            for gold, pred in zip(_halves(documents), _halves(predictions))]


def _cross_check_thresholds(model, tokenizer, dev_docs, types, cfg: Config, device, checkpoint: str,
                            log: JsonLog) -> None:
    """θ tuned on one half of dev, scored on the other against the config's θ, both ways round:
    the gain of tuning θ measured where it was not tuned (the dev F1 of `_select_thresholds` is
    read on the set it was tuned on, and so optimistic)."""
    from ..inference.extractor import Extractor
    from ..inference.thresholds import thresholds_file_content, tune_thresholds

    per_type = cfg.threshold_selection == "per_type"
    results = []
    for name, (tune_on, score_on) in (("even", _halves(dev_docs)), ("odd", _halves(dev_docs)[::-1])):
        tuned = tune_thresholds(Extractor(model, tokenizer, device), tune_on, batch_size=cfg.eval_batch_size,
                                per_type=per_type)
        content = thresholds_file_content(tuned, per_type=per_type)
        _, at_tuned = _predict_and_score(model, tokenizer, score_on, types, cfg, device, False, content)
        _, at_fixed = _predict_and_score(model, tokenizer, score_on, types, cfg, device, False)
        results.append({"tuned_on": name, "thresholds": content, "tuned": _f1s(at_tuned), "fixed": _f1s(at_fixed)})
    log.write(event="threshold_cross_check", checkpoint=checkpoint, results=results)


def train_folds(config: Config, output_dir: str | Path, progress: bool = True) -> dict:
    """Runs every fold (0 .. num_folds - 1) into `<output>/fold_<i>` and writes the mean and
    standard deviation of each setting's micro and macro P/R/F1 to `<output>/metrics_folds.json`."""
    output = Path(output_dir)
    per_fold = [train(dataclasses.replace(config, fold=fold), output / f"fold_{fold}", progress)
                for fold in range(config.num_folds)]
    summary_: dict = {"folds": config.num_folds}
    for setting in ("ner", "re", "re_strict"):
        for average in ("micro", "macro"):
            for key in ("precision", "recall", "f1"):
                values = [m[setting][average][key] for m in per_fold]
                summary_.setdefault(setting, {}).setdefault(average, {})[key] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                }
    (output / "metrics_folds.json").write_text(json.dumps(summary_, indent=2))
    for setting in ("ner", "re", "re_strict"):
        f1 = summary_[setting]["macro"]["f1"]
        print(f"{setting} macro F1 over {config.num_folds} folds: {f1['mean']:.2f} ± {f1['std']:.2f}")
    return summary_
