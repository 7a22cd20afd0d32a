"""The record of a finished run (`results/<grid>/runs/<cell>/seed<S>.json`): its command, config,
scores, dev curve, θ, timing and machine, read from its run folder."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import time
from pathlib import Path

from ..files import write_text_atomic
from ..layout import Event, RunFolder
from .grid import SETTINGS, Run


def make_record(run: Run, output: RunFolder, command: list[str], split: str, started: float, resumed: bool,
                jobs: int, omp_num_threads: str | None) -> dict:
    """The record of `run`, trained into `output` by `command`; `split` is the grid's ("dev": a
    screening grid, recorded by its dev metrics)."""
    log = output.read_log()
    dev = [e for e in log if e["event"] == Event.DEV]
    config = json.loads(output.config.read_text())
    start = next((e for e in log if e["event"] == Event.START), {})
    select = config["select_metric"]
    best = max(dev, key=lambda e: e[select]) if dev else None
    if split == "dev":
        scores = {"dev_selected": best["metrics"], "dev_last": dev[-1]["metrics"]}
    else:
        scores = {"test_best": json.loads(output.metrics.read_text()),
                  "test_last": json.loads(output.metrics_last.read_text())}
        fixed = output.metrics_fixed_threshold  # θ tuned on dev: the config's θ as well
        if fixed.exists():
            scores["test_best_fixed_threshold"] = json.loads(fixed.read_text())
        if output.predictions.exists():  # for paired intervals over test sentences (experiment.intervals)
            scores["test_best_counts"] = sentence_counts_of(output, config)
    return {
        "cell": run.cell.name, "seed": run.seed, "fold": run.fold,
        "command": shlex.join(_without_machine_path(command, run)),
        "config": config,
        **scores,
        "dev_best": {"epoch": best["epoch"], "metric": select, "value": best[select]} if best else None,
        # θ tuned on dev at the end (threshold_selection), with the dev F1 it reaches there
        "thresholds": [{k: e[k] for k in ("checkpoint", "thresholds", "dev")} for e in log
                       if e["event"] == Event.THRESHOLDS],
        # Dev F1 after every epoch: how fast each setting learns (read next to the test figures).
        "dev_curve": [{"epoch": e["epoch"], **{s: {a: e["metrics"][s][a]["f1"] for a in ("micro", "macro")}
                                               for s, _ in SETTINGS},
                       **({"halves": e["halves"]} if "halves" in e else {})} for e in dev],
        # best/'s test items: ECE, Brier score and reliability bins before and after calibration (config.calibrate)
        "test_calibration": next(({k: e[k] for k in ("entity", "relation") if k in e} for e in log
                                  if e["event"] == Event.TEST_CALIBRATION), None),
        # θ tuned on one half of dev and scored on the other (threshold_selection; trainer)
        "threshold_cross_check": [{k: e[k] for k in ("checkpoint", "results")} for e in log
                                  if e["event"] == Event.THRESHOLD_CROSS_CHECK],
        # wall_s: this runner's share (a resumed run's last stretch); train_s: all stretches, from the log
        "wall_s": round(time.time() - started, 1), "resumed": resumed, **timing(log),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "cpu_capability": _cpu_capability(),
                    "python": platform.python_version(), "torch": _torch_version(),
                    "commit": _git_commit(), "device": start.get("device"),
                    "gpu": _gpu_name() if str(start.get("device", "")).startswith("cuda") else None,
                    "native_kernels": start.get("native"), "jobs": jobs,
                    # None: PyTorch's default of one thread per core; "1" when grids share the cores
                    "omp_num_threads": omp_num_threads},
    }


def _without_machine_path(command: list[str], run: Run) -> list[str]:
    """`command` with its --output relative to the working directory, so that a record names no
    machine's folders; a runs folder outside it is written as the default one (runs/experiments),
    where the same command run from the repository would put the run."""
    command = list(command)
    at = command.index("--output") + 1
    output = Path(command[at]).absolute()
    if output.is_relative_to(Path.cwd()):
        command[at] = output.relative_to(Path.cwd()).as_posix()
    else:  # <runs>/<grid>/<cell>/seed<S>
        grid = output.parts[-1 - len(Path(run.key).parts)]
        command[at] = f"runs/experiments/{grid}/{run.key}"
    return command


def sentence_counts_of(output: RunFolder, config: dict) -> dict:
    """Each test sentence's true positives, false positives and false negatives (NER, RE, RE+) of
    best/'s predictions (`predictions.json`), as the record's `test_best_counts`."""
    from ..config import Config
    from ..data.documents import config_types, read_documents
    from ..evaluate import sentence_counts

    cfg = Config.from_dict(config)
    types = config_types(cfg)
    gold = read_documents(cfg.data_path("test_path"), types)
    gold = gold[: cfg.max_eval_documents] if cfg.max_eval_documents else gold
    predictions = read_documents(output.predictions, types)
    return sentence_counts(gold, predictions, types, overlapping=cfg.overlapping)


def add_test_counts(record_path: Path, output: RunFolder) -> bool:
    """Adds `test_best_counts` to a record written without them, from its run folder; False when
    the record has them already or the run folder holds no test predictions."""
    record = json.loads(record_path.read_text())
    if "test_best_counts" in record or not output.predictions.exists():
        return False
    record["test_best_counts"] = sentence_counts_of(output, record["config"])
    write_text_atomic(record_path, json.dumps(record, indent=2))
    return True


def timing(log: list[dict]) -> dict:
    """Training time from a run's log, split into the stretches that a `start` or `resume` began
    (a resumed run's pause between sessions counts in none): `train_s`, their sum; `epoch_s_median`,
    the median gap between epoch ends (`epoch` events; `dev` in logs written before them);
    `step_s_median`, the median time a training step took between two `step` entries."""
    stretches: list[list[dict]] = []
    for event in log:
        if event["event"] in (Event.START, Event.RESUME) or not stretches:
            stretches.append([])
        stretches[-1].append(event)
    train_s, epoch_s, step_s = 0.0, [], []
    for stretch in stretches:
        train_s += stretch[-1]["time"] - stretch[0]["time"]
        ends = ([e for e in stretch if e["event"] == Event.EPOCH]
                or [e for e in stretch if e["event"] == Event.DEV])
        times = [stretch[0]["time"]] + [e["time"] for e in ends]
        epoch_s += [b - a for a, b in zip(times, times[1:]) if b > a]
        steps = [e for e in stretch if e["event"] == Event.STEP]
        step_s += [(b["time"] - a["time"]) / (b["step"] - a["step"])
                   for a, b in zip(steps, steps[1:]) if b["step"] > a["step"]]
    return {"train_s": round(train_s, 1),
            "epoch_s_median": round(statistics.median(epoch_s), 1) if epoch_s else None,
            "step_s_median": round(statistics.median(step_s), 4) if step_s else None}


def progress(output: RunFolder) -> str:
    """How far an unfinished run got, from its folder: the epochs saved (a resume starts after the
    last), its dev selection metric at the best epoch so far, and the training left at the median
    epoch's pace."""
    if not output.log.exists() or not output.config.exists():
        return "no epoch saved yet"
    log, config = output.read_log(), json.loads(output.config.read_text())
    saved = max((e["epoch"] for e in log if e["event"] == Event.EPOCH), default=0)
    parts = [f"epoch {saved} of {config['epochs']} saved"]
    select, dev = config["select_metric"], [e for e in log if e["event"] == Event.DEV]
    if dev:
        best = max(dev, key=lambda e: e[select])
        parts.append(f"dev {select} {best[select]:.2f} at epoch {best['epoch']}")
    pace = timing(log)["epoch_s_median"]
    if pace and saved < config["epochs"]:
        parts.append(f"about {(config['epochs'] - saved) * pace / 60:.0f} min of training left")
    return ", ".join(parts)


def _torch_version() -> str:
    import torch

    return torch.__version__


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform says where there is none: two
    machines with the same vector units may still differ in speed (an AMD EPYC and an Intel Xeon)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())


def _cpu_capability() -> str:
    """The vector units torch's kernels use here (AVX2, AVX512, ...): they pick other kernels on
    another CPU, so the same seed is bit-identical only on the same kind of CPU."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
