"""A grid's records at two commits, compared apart from timings: proof that a change of the training,
the runner or the records moved no number (issue 36's "Done when").

    python experiments/grid_fingerprint.py 8190929 HEAD

Writes the tests' tiny encoder and a grid over the test fixture (both modes, 2 seeds, 6 epochs; one
cell tunes θ on dev and averages the weights), checks out each commit into a temporary worktree
(with this checkout's compiled kernels, so that both use the same library), runs `spertmt experiment`
there with one thread, and compares the records with their timings, machine and output paths left
out; fields that only the later commit's records have are named, not compared. Prints one line per
record and exits 1 when any differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = {"wall_s", "train_s", "epoch_s_median", "step_s_median", "finished", "machine", "command"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "experiments"))
    from fingerprint import tiny_encoder

    work = Path(tempfile.mkdtemp(prefix="grid-fingerprint-"))
    encoder = tiny_encoder(work / "encoder")
    fixtures = ROOT / "tests" / "fixtures"
    (work / "tiny.toml").write_text(
        f'encoder = "{encoder}"\ndata_root = "{fixtures}"\ntrain_path = "tiny_train.json"\n'
        'dev_path = "tiny_train.json"\ntest_path = "tiny_train.json"\ntypes_path = "tiny_types.json"\n'
        "epochs = 6\nbatch_size = 2\neval_batch_size = 2\nmax_length = 128\nlr = 1e-3\n")
    (work / "grid.toml").write_text(
        f'name = "tiny"\nconfig = "{work / "tiny.toml"}"\nseeds = [0, 1]\naverage = "micro"\n\n'
        '[[cells]]\nname = "spert"\nset = ["mode=spert"]\n\n'
        '[[cells]]\nname = "spertmt-tuned"\nset = ["mode=spertmt", "threshold_selection=global", "ema_decay=0.9"]\n')
    library = next((ROOT / "src" / "spertmt").glob("_C*.so"), None)
    records = {}
    for name, commit in (("before", args.before), ("after", args.after)):
        tree = work / name
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), commit], check=True)
        try:
            package = tree / "src" / "spertmt"  # commits before the src/ layout: tree / "spertmt"
            package = package if package.exists() else tree / "spertmt"
            if library is not None:
                shutil.copy(library, package / library.name)
            env = {**os.environ, "PYTHONPATH": str(package.parent), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
            subprocess.run([sys.executable, "-m", "spertmt", "experiment", str(work / "grid.toml"), "--results",
                            str(work / f"results-{name}"), "--runs", str(work / f"runs-{name}"), "--threads", "1"],
                           check=True, cwd=tree, env=env, stdout=subprocess.DEVNULL)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
        records[name] = {path.relative_to(work / f"results-{name}").as_posix():
                         {k: v for k, v in json.loads(path.read_text()).items() if k not in LEFT_OUT}
                         for path in sorted((work / f"results-{name}").rglob("runs/*/*.json"))}
    differ = 0
    for key in sorted(set(records["before"]) | set(records["after"])):
        before, after = records["before"].get(key), records["after"].get(key)
        added = sorted(set(after or {}) - set(before or {})) if before and after else []
        if before and after and "config" in before:  # settings the later commit added, at their defaults
            new_settings = sorted(set(after["config"]) - set(before["config"]))
            after = {**after, "config": {k: v for k, v in after["config"].items() if k not in new_settings}}
            added += [f"config.{k} = {records['after'][key]['config'][k]!r}" for k in new_settings]
        same = before is not None and after is not None and before == {k: v for k, v in after.items() if k not in added}
        differ += not same
        # a field the later commit adds to every record (test_calibration, say) is new, not a moved number
        moved = [] if same or before is None or after is None else sorted(
            k for k in set(before) | set(after) if k not in added and before.get(k) != after.get(k))
        print(f"{'same' if same else 'DIFFERS'}  {key}" + (f" (fields added: {', '.join(added)})" if added else "")
              + (f" (fields that differ: {', '.join(moved)})" if moved else ""))
    print(f"{len(records['after'])} records at {args.after} against {len(records['before'])} at {args.before}: "
          f"{'identical apart from timings' if not differ else f'{differ} differ'}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
