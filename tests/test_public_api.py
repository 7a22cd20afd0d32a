"""The public names of `spertmt` mean one thing whatever was imported before: every submodule is
imported first, then each name is looked up and called."""

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

CHECK = r'''
import importlib, pkgutil, sys, tempfile
import spertmt

if sys.argv[1] == "submodules first":
    for module in pkgutil.walk_packages(spertmt.__path__, "spertmt."):
        if module.name not in ("spertmt.__main__", "spertmt._C"):  # runs the CLI; the kernels, ops loads them
            importlib.import_module(module.name)

defined_in = dict(spertmt._EXPORTS, load="spertmt", train="spertmt", evaluate=".evaluate", __version__=None)
for name in spertmt.__all__:
    value = getattr(spertmt, name)
    where = defined_in[name]
    where = where and ("spertmt" + where if where.startswith(".") else where)
    if name == "ops":
        assert type(value).__name__ == "module" and value.__name__ == "spertmt.ops", value
    elif name == "__version__":
        assert isinstance(value, str)
    else:
        assert callable(value) and value.__module__ == where and value.__name__ == name, (name, value)

# ... and each does its job (bad input: its own named error, never "'module' object is not callable").
types = spertmt.read_types(sys.argv[2] + "/tiny_types.json")
gold = spertmt.read_documents(sys.argv[2] + "/tiny_train.json", types)
assert spertmt.evaluate(gold, gold, types)["ner"]["micro"]["f1"] == 100.0
assert spertmt.Config(epochs=2).resolved().epochs == 2
document = spertmt.Document(tokens=["a"], entities=[spertmt.Entity(0, 1, "Peop")], relations=[])
assert document.entities[0].type == "Peop" and spertmt.Types is type(types)
for call in (lambda: spertmt.load("/no/such/model"),
             lambda: spertmt.train(spertmt.Config(train_path="/no/such/train.json"), tempfile.mkdtemp() + "/run")):
    try:
        call()
    except (FileNotFoundError, ValueError) as error:
        assert "no such" in str(error).lower() or "/no/such" in str(error), error
    else:
        raise AssertionError("no error")
assert all(isinstance(getattr(spertmt, name), type) for name in ("Extractor", "Extraction", "ExtractedEntity",
                                                                  "ExtractedRelation", "BatchPredictor", "Relation"))
'''


def _check(order: str) -> None:
    result = subprocess.run([sys.executable, "-c", CHECK, order, str(FIXTURES)], capture_output=True, text=True,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_public_names_after_importing_every_submodule():
    _check("submodules first")


def test_public_names_in_a_fresh_process():
    _check("names first")
