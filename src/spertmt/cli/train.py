"""`spertmt train` and `spertmt experiment`: training a model, and grids of runs."""

from __future__ import annotations

import argparse

from ..config import Config
from .common import add_config_arguments, add_quiet_argument, load_config


def _train(args: argparse.Namespace) -> int:
    from ..layout import RunFolder
    from ..training.trainer import train, train_folds

    run = RunFolder(args.output)
    if args.resume:
        if args.config:
            raise ValueError(f"--resume goes on with the run's settings ({run.config}); --config is not read "
                             "(--set changes where the data is or what runs it: data_root, device, ...)")
        config = Config.load(run.config).override(args.set or [])
        train(config, args.output, progress=not args.quiet, resume=True, keep_resume=args.keep_resume)
        print(f"model folders: {run.best} and {run.last}")
        return 0
    config = load_config(args)
    if args.all_folds:
        train_folds(config, args.output, progress=not args.quiet)
        return 0
    train(config, args.output, progress=not args.quiet, overwrite=args.overwrite, keep_resume=args.keep_resume)
    print(f"model folders: {run.best} and {run.last}")
    return 0


def train_arguments(commands) -> None:
    train = commands.add_parser(
        "train", help="train, pick the best epoch on dev, evaluate on test",
        epilog="your own data (SpERT JSON): --set train_path=data/train.json --set dev_path=data/dev.json --set "
               "test_path=data/test.json --set types_path=data/types.json (types_path= : the types the data uses; "
               "an empty dev_path or test_path: none); from a trained model's weights: --set init_model=runs/x/best; "
               "every key: docs/configuration.md")
    add_config_arguments(train)
    train.add_argument("--output", required=True, help="run folder (checkpoints, logs, metrics)")
    train.add_argument("--resume", action="store_true",
                       help="go on with the interrupted run in --output (its config.json; --set may change keys)")
    train.add_argument("--overwrite", action="store_true",
                       help="train into an --output that already holds a trained model, replacing it")
    train.add_argument("--keep-resume", action="store_true",
                       help="keep resume/ (model, optimizer and random states) when the run has ended; by default "
                            "it is removed then (about 260 MB with the offline encoder)")
    train.add_argument("--all-folds", action="store_true",
                       help="run folds 0 .. num_folds-1 (ADE) and average their metrics")
    add_quiet_argument(train)
    train.set_defaults(func=_train)


def _experiment(args: argparse.Namespace) -> int:
    from ..experiment.grid import Grid
    from ..experiment.locks import hold_lock, release_lock, running_pid, start_background
    from ..experiment.runner import Experiment

    experiment = Experiment(Grid.load(args.grid), results=args.results, runs=args.runs,
                            keep_checkpoints=args.keep_checkpoints, threads=args.threads, jobs=args.jobs)
    if args.status or args.aggregate:
        if args.aggregate:
            for key in experiment.add_missing_counts():
                print(f"{key}: per-sentence test counts added to its record")
            experiment.aggregate()
        print(experiment.status())
        pid = running_pid(experiment)
        print(f"runner: process {pid}" if pid else "runner: none")
        return 0
    if args.background:
        if running_pid(experiment):
            raise ValueError(f"grid {experiment.grid.name} already has a runner (process {running_pid(experiment)})")
        argv = [a for a in (args.argv or []) if a != "--background"]
        pid, log = start_background(argv, experiment)
        print(f"runner started in the background: process {pid}, log {log}\n"
              f"progress: spertmt experiment {args.grid} --status")
        return 0
    if not args.dry_run:
        if running_pid(experiment):
            raise ValueError(f"grid {experiment.grid.name} already has a runner (process {running_pid(experiment)})")
        hold_lock(experiment)
    try:
        failed = experiment.run_all(dry_run=args.dry_run)
    finally:
        if not args.dry_run:
            release_lock(experiment)
    print(experiment.status())
    print(f"results: {experiment.results / (experiment.grid.name + '.md')}")
    return 1 if failed else 0


def experiment_arguments(commands) -> None:
    grid = commands.add_parser("experiment", help="run a grid of trainings (seeds, modes, overrides), resumable")
    grid.add_argument("grid", help="grid file (TOML), e.g. experiments/conll04.toml")
    grid.add_argument("--results", default="results", help="folder for the records and tables")
    grid.add_argument("--runs", default="runs/experiments", help="folder for the run outputs (checkpoints)")
    grid.add_argument("--background", action="store_true", help="detach; output to <runs>/<name>/runner.log")
    grid.add_argument("--status", action="store_true", help="what is done, interrupted and pending")
    grid.add_argument("--aggregate", action="store_true",
                      help="rewrite the tables from the records (and add per-sentence test counts to records "
                           "written without them, from run folders that remain)")
    grid.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    grid.add_argument("--keep-checkpoints", action="store_true",
                      help="keep last/ and resume/ of finished runs (default: best/ only)")
    grid.add_argument("--threads", type=int, metavar="N",
                      help="CPU threads per training run (OMP_NUM_THREADS); on 2 cores, two grids with "
                           "--threads 1 side by side train 1.33x faster in all than one at a time")
    grid.add_argument("--jobs", type=int, default=1, metavar="N",
                      help="training runs at a time (default 1); several share one large GPU well, "
                           "each with a CPU core of its own")
    grid.set_defaults(func=_experiment)
