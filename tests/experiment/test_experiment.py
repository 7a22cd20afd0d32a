"""`spertmt experiment`: a tiny grid run for real (child processes), recorded, skipped, resumed, aggregated."""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spertmt.cli import main
from spertmt.evaluate import mean_std
from spertmt.experiment import report
from spertmt.experiment.grid import Grid
from spertmt.experiment.locks import running_pid
from spertmt.experiment.records import progress, timing
from spertmt.experiment.runner import Experiment
from spertmt.files import folder_holder, hold_folder
from spertmt.layout import RunFolder


def _write_grid(tmp_path, tiny_config, plot=True):
    base = tmp_path / "base.toml"
    base.write_text("\n".join([
        f'data_root = "{tiny_config.data_root}"', f'encoder = "{tiny_config.encoder}"',
        'train_path = "tiny_train.json"', 'dev_path = "tiny_train.json"', 'test_path = "tiny_train.json"',
        'types_path = "tiny_types.json"', "epochs = 1", "batch_size = 2", "eval_batch_size = 2", "max_length = 128",
    ]) + "\n")
    grid = tmp_path / "grid.toml"
    grid.write_text(f'''
name = "tiny"
config = "{base}"
seeds = [0, 1]
set = ["lr=1e-3"]
[[cells]]
name = "spert"
set = ["mode=spert", "neg_entity_count=20"]
[[cells]]
name = "spertmt"
set = ["neg_entity_count=40"]
seeds = [0]
''' + ('[plot]\nx = "neg_entity_count"\nseries = "mode"\n' if plot else ""))
    return grid


