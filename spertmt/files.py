"""Writing files and folders so that an interruption or a failure never leaves half of one behind:
everything is written next to its target and renamed into place when complete, and the temporary
is removed when the writing fails or is interrupted (Ctrl-C included). A file's temporary is unique
to the process (`<name>.<pid>.<random>.tmp`), so two runs writing one output never write into each
other's: each renames a complete file, and the last one to finish is what the output holds."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def check_output(output: str | Path, *inputs: str | Path) -> None:
    """Refuses, before any work, an output that would overwrite an input (whatever the spelling of
    the path: relative, `..`, a symbolic or hard link) or whose folder cannot be written. The
    folder is created when missing."""
    output = Path(output)
    for source in inputs:
        source = Path(source)
        same = output.resolve() == source.resolve() or (
            output.exists() and source.exists() and os.path.samefile(output, source))
        if same:
            raise ValueError(f"{output}: this is the input file ({source}); write the results to another file")
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; give a file name to write the results to")
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{output}: cannot create its folder ({error.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{output}: cannot write in {folder} (permission denied)")


def umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_default_permissions(path: str | Path) -> None:
    """The mode a newly created file gets under the user's umask (0644 under umask 022), for files
    that a library wrote with a stricter one (safetensors writes 0600): a colleague or a serving
    process under another user can read the weights as they read the rest of the folder."""
    os.chmod(path, 0o666 & ~umask())


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[IO[str]]:
    """A text file opened at a temporary unique to this process beside `path`, renamed over
    `path` when the block ends normally."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)  # a rename is atomic on one file system
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_output(path) as f:
        f.write(text)


def recover_folder(folder: str | Path) -> None:
    """Finishes a swap of `atomic_folder` that a kill interrupted: when `folder` is missing, its
    previous version `<folder>.old` is whole and is put back; when both exist, `.old` is spent."""
    folder = Path(folder)
    old = folder.with_name(folder.name + ".old")
    if old.exists() and not folder.exists():
        old.rename(folder)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """An empty folder `<folder>.tmp` to fill; it replaces `folder` when the block ends normally
    (the old folder is moved aside to `<folder>.old` first, so one of the two is always whole, and
    `recover_folder` finishes a swap that a kill cut short)."""
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    recover_folder(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
