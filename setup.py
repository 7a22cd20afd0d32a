"""Build spertmt, with its C++ (and, where possible, CUDA) kernels as `spertmt._C`.

The kernels are on the LibTorch stable ABI of torch 2.10 (csrc/common.h): a wheel built once, against
any torch >= 2.10, loads into every torch from 2.10 on. Build it against the torch you have (no
isolated build environment, which would fetch a torch of its own):

    python -m build --no-isolation          # dist/spertmt-*.tar.gz and a cp310-abi3 wheel
    pip install --no-build-isolation -e .   # a development install

What is built:
- the C++ kernels whenever a C++ compiler works;
- the CUDA kernels too when torch has CUDA (`torch.version.cuda`) and nvcc is found (no GPU needed);
- nothing native when neither builds: the package still installs and runs on its pure-PyTorch
  fallbacks (a warning says so; the sources ship in the package for SPERTMT_JIT=1).

Environment switches:
- SPERTMT_FORCE_CUDA=1    fail when the CUDA kernels cannot be built (a release build).
- SPERTMT_SKIP_CUDA=1     never build the CUDA kernels.
- SPERTMT_SKIP_NATIVE=1   build no native code at all (fallbacks only).
- SPERTMT_REQUIRE_NATIVE=1  fail instead of falling back when the native build fails (CI).
- SPERTMT_DEBUG=1         -O0 -g.
- TORCH_CUDA_ARCH_LIST, NVCC_FLAGS  the usual torch extension settings. A release build
  (SPERTMT_FORCE_CUDA=1) without TORCH_CUDA_ARCH_LIST is built for the release's architectures
  (spertmt/ops/device_code.py, RELEASE_ARCH_LIST); a CUDA build whose library then lacks device code
  for an architecture of TORCH_CUDA_ARCH_LIST fails.
"""

import glob
import os
import shutil
import sys
import warnings

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
# Why a build holds no kernels, left in the package for the warning at import (spertmt/ops/_native.py):
# pip hides a build's output, so without it the user would not learn the reason.
NO_KERNELS = os.path.join("spertmt", "_no_kernels.txt")


def _flag(name):
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def _device_code():
    """spertmt/ops/device_code.py, read without importing the package (which needs torch's build)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("spertmt_device_code",
                                                  os.path.join(ROOT, "src", "spertmt", "ops", "device_code.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record_no_kernels(build_lib, why):
    """Writes why the package holds no kernels into it (`why` None: it holds them; a stale note goes)."""
    path = os.path.join(build_lib, NO_KERNELS)
    if why is None:
        if os.path.exists(path):
            os.remove(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(why + "\n")


def _native_extensions():
    """The kernels' extension and its build command, or none and why not."""
    if _flag("SPERTMT_SKIP_NATIVE"):
        return [], {}, "SPERTMT_SKIP_NATIVE=1 was set when it was built"
    try:
        import torch
    except ImportError:  # an isolated build environment without torch: see the docstring
        print("spertmt: torch is not importable at build time; installing the pure-PyTorch "
              "fallbacks only (use pip install --no-build-isolation to build the kernels)",
              file=sys.stderr)
        if _flag("SPERTMT_REQUIRE_NATIVE"):
            raise
        # pip caches the wheel it built from a source package: --no-cache-dir, or it installs that one again
        return [], {}, ("torch was not importable when it was built (pip builds a source package in an isolated "
                        "environment without torch); beside torch and a C++ compiler, `pip install "
                        "--no-build-isolation --no-cache-dir --force-reinstall --no-deps spertmt` (or the "
                        ".tar.gz you installed) builds them")
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
    want_cuda = not _flag("SPERTMT_SKIP_CUDA")
    has_cuda = torch.version.cuda is not None and CUDA_HOME is not None
    if want_cuda and not has_cuda:
        message = ("spertmt: CUDA kernels not built: torch has no CUDA or nvcc was not found "
                   f"(torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME})")
        if _flag("SPERTMT_FORCE_CUDA"):
            raise RuntimeError(message + " and SPERTMT_FORCE_CUDA=1 asks for them")
        if torch.version.cuda is not None:
            print(message, file=sys.stderr)
    extra = {"cxx": cxx_flags}
    built_cuda = want_cuda and has_cuda
    if built_cuda:
        if _flag("SPERTMT_FORCE_CUDA"):
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", _device_code().RELEASE_ARCH_LIST)
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
                self._fall_back("no C++ compiler found")
                return
            try:
                super().run()
            except Exception as error:  # the package must install without a working toolchain
                if _flag("SPERTMT_REQUIRE_NATIVE"):
                    raise
                self._fall_back(f"native kernels failed to build ({error})")
                return
            if built_cuda and os.environ.get("TORCH_CUDA_ARCH_LIST"):
                self._check_device_code()

        def _check_device_code(self):
            """The library holds device code for every architecture asked for (a build that skipped
            one would load, and fall back to PyTorch on that GPU without a word)."""
            device_code = _device_code()
            library = self.get_ext_fullpath("spertmt._C")
            asked = os.environ["TORCH_CUDA_ARCH_LIST"]
            lacking = device_code.missing(library, asked)
            held = device_code.architectures(library)
            print(f"spertmt: CUDA device code: SASS {', '.join(held['sass'])}; PTX {', '.join(held['ptx']) or 'none'}",
                  file=sys.stderr)
            if lacking:
                raise RuntimeError(f"spertmt: the built library lacks device code for {', '.join(lacking)} "
                                   f"(TORCH_CUDA_ARCH_LIST={asked})")

        def _fall_back(self, why):
            # A library left in build/ by an earlier build must not be packaged in its place.
            for stale in glob.glob(os.path.join(self.build_lib, "spertmt", "_C*.so")):
                os.remove(stale)
            _record_no_kernels(self.build_lib, why)
            warnings.warn(f"spertmt: {why}; installing the pure-PyTorch fallbacks only "
                          "(SPERTMT_JIT=1 builds the kernels at first import where a compiler is)",
                          stacklevel=2)

    return [ext], {"build_ext": BuildOrFallback.with_options(no_python_abi_suffix=True)}, None


class BuildPyWithSources(build_py):
    """Ships csrc/ inside the package as spertmt/_csrc, for the just-in-time build of the loading
    chain (src/spertmt/ops/_native.py) on a machine where the prebuilt library cannot load."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's csrc/ directly
            return
        target = os.path.join(self.build_lib, "spertmt", "_csrc")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, "csrc"), target)
        _record_no_kernels(self.build_lib, no_kernels_why)  # a failing kernel build adds its own later


ext_modules, cmdclass, no_kernels_why = _native_extensions()

setup(
    # src/ layout: from the repository root, `import spertmt` finds the installed package, never
    # the checkout (which has no built library).
    packages=find_packages("src", include=["spertmt", "spertmt.*"]),
    package_dir={"": "src"},
    package_data={"spertmt": ["py.typed"]},  # PEP 561: the package's own types, for mypy and editors
    ext_modules=ext_modules,
    cmdclass={"build_py": BuildPyWithSources, **cmdclass},
    # Python's limited API of 3.10 (torch's cpp_extension compiles with Py_LIMITED_API=0x030A0000)
    # and torch's stable ABI: one cp310-abi3 wheel for every CPython >= 3.10 and torch >= 2.10.
    options={"bdist_wheel": {"py_limited_api": "cp310"}} if ext_modules else {},
)