def test_grid_runs_records_skips_resumes_and_aggregates(tiny_config, tmp_path, capsys):
    grid_file = _write_grid(tmp_path, tiny_config)
    before = os.environ.get("OMP_NUM_THREADS")
    results, runs = tmp_path / "results", tmp_path / "runs"
    argv = [str(grid_file), "--results", str(results), "--runs", str(runs)]
    assert main(["experiment", *argv, "--keep-checkpoints", "--threads", "1"]) == 0
    assert "OMP_NUM_THREADS" not in os.environ or os.environ["OMP_NUM_THREADS"] == before  # children only

    records = sorted((results / "tiny" / "runs").rglob("*.json"))
    assert [r.relative_to(results / "tiny" / "runs").as_posix() for r in records] == [
        "spert/seed0.json", "spert/seed1.json", "spertmt/seed0.json"]
    spert = [json.loads(r.read_text()) for r in records[:2]]
    assert spert[1]["seed"] == 1 and "--set seed=1" in spert[1]["command"]
    # runs outside the working directory: the record names the default runs folder, not this machine's
    assert spert[1]["command"].endswith("--output runs/experiments/tiny/spert/seed1 --quiet")
    assert spert[1]["config"]["lr"] == 1e-3 and spert[1]["config"]["neg_entity_count"] == 20
    assert spert[1]["config"]["mode"] == "spert"
    assert spert[1]["machine"]["omp_num_threads"] == "1" and spert[1]["machine"]["cpu"]
    assert [p["epoch"] for p in spert[1]["dev_curve"]] == [1]
    assert spert[1]["train_s"] > 0 and spert[1]["epoch_s_median"] > 0
    # Per-sentence test counts whose sums give the micro scores; a record written without them
    # (an older runner's) gets them from its run folder on --aggregate.
    counts = spert[1]["test_best_counts"]
    for setting in ("ner", "re", "re_strict"):
        tp, fp, fn = (sum(c[k] for c in counts[setting]) for k in range(3))
        f1 = 200 * tp / (2 * tp + fp + fn) if tp else 0.0
        assert f1 == pytest.approx(spert[1]["test_best"][setting]["micro"]["f1"])
    stripped = {k: v for k, v in spert[1].items() if k != "test_best_counts"}
    records[1].write_text(json.dumps(stripped, indent=2))
    assert main(["experiment", *argv, "--aggregate"]) == 0
    assert json.loads(records[1].read_text())["test_best_counts"] == counts

    summary = json.loads((results / "tiny.json").read_text())
    values = [r["test_best"]["ner"]["micro"]["f1"] for r in spert]
    cell = summary["cells"]["spert"]["test_best"]["ner"]["micro"]["f1"]
    assert cell["mean"] == pytest.approx(statistics.fmean(values))
    assert cell["std"] == pytest.approx(statistics.stdev(values))
    assert summary["cells"]["spertmt"]["runs"] == 1
    curve = summary["cells"]["spert"]["dev_curve"]
    assert curve[0]["runs"] == 2 and curve[0]["ner"] == pytest.approx(
        statistics.fmean(r["dev_curve"][0]["ner"]["micro"] for r in spert))
    table = (results / "tiny.md").read_text()
    assert "| spert | 2 |" in table and "| spertmt | 1 |" in table and "--set seed=1" in table
    assert "| epoch | spert | spertmt |" in table
    assert (results / "tiny.png").stat().st_size > 1000

    # A second call finds nothing to do and rewrites nothing.
    before = {r: r.stat().st_mtime_ns for r in records}
    capsys.readouterr()
    assert main(["experiment", *argv]) == 0
    assert "start" not in capsys.readouterr().out
    assert {r: r.stat().st_mtime_ns for r in records} == before

    # A run without a record but with a resume state is resumed, not restarted.
    lost = records[1]
    old = json.loads(lost.read_text())
    lost.unlink()
    assert main(["experiment", *argv]) == 0
    assert "resume spert/seed1" in capsys.readouterr().out
    new = json.loads(lost.read_text())
    assert new["resumed"] and new["test_best"] == old["test_best"]
    assert not (runs / "tiny" / "spert" / "seed1" / "resume").exists()  # spent folders removed
    assert (runs / "tiny" / "spert" / "seed1" / "best").exists()

    # A run whose training ended (no resume/, both checkpoints) but whose record was never written
    # (the runner stopped in between) is recorded from its folder, not trained again.
    ended = records[0]
    old = json.loads(ended.read_text())
    ended.unlink()
    shutil.rmtree(runs / "tiny" / "spert" / "seed0" / "resume")
    assert main(["experiment", *argv, "--status"]) == 0
    assert "ended, not recorded (the same command records it)" in capsys.readouterr().out
    assert main(["experiment", *argv]) == 0
    out = capsys.readouterr().out
    assert "record spert/seed0: its training had ended" in out and "start" not in out and "resume" not in out
    assert json.loads(ended.read_text())["test_best"] == old["test_best"]

    # --jobs 3: the three runs train at the same time and give the same numbers (CPU, one thread each).
    parallel = tmp_path / "parallel"
    assert main(["experiment", str(grid_file), "--results", str(parallel / "results"), "--runs",
                 str(parallel / "runs"), "--threads", "1", "--jobs", "3"]) == 0
    together = [json.loads(r.read_text()) for r in sorted((parallel / "results" / "tiny" / "runs").rglob("*.json"))]
    alone = [json.loads(r.read_text()) for r in records]
    assert [r["test_best"] for r in together] == [r["test_best"] for r in alone]
    assert {r["machine"]["jobs"] for r in together} == {3} and together[0]["machine"]["device"] == "cpu"
    finished = [time.mktime(time.strptime(r["finished"], "%Y-%m-%d %H:%M:%S")) for r in together]
    started = [f - r["wall_s"] for f, r in zip(finished, together)]
    assert max(started) < min(finished) - 1, "the runs did not overlap"


