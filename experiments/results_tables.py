"""The tables of the documentation, written from the committed records: docs/results.md's from the
run records (results/<grid>/runs/...) here, and those of README, docs/faster.md and bench/RESULTS.md
from the benchmarks' JSON (bench/results/) by bench/tables.py, whose registry joins this one.

    python experiments/results_tables.py              # print every table
    python experiments/results_tables.py modes        # print one
    python experiments/results_tables.py --write      # rewrite them in the docs
    python experiments/results_tables.py --check      # exit 1 when a table in the docs differs

Each table lies in the docs between `<!-- table: NAME ... -->` and `<!-- /table: NAME -->`;
tests/experiment/test_tables.py fails when one differs from what this command writes, so a figure
typed by hand, or a record changed under its table, is caught. Means and standard deviations are
over the runs named (seeds or folds; the sample standard deviation, as the grids' own tables).
Figures that are not ours (the paper's, the reference SpERT code's) are the constants below.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import re
import statistics
import sys
from pathlib import Path

from spertmt.layout import BEST as BEST_FOLDER  # the checkpoints' names, as records hold them
from spertmt.layout import LAST as LAST_FOLDER

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
DOCS = (ROOT / "docs" / "results.md", ROOT / "docs" / "faster.md", ROOT / "README.md", ROOT / "bench" / "RESULTS.md",
        ROOT / "docs" / "configuration.md", ROOT / "docs" / "serving.md")
COMMAND = "python experiments/results_tables.py --write"

# The paper's Table 1 (Lu & Xue 2023; SciBERT on SciERC, BioBERT on ADE): NER and RE (P, R, F1).
PAPER_SCIERC = {"SpERT": ((70.87, 69.79, 70.33), (53.40, 48.54, 50.84)),
                "SpERT.MT": ((71.21, 75.35, 73.22), (53.63, 53.81, 53.72))}
PAPER_ADE = {"SpERT": ((88.99, 89.59, 89.28), (77.77, 79.96, 78.84)),
             "SpERT.MT": ((91.35, 92.77, 92.05), (81.06, 86.55, 83.72))}
# SpERT.MT's gain over SpERT in that table, NER / RE F1 (CoNLL04: 90.70 - 88.94, 73.61 - 71.47; the
# paper's text says +2.46 NER on ADE, its table +2.77).
PAPER_GAIN = {"conll04": (1.76, 2.14), "scierc": (2.89, 2.88), "ade": (2.77, 4.88)}
# The reference SpERT code (lavis-nlp/spert) on CoNLL04 test with the same encoder, 20 epochs, its own
# defaults, as issue 11 gives it: NER, RE, RE+ micro F1, mean of 2 seeds.
REFERENCE_SPERT = (83.80, 60.10, 59.50)

SETTINGS = (("ner", "NER"), ("re", "RE"), ("re_strict", "RE+"))
MINILM, MPNET = "all-MiniLM-L6-v2 (22M)", "all-mpnet-base-v2 (110M)"


def _bench_tables():
    """bench/tables.py: the tables from the benchmarks' JSON (bench/results/), and the table format."""
    spec = importlib.util.spec_from_file_location("bench_tables", ROOT / "bench" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH_TABLES = _bench_tables()


def config_keys() -> str:
    """docs/configuration.md's reference: every key of spertmt.Config (docs/hooks.py writes it)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.config_table()
table = BENCH_TABLES.table


# --- records -----------------------------------------------------------------------------------

@functools.cache
def _records(folder: Path) -> tuple[dict, ...]:
    """A cell's records, read once per command (many tables quote the same cells)."""
    return tuple(json.loads(p.read_text()) for p in sorted(folder.glob("seed*.json")))


def runs(grid: str, cell: str, seeds=None, folds=None) -> list[dict]:
    """The records of one cell of a grid, by seed then fold; every seed (fold) asked for must be there."""
    folder = RESULTS / grid / "runs" / cell
    records = list(_records(folder))
    if seeds is not None:
        records = [r for r in records if r["seed"] in seeds]
    if folds is not None:
        records = [r for r in records if r["fold"] in folds]
    wanted = (len(seeds) if seeds is not None else 1) * (len(folds) if folds is not None else 1)
    if not records or len(records) < wanted:
        raise SystemExit(f"{folder}: no record for seeds {seeds}, folds {folds}")
    return sorted(records, key=lambda r: (r["seed"], r["fold"]))


def metrics(record: dict, checkpoint: str) -> dict:
    """A record's test metrics; a run without a dev set (ADE) scores its last epoch only."""
    return record[checkpoint] or record["test_last"]


def values(records, checkpoint, setting, key="f1", average="micro") -> list[float]:
    return [metrics(r, checkpoint)[setting][average][key] for r in records]


def mean(records, checkpoint, setting, key="f1", average="micro") -> float:
    return statistics.fmean(values(records, checkpoint, setting, key, average))


def difference(records, baseline, checkpoint, setting, average="micro") -> float:
    """Mean F1 of `records` minus that of `baseline`."""
    return mean(records, checkpoint, setting, average=average) - mean(baseline, checkpoint, setting, average=average)


COUNTS = "test_best_counts"  # per-sentence test counts of best/ (records since grid conll04-mpnet)


_INTERVALS: dict = {}  # the bootstrap takes a moment: each comparison once per command


def compare(ours, theirs, checkpoint, setting, average="micro"):
    """Mean F1 of `ours` minus `theirs` with its 95% interval (spertmt.experiment.intervals): a
    paired bootstrap over test sentences and seeds where every record holds per-sentence counts
    (the dev-selected checkpoint, micro), else Student's t over the runs; None with one run a side."""
    from spertmt.experiment.intervals import paired_bootstrap, seed_interval

    key = (tuple(map(id, ours)), tuple(map(id, theirs)), checkpoint, setting, average)  # records are read once
    if key not in _INTERVALS:
        if checkpoint == BEST and average == "micro" and all(COUNTS in r for r in [*ours, *theirs]):
            found = paired_bootstrap([r[COUNTS][setting] for r in ours], [r[COUNTS][setting] for r in theirs])
        else:
            folds = [(r["seed"], r["fold"]) for r in ours]  # folds: each its own test set, so paired
            paired = len({f for _, f in folds}) > 1 and folds == [(r["seed"], r["fold"]) for r in theirs]
            found = seed_interval(values(ours, checkpoint, setting, average=average),
                                  values(theirs, checkpoint, setting, average=average), paired=paired)
        _INTERVALS[key] = found
    return _INTERVALS[key]


def lead(ours, theirs, checkpoint, setting, average="micro") -> str:
    """`+0.28 [-1.10, +1.66] level`: the difference, its 95% interval and the rule's word."""
    interval = compare(ours, theirs, checkpoint, setting, average)
    if interval is None:
        return f"{difference(ours, theirs, checkpoint, setting, average):+.2f} (one run a side: no interval)"
    return f"{interval} {interval.word}"


def f1(records, checkpoint, setting, average="micro", spread=True) -> str:
    """`83.32 ± 0.73` over several runs, `83.32` for one (or without the spread)."""
    found = values(records, checkpoint, setting, "f1", average)
    text = f"{statistics.fmean(found):.2f}"
    return text + (f" ± {statistics.stdev(found):.2f}" if spread and len(found) > 1 else "")


def prf(records, checkpoint, setting, average="micro") -> str:
    """`P / R / F1`, F1 with its spread over the runs."""
    p, r = (mean(records, checkpoint, setting, key, average) for key in ("precision", "recall"))
    return f"{p:.2f} / {r:.2f} / {f1(records, checkpoint, setting, average)}"


def triple(records, checkpoint, settings=("ner", "re", "re_strict"), average="micro") -> str:
    """`NER / RE / RE+` means, no spread: the summary's cells."""
    return " / ".join(f"{mean(records, checkpoint, s, average=average):.2f}" for s in settings)


def seed_list(records) -> str:
    return ", ".join(str(s) for s in dict.fromkeys(r["seed"] for r in records))


def curve(record: dict) -> dict[int, dict]:
    if not record.get("dev_curve"):
        raise SystemExit(f"run {record['cell']} seed {record['seed']}: its record has no dev curve")
    return {point["epoch"]: point for point in record["dev_curve"]}


def dev_at(record: dict, epoch: int) -> str:
    """Dev NER / RE+ micro F1 after an epoch."""
    point = curve(record)[epoch]
    return f"{point['ner']['micro']:.1f} / {point['re_strict']['micro']:.1f}"


def dev_best(record: dict) -> str:
    best = record["dev_best"]
    return f"{best['value']:.2f} ({best['epoch']})"


def dev_ner_at_best(record: dict, digits: int = 1) -> str:
    return f"{curve(record)[record['dev_best']['epoch']]['ner']['micro']:.{digits}f}"


def dev_tuned(record: dict) -> str:
    """NER / RE+ on dev at the θ tuned on dev for the dev-selected checkpoint (chosen and scored on dev)."""
    for entry in record.get("thresholds") or []:
        if entry["checkpoint"] == BEST_FOLDER:
            return f"{entry['dev']['entity']['f1']:.1f} / {entry['dev']['relation']['f1']:.1f}"
    return ""


def late_mean(record: dict, from_epoch: int) -> tuple[str, str]:
    """Mean dev NER / RE+ from an epoch on, and the mean change of dev RE+ from one epoch to the next there."""
    points = [p for e, p in sorted(curve(record).items()) if e >= from_epoch]
    ner = [p["ner"]["micro"] for p in points]
    relations = [p["re_strict"]["micro"] for p in points]
    changes = [abs(b - a) for a, b in zip(relations, relations[1:])]
    return (f"{statistics.fmean(ner):.2f} / {statistics.fmean(relations):.2f}", f"{statistics.fmean(changes):.2f}")


def bold(cells: list[str]) -> list[str]:
    return [f"**{c}**" if c else c for c in cells]


BEST, LAST, FIXED = "test_best", "test_last", "test_best_fixed_threshold"
CHECKPOINT_NAMES = {BEST: "dev-selected", LAST: "last epoch"}


# --- the grids ---------------------------------------------------------------------------------

def grids() -> str:
    """Every grid in experiments/: what it measures, its command, and how many of its runs have records."""
    from spertmt.experiment.grid import Grid, runs_of  # the grid file's reader: the runner's own

    rows = []
    paths = sorted((ROOT / "experiments").glob("*.toml"))
    here = Path.cwd()
    os.chdir(ROOT)  # a grid names its config relative to the repository's root
    try:
        grids_ = [Grid.load(p) for p in paths]
    finally:
        os.chdir(here)
    for path, grid in sorted(zip(paths, grids_), key=lambda pg: _first_finished(pg[1].name)):
        planned = runs_of(grid)
        missing = [run.key for run in planned if not (RESULTS / grid.name / "runs" / f"{run.key}.json").exists()]
        state = f"{len(planned) - len(missing)} of {len(planned)}"
        if missing:
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            state += f" (not run: {', '.join(missing[:4])}{more})"
        rows.append([grid.name, grid.description, "dev only" if grid.split == "dev" else "test",
                     f"`spertmt experiment experiments/{path.name}`", state])
    return table(["grid", "what it measures", "scored on", "command", "runs recorded"], rows)


def _first_finished(grid: str) -> str:
    """Grids in the order they were run: the date of their first finished run ('~' sorts unrun ones last)."""
    found = [json.loads(p.read_text())["finished"] for p in (RESULTS / grid / "runs").glob("*/*.json")]
    return min(found) if found else "~"


# --- summaries ----------------------------------------------------------------------------------

def spert_tuned():
    return runs("conll04-spert-tuned", "spert-tuned")


def recommended(dataset="conll04"):
    grid = {"conll04": "conll04-sums-head-lr", "scierc": "scierc-sums-head-lr", "ade": "ade-sums-head-lr"}[dataset]
    return runs(grid, "spertmt-sums-head-lr")


def scierc_spert():
    """`spert` on SciERC: seed 0 from grid scierc, seed 1 from grid scierc-sums-head-lr."""
    return runs("scierc", "spert") + runs("scierc-sums-head-lr", "spert")


def modes() -> str:
    """The fair comparison: each mode at its best setting chosen on CoNLL04 dev, scored on test once."""
    sides = (("`spert` (defaults, θ tuned on dev)", spert_tuned()),
             ("SpERT.MT (sums, `head_lr`, θ tuned on dev)", recommended()))
    counts = " and ".join(str(len(records)) for _, records in sides)
    lines = f"CoNLL04 test, micro F1, mean ± standard deviation over seeds ({counts} runs):\n\n"
    rows = []
    for checkpoint, title in ((BEST, "epoch chosen on dev (`best/`)"), (LAST, "last epoch (`last/`)")):
        for setting, name in SETTINGS:
            rows.append([title, name, f1(sides[0][1], checkpoint, setting), f1(sides[1][1], checkpoint, setting),
                         lead(sides[1][1], sides[0][1], checkpoint, setting)])
    return lines + table(["checkpoint", "metric", sides[0][0], sides[1][0], "SpERT.MT - `spert` [95% interval]"],
                         rows)


def in_short() -> str:
    """The summary: each setting's test figures on the three datasets (means over the runs named)."""
    conll04 = [runs("conll04", "spert"), spert_tuned(), runs("conll04", "spertmt"),
               runs("conll04-sums", "spertmt-sums"), recommended()]
    scierc = [scierc_spert(), runs("scierc-spert-tuned", "spert-tuned"), runs("scierc", "spertmt"), None,
              recommended("scierc")]
    ade = [runs("ade", "spert"), None, runs("ade", "spertmt"), None, recommended("ade")]

    def row(label, cells, checkpoint, paper="", settings=("ner", "re", "re_strict"), average="micro"):
        texts = [triple(c, checkpoint, settings, average) if c else "not run" for c in cells]
        spert = cells[1] or cells[0]  # `spert` at its dev-chosen setting where that ran, else at its defaults
        lead = " / ".join(f"{difference(cells[4], spert, checkpoint, s, average):+.2f}" for s in settings)
        words = " / ".join(interval.word if (interval := compare(cells[4], spert, checkpoint, s, average)) else "?"
                           for s in settings)
        lead += f" ({words})"
        return [label] + texts + [lead, paper]

    def gain(dataset):
        return " / ".join(f"+{g:.2f}" for g in PAPER_GAIN[dataset]) + " (NER / RE)"

    rows = [row(f"CoNLL04, dev-selected, {len(conll04[0])} seeds: NER / RE / RE+", conll04, BEST, gain("conll04")),
            row("CoNLL04, last epoch", conll04, LAST),
            row(f"SciERC, dev-selected, {len(scierc[0])} seeds (means: {len(scierc[2])})", scierc, BEST,
                gain("scierc")),
            row("SciERC, last epoch", scierc, LAST),
            row(f"ADE folds {seed_fold_list(ade[0])}, last epoch, macro: NER / RE+", ade, LAST, gain("ade"),
                settings=("ner", "re_strict"), average="macro")]
    return table(["dataset, checkpoint", "`spert`, defaults", "`spert`, θ tuned on dev (its dev choice)",
                  "SpERT.MT, means (first reading)", "SpERT.MT, sums (the paper's Σ; the default)",
                  "SpERT.MT, sums + `head_lr`, θ tuned on dev (recommended)",
                  "recommended - `spert` at its dev choice (its defaults where that was not run)",
                  "the paper: SpERT.MT - SpERT"], rows)


def mpnet(cell: str) -> list[dict]:
    """Grid conll04-mpnet's records of a cell (the base-size encoder), [] while none has finished."""
    return sorted(_records(RESULTS / "conll04-mpnet" / "runs" / cell), key=lambda r: r["seed"])


def headline() -> str:
    """README's results: SpERT.MT's recommended setting against `spert` on each test set, each
    difference with its 95% interval and the rule's word."""
    cases = [("CoNLL04 (micro; dev-selected epoch)", MINILM, recommended(), spert_tuned(),
              "`spert` at its dev-chosen setting", BEST, "micro"),
             ("CoNLL04 (micro; dev-selected epoch)", MPNET, mpnet("spertmt-sums-head-lr"),
              mpnet("spert-tuned"), "`spert` at its dev-chosen setting", BEST, "micro"),
             ("SciERC (micro; dev-selected epoch)", MINILM, recommended("scierc"),
              runs("scierc-spert-tuned", "spert-tuned"), "`spert` at its dev-chosen setting", BEST, "micro"),
             ("ADE folds 0-1 (macro; last epoch, no dev set)", MINILM, recommended("ade"), runs("ade", "spert"),
              "`spert` at its defaults", LAST, "macro")]
    rows = []
    for name, encoder, ours, theirs, label, checkpoint, average in cases:
        pair = [" / ".join(f"{mean(r, checkpoint, s, average=average):.2f}" for s in ("ner", "re_strict"))
                + f" ({len(r)} run{'s' * (len(r) != 1)})" if r else "not yet run" for r in (ours, theirs)]
        leads = ([lead(ours, theirs, checkpoint, s, average) for s in ("ner", "re_strict")] if ours and theirs
                 else ["pending", "pending"])
        rows.append([name, encoder, pair[0], f"{pair[1]}, {label}" if theirs else pair[1], *leads])
    return table(["test set, F1", "encoder", "SpERT.MT: NER / RE+", "`spert`: NER / RE+",
                  "NER: SpERT.MT - `spert` [95% interval]", "RE+: the same"], rows)


def base_size() -> str:
    """Both modes on CoNLL04 test with the base-size encoder beside MiniLM, each at its setting chosen
    on CoNLL04 dev with MiniLM, and SpERT.MT's difference with its 95% interval."""
    sides = (("`spert` (defaults, θ tuned on dev)", "spert-tuned", spert_tuned()),
             ("SpERT.MT (sums, `head_lr`, θ tuned on dev)", "spertmt-sums-head-lr", recommended()))
    rows = []
    for encoder in (MINILM, MPNET):
        found = [records if encoder == MINILM else mpnet(cell) for _, cell, records in sides]
        for checkpoint in (BEST, LAST):
            where = [encoder, CHECKPOINT_NAMES[checkpoint]]
            for (label, _, _), records in zip(sides, found):
                rows.append(where + [label, seed_list(records) if records else "not yet run"]
                            + [f1(records, checkpoint, s) if records else "" for s, _ in SETTINGS])
            ready = all(found)
            rows.append(where + ["**SpERT.MT - `spert`** [95% interval]", ""]
                        + [lead(found[1], found[0], checkpoint, s) if ready else "pending" for s, _ in SETTINGS])
    for checkpoint in (BEST, LAST):  # what the encoder alone gives each mode
        for label, cell, minilm in sides:
            base = mpnet(cell)
            rows.append(["**base-size - MiniLM** [95% interval]", CHECKPOINT_NAMES[checkpoint], label, ""]
                        + [lead(base, minilm, checkpoint, s) if base else "pending" for s, _ in SETTINGS])
    gain = " / ".join(f"+{g:.2f}" for g in PAPER_GAIN["conll04"])
    rows.append(["bert-base-cased (110M), the paper", "", "SpERT.MT - SpERT", "", *gain.split(" / "), ""])
    return table(["encoder", "checkpoint", "setting", "seeds", "NER", "RE", "RE+"], rows)


def base_size_seeds() -> str:
    """Each seed of grid conll04-mpnet: the epoch dev chose for each mode and its test F1 there."""
    by_seed = {cell: {r["seed"]: r for r in mpnet(cell)} for cell in ("spertmt-sums-head-lr", "spert-tuned")}
    rows = []
    for seed in sorted(set(by_seed["spertmt-sums-head-lr"]) | set(by_seed["spert-tuned"])):
        pair = [by_seed[cell].get(seed) for cell in by_seed]
        f1 = [{s: metrics(r, BEST)[s]["micro"]["f1"] for s in ("ner", "re_strict")} if r else None for r in pair]
        cells = []
        for record, scores in zip(pair, f1):
            cells += ([str(record["dev_best"]["epoch"]), f"{scores['ner']:.2f} / {scores['re_strict']:.2f}",
                       record["machine"]["commit"]] if record else ["not yet run", "", ""])
        gap = f"{f1[0]['re_strict'] - f1[1]['re_strict']:+.2f}" if all(pair) else ""
        rows.append([str(seed), *cells, gap])
    return table(["seed", "SpERT.MT: epoch chosen on dev", "SpERT.MT: test NER / RE+", "SpERT.MT: commit",
                  "`spert`: epoch chosen on dev", "`spert`: test NER / RE+", "`spert`: commit",
                  "RE+: SpERT.MT - `spert`"], rows)


def seed_fold_list(records) -> str:
    return "-".join(str(f) for f in (records[0]["fold"], records[-1]["fold"]))


# --- CoNLL04: reference, claim, sums -------------------------------------------------------------

def reference() -> str:
    """Our `spert` mode's last epoch (as SpERT's code reports) against the reference SpERT code."""
    spert = runs("conll04", "spert")
    ner, relations, strict = REFERENCE_SPERT
    rows = [["reference SpERT code, mean of 2 seeds", f"- / - / {ner:.2f}", f"{relations:.2f}",
             f"- / - / {strict:.2f}"]]
    for record in spert:
        rows.append([f"our `spert`, seed {record['seed']}", prf([record], LAST, "ner"), f1([record], LAST, "re"),
                     prf([record], LAST, "re_strict")])
    rows.append(bold([f"our `spert`, mean ± std of {len(spert)} seeds", prf(spert, LAST, "ner"), f1(spert, LAST, "re"),
                      prf(spert, LAST, "re_strict")]))
    rows.append(["difference to the reference"] + [f"{mean(spert, LAST, s) - ref:+.2f}"
                                                   for s, ref in zip(("ner", "re", "re_strict"), REFERENCE_SPERT)])
    return table(["run", "NER P / R / F1", "RE F1", "RE+ P / R / F1"], rows)


def _prf_rows(cells, checkpoints=(BEST, LAST)):
    rows = []
    for label, records in cells:
        for checkpoint in checkpoints:
            rows.append([label, CHECKPOINT_NAMES[checkpoint], str(len(records)), prf(records, checkpoint, "ner"),
                         f1(records, checkpoint, "re"), prf(records, checkpoint, "re_strict")])
    return rows


def claim() -> str:
    """Grid conll04: both modes, the paper's method read as SpERT's code averages its losses (means)."""
    cells = (("`spert`", runs("conll04", "spert")), ("`spertmt`", runs("conll04", "spertmt")))
    return table(["mode", "checkpoint", "seeds", "NER P / R / F1", "RE F1", "RE+ P / R / F1"], _prf_rows(cells))


def claim_margins() -> str:
    spert, spertmt = runs("conll04", "spert"), runs("conll04", "spertmt")
    ner, relations = PAPER_GAIN["conll04"]
    rows = [["the paper (bert-base-cased): SpERT.MT - SpERT", f"+{ner:.2f}", f"+{relations:.2f}"]]
    for label, checkpoint in ((f"ours (MiniLM, dev-selected, mean of {len(spert)} seeds): `spertmt` - `spert`", BEST),
                              ("ours, last-epoch checkpoints", LAST)):
        rows.append([label] + [f"{difference(spertmt, spert, checkpoint, s):+.2f}" for s in ("ner", "re")])
    return table(["", "NER F1", "RE F1"], rows)


def _f1_row(label, records, checkpoint):
    return [label, seed_list(records)] + [f1(records, checkpoint, s) for s, _ in SETTINGS]


def sums() -> str:
    """Sums (the paper's Σ) against means and `spert` on CoNLL04 test, dev-selected."""
    spert = runs("conll04", "spert")
    rows = [_f1_row("`spert`", spert, BEST),
            _f1_row("`spertmt`, means (the old default)", runs("conll04", "spertmt"), BEST),
            bold(_f1_row("`spertmt`, sums (the default now)", runs("conll04-sums", "spertmt-sums"), BEST))]
    ner, relations = PAPER_GAIN["conll04"]
    rows.append([f"the paper's target: `spert` + {ner:.2f} / + {relations:.2f}", "",
                 f"{mean(spert, BEST, 'ner') + ner:.2f}", f"{mean(spert, BEST, 're') + relations:.2f}", ""])
    return table(["mode", "seeds", "NER F1", "RE F1", "RE+ F1"], rows)


def sums_head_lr() -> str:
    """The recommended setting on CoNLL04 test, both checkpoints and the fixed θ, beside `spert` and sums."""
    spert, summed, best = runs("conll04", "spert"), runs("conll04-sums", "spertmt-sums"), recommended()
    setting = "`spertmt`, sums + `head_lr` 5e-4"
    rows = [_f1_row("`spert`, dev-selected", spert, BEST),
            _f1_row("`spertmt`, sums, dev-selected", summed, BEST),
            bold(_f1_row(f"{setting}, dev-selected, θ tuned on dev", best, BEST)),
            _f1_row(f"{setting}, dev-selected, θ = 0.85", best, FIXED),
            _f1_row("`spert`, last epoch", spert, LAST),
            _f1_row("`spertmt`, sums, last epoch", summed, LAST),
            _f1_row(f"{setting}, last epoch, θ tuned on dev", best, LAST)]
    return table(["setting", "seeds", "NER F1", "RE F1", "RE+ F1"], rows)


def ablations_sums_head_lr() -> str:
    """The paper's three ablations under the recommended setting, CoNLL04 test, means over seeds."""
    cells = [("full model (grid conll04-sums-head-lr)", recommended()),
             ("-EIL (plain BCE for identification)", runs("conll04-ablations-sums-head-lr", "-EIL")),
             ("-entity-logits", runs("conll04-ablations-sums-head-lr", "-entity-logits")),
             ("-MTL (softmax heads with \"none\")", runs("conll04-ablations-sums-head-lr", "-MTL"))]
    rows = [[label, seed_list(records)] + [f"{mean(records, c, s):.2f}" for c in (BEST, LAST) for s, _ in SETTINGS]
            for label, records in cells]
    return table(["setting", "seeds", "dev-selected: NER", "RE", "RE+", "last epoch: NER", "RE", "RE+"], rows)


def ablations() -> str:
    """Grid conll04-ablations (means, as the paper's method was first read) against grid conll04's full model."""
    cells = [("full SpERT.MT", runs("conll04", "spertmt")),
             ("-MTL (softmax heads with \"none\", entity logits kept)", runs("conll04-ablations", "-MTL")),
             ("-EIL (plain BCE for entity identification)", runs("conll04-ablations", "-EIL")),
             ("-entity-logits", runs("conll04-ablations", "-entity-logits"))]
    rows = [[label, seed_list(r), prf(r, BEST, "ner"), f1(r, BEST, "re"), prf(r, BEST, "re_strict")]
            for label, r in cells]
    return table(["setting", "seeds", "NER P / R / F1", "RE F1", "RE+ P / R / F1"], rows)


def ablation_changes() -> str:
    """Each ablation's test NER / RE+ minus the full model's of the same seed (dev-selected)."""
    full = {r["seed"]: r for r in runs("conll04", "spertmt")}
    rows = []
    for cell in ("-MTL", "-EIL", "-entity-logits"):
        records = {r["seed"]: r for r in runs("conll04-ablations", cell)}
        changes = {seed: [mean([records[seed]], BEST, s) - mean([full[seed]], BEST, s) for s in ("ner", "re_strict")]
                   for seed in records}
        cells = [" / ".join(f"{d:+.2f}" for d in changes[seed]) if seed in changes else "" for seed in sorted(full)]
        average = [statistics.fmean(c[i] for c in changes.values()) for i in range(2)]
        rows.append([cell] + cells + [" / ".join(f"{d:+.2f}" for d in average)])
    return table(["setting"] + [f"seed {s}" for s in sorted(full)] + ["mean"], rows)


def negatives() -> str:
    """Grid conll04-negatives: both modes with 20-200 negatives, seed 0; `spert`'s 100 from grid conll04."""
    rows = []
    for mode in ("spert", "spertmt"):
        counts = [(n, runs("conll04-negatives", f"{mode}-{n}", seeds=[0])) for n in (20, 60, 120, 200)]
        if mode == "spert":
            counts.insert(2, ("100 (default, grid `conll04`)", runs("conll04", "spert", seeds=[0])))
        for n, records in counts:
            label = f"{n} (its default)" if mode == "spertmt" and n == 120 else str(n)
            rows.append([f"`{mode}`", label, prf(records, BEST, "ner"), f1(records, BEST, "re"),
                         prf(records, BEST, "re_strict"), dev_best(records[0])])
    return table(["mode", "negatives", "NER P / R / F1", "RE F1", "RE+ P / R / F1", "dev RE+ F1 (epoch)"], rows)


# --- SciERC and ADE ------------------------------------------------------------------------------

def _paper_prf(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def scierc() -> str:
    """Grid scierc (means), seed 0, both modes and checkpoints, with the paper's SciBERT rows."""
    rows = []
    for mode in ("spert", "spertmt"):
        record = runs("scierc", mode)
        for checkpoint in (BEST, LAST):
            name = (f"dev-selected (epoch {record[0]['dev_best']['epoch']})" if checkpoint == BEST else "last epoch")
            rows.append([f"`{mode}`", name] + [prf(record, checkpoint, s) for s, _ in SETTINGS])
    for name, (ner, relations) in PAPER_SCIERC.items():
        rows.append([f"the paper, {name} (SciBERT)", "", _paper_prf(ner), _paper_prf(relations), ""])
    return table(["mode", "checkpoint", "NER P / R / F1", "RE P / R / F1", "RE+ P / R / F1"], rows)


def scierc_test() -> str:
    """SciERC test under the CoNLL04 dev choice: dev-selected checkpoints, and the last epoch beside."""
    spert, means, best = scierc_spert(), runs("scierc", "spertmt"), recommended("scierc")

    def row(label, records, checkpoint=BEST, last=True):
        return _f1_row(label, records, checkpoint) + [triple(records, LAST) if last else ""]

    rows = [row("`spert` (seed 0: grid scierc; seed 1: grid scierc-sums-head-lr)", spert),
            row("`spertmt`, means (grid scierc, the old default)", means),
            bold(row("`spertmt`, sums + `head_lr`, θ tuned on dev", best)),
            row("the same checkpoints at θ = 0.85", best, FIXED, last=False)]
    return table(["setting", "seeds", "NER F1", "RE F1", "RE+ F1", "last epoch: NER / RE / RE+"], rows)


def _ade_rows(label, records, folds=True):
    rows = [[label, str(r["fold"]), prf([r], LAST, "ner", "macro"), prf([r], LAST, "re", "macro")]
            for r in records] if folds else []
    folds_named = ", ".join(str(r["fold"]) for r in records)
    rows.append([label, f"mean ± sd of {folds_named}", prf(records, LAST, "ner", "macro"),
                 prf(records, LAST, "re", "macro")])
    return rows


def ade() -> str:
    """Grid ade (means): seed 0, the folds run, last epoch (no dev set), macro, with the paper's BioBERT rows."""
    rows = _ade_rows("`spert`", runs("ade", "spert")) + _ade_rows("`spertmt`", runs("ade", "spertmt"))
    for name, (ner, relations) in PAPER_ADE.items():
        rows.append([f"the paper, {name} (BioBERT)", "10", _paper_prf(ner), _paper_prf(relations)])
    return table(["mode", "folds", "NER P / R / F1", "RE P / R / F1 (= RE+)"], rows)


def ade_sums_head_lr() -> str:
    """The recommended setting on ADE's folds beside grid ade's `spert` and means."""
    rows = (_ade_rows("`spert`", runs("ade", "spert")) + _ade_rows("`spertmt`, means (the old default)",
                                                                    runs("ade", "spertmt"), folds=False)
            + _ade_rows("`spertmt`, sums + `head_lr`", recommended("ade")))
    return table(["mode", "fold", "NER P / R / F1", "RE P / R / F1 (= RE+)"], rows)


# --- dev screens ---------------------------------------------------------------------------------

def _curve_row(label, record, epochs, tuned=True):
    return ([label] + [dev_at(record, e) for e in epochs] + [dev_best(record), dev_ner_at_best(record)]
            + ([dev_tuned(record)] if tuned else []))


def balance() -> str:
    """The CoNLL04 dev screen of SpERT.MT's loss balance, seed 0, with earlier records as references."""
    epochs = (1, 2, 3, 5, 10, 20)
    one = lambda grid, cell, seed=0: runs(grid, cell, seeds=[seed])[0]  # noqa: E731
    cells = [("`spert`, seed 1", one("conll04", "spert", 1)),
             ("`spert`, seed 2", one("conll04", "spert", 2)),
             ("`spert`, 120 negatives, seed 0", one("conll04-negatives", "spert-120")),
             ("`spertmt`, means (the old default)", one("conll04-negatives", "spertmt-120")),
             ("`spertmt`, **sums**", one("conll04-balance", "sum")),
             ("`spertmt`, means, `head_lr` 5e-4", one("conll04-balance", "head-lr")),
             ("`spertmt`, sums, `head_lr` 5e-4", one("conll04-balance", "sum+head-lr")),
             ("`spertmt`, means, ranking averaged apart", one("conll04-balance", "separate")),
             ("`spertmt`, sums, `head_lr` 5e-4, weights averaged (`ema_decay` 0.999)",
              one("conll04-balance", "sum+head-lr+ema")),
             ("`spertmt`, means, uncertainty weights, `head_lr`", one("conll04-balance", "uncertainty+head-lr")),
             ("`spertmt`, sums, `head_lr` 5e-4, β = 0.5", one("conll04-balance", "sum+head-lr+beta-0.5")),
             ("`spertmt`, sums, `head_lr` 5e-4, β = 2", one("conll04-balance", "sum+head-lr+beta-2"))]
    rows = [_curve_row(label, record, epochs) for label, record in cells]
    return table(["setting", "epoch 1", "2", "3", "5", "10", "20", "best dev RE+ (epoch)", "dev NER there",
                  "θ tuned on dev: NER / RE+ (optimistic)"], rows)


def scierc_screen() -> str:
    """The SciERC dev screen, seed 0 (and the recommended setting's seeds), with grid scierc's curves."""
    epochs = (1, 3, 5, 10, 15, 20)
    best = recommended("scierc")
    cells = [("`spert`", runs("scierc", "spert")[0]),
             ("`spertmt`, means (the old default)", runs("scierc", "spertmt")[0]),
             ("`spertmt`, **sums** (the default)", runs("scierc-balance", "sum")[0])]
    cells += [(f"`spertmt`, sums, `head_lr` 5e-4, seed {r['seed']} (grid scierc-sums-head-lr)", r) for r in best]
    rows = [_curve_row(label, record, epochs) for label, record in cells]
    return table(["setting", "epoch 1", "3", "5", "10", "15", "20", "best dev RE+ (epoch)", "dev NER there",
                  "θ tuned on dev: NER / RE+ (optimistic)"], rows)


def averaging() -> str:
    """Weight averaging against the plain best cell of the CoNLL04 dev screen (seed 0)."""
    epochs = (1, 2, 3, 5, 10, 20)
    rows = []
    for label, cell in (("sums + `head_lr`", "sum+head-lr"), ("sums + `head_lr` + average", "sum+head-lr+ema")):
        record = runs("conll04-balance", cell)[0]
        rows.append([label] + [dev_at(record, e) for e in epochs]
                    + [dev_best(record), dev_ner_at_best(record, 2), *late_mean(record, 10)])
    return table(["setting", "epoch 1", "2", "3", "5", "10", "20", "best dev RE+ (epoch)", "dev NER there",
                  "mean of epochs 10-20: NER / RE+", "dev RE+ change from epoch to epoch, 10-20 (mean)"], rows)


def _dev_selected(record) -> list[str]:
    return [f"{record['dev_selected'][s]['micro']['f1']:.2f}" for s in ("ner", "re_strict")]


def short() -> str:
    """The 3-epoch short preset's dev screen (grid conll04-short, seed 0): dev F1 at the best dev epoch."""
    cells = [("the preset as it was (means, lr 3e-4 for everything)", "preset"),
             ("means, encoder lr 1e-4, `head_lr` 1e-3", "head-lr"),
             ("sums, lr 1e-4", "sum"),
             ("sums, lr 1e-4, `head_lr` 1e-3", "sum+head-lr"),
             ("sums, lr 1e-4, `head_lr` 1e-3, 2 epochs", "sum+head-lr+2-epochs"),
             ("**sums, lr 1e-4, `head_lr` 1e-3, length buckets (the preset now)**", "sum+head-lr+buckets"),
             ("`spert`, lr 1e-4, `head_lr` 1e-3", "spert")]
    rows = [[label] + _dev_selected(runs("conll04-short", cell)[0]) for label, cell in cells]
    return table(["setting", "dev NER", "dev RE+"], rows)


def short_buckets() -> str:
    """The short preset with and without length buckets over seeds 0-2 (seed 0 from grid conll04-short)."""
    rows = []
    for label, cell, first in (("without buckets", "preset", "sum+head-lr"), ("**with buckets**", "buckets",
                                                                             "sum+head-lr+buckets")):
        records = runs("conll04-short", first) + runs("conll04-short-buckets", cell)
        per_seed = [" / ".join(_dev_selected(r)) for r in records]
        means = " / ".join(f"{statistics.fmean(r['dev_selected'][s]['micro']['f1'] for r in records):.2f}"
                           for s in ("ner", "re_strict"))
        epoch_s = statistics.median(r["epoch_s_median"] for r in records[1:])
        rows.append([label] + per_seed + [means, f"{epoch_s:.0f} s"])
    return table(["preset, dev NER / RE+", "seed 0", "seed 1", "seed 2", "mean of seeds 0-2",
                  "epoch time, median of seeds 1, 2"], rows)


# --- diagnostics (dev sets and initialisation) --------------------------------------------------

def _gradient_rows(settings: dict[str, str], extra) -> list[list[str]]:
    data = json.loads((RESULTS / "diagnostics" / "gradient-balance.json").read_text())
    found = {row["setting"]: row for row in data["rows"]}
    return [[label, _norm(found[key]["entity"]), _norm(found[key]["relation"]),
             f"{found[key]['relation_over_entity']:.2f}"] + extra(found[key]) for key, label in settings.items()]


def _norm(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def gradient_balance() -> str:
    """How hard each head's loss pulls on the encoder at initialisation (results/diagnostics/gradient-balance.json)."""
    settings = {"spert": "`spert`", "spertmt": "`spertmt`", "spertmt -MTL": "`spertmt` -MTL",
                "spertmt, p(s) detached": "`spertmt`, p(s) detached"}
    rows = _gradient_rows(settings, lambda row: [f"{row['relation_over_entity_if_sums']:.2f}"])
    return table(["setting", "encoder gradient norm, entity loss", "relation loss", "relation / entity",
                  "the same if each loss were a sum over its samples"], rows)


def gradient_readings() -> str:
    """The same measurement for the readings of the loss balance, with the whole gradient and clipping."""
    settings = {"spert": "`spert`", "spertmt": "`spertmt`, means",
                "spertmt, sums (loss_reduction = sum)": "`spertmt`, sums (`loss_reduction = sum`)",
                "spertmt, ranking averaged apart (ranking_average = separate)":
                    "`spertmt`, means, ranking averaged apart",
                "spertmt, negatives' ranking x 0.1": "`spertmt`, means, negatives' ranking × 0.1",
                "spertmt, relation_weight 0.25": "`spertmt`, means, `relation_weight` 0.25"}
    rows = _gradient_rows(settings, lambda row: [f"{row['total_norm']:.1f}" if row["total_norm"] < 100
                                                 else f"{row['total_norm']:.0f}", f"{100 * row['clipped']:.0f} %"])
    return table(["setting", "encoder gradient norm, entity loss", "relation loss", "relation / entity",
                  "whole gradient's norm", "batches clipped at 1.0"], rows)


def held_out() -> str:
    """Dev-only checks on held-out halves (results/diagnostics/held-out-dev.json, by experiments/held_out_dev.py)."""
    data = json.loads((RESULTS / "diagnostics" / "held-out-dev.json").read_text())

    def cell(entry, values=True):
        if not entry:
            return ""
        spread = " (" + ", ".join(f"{v:+.2f}" if v else "0.00" for v in entry["values"]) + ")" if values else ""
        return f"{entry['mean']:+.2f}{spread}"

    rows = []
    for name in ("-EIL", "-entity-logits", "-MTL"):
        found = data[f"conll04-ablations-sums-head-lr/{name}"]
        seeds = ", ".join(run.removeprefix("seed") for run in found["runs"])
        theta = found["theta_tuned_minus_fixed"]
        best, last = theta.get(BEST_FOLDER, {}), theta.get(LAST_FOLDER, {})
        rows.append([f"{name}, seeds {seeds}" + ("" if theta else " (no θ to tune)"),
                     ", ".join(map(str, found["chosen_epochs"])),
                     cell(found["selection_minus_last"]["ner"]), cell(found["selection_minus_last"]["re_strict"]),
                     cell(best.get("ner"), False), cell(best.get("re_strict")),
                     cell(last.get("ner"), False), cell(last.get("re_strict"))])
    return table(["runs", "epochs chosen on a half", "chosen - last epoch: NER", "RE+",
                  "θ tuned on a half - θ 0.85, chosen checkpoint: NER", "RE+", "the same, last checkpoint: NER",
                  "RE+"], rows)


def scierc_curves() -> str:
    """Grid scierc's dev F1 after each epoch (NER / RE+), both modes."""
    epochs = (1, 3, 5, 8, 10, 12, 14, 16, 18, 20)
    rows = [[f"`{mode}`"] + [dev_at(runs("scierc", mode)[0], e) for e in epochs] for mode in ("spert", "spertmt")]
    return table(["epoch"] + [str(e) for e in epochs], rows)


def flat_ner() -> str:
    """Nested against flat decoding on dev sets (results/flat-ner/, by experiments/flat_ner_dev.py)."""
    rows = []
    for name in ("conll04-dev", "conll04-dev-20-epochs", "scierc-dev", "ade-fold0-heldout"):
        record = json.loads((RESULTS / "flat-ner" / f"{name}.json").read_text())
        cells = []
        for key in ("ner", "re_strict"):
            nested, flat = record["nested"][key]["f1"], record["flat"][key]["f1"]
            cells.append(f"{nested:.2f} / {flat:.2f} ({flat - nested:+.2f})")
        overlapping, total = record["train_overlapping_entities"], record["train_entities"]
        rows.append([f"`results/flat-ner/{name}.json`", f"{overlapping} of {total} ({100 * overlapping / total:.1f} %)",
                     str(record["config"]["epochs"]), *cells])
    return table(["record", "overlapping training entities", "epochs", "NER F1 nested / flat",
                  "RE+ F1 nested / flat"], rows)


def _calibration_records() -> list[dict]:
    """results/calibration/*.json (experiments/calibration.py), by name."""
    return [json.loads(path.read_text()) for path in sorted((RESULTS / "calibration").glob("*.json"))]


def calibration() -> str:
    """Test items' ECE and Brier score with the model's own probabilities and calibrated on dev."""
    rows = []
    for record in _calibration_records():
        for head in ("entity", "relation"):
            test, fitted = record["test"][head], record["dev"].get(head, {})
            before, after = test["before"], test["after"]
            floor = after.get("ece_if_calibrated")
            rows.append([f"`{record['name']}`", head, str(before["items"]), fitted.get("chosen", "not calibrated"),
                         f"{before['ece']:.3f} -> {after['ece']:.3f}",
                         f"{floor['median']:.3f} / {floor['p95']:.3f}" if floor else "not recorded",
                         f"{before['brier']:.3f} -> {after['brier']:.3f}",
                         f"{before['mean_probability'] or 0:.2f} / {after['mean_probability'] or 0:.2f} / "
                         f"{before['right'] or 0:.2f}"])
    if not rows:
        rows.append(["no record yet", "", "", "", "", "", "", ""])
    return table(["record (results/calibration/)", "head", "test items", "method chosen on dev",
                  "ECE own -> calibrated", "ECE of perfect calibration on these items: median / 95%",
                  "Brier own -> calibrated", "mean probability own / calibrated / share right"], rows)


def pooled_calibration(found: list[dict]) -> dict:
    """One head's test items of several runs taken together, from each run's test_calibration (its
    reliability bins and Brier score; the bins share their edges, so the ECE of the union is exact):
    items, ECE and Brier score before and after calibration, and the ECE that perfect calibration
    would show on them with each item at its bin's mean probability (the records keep no item's own;
    on each run of seeds 3-4 this came within 0.002 of the recorded figure from the items)."""
    from spertmt.inference.calibration import ece_if_calibrated

    items = sum(f["before"]["items"] for f in found)
    out: dict = {"items": items}
    for when in ("before", "after"):
        bins = list(zip(*(f[f"bins_{when}"] for f in found)))  # per bin, each run's
        counts = [sum(b["items"] for b in runs) for runs in bins]
        probability = [sum(b["items"] * (b["probability"] or 0) for b in runs) for runs in bins]
        right = [sum(b["items"] * (b["right"] or 0) for b in runs) for runs in bins]
        out[when] = {"ece": sum(abs(p - r) for p, r in zip(probability, right)) / items,
                     "brier": sum(f[when]["brier"] * f[when]["items"] for f in found) / items}
        if when == "after":
            at_means = [p / n for p, n in zip(probability, counts) for _ in range(n)]
            out["floor"] = ece_if_calibrated(at_means)
    return out


def base_size_calibration() -> str:
    """Grid conll04-mpnet's test items per run, with the models' own probabilities and calibrated on
    dev as training fits it (the records' test_calibration; runs older than it have none), and per
    mode the runs' items taken together (pooled_calibration)."""
    rows = []
    for label, cell in (("SpERT.MT", "spertmt-sums-head-lr"), ("`spert`", "spert-tuned")):
        measured = [record for record in mpnet(cell) if record.get("test_calibration")]
        for record in measured:
            for head, found in record["test_calibration"].items():
                before, after = found["before"], found["after"]
                floor = after.get("ece_if_calibrated")
                rows.append([label, str(record["seed"]), head, str(before["items"]),
                             f"{before['ece']:.3f} -> {after['ece']:.3f}",
                             f"{floor['median']:.3f} / {floor['p95']:.3f}" if floor else "not recorded",
                             f"{before['brier']:.3f} -> {after['brier']:.3f}", record["machine"]["commit"]])
        for head in ("entity", "relation"):
            if len(measured) > 1:
                pooled = pooled_calibration([record["test_calibration"][head] for record in measured])
                seeds = ", ".join(str(record["seed"]) for record in measured)
                rows.append([label, f"{seeds} pooled", head, str(pooled["items"]),
                             f"{pooled['before']['ece']:.3f} -> {pooled['after']['ece']:.3f}",
                             f"{pooled['floor']['median']:.3f} / {pooled['floor']['p95']:.3f} (items at their "
                             "bin's mean)", f"{pooled['before']['brier']:.3f} -> {pooled['after']['brier']:.3f}",
                             "-"])
    return table(["mode", "seed", "head", "test items", "ECE own -> calibrated",
                  "ECE of perfect calibration on these items: median / 95%", "Brier own -> calibrated",
                  "commit"], rows)


def precision_targets() -> str:
    """θ chosen on dev for a precision target, per type and per head, with relations cut on their score
    and on their joint score, and the precision and recall the test set then shows."""
    rows = []
    for record in _calibration_records():
        tuned = record["test"]["at_tuned_threshold"]

        def cell(found: dict, setting: str, target: bool) -> str:
            if found[setting]["recall"] == 0:
                return "nothing kept"
            text = f"{found[setting]['precision']:.1f} / {found[setting]['recall']:.1f}"
            # `spert` decides entities by argmax over "none": a target moves its relations only
            return text + (" (argmax: no θ)" if target and setting == "ner" and record["mode"] == "spert" else "")

        rows.append([f"`{record['name']}`", "θ for F1 (tuned on dev)", "-", cell(tuned, "ner", False),
                     cell(tuned, "re_strict", False), "-"])
        found = {(row["target"], row["per_type"], row["relations_on"]): row for row in record["targets"]}
        for target, per_type in dict.fromkeys((row["target"], row["per_type"]) for row in record["targets"]):
            score, joint = (found[target, per_type, on] for on in ("score", "joint"))
            rows.append([f"`{record['name']}`", f"precision {target:.2f} at {joint['confidence']:.2f}, "
                         + ("per type" if per_type else "per head"),
                         f"{_dev_kept(score, per_type)} / {_dev_kept(joint, per_type)}",
                         cell(joint["test"], "ner", True), cell(score["test"], "re_strict", True),
                         cell(joint["test"], "re_strict", True)])
    if not rows:
        rows.append(["no record yet", "", "", "", "", ""])
    return table(["record (results/calibration/)", "θ chosen on dev for",
                  "dev relations kept at the bound: cut on the score / on the joint score", "test NER P / R",
                  "test RE+ P / R, relations cut on their score", "... on their joint score"], rows)


def _dev_kept(row: dict, per_type: bool) -> int:
    """The dev relations a target's cuts keep: the types' own cuts, or the head's one."""
    cuts = row["dev"].get("relation", {})
    return sum(cut["kept"] or 0 for name, cut in cuts.items() if (name != "*") == per_type)


# experiments/int8_onnx_dev.py's records: three models of grid calibration-conll04's setting (seeds
# 0, 1, 2) trained on the 2-core Intel Xeon, and the records of seed 0 as trained on the 2-core AMD
# EPYC before (its other variants' record first).
INT8_SEEDS = ("int8-onnx-dev-xeon-seed0", "int8-onnx-dev-xeon-seed1", "int8-onnx-dev-xeon-seed2")
INT8_EPYC = ("int8-onnx-dev-per-token", "int8-onnx-dev")
# the same, the int8 encoder quantised from the packed graph (--packed)
INT8_PACKED_SEEDS = tuple(name.replace("xeon-", "xeon-packed-") for name in INT8_SEEDS)
INT8_PACKED_EPYC = ("int8-onnx-dev-packed-conll04",)
PACKED = " (quantised from the packed graph)"
# the same three models exported with attention as one operator (opset 23, what export writes since):
# their fp32 is that graph's too
INT8_ATTENTION_SEEDS = tuple(name.replace("xeon-", "xeon-attention-") for name in INT8_SEEDS)
ATTENTION = " (attention as one fp32 operator, opset 23)"


def diagnostic_rows(name: str) -> dict:
    """results/diagnostics/NAME.json's rows by their variant."""
    return {row["variant"]: row for row in json.loads((RESULTS / "diagnostics" / f"{name}.json").read_text())["rows"]}


def int8_models() -> str:
    """docs/faster.md: each int8 encoder's F1 minus fp32's on CoNLL04 dev, model by model."""

    def packed(name: str) -> dict:
        return {variant + PACKED: row for variant, row in diagnostic_rows(name).items() if variant != "fp32"}

    def attention(name: str) -> dict:  # its record, then the variants of a second run on the same exports
        rows = diagnostic_rows(name)
        for variant, row in diagnostic_rows(name.replace("attention-", "attention-more-")).items():
            rows.setdefault(variant, row)
        return {variant + ATTENTION: row for variant, row in rows.items()}

    seeds = [{**diagnostic_rows(name), **packed(other), **attention(third)}
             for name, other, third in zip(INT8_SEEDS, INT8_PACKED_SEEDS, INT8_ATTENTION_SEEDS)]
    epyc: dict = {}
    for name in INT8_EPYC:
        epyc = {**diagnostic_rows(name), **epyc}
    for name in INT8_PACKED_EPYC:
        epyc.update(packed(name))

    def loss(row: dict | None) -> str:
        return f"{row['ner_minus_fp32']:+.2f} / {row['re_strict_minus_fp32']:+.2f}" if row else "not run"

    def scores(row: dict | None) -> str:  # fp32's own F1
        return f"{row['ner']:.2f} / {row['re_strict']:.2f}" if row else "not run"

    rows = []
    for variant in seeds[0]:
        shown = loss if "ner_minus_fp32" in seeds[0][variant] else scores
        rows.append([variant.replace("fp32", "fp32 (NER / RE+ F1)", 1) if shown is scores else variant,
                     *(shown(s.get(variant)) for s in seeds), shown(epyc.get(variant)),
                     " / ".join(f"{s[variant]['in_process_s']:.1f}" for s in seeds)])
    return table(["int8 encoder: NER / RE+ F1 minus fp32's", "seed 0", "seed 1", "seed 2",
                  "seed 0 trained on the AMD EPYC", "in process, s (seeds 0 / 1 / 2, one run each)"], rows)


INT8_INTERVAL_SEEDS = tuple(name.replace("xeon-", "xeon-intervals-") for name in INT8_SEEDS)


def int8_intervals() -> str:
    """docs/faster.md: int8 minus fp32 on CoNLL04 dev for the three Xeon models, with the 95% paired
    bootstrap interval over the dev sentences and the rule's word."""
    from spertmt.experiment.intervals import verdict

    records = [diagnostic_rows(name) for name in INT8_INTERVAL_SEEDS]
    rows = []
    for variant in (v for v in records[0] if v != "fp32"):
        for key, measure in (("ner", "NER"), ("re_strict", "RE+")):
            cells = []
            for record in records:
                row = record[variant]
                low, high = row[f"{key}_minus_fp32_interval"]
                cells.append(f"{row[f'{key}_minus_fp32']:+.2f} [{low:+.2f}, {high:+.2f}] {verdict(low, high)}")
            rows.append([variant, measure, *cells])
    return table(["int8 encoder (attention as one fp32 operator)", "F1", "seed 0: int8 - fp32 [95% interval]",
                  "seed 1", "seed 2"], rows)



# experiments/int8_export_check.py's records (what `spertmt export` writes for the three Xeon models),
# and bench/cold_start.py's records of the int8 encoder export writes for two of them
INT8_EXPORT_SEEDS = ("int8-export-check-xeon-seed0", "int8-export-check-xeon-seed1", "int8-export-check-xeon-seed2")
INT8_EXPORT_SPEED = {0: "cold-start", 2: "cold-start-int8-ffn-fp32-seed2"}


def int8_export() -> str:
    """docs/faster.md: export's dev check of each model's int8 encoder, what it wrote, and the whole
    process's time on the 922 CoNLL04 training sentences where measured."""

    def loss(tried: dict) -> str:
        return f"{0.0 - tried['loss']['ner']:+.2f} / {0.0 - tried['loss']['re_strict']:+.2f}"

    def speed(seed: int) -> str:
        if seed not in INT8_EXPORT_SPEED:
            return "not measured"
        record = json.loads((ROOT / "bench" / "results" / f"{INT8_EXPORT_SPEED[seed]}.json").read_text())
        times = {row["runtime"]: row["median_s"] for row in record["rows"] if row["input"].startswith("922")}
        int8, fp32 = times["onnx int8 (no torch)"], times["onnx fp32 (no torch)"]
        return f"{int8:.2f} / {fp32:.2f} s = {int8 / fp32:.2f}x"

    rows = []
    for seed, name in enumerate(INT8_EXPORT_SEEDS):
        check = json.loads((RESULTS / "diagnostics" / f"{name}.json").read_text())["int8"]["dev_check"]
        tried = check["tried"]
        rows.append([f"seed {seed}", f"{check['fp32']['ner']:.2f} / {check['fp32']['re_strict']:.2f}",
                     loss(tried[0]), loss(tried[1]) if len(tried) > 1 else "not needed",
                     "FFN outputs in fp32" if check["fp32_layers"] else "all int8", speed(seed)])
    return table(["model", "fp32 NER / RE+ F1 (dev)", "int8, all linear layers: minus fp32",
                  "int8, the 6 FFN output layers in fp32: minus fp32", "written", "whole process, int8 / fp32"],
                 rows)


SENTENCE_SPLIT_STEPS = (("before", "a full stop before a capital ends a sentence"),
                        ("sentences", "... unless it closes an abbreviation"),
                        ("words", "... which also keeps its full stop as a word"),
                        ("hyphens", "... and hyphenated words whole, as the training data's"),
                        ("states", "... and a US state's full stop in its word ('Tenn.')"))
WRAPPED_STEPS = (("wrapped-before", "a line break ends a sentence"),
                 ("wrapped-after", "a line break inside a paragraph is a space"))
SENTENCE_SPLITS = (("CoNLL04 dev", "conll04-dev", SENTENCE_SPLIT_STEPS),
                   ("CoNLL04 test", "conll04-test", SENTENCE_SPLIT_STEPS),
                   ("SciERC dev", "scierc-dev", SENTENCE_SPLIT_STEPS[0:4:3]),
                   ("CoNLL04 dev, wrapped at 80 characters", "conll04-dev", WRAPPED_STEPS),
                   ("CoNLL04 test, wrapped at 80 characters", "conll04-test", WRAPPED_STEPS))


def sentence_splits() -> str:
    """docs/results.md: the cuts raw-text extraction's sentence splitter made inside one-sentence
    documents at each step of its rules, and the F1 of extracting the documents as raw text and as
    word lists (experiments/sentence_splits.py)."""
    rows = []
    for name, stem, steps in SENTENCE_SPLITS:
        for when, label in steps:
            record = json.loads((RESULTS / "diagnostics" / f"sentence-splits-{stem}-{when}.json").read_text())
            f1 = record.get("f1")
            rows.append([name, f"{label} (commit {record['commit']})",
                         f"{record['documents_cut']} of {record['documents']}",
                         f"{record['relations_across_a_cut']} of {record['relations']}",
                         *(f"{f1[k]['ner_f1']:.2f} / {f1[k]['re_strict_f1']:.2f}" if f1 else "-"
                           for k in ("raw_text", "word_lists"))])
    return table(["one-sentence documents", "raw text's rule", "documents cut", "gold relations across a cut",
                  "NER / RE+ F1, extracted as raw text", "the same, as word lists (never split)"], rows)


def precision_cut_error() -> str:
    """docs/results.md: how often a θ chosen for a precision target keeps items below the target, by
    simulation (results/diagnostics/precision-cut-error.json, experiments/precision_cut_error.py)."""
    record = json.loads((RESULTS / "diagnostics" / "precision-cut-error.json").read_text())
    rules = list(record["rows"][0]["rules"])
    rows = []
    for confidence in dict.fromkeys(row["confidence"] for row in record["rows"]):
        for shape in dict.fromkeys(row["shape"] for row in record["rows"]):
            found = [row["rules"] for row in record["rows"]
                     if row["shape"] == shape and row["confidence"] == confidence]
            cells = []
            for rule in rules:
                errors = [f[rule]["error_rate"] for f in found]
                keeps = [f[rule]["keeps_something"] for f in found]
                cells += [f"{100 * min(errors):.1f}-{100 * max(errors):.1f}%", f"{100 * sum(keeps) / len(keeps):.0f}%"]
            rows.append([f"{confidence:.2f}", shape, *cells])
    header = ["confidence asked for", "chance of a right item, by rank"]
    for rule in rules:
        header += [f"{rule}: trials that err", f"{rule}: trials that keep something (mean)"]
    return table(header, rows)


def init_model_transfer() -> str:
    """docs/results.md: a small corpus trained from the encoder, from a larger corpus's model, and from
    it with the encoder frozen (results/diagnostics/init-model-transfer.json,
    experiments/init_model_transfer.py), dev only."""
    from spertmt.experiment.intervals import seed_interval

    record = json.loads((RESULTS / "diagnostics" / "init-model-transfer.json").read_text())
    arms = ("init_model", "init_model_frozen", "encoder")
    rows = []
    for figure, label in (("ner_f1", "NER"), ("re_strict_f1", "RE+"),
                          ("new_type_f1", f"RE+ of {record['new_type']} (new to the larger model)"),
                          ("shared_types_f1", "RE+ of the other relation types")):
        by_arm = {arm: [r[figure] for r in record["runs"] if r["arm"] == arm] for arm in arms}
        cells = [f"{statistics.fmean(by_arm[arm]):.2f} ± {statistics.stdev(by_arm[arm]):.2f}" for arm in arms]
        for first, second in (("init_model", "encoder"), ("init_model_frozen", "init_model")):
            interval = seed_interval(by_arm[first], by_arm[second])
            cells.append(f"{interval} {interval.word}")
        rows.append([label, *cells])
    seconds = {arm: statistics.fmean(r["training_seconds"] for r in record["runs"] if r["arm"] == arm) for arm in arms}
    rows.append(["training, seconds a run (10 epochs, mean)", *(f"{seconds[arm]:.0f}" for arm in arms), "", ""])
    return table(["CoNLL04 dev, micro F1 (3 seeds)", "from the larger corpus's model (init_model)",
                  "from it, encoder frozen (freeze_encoder)", "from the encoder",
                  "init_model - encoder [95% seed interval]", "frozen - not [95% seed interval]"], rows)


TABLES = {
    "int8-models": int8_models,
    "int8-intervals": int8_intervals,
    "int8-export": int8_export,
    "sentence-splits": sentence_splits,
    "precision-cut-error": precision_cut_error,
    "grids": grids, "headline": headline, "base-size": base_size, "base-size-seeds": base_size_seeds,
    "in-short": in_short, "modes": modes,
    "reference": reference, "claim": claim,
    "claim-margins": claim_margins, "balance": balance, "short": short, "short-buckets": short_buckets,
    "sums": sums, "sums-head-lr": sums_head_lr, "scierc-screen": scierc_screen, "scierc-test": scierc_test,
    "ablations-sums-head-lr": ablations_sums_head_lr, "ade-sums-head-lr": ade_sums_head_lr,
    "averaging": averaging, "ablations": ablations, "ablation-changes": ablation_changes,
    "negatives": negatives, "scierc": scierc, "ade": ade, "gradient-balance": gradient_balance,
    "gradient-readings": gradient_readings, "held-out": held_out, "scierc-curves": scierc_curves,
    "flat-ner": flat_ner, "config-keys": config_keys, "calibration": calibration,
    "base-size-calibration": base_size_calibration,
    "precision-targets": precision_targets,
    "init-model-transfer": init_model_transfer,
}


TABLES.update(BENCH_TABLES.TABLES)

BLOCK = re.compile(r"<!-- table: (?P<name>[\w-]+)[^>]*-->\n(?P<body>.*?)<!-- /table: (?P=name) -->", re.S)


def begin(name: str) -> str:
    return f"<!-- table: {name} (written by `{COMMAND}`; do not edit) -->"


def block(name: str) -> str:
    return f"{begin(name)}\n{TABLES[name]()}<!-- /table: {name} -->"


def rewrite(text: str, where: str) -> str:
    """The text with every table block written again; an unknown name is an error."""
    def replace(match):
        if match["name"] not in TABLES:
            raise SystemExit(f"{where}: no table named {match['name']!r}; known: {', '.join(TABLES)}")
        return block(match["name"])
    return BLOCK.sub(replace, text)


# --- the words of a comparison -------------------------------------------------------------------
# In README.md and docs/results.md the words ahead, behind and level name a comparison only by the
# rule of spertmt.experiment.intervals, and each stands with an anchor that says which:
#   level<!-- verdict: conll04-sums-head-lr/spertmt-sums-head-lr - conll04/spert ner,re_strict best -->
# (first grid/cell minus second, joined with + where a side spans grids; the settings; best or last;
# then macro where the comparison is macro; `<!-- verdict: rule -->` where the words are defined).
# `verdict_problems` finds a word without an anchor and
# one that its interval contradicts (tests/experiment/test_tables.py).
VERDICT_DOCS = (ROOT / "README.md", ROOT / "docs" / "results.md")
VERDICT_WORD = re.compile(r"\b(ahead|behind|level)\b(\**)(<!-- verdict: (?P<spec>[^>]*?) -->)?", re.I)


def _side(spec: str) -> list[dict]:
    records = []
    for part in spec.split("+"):
        grid, cell = part.split("/")
        records += runs(grid, cell)
    return records


def verdict_of(spec: str) -> list[str]:
    """The rule's word for each setting of an anchor's comparison (None: no interval)."""
    ours, minus, theirs, settings, checkpoint, *average = spec.split()
    if minus != "-" or checkpoint not in ("best", "last") or average not in ([], ["macro"]):
        raise ValueError(f"verdict anchor {spec!r}: expected 'GRID/CELL - GRID/CELL SETTINGS best|last [macro]'")
    checkpoint = BEST if checkpoint == "best" else LAST
    found = [compare(_side(ours), _side(theirs), checkpoint, s, average[0] if average else "micro")
             for s in settings.split(",")]
    return [i.word if i else None for i in found]


def verdict_problems(text: str, where: str) -> list[str]:
    """Each verdict word in `text` (outside the tables) without an anchor, or not the rule's word."""
    problems = []
    for match in VERDICT_WORD.finditer(BLOCK.sub("", text)):
        context = match.string[max(0, match.start() - 60):match.start() + 20].replace("\n", " ")
        if match["spec"] == "rule":  # the rule's own definition
            continue
        if not match["spec"]:
            problems.append(f"{where}: {match[1]!r} without a verdict anchor (...{context}...)")
            continue
        words = verdict_of(match["spec"])
        if any(w != match[1].lower() for w in words):
            problems.append(f"{where}: {match[1]!r} where the rule gives {' / '.join(map(str, words))} "
                            f"({match['spec']})")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"tables to print (default: all): {', '.join(TABLES)}")
    parser.add_argument("--write", action="store_true", help="rewrite the tables in the docs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a table in the docs differs")
    args = parser.parse_args(argv)
    if args.write or args.check:
        stale = []
        for path in DOCS:
            text = path.read_text()
            fresh = rewrite(text, str(path))
            if fresh != text:
                stale.append(path)
                if args.write:
                    path.write_text(fresh)
        verb = "rewrote" if args.write else "differ from the records"
        print(f"{verb}: {', '.join(str(p.relative_to(ROOT)) for p in stale)}" if stale else "the tables are up to date")
        problems = [p for path in VERDICT_DOCS for p in verdict_problems(path.read_text(), path.name)]
        print("\n".join(problems) or "every ahead, behind and level is the rule's word")
        return 1 if (stale or problems) and args.check else 0
    for name in args.names or TABLES:
        if name not in TABLES:
            parser.error(f"no table named {name!r}; known: {', '.join(TABLES)}")
        print(f"## {name}\n\n{TABLES[name]()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
