"""Writing files and folders so that an interruption or a failure never leaves half of one behind:
everything is written next to its target and renamed into place when complete, and the temporary
is removed when the writing fails or is interrupted (Ctrl-C included). A file's temporary is unique
to the process (`<name>.<pid>.<random>.tmp`), a folder's too, so two runs writing one output never
write into each other's: each renames a complete file or folder, and the last one to finish is what
the output holds; a temporary that a killed process left (`kill -9` runs no cleanup) is removed by
the next write to the same output. A file named .gz, .bz2 or .xz is read and written through that
compression (`compression`, `open_binary`, `atomic_output`)."""

from __future__ import annotations

import contextlib
import glob
import importlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import IO

STDIO = "-"  # as an input: standard input; as an output: standard output


def is_stdio(path: str | Path) -> bool:
    """Whether `path` names standard input or output (STDIO) rather than a file."""
    return str(path) == STDIO


def check_input(path: str | Path) -> None:
    """Refuses, before any work, an input that is missing (STDIO, standard input, passes)."""
    if is_stdio(path):
        return
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")


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
        raise ValueError(f"{output}: is a folder; give a file name to write the results to (or --output-format "
                         "brat, which writes a folder)")
    check_writable(output.parent, output)


def check_writable(folder: str | Path, output: str | Path, create: bool = True) -> None:
    """Creates `folder` if missing (or, without `create`, looks at the nearest folder above it that
    exists, where it would be created), and raises ValueError naming `output` when nothing can be
    written there, with the system's reason (permission denied, a read-only file system): tried by
    creating a file, since permission bits do not tell a read-only mount."""
    folder = Path(folder)
    if not create:
        folder = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{output}: cannot create its folder ({_reason(error)})") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{output}: cannot write in {folder} ({_reason(error)})") from None


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Removes the temporaries of `path` (`<name>.<pid>.<random>.tmp`) that a process killed while
    writing left behind (`kill -9` runs no cleanup): those whose process no longer exists on this
    machine. A live writer's temporary is left alone. Returns what was removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.*.*.tmp"):
        pid = tmp.name[len(path.name) + 1:].split(".")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            if tmp.is_dir():  # an atomic_folder's
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def is_written_for(name: str, path: Path) -> bool:
    """Whether `name`, beside `path`, is `path` itself or what writing it leaves beside it: a
    temporary (`<name>.<pid>.<random>.tmp`, `_temporary`) or `atomic_folder`'s `<name>.old`."""
    return name in (path.name, path.name + ".old") or re.fullmatch(
        re.escape(path.name) + r"\.\d+\.[0-9a-f]+\.tmp", name) is not None


def _temporary(path: Path) -> Path:
    """Beside `path`, a name unique to this process and call: `<name>.<pid>.<random>.tmp`."""
    return path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


# A file whose name ends with one of these is read and written through that compression, and the
# extension before it tells its format (texts.jsonl.gz: JSON lines). Modules imported when named.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def compression(path: str | Path) -> str | None:
    """The module (gzip, bz2, lzma) that reads and writes `path`, by its name; None for a plain file."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def uncompressed(path: str | PurePath) -> PurePath:
    """`path` without its compression's extension (texts.jsonl.gz: texts.jsonl), for the extension
    that tells its format and the names made from it; a PurePath keeps its kind (an id as a path)."""
    path = path if isinstance(path, PurePath) else Path(path)
    return path.with_suffix("") if compression(path) else path


def extension(path: str | Path) -> str:
    """The extension that tells a file's format: before its compression's, in lower case, as a
    Windows user's files may be named (TEXTS.JSONL.GZ: .jsonl)."""
    return uncompressed(path).suffix.lower()


def open_binary(path: str | Path) -> IO[bytes]:
    """A file opened to read its bytes, decompressed where its name says it is compressed; data that
    does not decompress raises ValueError naming the file."""
    module = compression(path)
    if module is None:
        return open(path, "rb")
    return io.BufferedReader(_Decompressing(importlib.import_module(module), Path(path)))