def test_grid_errors_are_caught_before_running(tiny_config, tmp_path):
    grid_file = _write_grid(tmp_path, tiny_config, plot=False)
    grid_file.write_text(grid_file.read_text().replace("lr=1e-3", "learning_rate=1e-3"))
    with pytest.raises(ValueError, match=r"unknown key 'learning_rate' in .*grid.toml, cell '\w+', set \(here it is "
                                         r"'lr'\)"):  # before: "in --set", which the grid was not
        Grid.load(grid_file)
    grid_file.write_text('name = "x"\nconfig = "c.toml"\n')
    with pytest.raises(ValueError, match="missing key 'cells'"):
        Grid.load(grid_file)
    # the file itself: named, not Python's [Errno 2] or tomllib's message without the file
    grid_file.write_text('name = \n')
    with pytest.raises(ValueError, match=f"^{re.escape(str(grid_file))}: not valid TOML: "):
        Grid.load(grid_file)
    with pytest.raises(FileNotFoundError, match="missing.toml: no such grid file$"):
        Grid.load(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="is a folder; give a grid file"):
        Grid.load(tmp_path)
    # values of the wrong shape: named, not "cell 0 has no name" for a string, nor seed "1" run as a string
    for line, says in (('cells = "abc"', "cells must be a list of tables"),
                       ('seeds = "1"\n[[cells]]\nname = "a"', "seeds must be a list of different whole numbers"),
                       ('[[cells]]\nname = "a"\nfolds = [0.5]', "folds must be a list of different whole numbers"),
                       ('seeds = []\n[[cells]]\nname = "a"', "seeds must be a list"),  # an IndexError before
                       ('seeds = [1, 1]\n[[cells]]\nname = "a"', "seeds must be a list of different"),
                       ('[[cells]]\nname = "../a"', "name '../a' names the folders of the runs and records"),
                       ('[[cells]]\nname = "a"\nset = "epochs=2"', "set must be a list of \"key=value\" strings")):
        grid_file.write_text(f'name = "x"\nconfig = "c.toml"\n{line}\n')
        with pytest.raises(ValueError, match=re.escape(says)):
            Grid.load(grid_file)


def test_a_stale_lock_is_ignored(tiny_config, tmp_path):
    experiment = Experiment(Grid.load(_write_grid(tmp_path, tiny_config, plot=False)), tmp_path / "r", tmp_path / "k")
    experiment.runs_dir.mkdir(parents=True)
    (experiment.runs_dir / "runner.pid").write_text("999999999")
    assert running_pid(experiment) is None
    assert main(["experiment", experiment.grid.path, "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "k"),
                 "--dry-run"]) == 0



@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the training process through /proc")
def test_sigterm_stops_the_runner_and_its_training_run(tiny_config, tmp_path):
    grid_file = _write_grid(tmp_path, tiny_config, plot=False)
    grid_file.write_text(grid_file.read_text().replace('set = ["lr=1e-3"]', 'set = ["lr=1e-3", "epochs=500"]'))
    runs = tmp_path / "runs"
    runner = subprocess.Popen([sys.executable, "-m", "spertmt", "experiment", str(grid_file), "--results",
                               str(tmp_path / "results"), "--runs", str(runs)], stdout=subprocess.DEVNULL)

    def training():  # the runner's training child, found by its --output under `runs`
        return [p for p in Path("/proc").glob("[0-9]*") if str(runs) in _cmdline(p) and p.name != str(runner.pid)]

    try:
        deadline = time.monotonic() + 120
        while not training() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert training(), "the runner never started a training run"
        time.sleep(1)  # the runner is now waiting on its child
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 1
    finally:
        runner.kill()
    assert not (runs / "tiny" / "runner.pid").exists()
    deadline = time.monotonic() + 30
    while training() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not training(), "the training run outlived its runner"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""

def test_mean_and_standard_deviation_per_setting():
    def metrics(f1):
        return {s: {a: {"precision": f1 + 1, "recall": f1 - 1, "f1": f1} for a in ("micro", "macro")}
                for s in ("ner", "re", "re_strict")}

    out = mean_std([metrics(80.0), metrics(84.0), metrics(85.0)])
    assert out["ner"]["micro"]["f1"]["mean"] == pytest.approx(83.0)
    assert out["re_strict"]["macro"]["precision"]["mean"] == pytest.approx(84.0)
    assert out["re"]["micro"]["f1"]["std"] == pytest.approx(statistics.stdev([80.0, 84.0, 85.0]))
    assert mean_std([metrics(80.0)])["ner"]["micro"]["f1"]["std"] == 0.0


