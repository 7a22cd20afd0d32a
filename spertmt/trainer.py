"""Training: AdamW, linear warm-up and decay, gradient clipping, seeds, a progress bar with the
running loss, dev evaluation after each epoch, best and last checkpoints, JSON-lines logs."""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import ops
from .checkpoint import load_model, save_checkpoint
from .config import Config
from .data.batching import Collator, DocumentDataset, encode_documents
from .data.documents import read_documents, read_types, write_documents
from .evaluate import evaluate, format_metrics, summary, write_metrics
from .model.encoder import load_encoder, load_tokenizer
from .model.spertmt import SpERTMT
from .predict import predict_documents


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _metric(metrics: dict, dotted: str) -> float:
    value = metrics
    for part in dotted.split("."):
        value = value[part]
    return float(value)


def _optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and LayerNorm weights (as SpERT and BERT)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, foreach=True)


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


def train(config: Config, output_dir: str | Path, progress: bool = True) -> dict:
    """Trains on `train_path`, selects the best epoch on `dev_path`, evaluates it on `test_path`.

    Writes to `output_dir`: `best/` and `last/` checkpoints (load with `spertmt.load`),
    `log.jsonl`, `config.json`, and for the test set `metrics.json` and `predictions.json`.
    Returns the test metrics (or the last dev metrics when there is no test set).
    """
    from tqdm.auto import tqdm

    cfg = config.resolved()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    cfg.save(output / "config.json")
    log = JsonLog(output / "log.jsonl")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)

    types = read_types(cfg.data_path("types_path"))
    tokenizer = load_tokenizer(cfg.encoder, cfg.lowercase)
    train_docs = read_documents(cfg.data_path("train_path"), types)
    if cfg.max_train_documents:
        train_docs = train_docs[: cfg.max_train_documents]
    dev_docs = _eval_docs(cfg, "dev_path", types)
    test_docs = _eval_docs(cfg, "test_path", types)

    model = SpERTMT(cfg, types, load_encoder(cfg.encoder)).to(device)
    dataset = DocumentDataset(train_docs, encode_documents(tokenizer, train_docs, cfg.max_length), types,
                              train=True, max_span_width=cfg.max_span_width,
                              neg_entity_count=cfg.neg_entity_count, neg_relation_count=cfg.neg_relation_count,
                              seed=cfg.seed)
    collate = Collator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate,
                        num_workers=cfg.num_workers, generator=generator)
    total_steps = cfg.epochs * len(loader)
    optimizer = _optimizer(model, cfg)
    scheduler = _scheduler(optimizer, total_steps, cfg.warmup)
    log.write(event="start", documents=len(train_docs), steps=total_steps, device=str(device),
              native=ops.native_available(device.type))

    best_score, step, saved_best = float("-inf"), 0, False
    dev_metrics: dict = {}
    for epoch in range(cfg.epochs):
        model.train()
        dataset.set_epoch(epoch)
        running = None
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, dynamic_ncols=True)
        for batch in bar:
            out = model(batch.to(device))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss = out.loss.item()
            running = loss if running is None else 0.98 * running + 0.02 * loss
            bar.set_postfix(loss=f"{running:.4f}")
            if step % 50 == 0 or step == total_steps:
                log.write(event="step", epoch=epoch + 1, step=step, loss=loss, entity_loss=out.entity_loss.item(),
                          relation_loss=out.relation_loss.item(), lr=scheduler.get_last_lr()[0])
        save_checkpoint(model, tokenizer, output / "last")
        if dev_docs and cfg.eval_every_epoch:
            _, dev_metrics = _predict_and_score(model, tokenizer, dev_docs, types, cfg, device, progress)
            score = _metric(dev_metrics, cfg.select_metric)
            log.write(event="dev", epoch=epoch + 1, **{cfg.select_metric: score}, metrics=dev_metrics)
            print(f"epoch {epoch + 1}: dev {summary(dev_metrics)}", flush=True)
            if score > best_score:
                best_score, saved_best = score, True
                save_checkpoint(model, tokenizer, output / "best")
    if not saved_best:  # no dev set: the last epoch is the best we know
        save_checkpoint(model, tokenizer, output / "best")

    if not test_docs:
        return dev_metrics
    best = load_model(output / "best", device=device)
    predictions, metrics = _predict_and_score(best, tokenizer, test_docs, types, cfg, device, progress)
    write_metrics(output / "metrics.json", metrics)
    write_documents(output / "predictions.json", predictions)
    log.write(event="test", metrics=metrics)
    print(format_metrics(metrics))
    return metrics


def _eval_docs(cfg: Config, key: str, types):
    if not getattr(cfg, key):
        return []
    docs = read_documents(cfg.data_path(key), types)
    return docs[: cfg.max_eval_documents] if cfg.max_eval_documents else docs


def _predict_and_score(model, tokenizer, documents, types, cfg: Config, device, progress: bool):
    predictions = predict_documents(model, tokenizer, documents, batch_size=cfg.eval_batch_size, device=device,
                                    progress=progress, max_length=cfg.max_length)
    return predictions, evaluate(documents, predictions, types, overlapping=cfg.overlapping)


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
