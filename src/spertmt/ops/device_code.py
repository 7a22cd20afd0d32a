"""Which GPUs a built library can run on: the device code inside it, read without a GPU and without
the CUDA toolkit's tools.

nvcc puts a kernel's device code in the ELF section `.nv_fatbin`: containers (magic 0xBA55ED50)
of entries, each either SASS (a cubin for one architecture, `sm_90`) or PTX (`compute_100`, which
the driver compiles for newer GPUs). A build that silently skipped an architecture still loads
and falls back to the PyTorch code on that GPU, slower and unannounced (torch-harmonics shipped such
wheels for several releases): `missing` names what a library lacks of what the release claims.

    python -m spertmt.ops.device_code path/to/_C.so    # lists it; exit 1 when a claimed one is missing
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

# What a release build's CUDA kernels claim (setup.py's TORCH_CUDA_ARCH_LIST when none is given):
# SASS for Ampere (sm_80, which also runs on 8.6 and 8.9), Hopper (sm_90) and Blackwell (sm_100),
# and PTX of sm_100 for GPUs newer than that.
RELEASE_ARCH_LIST = "8.0;9.0;10.0+PTX"
FATBIN_MAGIC = 0xBA55ED50
_PTX, _SASS = 1, 2


def claimed(arch_list: str = RELEASE_ARCH_LIST) -> dict[str, list[str]]:
    """An arch list as TORCH_CUDA_ARCH_LIST writes it -> {"sass": ["sm_80", ...], "ptx": ["compute_100"]}."""
    sass, ptx = [], []
    for item in arch_list.replace(",", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        number = item.removesuffix("+PTX").replace(".", "")
        sass.append(f"sm_{number}")
        if item.endswith("+PTX"):
            ptx.append(f"compute_{number}")
    return {"sass": sass, "ptx": ptx}


def _sections(data: bytes) -> dict[str, tuple[int, int]]:
    """An ELF64 little-endian file's sections: name -> (offset, size)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    section_offset = struct.unpack_from("<Q", data, 0x28)[0]
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, section_offset + k * entry_size) for k in range(count)]
    names_offset = headers[names_index][4]
    out = {}
    for name, _, _, _, offset, size in headers:
        start = names_offset + name
        out[data[start:data.index(b"\0", start)].decode()] = (offset, size)
    return out


def entries(path: str | Path) -> list[tuple[str, int]]:
    """The device code of a library or object file: ("sass" or "ptx", architecture) per fatbin entry."""
    data = Path(path).read_bytes()
    section = _sections(data).get(".nv_fatbin")
    if section is None:
        return []
    offset, size = section
    fatbin = data[offset:offset + size]
    found, position = [], 0
    while position + 16 <= len(fatbin):
        magic, _, header_size, body_size = struct.unpack_from("<IHHQ", fatbin, position)
        if magic != FATBIN_MAGIC:
            position += 8  # containers are 8-byte aligned, with padding between them
            continue
        entry, end = position + header_size, position + header_size + body_size
        while entry + 32 <= end:
            kind, _, entry_header_size, payload_size = struct.unpack_from("<HHIQ", fatbin, entry)
            architecture = struct.unpack_from("<I", fatbin, entry + 28)[0]
            if kind in (_PTX, _SASS):
                found.append(("ptx" if kind == _PTX else "sass", architecture))
            if entry_header_size == 0:
                break
            entry += entry_header_size + payload_size
        position = end
    return found


def architectures(path: str | Path) -> dict[str, list[str]]:
    """{"sass": ["sm_80", ...], "ptx": ["compute_100", ...]}: the distinct device code of a file."""
    kinds = entries(path)
    return {"sass": [f"sm_{a}" for a in sorted({a for k, a in kinds if k == "sass"})],
            "ptx": [f"compute_{a}" for a in sorted({a for k, a in kinds if k == "ptx"})]}


def missing(path: str | Path, arch_list: str = RELEASE_ARCH_LIST) -> list[str]:
    """What `arch_list` claims that the file does not hold (empty: it holds all of it)."""
    held = architectures(path)
    wanted = claimed(arch_list)
    return [a for kind in ("sass", "ptx") for a in wanted[kind] if a not in held[kind]]


def runs_on(held: dict[str, list[str]], capability: tuple[int, int]) -> bool:
    """Whether device code `held` runs on a GPU of compute capability (major, minor): SASS of the same
    major and a minor not above it, or PTX of an architecture not above it (compiled by the driver)."""
    major, minor = capability
    for name in held["sass"]:
        number = int(name.removeprefix("sm_"))
        if number // 10 == major and number % 10 <= minor:
            return True
    return any(int(name.removeprefix("compute_")) <= major * 10 + minor for name in held["ptx"])


def cuda_runtime_needed(path: str | Path) -> list[str]:
    """The CUDA runtime libraries a shared library needs (its DT_NEEDED entries named libcudart*):
    which CUDA major it serves, as torch's CUDA wheels bring one runtime each."""
    data = Path(path).read_bytes()
    sections = _sections(data)
    if ".dynamic" not in sections or ".dynstr" not in sections:
        return []
    (dynamic, size), (strings, _) = sections[".dynamic"], sections[".dynstr"]
    needed = []
    for position in range(dynamic, dynamic + size, 16):
        tag, value = struct.unpack_from("<qQ", data, position)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            start = strings + value
            needed.append(data[start:data.index(b"\0", start)].decode())
    return [name for name in needed if name.startswith("libcudart")]


def main(argv: list[str] | None = None) -> int:
    paths = (sys.argv[1:] if argv is None else argv) or []
    if not paths:
        print(__doc__.strip().splitlines()[-1].strip())
        return 2
    status = 0
    for path in paths:
        held = architectures(path)
        lacking = missing(path)
        print(f"{path}: SASS {', '.join(held['sass']) or 'none'}; PTX {', '.join(held['ptx']) or 'none'}; "
              f"CUDA runtime {', '.join(cuda_runtime_needed(path)) or 'none named'}")
        if lacking:
            print(f"{path}: lacks {', '.join(lacking)}, which the release claims ({RELEASE_ARCH_LIST})")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
