"""Build spertmt, with its C++ (and, where possible, CUDA) kernels as `spertmt._C`.

Install against the torch you already have (no isolated build environment, which would fetch a
torch of its own):

    pip install --no-build-isolation -e .

What is built:
- the C++ kernels whenever a C++ compiler works;
- the CUDA kernels too when torch has CUDA (`torch.version.cuda`) and nvcc is found;
- nothing native when neither builds: the package still installs and runs on its pure-PyTorch
  fallbacks (a warning says so).

Environment switches:
- SPERTMT_FORCE_CUDA=1    build the CUDA kernels even without a visible GPU (torch must have CUDA).
- SPERTMT_SKIP_CUDA=1     never build the CUDA kernels.
- SPERTMT_SKIP_NATIVE=1   build no native code at all (fallbacks only).
- SPERTMT_REQUIRE_NATIVE=1  fail instead of falling back when the native build fails (CI).
- SPERTMT_DEBUG=1         -O0 -g.
- TORCH_CUDA_ARCH_LIST, NVCC_FLAGS  the usual torch extension settings.
"""

import glob
import os
import shutil
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _flag(name):
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def _native_extensions():
    if _flag("SPERTMT_SKIP_NATIVE"):
        return [], {}
    try:
        import torch
    except ImportError:  # an isolated build environment without torch: see the docstring
        print("spertmt: torch is not importable at build time; installing the pure-PyTorch "
              "fallbacks only (use pip install --no-build-isolation to build the kernels)",
              file=sys.stderr)
        if _flag("SPERTMT_REQUIRE_NATIVE"):
            raise
        return [], {}
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    debug = _flag("SPERTMT_DEBUG")
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # The sources are on the LibTorch stable ABI of torch 2.10 (csrc/common.h) and torch adds
    # Python's limited API (py_limited_api below): the library loads into every torch from 2.10 on.
    # -fno-math-errno lets loops with sqrt vectorise (nothing here reads errno). Threads come from
    # torch's own pool through the stable parallel_for, so no OpenMP flag is needed.
    cxx_flags = opt + ["-DWITH_PYTHON", "-fno-math-errno"]  # torch adds its -std

    sources = ["csrc/spertmt.cpp"] + sorted(glob.glob("csrc/cpu/*.cpp"))
    cuda_sources = sorted(glob.glob("csrc/cuda/*.cu"))
    want_cuda = not _flag("SPERTMT_SKIP_CUDA") and (
        _flag("SPERTMT_FORCE_CUDA") or torch.cuda.is_available()
    )
    has_cuda = torch.version.cuda is not None and CUDA_HOME is not None
    if want_cuda and not has_cuda:
        print(
            "spertmt: CUDA kernels not built: torch has no CUDA or nvcc was not found "
            f"(torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME})",
            file=sys.stderr,
        )
    extra = {"cxx": cxx_flags}
    if want_cuda and has_cuda:
        nvcc = opt + ["--expt-relaxed-constexpr", "-DWITH_CUDA"]
        nvcc += os.environ.get("NVCC_FLAGS", "").split()
        extra = {"cxx": cxx_flags + ["-DWITH_CUDA"], "nvcc": nvcc}
        ext = CUDAExtension("spertmt._C", sources + cuda_sources, extra_compile_args=extra,
                            py_limited_api=True)
    else:
        ext = CppExtension("spertmt._C", sources, extra_compile_args=extra, py_limited_api=True)
    ext.extra_link_args = ["-g"] if debug else []

    class BuildOrFallback(BuildExtension):
        """Builds the kernels; on failure warns and installs the fallbacks only."""

        def run(self):
            if shutil.which(os.environ.get("CXX", "c++")) is None and not _flag("SPERTMT_REQUIRE_NATIVE"):
                print("spertmt: no C++ compiler found; installing the pure-PyTorch fallbacks only",
                      file=sys.stderr)
                return
            try:
                super().run()
            except Exception as error:  # the package must install without a working toolchain
                if _flag("SPERTMT_REQUIRE_NATIVE"):
                    raise
                print(f"spertmt: native kernels failed to build ({error}); installing the "
                      "pure-PyTorch fallbacks only", file=sys.stderr)

    return [ext], {"build_ext": BuildOrFallback.with_options(no_python_abi_suffix=True)}


ext_modules, cmdclass = _native_extensions()

setup(
    packages=find_packages(include=["spertmt", "spertmt.*"]),
    package_data={"spertmt": ["py.typed"]},  # PEP 561: the package's own types, for mypy and editors
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    options={"bdist_wheel": {"py_limited_api": "cp39"}} if ext_modules else {},
)
