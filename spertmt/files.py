"""Writing files and folders so that an interruption or a failure never leaves half of one behind:
everything is written next to its target (`<name>.tmp`) and renamed into place when complete, and
the temporary is removed when the writing fails or is interrupted (Ctrl-C included)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[IO[str]]:
    """A text file opened at `<path>.tmp`, renamed over `path` when the block ends normally."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
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
