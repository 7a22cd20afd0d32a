"""A grid of training runs: the grid file, its cells and its runs.

A grid file (TOML) names a base config, seeds (and folds, for ADE's cross-validation) and cells,
each cell a list of `--set` overrides:

    name = "conll04"                          # results/conll04.json and results/conll04.md
    description = "both modes, 3 seeds"       # optional: one line, for docs/results.md's list of grids
    config = "configs/conll04-offline.toml"   # relative to the current folder
    seeds = [0, 1, 2]
    folds = [0]                               # optional (ADE: [0, 1, ..., 9])
    average = "micro"                         # the table's average: micro (CoNLL04, SciERC) or macro (ADE)
    split = "test"                            # "dev": a screening grid, scored on dev only, never on test
    set = []                                  # optional, for every cell

    [[cells]]
    name = "spert"
    set = ["mode=spert"]
    seeds = [0]                               # optional, instead of the grid's

    [plot]                                    # optional: a PNG of F1 against a config key
    x = "neg_entity_count"                    # one line per value of `series`
    series = "mode"
    metrics = ["ner", "re_strict"]            # one panel each
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, read_settings_file
from ..data.documents import is_int

SETTINGS = (("ner", "NER"), ("re", "RE"), ("re_strict", "RE+"))
SELECTIONS = (("test_best", "checkpoint selected on dev (RE+ F1)"), ("test_last", "last epoch's checkpoint"))
# A screening grid (split = "dev") never touches the test set: its runs train with no test set and
# are recorded by their dev metrics, at the best dev epoch and at the last (at the config's θ).
DEV_SELECTIONS = (("dev_selected", "best dev epoch (RE+ F1)"), ("dev_last", "last epoch"))
# Runs that tune θ on dev (threshold_selection) score their test metrics at the tuned θ, and the
# dev-selected checkpoint also at the config's θ: this table, for the cells that have it.
FIXED_THRESHOLD = ("test_best_fixed_threshold",
                   "checkpoint selected on dev, at the config's θ (the tables above use θ tuned on dev where a "
                   "cell tunes it)")


@dataclass
class Cell:
    name: str
    overrides: list[str]
    seeds: list[int]
    folds: list[int]


@dataclass
class Grid:
    name: str
    config: str
    cells: list[Cell]
    average: str = "micro"
    plot: dict = field(default_factory=dict)
    path: str = ""
    split: str = "test"
    description: str = ""

    @property
    def selections(self) -> tuple[tuple[str, str], ...]:
        return DEV_SELECTIONS if self.split == "dev" else SELECTIONS

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        path = Path(path)
        data = read_settings_file(path, "grid file", ".toml")[1]
        known = {"name", "description", "config", "seeds", "folds", "average", "set", "cells", "plot", "split"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
        for key in ("name", "config", "cells"):
            if key not in data:
                raise ValueError(f"{path}: missing key {key!r}")
        if data.get("average", "micro") not in ("micro", "macro"):
            raise ValueError(f"{path}: average must be micro or macro")
        split = data.get("split", "test")
        if split not in ("test", "dev"):
            raise ValueError(f"{path}: split must be test or dev, not {split!r}")
        if not isinstance(data["cells"], list) or not all(isinstance(cell, dict) for cell in data["cells"]):
            raise ValueError(f"{path}: cells must be a list of tables ([[cells]] with a name and a set each)")
        tables = [data] + data["cells"]
        for key in ("seeds", "folds"):
            if any(key in t and not (isinstance(t[key], list) and t[key] and all(is_int(v) for v in t[key])
                                     and len(set(t[key])) == len(t[key])) for t in tables):
                raise ValueError(f"{path}: {key} must be a list of different whole numbers, e.g. {key} = [0, 1, 2]")
        for name in [data["name"]] + [cell["name"] for cell in data["cells"] if "name" in cell]:
            if not isinstance(name, str) or not name.strip() or name in (".", "..") or any(c in name for c in "/\\"):
                raise ValueError(f"{path}: name {name!r} names the folders of the runs and records: a word without / "
                                 "or \\, e.g. name = \"sum+head-lr\"")
        if any("set" in t and not (isinstance(t["set"], list) and all(isinstance(v, str) for v in t["set"]))
               for t in tables):
            raise ValueError(f'{path}: set must be a list of "key=value" strings, e.g. set = ["epochs=3"]')
        seeds, folds, common = data.get("seeds", [0]), data.get("folds", [0]), list(data.get("set", []))
        dev_only = ["test_path="] if split == "dev" else []  # last, so that no cell brings the test set back
        cells = []
        for i, cell in enumerate(data["cells"]):
            if "name" not in cell:
                raise ValueError(f"{path}: cell {i} has no name")
            overrides = common + list(cell.get("set", [])) + dev_only
            cells.append(Cell(cell["name"], overrides, list(cell.get("seeds", seeds)),
                              list(cell.get("folds", folds))))
        names = [c.name for c in cells]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: cell names repeat: {names}")
        grid = cls(data["name"], data["config"], cells, data.get("average", "micro"), data.get("plot", {}), str(path),
                   split, data.get("description", ""))
        for cell in cells:  # fail now, not hours later, on a misspelt key
            grid.cell_config(cell, cell.seeds[0], cell.folds[0])
        return grid

    def cell_config(self, cell: Cell, seed: int, fold: int) -> Config:
        return Config.load(self.config).override(cell.overrides + [f"seed={seed}", f"fold={fold}"],
                                                 f"{self.path}, cell {cell.name!r}, set").resolved()



@dataclass
class Run:
    cell: Cell
    seed: int
    fold: int

    @property
    def key(self) -> str:
        return f"{self.cell.name}/seed{self.seed}" + (f"-fold{self.fold}" if len(self.cell.folds) > 1 else "")



def runs_of(grid: Grid) -> list[Run]:
    """Seed by seed, so that a grid cut short has every cell's first seed first."""
    runs = []
    for seed in sorted({s for c in grid.cells for s in c.seeds}):
        for fold in sorted({f for c in grid.cells for f in c.folds}):
            runs += [Run(c, seed, fold) for c in grid.cells if seed in c.seeds and fold in c.folds]
    return runs


def train_command(grid: Grid, run: Run, output: Path) -> list[str]:
    sets = run.cell.overrides + [f"seed={run.seed}"] + ([f"fold={run.fold}"] if len(run.cell.folds) > 1 else [])
    command = ["spertmt", "train", "--config", grid.config]
    for assignment in sets:
        command += ["--set", assignment]
    return command + ["--output", str(output), "--quiet"]