def test_timing_from_the_log_leaves_out_the_pause_of_a_resume():
    def steps(t0, first, last, seconds_per_step, epoch):
        return [{"event": "step", "time": t0 + (s - first) * seconds_per_step, "step": s, "epoch": epoch}
                for s in range(first, last + 1, 50)]

    log = ([{"event": "start", "time": 0.0}] + steps(5.0, 50, 200, 0.2, 1) + [{"event": "epoch", "time": 40.0}]
           + steps(45.0, 250, 300, 0.2, 2)  # killed in epoch 2, resumed a day later from epoch 1's end
           + [{"event": "resume", "time": 86400.0}] + steps(86405.0, 250, 400, 0.2, 2)
           + [{"event": "epoch", "time": 86440.0}, {"event": "test", "time": 86450.0}])
    measured = timing(log)
    assert measured["train_s"] == pytest.approx(55.0 + 50.0)
    assert measured["epoch_s_median"] == pytest.approx(40.0)
    assert measured["step_s_median"] == pytest.approx(0.2)
    # Logs written before `epoch` events: the dev evaluations end the epochs.
    old = [{"event": "start", "time": 0.0}, {"event": "dev", "time": 30.0}, {"event": "dev", "time": 62.0},
           {"event": "dev", "time": 93.0}]
    assert timing(old) == {"train_s": 93.0, "epoch_s_median": 31.0, "step_s_median": None}



def test_an_unfinished_run_says_how_far_it_got(tmp_path):
    folder = RunFolder(tmp_path / "seed3")
    folder.path.mkdir()
    assert progress(folder) == "no epoch saved yet"
    folder.config.write_text(json.dumps({"epochs": 20, "select_metric": "re_strict.micro.f1"}))
    dev = [{"event": "dev", "time": 60.0 * e - 5, "epoch": e, "re_strict.micro.f1": f1}
           for e, f1 in ((1, 40.0), (2, 61.25), (3, 58.5))]
    log = [{"event": "start", "time": 0.0}] + [line for e in dev for line in
                                              (e, {"event": "epoch", "time": 60.0 * e["epoch"], "epoch": e["epoch"]})]
    folder.log.write_text("\n".join(json.dumps(line) for line in log) + "\n")
    assert progress(folder) == ("epoch 3 of 20 saved, dev re_strict.micro.f1 61.25 at epoch 2, "
                                "about 17 min of training left")
    # running while the process that holds the folder lives, interrupted after it ended
    assert folder_holder(folder.path) is None
    with hold_folder(folder.path, "training into"):
        assert folder_holder(folder.path) == os.getpid()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder.path / ".lock").write_text(ended.stdout.strip())
    assert folder_holder(folder.path) is None


def test_without_a_dev_set_the_table_gives_the_last_checkpoint_once(tiny_config, tmp_path):
    grid_file = _write_grid(tmp_path, tiny_config, plot=False)
    experiment = Experiment(Grid.load(grid_file), results=tmp_path / "results", runs=tmp_path / "runs")
    metrics = {s: {a: {"precision": 70.0, "recall": 60.0, "f1": 64.6} for a in ("micro", "macro")}
               for s in ("ner", "re", "re_strict")}
    summary = {"cells": {"spert": {"runs": 1, "test_best": metrics, "test_last": metrics, "per_run": [
        {"seed": 0, "fold": 0, "dev_best": None, "test_best": {"ner": 64.6, "re_strict": 64.6},
         "test_last": {"ner": 64.6, "re_strict": 64.6}}], "commands": ["spertmt train ..."]},
                         "spertmt": {"runs": 0, "commands": []}}}
    summary["cells"]["spert"]["test_best"] = summary["cells"]["spert"]["test_last"] = mean_std([metrics])
    table = report.markdown(experiment.grid, summary)
    assert "## Test, last epoch's checkpoint (no dev set" in table
    assert "selected on dev" not in table and table.count("| spert | 1 |") == 1


