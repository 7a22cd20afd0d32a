"""The build: native kernels present where a compiler is, the fallback switch, the standalone
CMake build, and a compile-only check of the CUDA sources where nvcc is but no GPU."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
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
    # Outside the checkout: `python -c` puts its folder first on sys.path, and the checkout's
    # spertmt/ is not the installed package (it has no library when the wheel is installed).
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir())
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


# Runs in a subprocess whose PATH holds nothing: one bad call of every op on PROBE_DEVICE, each of
# which must end in the op's named RuntimeError (a crash would end the process with a signal).
NO_COMPILER_PROBE = """
import json, os, shutil, torch
import spertmt.ops as ops
device = os.environ.get("PROBE_DEVICE", "cpu")
def t(x, **kw): return torch.tensor(x, device=device, **kw)
def z(*shape, **kw): return torch.zeros(*shape, device=device, **kw)
def r(*shape): return torch.randn(*shape, device=device)
sm = torch.ops.spertmt
bad_calls = {
    "span_max_pool": lambda: sm.span_max_pool(r(1, 8, 4), t([[0, 5]]), t([[1, 9]]), True),
    "pair_context_max_pool": lambda: sm.pair_context_max_pool(r(1, 8, 4), t([[[0, 2]]]), t([[[3, 12]]]), True),
    "enumerate_span_max_pool": lambda: sm.enumerate_span_max_pool(r(1, 8, 4), t([[1, 3, 2]]), t([[3, 5, 4]]),
                                                                  t([3]), 2, True),
    "max_pool_backward": lambda: sm.max_pool_backward(r(1, 2, 4), z(1, 2, 4, dtype=torch.long), -1),
    "span_en_iou": lambda: sm.span_en_iou(t([[[3, 1]]]), t([[[0, 1]]]), t([[True]])),
    "iou_scaled_bce": lambda: sm.iou_scaled_bce(r(4), r(4), r(4), 2.0),
    "iou_scaled_bce_backward": lambda: sm.iou_scaled_bce_backward(r(3), r(4), r(4), r(4), 0.5),
    "ranking_loss": lambda: sm.ranking_loss(r(4, 3), z(4, 3, dtype=torch.long), 2.5, 0.5, 2.0),
    "ranking_loss_backward": lambda: sm.ranking_loss_backward(r(3), r(4, 3), z(4, 3, dtype=torch.bool),
                                                              2.5, 0.5, 2.0),
}
if device == "cpu":  # the optimizer's kernel is the CPU's alone
    bad_calls["adamw_no_bias_correction_"] = lambda: sm.adamw_no_bias_correction_(
        [r(3)], [], [r(3)], [r(3)], 0.1, 0.9, 0.999, 1e-6, 0.0)
errors = {}
for name, call in bad_calls.items():
    try:
        call()
        errors[name] = None
    except RuntimeError as error:
        errors[name] = str(error)
print(json.dumps({"compiler": [shutil.which(c) for c in ("c++", "g++", "gcc", "cc", "nvcc")],
                  "native": ops.native_available(device), "source": ops.native_load_source(),
                  "error": ops.native_load_error(), "errors": errors}))
"""


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_installed_kernels_load_without_a_compiler_and_name_bad_input(device, tmp_path):
    """What a user of the wheel gets: the installed package (run outside the checkout), with no
    compiler on PATH, loads its prebuilt kernels, and bad input to every op is a named error."""
    if os.environ.get("SPERTMT_DISABLE_NATIVE"):
        pytest.skip("SPERTMT_DISABLE_NATIVE is set")
    if device == "cuda" and not (torch.cuda.is_available() and ops.native_available("cuda")):
        pytest.skip("no CUDA GPU, or no CUDA kernels in this build")
    env = {k: v for k, v in os.environ.items() if k not in ("SPERTMT_LIBRARY", "SPERTMT_JIT")}
    env.update(PATH=str(tmp_path), PROBE_DEVICE=device)  # an empty folder on PATH: no compiler, no nvcc
    out = subprocess.run([sys.executable, "-c", NO_COMPILER_PROBE], env=env, cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, f"the probe ended with {out.returncode}: {out.stderr[-3000:]}"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["compiler"] == [None] * 5
    assert result["native"], result["error"]
    assert result["source"].startswith("prebuilt"), result["source"]
    for op, message in result["errors"].items():
        assert message is not None, f"{op} accepted bad input"
        assert op in message and "spertmt" in message, f"{op}: {message}"
        assert "\n" not in message.strip(), f"{op}: the error is not one line: {message}"


def test_library_uses_only_the_stable_abi():
    """The library's undefined symbols are the C shims of the stable ABI, never torch's C++
    (c10::, at::, torch::), whose ABI changes between releases."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) not found")
    if not ops.native_available("cpu") or not (ops.native_load_source() or "").startswith("prebuilt"):
        pytest.skip(f"no prebuilt library loaded: {ops.native_load_error()}")
    import spertmt._C

    out = subprocess.run([nm, "-D", "--undefined-only", spertmt._C.__file__], capture_output=True, text=True,
                         check=True)
    symbols = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    unstable = [s for s in symbols if re.match(r"_ZN[KVRO]*(3c10|2at|5torch)", s)]
    assert not unstable, f"symbols of torch's C++ ABI: {unstable[:10]}"
    assert any(s.startswith("torch_call_dispatcher") or s.startswith("aoti_torch") for s in symbols)


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
def test_cuda_sources_compile_with_device_code_for_every_claimed_gpu(source, tmp_path, monkeypatch):
    """nvcc accepts csrc/cuda (on machines without a GPU too), with the flags a release build passes
    it (torch's for TORCH_CUDA_ARCH_LIST = the release's list), and the object holds SASS and PTX for
    every architecture the release claims (spertmt.ops.device_code)."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    from torch.utils.cpp_extension import _get_cuda_arch_flags, include_paths

    from spertmt.ops import device_code

    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", device_code.RELEASE_ARCH_LIST)
    includes = [f"-I{p}" for p in include_paths()] + [f"-I{sysconfig.get_paths()['include']}"]
    obj = tmp_path / (source + ".o")
    # --threads 0: the architectures compiled side by side (the same object, a quarter sooner here)
    cmd = [nvcc, "-c", "-std=c++20", "--expt-relaxed-constexpr", "-O1", *_get_cuda_arch_flags(), "-DWITH_CUDA",
           "--threads", "0", *includes, str(ROOT / "csrc" / "cuda" / source), "-o", str(obj)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert device_code.missing(obj) == [], device_code.architectures(obj)


CHAIN_PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import spertmt.ops as ops
print(json.dumps({"native": ops.native_available("cpu"), "source": ops.native_load_source(),
                  "error": ops.native_load_error(),
                  "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
"""


