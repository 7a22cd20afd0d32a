"""pytest-benchmark view of bench/run_ops.py's cases (not part of the test suite):

    pytest bench/test_bench_ops.py --benchmark-group-by=param:workload,param:mode
"""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_ops import IMPLS, WORKLOADS, make_case, pool_fn, run_once, verify  # noqa: E402

from spertmt import ops  # noqa: E402

pytestmark = pytest.mark.skipif(not ops.native_available("cpu"), reason="native kernels not built")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("mode", ["forward", "forward+backward"])
@pytest.mark.parametrize("hidden_size", [384, 768])
@pytest.mark.parametrize("batch", [2, 8])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_pooling(benchmark, workload, batch, hidden_size, mode, impl):
    case = make_case(workload, batch, hidden_size, "cpu")
    verify(workload, case, "cpu")
    grad_out = torch.randn(case["starts"].shape + (hidden_size,))
    benchmark(run_once, pool_fn(workload, impl, case), case["hidden"], mode, grad_out)
