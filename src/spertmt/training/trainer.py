"""Training: the `Trainer` (set-up and the loop of steps: AdamW, linear warm-up and decay, gradient
clipping, fp16 loss scaling, a progress bar with the running loss), with everything around the steps
as callbacks (training/callbacks.py): dev evaluation after each epoch, best and last checkpoints,
weight averaging, the resume state (resume.py), θ selection and test scoring (final.py) and the
JSON-lines log. `train()` is the function to call; `Trainer` is there to add callbacks of your own."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from .. import ops
from ..config import INIT_MODEL_KEYS, Config, as_config
from ..data.batching import Collator, DocumentDataset, LengthBucketSampler, encode_documents
from ..data.documents import (
    config_types,
    has_overlapping_entities,
    joins_hyphenated_words,
    read_documents,
    require_documents,
    training_split,
    words_seen,
)
from ..evaluate import mean_std
from ..files import hold_folder
from ..layout import RunFolder
from ..model.encoder import load_encoder, load_tokenizer
from ..model.folder import load_model, load_tokenizer_from
from ..model.losses import SampleReduction
from ..model.spertmt import SpERTMT
from ..repos import resolve_model_folder
from ..runtime import Distributed, autocast, one_thread_in_forked_children, seed_everything, warn_if_slow
from .callbacks import (
    Callback,
    Checkpoints,
    DevEvaluation,
    JsonLog,
    StepEnd,
    TrainerState,
    TrainLog,
    WeightAveraging,
    callbacks_from_config,
)
from .final import FinalEvaluation
from .optim import AdamWNoBiasCorrection
from .resume import ResumeState, check_resumed_config, check_run_folder
from .scoring import check_metric_type


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


def default_callbacks(config: Config, resume: bool = False, keep_resume: bool = False) -> list[Callback]:
    """The built-in behaviours, in the order they are called at each point (callbacks.py)."""
    callbacks: list[Callback] = [WeightAveraging(config.ema_decay)] if config.ema_decay else []
    return callbacks + [DevEvaluation(), Checkpoints(), FinalEvaluation(), ResumeState(resume, keep_resume), TrainLog()]


class Trainer:
    """Trains `config`'s model into the run folder `output_dir` (see `train`). Set up in the
    constructor (the data read and checked before anything is written); `fit()` runs the epochs and
    calls each callback (`default_callbacks`, then `callbacks`) at train start, step end, epoch end
    and train end, and returns what `train()` returns.

    What callbacks read: `config` (resolved), `run` (the RunFolder), `model` (its DDP wrapper is
    `trained`), `tokenizer`, `types`, `train_docs`, `dev_docs`, `test_docs`, `optimizer`,
    `scheduler`, `scaler`, `device`, `job`, `main` (whether this process writes), `log` (log.jsonl),
    `total_steps`, `progress` and `state` (a TrainerState)."""

    def __init__(self, config: Config | dict | str | Path, output_dir: str | Path, callbacks: Sequence[Callback] = (),
                 progress: bool = True, resume: bool = False, overwrite: bool = False, keep_resume: bool = False):
        cfg = as_config(config)
        start = _load_init_model(cfg, resume) if cfg.init_model else None
        if start is not None:
            cfg = _settings_of_init_model(cfg, start[0].config)
        cfg = self.config = cfg.resolved()
        one_thread_in_forked_children()
        self.run = RunFolder(output_dir)
        self.progress, self.resuming, self.overwrite = progress, resume, overwrite
        check_run_folder(self.run, resume, overwrite)
        self.job = job = Distributed(cfg.device)
        self.device = job.device
        self.main = job.main
        warn_if_slow(self.device, cfg.precision)
        # The data is read and checked before anything is written: a bad file leaves no run folder.
        cfg.check_own_data()
        self.types = types = config_types(cfg)
        if not types.relations and cfg.select_metric.startswith("re"):
            # Entities only: a relation F1 is 0 at every epoch and would keep the first one.
            cfg = self.config = dataclasses.replace(cfg, select_metric="ner.micro.f1")
        check_metric_type(cfg.select_metric, types)
        train_docs = require_documents(read_documents(cfg.data_path("train_path"), types),
                                       cfg.data_path("train_path"), "to train on")
        self.train_docs, held_out = training_split(train_docs, cfg.max_train_documents, cfg.dev_split)
        self.dev_docs = (held_out or _eval_docs(cfg, "dev_path", types)) if job.main else []
        if job.main and cfg.dev_path:
            require_documents(self.dev_docs, cfg.data_path("dev_path"), "to select the best epoch on")
        self.test_docs = _eval_docs(cfg, "test_path", types) if job.main else []
        seen_by_start = _training_documents_of(start[0]) if start is not None and job.main else None
        for name, documents in (("dev", self.dev_docs), ("test", self.test_docs)):
            _warn_if_trained_on(name, documents, self.train_docs)
            if seen_by_start is not None:
                _warn_if_trained_on(name, documents, seen_by_start[0], seen_by_start[1])

        self.log = JsonLog(self.run.log)
        seed_everything(cfg.seed)
        if start is None:
            self.tokenizer = tokenizer = load_tokenizer(cfg.encoder, cfg.lowercase, cfg.trust_remote_code)
            model = SpERTMT(cfg, types, load_encoder(cfg.encoder, cfg.trust_remote_code))
        else:
            trained, tokenizer = start
            self.tokenizer = tokenizer
            model = SpERTMT(cfg, types, trained.encoder)
            model.take_weights(trained)
        self.model = model = model.to(self.device)
        if cfg.freeze_encoder:  # before the optimizer, which takes what requires a gradient
            model.encoder.requires_grad_(False)
        if model.config.flat_ner is None:  # raw-text extraction's decoding, from the training data (config.py)
            model.set_prediction_settings(flat_ner=not has_overlapping_entities(self.train_docs))
        if model.config.hyphenated_words is None:  # and its words
            model.set_prediction_settings(hyphenated_words="joined" if joins_hyphenated_words(self.train_docs)
                                          else "apart")
        self.trained = job.wrap(model)
        encodings = encode_documents(tokenizer, self.train_docs)
        self.dataset = DocumentDataset(self.train_docs, encodings, types, train=True,
                                       max_span_width=cfg.max_span_width, neg_entity_count=cfg.neg_entity_count,
                                       neg_relation_count=cfg.neg_relation_count, seed=cfg.seed)
        collate = Collator.for_tokenizer(tokenizer)
        self.sampler = (DistributedSampler(self.dataset, num_replicas=job.world, rank=job.rank, shuffle=cfg.shuffle,
                                           seed=cfg.seed) if job.world > 1 else None)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        if cfg.length_buckets:
            if job.world > 1 or not cfg.shuffle:
                raise ValueError("length_buckets = true needs shuffle = true and a single process")
            buckets = LengthBucketSampler([len(e.input_ids) for e in encodings], cfg.batch_size, self.generator)
            self.loader = DataLoader(self.dataset, batch_sampler=buckets, collate_fn=collate,
                                     num_workers=cfg.num_workers)
        else:
            self.loader = DataLoader(self.dataset, batch_size=cfg.batch_size,
                                     shuffle=cfg.shuffle if self.sampler is None else False, sampler=self.sampler,
                                     collate_fn=collate, num_workers=cfg.num_workers, generator=self.generator)
        self.total_steps = cfg.epochs * len(self.loader)
        self.optimizer = make_optimizer(model, cfg)
        self.scheduler = _scheduler(self.optimizer, self.total_steps, cfg.warmup)
        # fp16 gradients can overflow: scale the loss (bf16 has fp32's range and needs no scaler).
        self.scaler = torch.amp.GradScaler(self.device.type) if cfg.precision == "fp16" else None
        # The losses' reduction over samples for this job: a mean over the whole global batch's samples
        # (counts summed over the processes), scaled so that DDP's gradient average is right.
        self.reduce = SampleReduction(cfg.loss_reduction, job.world, job.sum_over_processes if job.world > 1 else None)
        self.native_kernels = ops.native_available(self.device.type)
        self.state = TrainerState()
        self.kept_weights = self.own_weights
        self.callbacks = [*default_callbacks(cfg, resume, keep_resume), *callbacks_from_config(cfg.callbacks),
                          *callbacks]

    @staticmethod
    def own_weights():
        """The weights evaluated and saved: the model's own (WeightAveraging swaps in its average)."""
        return contextlib.nullcontext()

    def find_callback(self, kind: type) -> Callback | None:
        return next((c for c in self.callbacks if isinstance(c, kind)), None)

    def fit(self) -> dict:
        """Trains from `state.first_epoch` to the config's last epoch (or until a callback sets
        `state.should_stop`), then ends the run; returns `state.result` ({} on processes other than
        the main one)."""
        # One writer per run folder: a second training into it is refused before it writes, and the
        # folder is checked again under the lock (a first run may have ended since the constructor).
        lock = hold_folder(self.run.path, "training into") if self.main else None
        try:
            if self.main:
                check_run_folder(self.run, self.resuming, self.overwrite)
                if self.resuming:
                    check_resumed_config(self.run, self.config)
                self.config.save(self.run.config)
            self._call("on_train_start")
            for epoch in range(self.state.first_epoch, self.config.epochs + 1):
                self.state.epoch = epoch
                self._train_epoch()
                self._call("on_epoch_end")
                self.job.barrier()
                if self.job.from_main(self.state.should_stop):
                    break
            self.job.close()
            self._call("on_train_end")
        finally:
            if lock is not None:
                lock.close()
        return self.state.result if self.main else {}

    def _call(self, point: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, point)(self, *args)

    def _train_epoch(self) -> None:
        from tqdm.auto import tqdm

        cfg, state = self.config, self.state
        self.trained.train()
        self.dataset.set_epoch(state.epoch - 1)
        if self.sampler is not None:
            self.sampler.set_epoch(state.epoch - 1)
        running = None
        bar = tqdm(self.loader, desc=f"epoch {state.epoch}/{cfg.epochs}", disable=not (self.progress and self.main),
                   dynamic_ncols=True)
        for batch in bar:
            step = self._step(batch)
            running = step.loss if running is None else 0.98 * running + 0.02 * step.loss
            bar.set_postfix(loss=f"{running:.4f}")
            self._call("on_step_end", step)

    def _step(self, batch) -> StepEnd:
        """One batch: forward, a check that the loss is finite, backward, clipping, the optimizer's
        and the scheduler's step."""
        cfg, scaler = self.config, self.scaler
        with autocast(self.device, cfg.precision):
            out = self.trained(batch.to(self.device), reduce=self.reduce)
        loss = out.loss.item()
        if not math.isfinite(loss):
            documents = [self.train_docs[i].orig_id if self.train_docs[i].orig_id is not None else i
                         for i in batch.doc_indices.tolist()]
            raise FloatingPointError(
                f"the training loss is {loss} at step {self.state.step + 1} (epoch {self.state.epoch}), batch of "
                f"documents {documents} (orig_id or index in {cfg.train_path}); nothing of this epoch was written. "
                "Hint: lower lr, check these documents, or train in fp32 (precision = \"fp32\").")
        if scaler is not None:
            scaler.scale(out.loss).backward()
            scaler.unscale_(self.optimizer)
        else:
            out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        stepped = True
        if scaler is not None:
            scale = scaler.get_scale()
            scaler.step(self.optimizer)  # skips the step when the gradients overflowed
            scaler.update()
            stepped = scaler.get_scale() >= scale
        else:
            self.optimizer.step()
        if stepped:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        return StepEnd(loss, out, stepped)


