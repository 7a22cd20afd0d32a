"""The resume state of a run: after every epoch `<run>/resume/state.pt` holds the model, optimizer,
scheduler, scaler, weight average, data order and random-number states, so that a run killed at any
point goes on as if it had not stopped (on CPU: the weights and metrics of an uninterrupted run). It
is removed when the run has ended, unless kept (about 260 MB with MiniLM)."""

from __future__ import annotations

import dataclasses
import random
import shutil
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import Config
from ..files import atomic_folder, check_writable, recover_folder
from ..layout import ModelFiles, RunFolder
from .callbacks import Callback, WeightAveraging

if TYPE_CHECKING:
    from .trainer import Trainer


def check_run_folder(run: RunFolder, resume: bool, overwrite: bool) -> None:
    """Before any work: `resume` needs a resume state; a folder that holds a trained model is replaced
    only when told to (`overwrite`) or gone on with (`resume`); the folder (or the one it would be
    created in) must take files."""
    recover_folder(run.resume)  # a kill during the last save left it half swapped
    if resume and not run.can_resume():
        if (run.best / ModelFiles.VERSION).exists():
            raise FileNotFoundError(f"{run.path}: nothing to resume: this run has ended (its resume/ is removed "
                                    "at the end unless it trained with --keep-resume); train a new run to go on")
        raise FileNotFoundError(f"{run.resume_state}: nothing to resume (no epoch of this run has finished); run the "
                                "same command without --resume to start it again")
    trained_before = run.trained()
    if trained_before and not (resume or overwrite):
        raise FileExistsError(f"{run.path} already holds a trained model ({'/, '.join(trained_before)}/): "
                              "pass --resume to go on with its run, --overwrite to replace it, or another --output")
    check_writable(run.path, run.path, create=False)  # nothing written yet: the data is checked first


# What a resumed run may set otherwise than it started with: where the data is and what runs it (a run
# may go on on another machine), not what it learns.
# init_model too: the resume state holds every weight, so the folder it started from may lie elsewhere.
RESUME_MAY_CHANGE = frozenset({"data_root", "train_path", "dev_path", "test_path", "types_path", "device",
                               "num_workers", "eval_batch_size", "init_model"})


def check_resumed_config(run: RunFolder, config: Config) -> None:
    """A run goes on with the settings it started with (its config.json, which `spertmt train --resume`
    reads): another setting of what it learns would mix two runs in one, or fail on the saved state."""
    started = Config.load(run.config).resolved()
    changed = sorted(f.name for f in dataclasses.fields(Config) if f.name not in RESUME_MAY_CHANGE
                     and getattr(config, f.name) != getattr(started, f.name))
    if changed:
        said = ", ".join(f"{key} = {getattr(config, key)!r} (the run's: {getattr(started, key)!r})" for key in changed)
        raise ValueError(f"{run.path}: a resumed run goes on with the settings it started with ({run.config}); "
                         f"these differ: {said}; a resumed run may change {', '.join(sorted(RESUME_MAY_CHANGE))}")


class ResumeState(Callback):
    """Restores the state at the start when resuming, saves it after every epoch (on the main
    process), and removes it at the end of the run unless `keep`."""

    def __init__(self, resume: bool, keep: bool):
        self.resume, self.keep = resume, keep

    def on_train_start(self, trainer: Trainer) -> None:
        if self.resume:
            load_state(trainer)

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.main:
            save_state(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.main and not self.keep:
            # state.pt first: a kill while deleting then leaves nothing that looks resumable
            trainer.run.resume_state.unlink(missing_ok=True)
            shutil.rmtree(trainer.run.resume, ignore_errors=True)


def _average(trainer: Trainer):
    averaging = trainer.find_callback(WeightAveraging)
    return averaging.average if averaging is not None else None


def save_state(trainer: Trainer) -> None:
    """Written to a temporary folder and renamed into place: a kill mid-write leaves the previous
    state intact."""
    state, scaler, average = trainer.state, trainer.scaler, _average(trainer)
    with atomic_folder(trainer.run.resume) as tmp:
        torch.save({
            "model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
            "scheduler": trainer.scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "average": average.state_dict() if average is not None else None,
            "loader_generator": trainer.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
            "epoch": state.epoch - 1, "step": state.step, "best_score": state.best_score,
            "saved_best": state.saved_best,
        }, tmp / trainer.run.resume_state.name)


def load_state(trainer: Trainer) -> None:
    saved = torch.load(trainer.run.resume_state, map_location="cpu", weights_only=False)
    trainer.model.load_state_dict(saved["model"])
    trainer.optimizer.load_state_dict(saved["optimizer"])
    trainer.scheduler.load_state_dict(saved["scheduler"])
    if trainer.scaler is not None and saved["scaler"] is not None:
        trainer.scaler.load_state_dict(saved["scaler"])
    average = _average(trainer)
    if average is not None:
        average.load_state_dict(saved["average"])
    trainer.generator.set_state(saved["loader_generator"])
    torch.set_rng_state(saved["torch_rng"])
    if saved["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    random.setstate(saved["python_rng"])
    np.random.set_state(saved["numpy_rng"])
    state = trainer.state
    state.first_epoch, state.step = saved["epoch"] + 2, saved["step"]  # "epoch" counts from 0 in the file
    state.best_score, state.saved_best = saved["best_score"], saved["saved_best"]
