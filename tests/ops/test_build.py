"""The build: native kernels present where a compiler is, the fallback switch, the standalone
CMake build, and a compile-only check of the CUDA sources where nvcc is but no GPU."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

from spertmt import ops

ROOT = Path(__file__).resolve().parents[2]

# Runs in a subprocess: a few op results as JSON, for comparing builds and switches.
PROBE = """
import json, torch, spertmt.ops as ops
g = torch.Generator().manual_seed(0)
h = torch.randn(2, 12, 5, generator=g, dtype=torch.float64, requires_grad=True)
s = torch.tensor([[0, 3, 5], [2, 2, 11]]); e = torch.tensor([[4, 3, 12], [6, 9, 12]])
pooled = ops.span_max_pool(h, s, e)
pooled.sum().backward()
print(json.dumps({"native": ops.native_available("cpu"), "error": ops.native_load_error(),
                  "pooled": pooled.tolist(), "grad": h.grad.tolist(),
                  "rank": ops.ranking_loss(h[0, :4, :3], torch.tensor([0, -1, 2, 1])).item()}))
"""


def assert_same_numbers(a, b):
    for key in ("pooled", "grad", "rank"):
        torch.testing.assert_close(torch.tensor(a[key]), torch.tensor(b[key]), rtol=1e-12, atol=1e-12,
                                   msg=key)


def run_probe(**env):
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_native_kernels_built_where_a_compiler_is():
    if os.environ.get("SPERTMT_DISABLE_NATIVE"):
        pytest.skip("SPERTMT_DISABLE_NATIVE is set")
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler on this machine")
    assert ops.native_available("cpu"), f"native kernels not loaded: {ops.native_load_error()}"
    assert ops.native_available("cuda") == torch._C._dispatch_has_kernel_for_dispatch_key(
        "spertmt::span_max_pool", "CUDA")


def test_disable_switch_gives_the_fallbacks_and_the_same_numbers():
    fallback = run_probe(SPERTMT_DISABLE_NATIVE="1")
    assert fallback["native"] is False and "SPERTMT_DISABLE_NATIVE" in fallback["error"]
    default = run_probe()
    assert default["native"] == ops.native_available("cpu")
    assert_same_numbers(default, fallback)


def test_cmake_builds_the_standalone_library(tmp_path):
    if shutil.which("cmake") is None or shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("cmake or a C++ compiler is missing")
    prefix = torch.utils.cmake_prefix_path
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path), f"-DCMAKE_PREFIX_PATH={prefix}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(tmp_path), "-j", str(os.cpu_count() or 2)], check=True,
                   capture_output=True)
    library = tmp_path / "libspertmt.so"
    assert library.exists()
    # The CMake library, loaded instead of spertmt._C, computes what the fallbacks compute.
    cmake = run_probe(SPERTMT_LIBRARY=str(library))
    assert cmake["native"] is True, cmake["error"]
    fallback = run_probe(SPERTMT_DISABLE_NATIVE="1")
    assert_same_numbers(cmake, fallback)


def _nvcc():
    nvcc = shutil.which("nvcc")
    if nvcc is None and os.environ.get("CUDA_HOME"):
        candidate = Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"
        nvcc = str(candidate) if candidate.exists() else None
    return nvcc


@pytest.mark.parametrize("source", sorted(p.name for p in (ROOT / "csrc" / "cuda").glob("*.cu")))
def test_cuda_sources_compile(source, tmp_path):
    """Compile-only: nvcc must accept csrc/cuda (run on machines without a GPU too)."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    from torch.utils.cpp_extension import include_paths

    includes = [f"-I{p}" for p in include_paths()] + [f"-I{sysconfig.get_paths()['include']}"]
    cmd = [nvcc, "-c", "-std=c++20", "--expt-relaxed-constexpr", "-O1", "-arch=sm_80", "-DWITH_CUDA",
           *includes, str(ROOT / "csrc" / "cuda" / source), "-o", str(tmp_path / (source + ".o"))]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / (source + ".o")).stat().st_size > 0