def train(config: Config | dict | str | Path, output_dir: str | Path, progress: bool = True, resume: bool = False,
          overwrite: bool = False, keep_resume: bool = False, callbacks: Sequence[Callback] = ()) -> dict:
    """Trains on `train_path`, selects the best epoch on `dev_path`, evaluates it on `test_path`.
    `config`: a Config, a dict of its settings, or a config file's path (TOML or JSON).

    Writes to `output_dir` (a run folder, spertmt.layout.RunFolder): `best/` and `last/` checkpoints
    (load with `spertmt.load`), `log.jsonl`, `config.json`, and for the test set `metrics.json` and
    `predictions.json` (best/'s, as it predicts once loaded: calibrated probabilities). Returns the
    test metrics of the best dev checkpoint (`metrics.json`; the last epoch's are in
    `metrics_last.json`; with θ tuned on dev, those at the config's θ in
    `metrics_fixed_threshold.json`), or the last dev metrics when there is no test set.

    `callbacks` (spertmt.training.Callback) run after the built-in ones at each point, e.g.
    `callbacks=[EarlyStopping(patience=3)]`.

    Under `torchrun` (WORLD_SIZE > 1) each process trains on its share of every global batch
    (`batch_size` documents per process) with DistributedDataParallel; rank 0 alone logs,
    evaluates and writes, and the other ranks return {}.

    After every epoch, `<output>/resume/` holds the model, optimizer, scheduler, sampler and
    random-number states (removed when the run has ended, unless `keep_resume`: about 260 MB with
    MiniLM); `resume=True` goes on from there and ends, on CPU, with the weights
    and metrics of an uninterrupted run. A loss that is not finite stops the run with the step
    and the batch's documents, before anything is written for that epoch.
    """
    return Trainer(config, output_dir, callbacks, progress=progress, resume=resume, overwrite=overwrite,
                   keep_resume=keep_resume).fit()


