"""Reading a library's GPU code without a GPU (spertmt.ops.device_code), against what nvcc was
asked to build; the release's own kernels are checked in tests/ops/test_build.py."""

import shutil
import subprocess

import pytest

from spertmt.ops import device_code

KERNEL = "__global__ void add(float* x) { x[threadIdx.x] += 1.0f; }\nvoid launch(float* x) { add<<<1, 32>>>(x); }\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny kernel with SASS for sm_80 and sm_90, PTX of compute_90, the CUDA runtime linked shared."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    folder = tmp_path_factory.mktemp("fatbin")
    (folder / "k.cu").write_text(KERNEL)
    library = folder / "k.so"
    subprocess.run([nvcc, "-shared", "-Xcompiler", "-fPIC", "-cudart", "shared",
                    "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=[sm_90,compute_90]",
                    str(folder / "k.cu"), "-o", str(library)], check=True, capture_output=True)
    return library


def test_the_device_code_nvcc_was_asked_for_is_what_is_read(built):
    assert device_code.architectures(built) == {"sass": ["sm_80", "sm_90"], "ptx": ["compute_90"]}
    assert device_code.missing(built, "8.0;9.0+PTX") == []
    assert device_code.missing(built, device_code.RELEASE_ARCH_LIST) == ["sm_100", "compute_100"]
    assert device_code.main([str(built)]) == 1  # the release check fails on it
    assert [name.split(".so")[0] for name in device_code.cuda_runtime_needed(built)] == ["libcudart"]


def test_a_cpu_library_holds_no_device_code(tmp_path):
    import spertmt.ops as ops

    library = ops.native_library()
    if library is None:
        pytest.skip("no compiled library loaded")
    assert device_code.architectures(library) == {"sass": [], "ptx": []}
    (tmp_path / "text.so").write_text("not a library")
    with pytest.raises(ValueError, match="not a 64-bit little-endian ELF"):
        device_code.architectures(tmp_path / "text.so")


def test_claims_and_which_gpus_code_runs_on():
    assert device_code.claimed("8.0;9.0;10.0+PTX") == {"sass": ["sm_80", "sm_90", "sm_100"], "ptx": ["compute_100"]}
    held = {"sass": ["sm_80", "sm_90"], "ptx": ["compute_90"]}
    assert device_code.runs_on(held, (8, 6)) and device_code.runs_on(held, (8, 9))  # SASS within a major
    assert device_code.runs_on(held, (12, 0))  # the driver compiles compute_90's PTX
    assert not device_code.runs_on({"sass": ["sm_90"], "ptx": []}, (8, 0))
    assert not device_code.runs_on({"sass": ["sm_80"], "ptx": []}, (9, 0))  # SASS does not cross a major
