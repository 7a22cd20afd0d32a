"""Figures in the documentation are written by committed commands from committed records: a table
that was edited by hand, or whose records changed, fails here."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_comparison_of_the_modes_in_the_docs_is_what_its_command_writes():
    compare = _load("compare_modes")
    assert compare.block() in (ROOT / "docs" / "results.md").read_text()
