"""Where things live on disk: the files of a model folder and of a run folder, and the events of a
run's log. One part of the library writes each of these and another reads it (the trainer writes a
run folder; the experiment runner, the hub and the CLI read it), so the names are stated here once.
They are the on-disk format: old folders must keep loading, so a name here never changes.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path


class ModelFiles:
    """The files of a model folder (spertmt.model.folder writes and reads them)."""

    WEIGHTS = "model.safetensors"  # format 3
    LEGACY_WEIGHTS = "weights.pt"  # formats 1 and 2: torch's pickle
    ENCODER_CONFIG = "encoder_config.json"
    ENCODER_CODE = "encoder"  # a folder: an encoder's own Python code and config.json, when it has some
    TOKENIZER = "tokenizer"  # a folder
    TYPES = "types.json"
    CONFIG = "config.json"
    VERSION = "version.json"  # its presence marks a complete model folder
    THRESHOLDS = "thresholds.json"  # θ tuned on dev, when tuned
    CALIBRATION = "calibration.json"  # probabilities calibrated on dev, when fitted (inference/calibration.py)
    CARD = "README.md"  # the model card, when saved for sharing
    # Written by `spertmt export --format onnx` (spertmt.inference.export): the whole model as ONNX.
    ENCODER_ONNX = "encoder.onnx"
    ENCODER_ONNX_INT8 = "encoder-int8.onnx"
    ENTITY_GRAPH = "entities.onnx"
    RELATION_GRAPH = "relations.onnx"
    MANIFEST = "manifest.json"  # what the runtime without torch needs to know (its "format": MANIFEST_FORMAT)
    # One of these marks a folder as a model folder, which a new model may replace (files.check_replaceable).
    MARKERS = (VERSION, MANIFEST, TYPES)


MANIFEST_FORMAT = 1


class Event(str, Enum):
    """The `event` of each line of a run's log.jsonl (a str, so a line reads and compares as text)."""

    START = "start"  # training starts: documents, steps, device, processes, native kernels
    RESUME = "resume"  # training goes on from resume/ (same fields as START)
    STEP = "step"  # every 50 steps: loss, entity_loss, relation_loss, lr
    DEV = "dev"  # after an epoch: the selection metric, dev metrics, dev halves
    EPOCH = "epoch"  # an epoch is saved: a resume starts after it
    THRESHOLDS = "thresholds"  # θ tuned on dev for a checkpoint
    THRESHOLD_CROSS_CHECK = "threshold_cross_check"  # θ tuned on one half of dev, scored on the other
    CALIBRATION = "calibration"  # probabilities calibrated on dev for a checkpoint: the method chosen, its dev quality
    TEST_LAST = "test_last"  # test metrics of last/
    TEST = "test"  # test metrics of best/
    TEST_FIXED_THRESHOLD = "test_fixed_threshold"  # best/ at the config's θ, when θ was tuned
    TEST_CALIBRATION = "test_calibration"  # best/'s test items: ECE and Brier before and after calibration

    def __str__(self) -> str:
        return self.value


# The checkpoints a run folder holds, each a model folder.
BEST, LAST = "best", "last"
CHECKPOINTS = (BEST, LAST)


def _in_run(name: str, doc: str | None = None) -> property:
    """A file (or folder) of a run folder, by its name there."""
    return property(lambda self: self.path / name, doc=doc)


class RunFolder:
    """The folder `spertmt train --output` writes: `config.json`, `log.jsonl`, the model folders
    `best/` and `last/`, `resume/state.pt` while the run can be resumed, and for the test set
    `metrics.json` (best/), `metrics_last.json`, `metrics_fixed_threshold.json` (best/ at the
    config's θ when θ was tuned on dev) and `predictions.json`; `metrics_folds.json` for all folds;
    `train.out` for a run of the experiment runner."""

    config = _in_run("config.json")
    log = _in_run("log.jsonl")
    best = _in_run(BEST)
    last = _in_run(LAST)
    resume = _in_run("resume")
    resume_state = _in_run("resume/state.pt")
    metrics = _in_run("metrics.json")
    metrics_last = _in_run("metrics_last.json")
    metrics_fixed_threshold = _in_run("metrics_fixed_threshold.json")
    predictions = _in_run("predictions.json")
    console = _in_run("train.out", "What a run started by the experiment runner printed.")
    metrics_folds = _in_run("metrics_folds.json")

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fold(self, fold: int) -> RunFolder:
        return RunFolder(self.path / f"fold_{fold}")

    def trained(self) -> list[str]:
        """The checkpoints of this run that were saved whole (`best`, `last`)."""
        return [name for name in CHECKPOINTS if (self.path / name / ModelFiles.VERSION).exists()]

    def can_resume(self) -> bool:
        return self.resume_state.exists()

    def read_log(self) -> list[dict]:
        """The log's lines, in order."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def metrics_file_of(model_folder: Path) -> tuple[Path, str] | None:
    """The test metrics a run wrote for one of its checkpoints (`<run>/best` -> `<run>/metrics.json`,
    `<run>/last` -> `metrics_last.json`), and what that checkpoint is; None for another folder."""
    run = RunFolder(model_folder.parent)
    return {BEST: (run.metrics, "the epoch selected on the dev set"),
            LAST: (run.metrics_last, "the last epoch")}.get(model_folder.name)