def _load_init_model(cfg: Config, resume: bool) -> tuple[SpERTMT, object]:
    """The model (on the CPU) and the tokenizer of the folder or hub repo that init_model names."""
    try:
        folder = resolve_model_folder(cfg.init_model)
        return load_model(folder, "cpu", cfg.trust_remote_code), load_tokenizer_from(folder, cfg.trust_remote_code)
    except (OSError, ValueError) as error:
        # resume/ holds every weight: without the folder, the encoder named in the run's config will do
        hint = "; a resumed run may go on without it (--set init_model=)" if resume else ""
        raise type(error)(f"init_model: {error}{hint}") from None


def _settings_of_init_model(cfg: Config, trained: Config) -> Config:
    """The run's settings with those that shape the weights taken from the model it starts from; a
    setting that changes so is said."""
    started = cfg.starting_from(trained)
    changed = [f"{key} = {getattr(started, key)!r} (the config said {getattr(cfg, key)!r})"
               for key in INIT_MODEL_KEYS if getattr(started, key) != getattr(cfg, key)]
    if changed:
        warnings.warn(f"init_model {cfg.init_model}: the run takes the settings that shape its weights from it: "
                      f"{'; '.join(changed)}", stacklevel=3)
    return started


def _warn_if_trained_on(name: str, documents: list, train_docs: list, start_file: Path | None = None) -> None:
    """Half or more of a dev or test set among the training documents is a mistake of paths (the
    training file given as dev_path), not the few repeated sentences of a corpus (CoNLL04's test set
    has 18 of its 288 in its training file: `spertmt validate --train`); `start_file`: the training
    documents are those of the model training starts from (init_model), read from that file."""
    shared = len(words_seen(documents, train_docs))
    if not documents or 2 * shared < len(documents):
        return
    if start_file is not None:
        warnings.warn(f"{shared} of the {len(documents)} {name} documents have the words of a document that "
                      f"init_model trained on ({start_file}): the {name} scores are of what the model has seen",
                      stacklevel=3)
        return
    purpose = "the epoch is chosen on" if name == "dev" else "the test scores are of"
    warnings.warn(f"{shared} of the {len(documents)} {name} documents have the words of a training document: "
                  f"{purpose} what the model trains on; is {name}_path the training file?", stacklevel=3)


