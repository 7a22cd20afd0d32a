"""What happens around the training steps, as callbacks the `Trainer` calls at named points: train
start, step end, epoch end and train end. The built-in behaviours are the default callbacks, called in
this order (`default_callbacks`): weight averaging, dev evaluation, checkpoints, the final
evaluation (training/final.py), the resume state (training/resume.py) and the JSON log. A user's
callbacks run after them:

    class PrintLoss(spertmt.training.Callback):
        def on_step_end(self, trainer, step):
            if trainer.state.step % 100 == 0:
                print(trainer.state.step, step.loss)

    spertmt.train(config, "runs/x", callbacks=[PrintLoss(), EarlyStopping(patience=3)])
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..evaluate import summary
from ..layout import Event
from ..model.folder import save_checkpoint
from .averaging import WeightAverage
from .scoring import half_scores, metric, predict_and_score

if TYPE_CHECKING:
    from .trainer import Trainer


@dataclass
class TrainerState:
    """Where a run stands; callbacks read it and the ones that decide write it."""

    epoch: int = 0  # the epoch running or just ended, counted from 1
    step: int = 0  # batches trained on so far, over all epochs
    first_epoch: int = 1  # the first epoch this process trains (later than 1 after a resume)
    best_score: float = float("-inf")  # the best dev score so far (config.select_metric)
    saved_best: bool = False  # best/ holds an epoch chosen on dev
    dev_metrics: dict = field(default_factory=dict)  # the latest dev evaluation's metrics
    dev_score: float | None = None  # the latest dev evaluation's score (config.select_metric)
    improved: bool = False  # this epoch's dev score is the best so far
    should_stop: bool = False  # a callback asks to end training after this epoch
    result: dict = field(default_factory=dict)  # what `train()` returns (the final evaluation's metrics)


@dataclass(frozen=True)
class StepEnd:
    """One training step as it ended: the loss (a float), the model's output (`entity_loss`,
    `relation_loss`) and whether the optimizer stepped (an fp16 step skipped on overflow did not)."""

    loss: float
    output: Any
    stepped: bool


class Callback:
    """A behaviour of training. Override the points you need; each gets the `Trainer` (its
    `config`, `model`, `optimizer`, `log`, `run` folder and `state`)."""

    def on_train_start(self, trainer: Trainer) -> None:
        """Everything is set up and nothing trained (after a resume: the state is restored)."""

    def on_step_end(self, trainer: Trainer, step: StepEnd) -> None:
        """A batch was trained on (`trainer.state.step` counts it)."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """An epoch has ended (`trainer.state.epoch`); set `trainer.state.should_stop` to end training."""

    def on_train_end(self, trainer: Trainer) -> None:
        """The last epoch has ended (or a callback stopped training)."""


# Callbacks a config can name (Config.callbacks): name -> class, whose keyword arguments the
# config's table gives. Register your own with @register_callback("name") before training.
CALLBACKS: dict[str, type[Callback]] = {}


def register_callback(name: str):
    """Makes a Callback class nameable from a config: `[callbacks.<name>]` with its arguments."""
    def add(cls: type[Callback]) -> type[Callback]:
        if name in CALLBACKS and CALLBACKS[name] is not cls:
            raise ValueError(f"a callback named {name!r} is registered already ({CALLBACKS[name].__name__})")
        CALLBACKS[name] = cls
        return cls
    return add


def callbacks_from_config(table: dict, source: str = "callbacks") -> list[Callback]:
    """The callbacks a config's `callbacks` table names, in its order; an unknown name or a bad
    argument is an error naming it and what is known."""
    import inspect

    made = []
    for name, arguments in table.items():
        if name not in CALLBACKS:
            raise ValueError(f"{source}: no callback named {name!r}; known: {', '.join(sorted(CALLBACKS))} "
                             "(register one with spertmt.training.callbacks.register_callback)")
        if not isinstance(arguments, dict):
            raise ValueError(f"{source}.{name} must be a table of its arguments, not {arguments!r}")
        cls = CALLBACKS[name]
        try:
            inspect.signature(cls).bind(**arguments)
        except TypeError as error:
            raise ValueError(f"{source}.{name}: {error}; {cls.__name__} takes {inspect.signature(cls)}") from None
        made.append(cls(**arguments))
    return made


class JsonLog:
    """Appends one JSON object per line: the time, the event, its fields."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: Event, **fields) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "event": Event(event).value, **fields}) + "\n")