def run_chain_probe(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPERTMT_")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", CHAIN_PROBE], env=environment, cwd=tmp_path, capture_output=True,
                          text=True)


def chain_result(tmp_path, **env) -> dict:
    """What the chain probe printed, the probe having run to its end."""
    out = run_chain_probe(tmp_path, **env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_library_that_does_not_load_is_one_warning_that_says_why(tmp_path):
    result = chain_result(tmp_path, SPERTMT_LIBRARY=str(tmp_path / "missing.so"))
    assert result["native"] is False and result["source"] is None
    assert "missing.so did not load" in result["error"]
    assert len(result["warnings"]) == 1 and result["warnings"][0].startswith("FallbackWarning: ")
    assert "missing.so" in result["warnings"][0]


def test_a_source_checkout_imported_unbuilt_is_named_as_such(tmp_path):
    """A checkout's src/spertmt on sys.path without a built library: the warning says so and how to
    build it, not that the package was installed without a compiler."""
    import spertmt

    checkout = tmp_path / "checkout"
    shutil.copytree(Path(spertmt.__file__).parent, checkout / "src" / "spertmt",
                    ignore=shutil.ignore_patterns("_C*.so", "_csrc", "__pycache__"))
    shutil.copytree(ROOT / "csrc", checkout / "csrc")
    result = chain_result(tmp_path, PYTHONPATH=str(checkout / "src"))
    assert result["native"] is False and "this is the source checkout" in result["error"]
    assert "pip install --no-build-isolation -e ." in result["error"]
    assert "without a C++ compiler" not in result["error"]


def test_a_package_built_without_torch_says_so_at_import(tmp_path):
    """pip builds a source package in an isolated environment without torch (and hides the build's
    output): the wheel it makes holds no kernels, and the warning at import names that and the
    command that builds them, not a missing compiler."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "csrc", source / "csrc")
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("_C*.so", "__pycache__", "*.egg-info"))
    no_torch = tmp_path / "no-torch" / "torch"  # what an isolated build environment imports as torch: nothing
    no_torch.mkdir(parents=True)
    (no_torch / "__init__.py").write_text("raise ImportError('no torch in this build environment')\n")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-cache-dir",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(no_torch.parent)})
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("spertmt-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")  # nothing compiled
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "installed")
    result = chain_result(tmp_path, PYTHONPATH=str(tmp_path / "installed"))
    assert result["native"] is False and "torch was not importable when it was built" in result["error"]
    assert "pip install --no-build-isolation --no-cache-dir --force-reinstall" in result["error"]
    assert "without a C++ compiler" not in result["error"]
    assert len(result["warnings"]) == 1 and "torch was not importable" in result["warnings"][0]


def test_require_native_turns_the_fallback_into_an_error(tmp_path):
    out = run_chain_probe(tmp_path, SPERTMT_LIBRARY=str(tmp_path / "missing.so"), SPERTMT_REQUIRE_NATIVE="1")
    assert out.returncode != 0
    assert "ImportError: spertmt: native kernels required (SPERTMT_REQUIRE_NATIVE=1)" in out.stderr
    assert "missing.so" in out.stderr.strip().splitlines()[-1]


def test_disabled_native_is_chosen_silently(tmp_path):
    out = run_chain_probe(tmp_path, SPERTMT_DISABLE_NATIVE="1")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["native"] is False and result["warnings"] == []


@pytest.mark.slow
def test_just_in_time_build_of_the_shipped_sources(tmp_path):
    """SPERTMT_JIT=1 where the package has no prebuilt library: the sources shipped with it are
    built (about 15 s on 2 cores), loaded, and compute what the fallbacks compute."""
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler")
    import spertmt

    package = tmp_path / "pkg" / "spertmt"
    shutil.copytree(Path(spertmt.__file__).parent, package, ignore=shutil.ignore_patterns("_C*.so", "__pycache__"))
    if not (package / "_csrc").exists():  # an editable install: the checkout's sources
        shutil.copytree(ROOT / "csrc", package / "_csrc")
    env = {"PYTHONPATH": str(package.parent), "SPERTMT_JIT": "1", "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    result = chain_result(tmp_path, **env)
    assert result["native"] is True, result["error"]
    assert result["source"].startswith("built just in time")
    jit = run_probe(**env)
    assert jit["native"] is True
    assert_same_numbers(jit, run_probe(SPERTMT_DISABLE_NATIVE="1"))