def _training_documents_of(trained: SpERTMT) -> tuple[list, Path] | None:
    """The documents a model trained on and their file, where that file can be read here (a model
    trained elsewhere may name one that is not)."""
    path = trained.config.data_path("train_path")
    try:
        return read_documents(path, trained.types), path
    except (OSError, ValueError):
        return None


def _eval_docs(cfg: Config, key: str, types):
    if not getattr(cfg, key):
        return []
    docs = read_documents(cfg.data_path(key), types)
    return docs[: cfg.max_eval_documents] if cfg.max_eval_documents else docs


def train_folds(config: Config | dict | str | Path, output_dir: str | Path, progress: bool = True) -> dict:
    """Runs every fold (0 .. num_folds - 1) into `<output>/fold_<i>` and writes the mean and
    standard deviation of each setting's micro and macro P/R/F1 to `<output>/metrics_folds.json`."""
    config = as_config(config)
    run = RunFolder(output_dir)
    per_fold = [train(dataclasses.replace(config, fold=fold), run.fold(fold).path, progress)
                for fold in range(config.num_folds)]
    summary_ = {"folds": config.num_folds, **mean_std(per_fold)}
    run.metrics_folds.write_text(json.dumps(summary_, indent=2))
    for setting in ("ner", "re", "re_strict"):
        f1 = summary_[setting]["macro"]["f1"]
        print(f"{setting} macro F1 over {config.num_folds} folds: {f1['mean']:.2f} ± {f1['std']:.2f}")
    return summary_