class WeightAveraging(Callback):
    """An exponential moving average of the weights (config.ema_decay, training/averaging.py): updated
    after every optimizer step; the weights evaluated and saved (`trainer.kept_weights`); the model's
    own from the end of training."""

    def __init__(self, decay: float):
        self.decay = decay
        self.average: WeightAverage | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self.average = WeightAverage(trainer.model, self.decay)
        trainer.kept_weights = self.average.applied

    def on_step_end(self, trainer: Trainer, step: StepEnd) -> None:
        if step.stepped:
            self.average.update()

    def on_train_end(self, trainer: Trainer) -> None:
        self.average.copy_to_model()  # from here on the model is the averaged one, as saved in last/
        trainer.kept_weights = trainer.own_weights


class DevEvaluation(Callback):
    """After every epoch (config.eval_every_epoch): the kept weights scored on the dev set, logged
    (with each half's F1) and printed; `state.improved` when the score (config.select_metric) beats
    every earlier epoch's."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        state, cfg = trainer.state, trainer.config
        state.improved = False
        if not (trainer.main and trainer.dev_docs and cfg.eval_every_epoch):
            return
        with trainer.kept_weights():
            predictions, metrics = predict_and_score(trainer.model, trainer.tokenizer, trainer.dev_docs, trainer.types,
                                                     cfg, trainer.device, trainer.progress)
        score = metric(metrics, cfg.select_metric)
        trainer.log.write(Event.DEV, epoch=state.epoch, **{cfg.select_metric: score}, metrics=metrics,
                          halves=half_scores(trainer.dev_docs, predictions, trainer.types, cfg))
        print(f"epoch {state.epoch}: dev {summary(metrics)}", flush=True)
        state.dev_metrics, state.dev_score = metrics, score
        if score > state.best_score:
            state.best_score, state.improved = score, True


class Checkpoints(Callback):
    """The kept weights as model folders: last/ after every epoch, best/ after an epoch that improved
    on dev, and at the end best/ = last/ when no dev set chose an epoch."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        if not trainer.main:
            return
        with trainer.kept_weights():
            save_checkpoint(trainer.model, trainer.tokenizer, trainer.run.last)
            if trainer.state.improved:
                save_checkpoint(trainer.model, trainer.tokenizer, trainer.run.best)
                trainer.state.saved_best = True

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.main and not trainer.state.saved_best:  # no dev set: the last epoch is the best we know
            save_checkpoint(trainer.model, trainer.tokenizer, trainer.run.best)


class TrainLog(Callback):
    """log.jsonl: the start (or resume), every `every`-th step and the last, and each saved epoch (a
    resume starts after it). Dev scores, θ and test metrics are logged by the callbacks that make them."""

    def __init__(self, every: int = 50):
        self.every = every

    def on_train_start(self, trainer: Trainer) -> None:
        if trainer.main:
            trainer.log.write(Event.RESUME if trainer.resuming else Event.START, documents=len(trainer.train_docs),
                              steps=trainer.total_steps, first_epoch=trainer.state.first_epoch,
                              device=str(trainer.device), processes=trainer.job.world,
                              native=trainer.native_kernels)

    def on_step_end(self, trainer: Trainer, step: StepEnd) -> None:
        done = trainer.state.step
        if trainer.main and (done % self.every == 0 or done == trainer.total_steps):
            trainer.log.write(Event.STEP, epoch=trainer.state.epoch, step=done, loss=step.loss,
                              entity_loss=step.output.entity_loss.item(),
                              relation_loss=step.output.relation_loss.item(),
                              lr=trainer.scheduler.get_last_lr()[0])

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.main:
            trainer.log.write(Event.EPOCH, epoch=trainer.state.epoch, step=trainer.state.step)


@register_callback("early_stopping")
class EarlyStopping(Callback):
    """Ends training when the dev score (config.select_metric) has not improved by more than
    `min_delta` for `patience` epochs in a row; best/ keeps the best epoch. Beyond the paper, off
    unless asked for: `spertmt.train(config, output, callbacks=[EarlyStopping(patience=3)])`, or in a
    config `[callbacks.early_stopping]` with `patience = 3`. Its count starts again after a resume."""

    def __init__(self, patience: int = 3, min_delta: float = 0.0):
        if patience < 1:
            raise ValueError(f"patience = {patience} must be at least 1")
        self.patience, self.min_delta = patience, min_delta
        self.best, self.waited = float("-inf"), 0

    def on_epoch_end(self, trainer: Trainer) -> None:
        score = trainer.state.dev_score
        if score is None:
            return
        if score > self.best + self.min_delta:
            self.best, self.waited = score, 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            trainer.state.should_stop = True
            print(f"early stopping after epoch {trainer.state.epoch}: dev {trainer.config.select_metric} has not "
                  f"improved for {self.waited} epochs", flush=True)