def test_a_dev_grid_never_scores_the_test_set(tiny_config, tmp_path):
    """split = "dev": the runs train without a test set (a cell cannot bring it back) and are
    recorded and tabled by their dev metrics, with the θ tuned on dev when asked for."""
    grid_file = _write_grid(tmp_path, tiny_config, plot=False)
    text = grid_file.read_text().replace('name = "tiny"', 'name = "tiny-dev"\nsplit = "dev"')
    text = text.replace('set = ["lr=1e-3"]', 'set = ["lr=1e-3", "threshold_selection=global"]')
    text = text.replace('set = ["neg_entity_count=40"]', 'set = ["neg_entity_count=40", "test_path=tiny_train.json"]')
    grid_file.write_text(text)
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert main(["experiment", str(grid_file), "--results", str(results), "--runs", str(runs), "--threads", "1"]) == 0
    record = json.loads((results / "tiny-dev" / "runs" / "spertmt" / "seed0.json").read_text())
    assert record["config"]["test_path"] == "" and "test_best" not in record
    log = [
        json.loads(line) for line in (runs / "tiny-dev" / "spertmt" / "seed0" / "log.jsonl").read_text().splitlines()
    ]
    assert not any(e["event"].startswith("test") for e in log)
    assert not (runs / "tiny-dev" / "spertmt" / "seed0" / "metrics.json").exists()
    dev = [e for e in log if e["event"] == "dev"]
    assert record["dev_selected"] == max(dev, key=lambda e: e["re_strict.micro.f1"])["metrics"]
    assert record["dev_last"] == dev[-1]["metrics"]
    assert [t["checkpoint"] for t in record["thresholds"]] == ["last", "best"]
    table = (results / "tiny-dev.md").read_text()
    assert "on the dev set" in table and "## Dev, best dev epoch" in table and "## Test" not in table
    assert "## θ tuned on dev" in table


def test_a_cell_that_tunes_theta_is_also_tabled_at_the_configs_theta(tiny_config, tmp_path):
    """threshold_selection in one cell: its record holds the test metrics at the tuned θ and at the
    config's θ; the table gets a section for the latter, empty for the cell that keeps θ fixed."""
    grid_file = _write_grid(tmp_path, tiny_config, plot=False)
    text = grid_file.read_text().replace('seeds = [0, 1]', 'seeds = [0]')
    grid_file.write_text(text.replace('set = ["neg_entity_count=40"]',
                                      'set = ["neg_entity_count=40", "threshold_selection=global", '
                                      '"threshold=-100"]'))  # every span kept: F1 above 0 below
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert main(["experiment", str(grid_file), "--results", str(results), "--runs", str(runs), "--threads", "1"]) == 0
    tuned = json.loads((results / "tiny" / "runs" / "spertmt" / "seed0.json").read_text())
    fixed = json.loads((runs / "tiny" / "spertmt" / "seed0" / "metrics_fixed_threshold.json").read_text())
    assert tuned["test_best_fixed_threshold"] == fixed
    assert "test_best_fixed_threshold" not in json.loads(
        (results / "tiny" / "runs" / "spert" / "seed0.json").read_text()
    )
    table = (results / "tiny.md").read_text()
    section = table.split("## Test, checkpoint selected on dev, at the config's θ")[1].split("##")[0]
    assert "| spert | 1 | | |" in section
    f1 = tuned["test_best_fixed_threshold"]["ner"]["micro"]["f1"]
    assert "| spertmt | 1 |" in section and f"{f1:.2f}" in section

    # The held-out dev diagnostics: F1 on each half of dev after every epoch, and θ tuned on one
    # half and scored on the other; the latter's "fixed" reading equals scoring best/ there anew.
    import spertmt
    from spertmt.evaluate import evaluate

    assert all(len(point["halves"]) == 2 for point in tuned["dev_curve"])
    checks = {c["checkpoint"]: c["results"] for c in tuned["threshold_cross_check"]}
    assert sorted(checks) == ["best", "last"] and [r["tuned_on"] for r in checks["best"]] == ["even", "odd"]
    config = spertmt.Config.load(runs / "tiny" / "spertmt" / "seed0" / "config.json")
    types = spertmt.read_types(config.data_path("types_path"))
    odd = spertmt.read_documents(config.data_path("dev_path"), types)[1::2]
    extractor = spertmt.load(runs / "tiny" / "spertmt" / "seed0" / "best", device="cpu")
    anew = evaluate(odd, extractor.predict(odd, threshold=config.threshold), types)
    assert checks["best"][0]["fixed"]["ner"]["micro"] == anew["ner"]["micro"]["f1"]
    assert checks["best"][0]["fixed"]["re_strict"]["micro"] == anew["re_strict"]["micro"]["f1"]
    assert anew["ner"]["micro"]["f1"] > 0
