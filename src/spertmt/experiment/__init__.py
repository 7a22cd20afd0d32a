"""The research harness: grids of training runs, run in child processes, recorded and aggregated
(grid.py, runner.py, records.py, report.py, locks.py). It drives `spertmt train` as a user would
and reads its run folders."""