class _Decompressing(io.RawIOBase):
    """A decompressing reader whose errors (not compressed, damaged, cut short) name the file."""

    def __init__(self, codec, path: Path):
        import zlib

        self.stream, self.path, self.module = codec.open(path, "rb"), path, codec.__name__
        # damaged data raises OSError or EOFError, or zlib's (gzip) or lzma's own error
        self.errors = (OSError, EOFError, zlib.error, getattr(codec, "LZMAError", OSError))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.stream.read(len(buffer))
        except self.errors as error:
            raise ValueError(f"{self.path}: named {self.path.suffix} but does not decompress as {self.module} "
                             f"({error}): not compressed, damaged or cut short") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[IO[str]]:
    """A text file opened at a temporary unique to this process beside `path`, renamed over
    `path` when the block ends normally; temporaries of dead writers of `path` are removed first.
    Compressed where the name says so (`compression`)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give the name of a file to write")
    check_writable(path.parent, path)
    remove_stale_temporaries(path)
    tmp = _temporary(path)
    try:
        with open(tmp, "xb") as raw:
            with _text_writer(raw, path) as f:
                yield f
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(path)  # a rename is atomic on one file system
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _text_writer(raw: IO[bytes], path: Path) -> Iterator[IO[str]]:
    """UTF-8 text into `raw` through `path`'s compression, ended (a compression's trailer written)
    when the block ends, `raw` left open for its owner to sync and close."""
    module = compression(path)
    if module == "gzip":  # the name in gzip's header is the output's, not the temporary's
        binary = importlib.import_module(module).GzipFile(filename=path.name, mode="wb", fileobj=raw)
    else:
        binary = raw if module is None else importlib.import_module(module).open(raw, "wb")
    text = io.TextIOWrapper(binary, encoding="utf-8")
    try:
        yield text
    finally:
        text.detach()  # flushes the text into `binary`, which stays open
        if binary is not raw:
            binary.close()  # closing a compressed stream given a file object leaves that file open


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
def atomic_folder(folder: str | Path, markers: tuple[str, ...] | None = None,
                  kind: str = "a model folder") -> Iterator[Path]:
    """An empty folder to fill, unique to this process and call (`<folder>.<pid>.<random>.tmp`, so
    that two processes writing one folder never fill the same one); it replaces `folder` when the
    block ends normally (the old folder is moved aside to `<folder>.old` first, so one of the two is
    always whole, and `recover_folder` finishes a swap that a kill cut short). Temporaries of dead
    writers of `folder` are removed first. With `markers` (file names), an existing `folder` is
    replaced only when it is empty or holds one of them: a user's file, or a folder of other things
    given as the output by mistake, is refused before anything is written, never deleted (the message
    says the folder is not `kind`)."""
    folder = Path(folder)
    old = folder.with_name(folder.name + ".old")
    if markers is not None:
        check_replaceable(folder, markers, kind)
    check_writable(folder.parent, folder)
    recover_folder(folder)
    remove_stale_temporaries(folder)
    tmp = _temporary(folder)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if folder.exists():
            folder.rename(old)
        try:
            tmp.rename(folder)
        except OSError:  # another process put its version in place between our two renames
            raise FileExistsError(f"{folder}: another process wrote it at the same time; its version is kept "
                                  "(write one folder from one process at a time)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_replaceable(folder: Path, markers: tuple[str, ...], kind: str = "a model folder") -> None:
    """Raises unless `folder` is absent, an empty folder, or a folder holding one of `markers` (what
    makes it `kind`)."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: is a file, not a folder; give the name of a folder to write")
    if folder.is_dir() and any(folder.iterdir()) and not any((folder / name).exists() for name in markers):
        raise FileExistsError(f"{folder}: holds other files and is not {kind}, so it is not replaced; "
                              "give a new folder (or remove this one first)")


class FolderInUse(OSError):
    """Another live process holds the folder (`hold_folder`)."""


def lock_file(handle: IO) -> bool:
    """Takes an exclusive lock on an open file without waiting (flock: the kernel drops a dead
    process's lock); False where another open file holds it. Not POSIX (Windows): no lock, True."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def hold_folder(folder: str | Path, purpose: str) -> IO[str]:
    """An exclusive lock on `folder` (its `.lock` file, with the holder's pid), held until the
    returned file is closed or the process ends, however it ends: the kernel drops a dead process's
    lock (flock), so a killed run leaves nothing to clean up. Raises FolderInUse naming the holder."""
    folder = Path(folder)
    check_writable(folder, folder)
    handle = open(folder / ".lock", "a+", encoding="utf-8")
    if not lock_file(handle):
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise FolderInUse(f"{folder}: process {holder} is {purpose} this folder; wait for it to end or "
                          "choose another folder")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def folder_holder(folder: str | Path) -> int | None:
    """The process that holds `folder` (`hold_folder`) where it is still alive; None where no process
    ever did or its holder has ended. Reads the pid only: taking the lock to test it could make a run
    that starts at that moment fail."""
    try:
        pid = int((Path(folder) / ".lock").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):  # no lock file, or an empty one
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:  # alive, another user's
        return pid
    except OSError:
        return None
    return pid


def read_folder_json(folder: Path, name: str, hint: str, error: type[Exception] = ValueError):
    """A JSON file of a model folder (PyTorch or exported); a missing or damaged one raises `error`
    naming the folder, the file and `hint` (what to do)."""
    path = folder / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{folder}: {name} is missing; {hint}") from None
    except (ValueError, UnicodeDecodeError) as problem:
        raise error(f"{folder}: {name} is damaged ({problem}); {hint}") from None
