"""Atomic file output and small JSON helpers shared by every layer."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from macs.core.errors import MacsError


def _create_temp(path: Path) -> Path:
    """Create an empty temp file beside `path` with the mode the user's umask gives a new file
    (0666 & ~umask, like every other output; mkstemp would make it 0600). Its name carries the
    writer's pid, so a later write of `path` can delete what a killed writer left."""
    remove_temps(path.parent, of=path.name)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)-[0-9a-f]{8}\.tmp$")


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_temps(folder: str | os.PathLike, recursive: bool = False, of: str | None = None) -> int:
    """Delete the temp files of atomic writes whose writer died (`.NAME.PID-XXXXXXXX.tmp` with
    no live PID) in `folder` (and below it when recursive; only those of NAME `of` if given).
    A live writer's temp file is never touched. Returns how many were deleted."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    pattern = f".{glob.escape(of)}.*.tmp" if of else ".*.tmp"
    for p in folder.rglob(pattern) if recursive else folder.glob(pattern):
        m = _TEMP.match(p.name)
        if m and (of is None or m["name"] == of) and not pid_alive(int(m["pid"])):
            with contextlib.suppress(OSError):  # gone already, or not ours to delete
                p.unlink()
                n += 1
    return n


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path`, else delete it.
    The file gets the same permissions as any new file (the user's umask applies)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temp(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# errno -> (what happened, what to do)
_WRITE_FAULTS = {
    errno.ENOSPC: ("disk full", "free some space or write to another folder"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write to another folder"),
    errno.EFBIG: (
        "file too large (a file-size limit or the file system's maximum)",
        "raise the limit (ulimit -f) or write to another file system",
    ),
    errno.EROFS: ("not writable (read-only file system)", "write to another folder"),
    errno.EACCES: (
        "not writable (permission denied)",
        "fix the folder's permissions or write to another folder",
    ),
    errno.EPERM: (
        "not writable (operation not permitted)",
        "fix the folder's permissions or write to another folder",
    ),
}


def write_failure(
    e: OSError, path: str | os.PathLike | None = None, note: str = ""
) -> MacsError | None:
    """A one-line MacsError for an OSError that means the output cannot be written (disk full,
    quota, file-size limit, read-only or permission denied), naming the file (`e.filename`,
    else `path`), the cause and the fix; None for any other OSError."""
    reason = _WRITE_FAULTS.get(e.errno) if e.errno is not None else None
    if reason is None and e.errno is None and "written" in str(e):  # numpy: a short write
        reason = ("disk full (a write was cut short)", "free some space or write to another folder")
    if reason is None:
        return None
    target = e.filename or path or "the output"
    what, fix = reason
    tail = f"; {note}" if note else ""
    return MacsError(f"cannot write {target}: {what}; {fix}{tail}")


@contextmanager
def writing(path: str | os.PathLike, note: str = "") -> Iterator[None]:
    """Turn a disk-full or not-writable OSError raised inside into a one-line MacsError naming
    `path` (or the file the error names) and what to do; `note` says what was kept."""
    try:
        yield
    except OSError as e:
        err = write_failure(e, path, note)
        if err is None:
            raise
        raise err from e


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (indented, keys in insertion order)."""
    write_text(path, json.dumps(obj, indent=2, default=_default) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (memory stays flat)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_parquet(path: str | os.PathLike, table, **kwargs) -> None:
    """Write a pyarrow Table to Parquet atomically (zstd by default)."""
    import pyarrow.parquet as pq

    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """os.open with O_NOFOLLOW: a symbolic link at `path` is a one-line MacsError (macs never
    writes through a link, which could truncate the file it points to), as is anything but a
    regular file."""
    import stat

    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise MacsError(
                f"{path} is a symbolic link; macs does not write through links (it could "
                f"overwrite the file the link points to): remove it (rm {path}) and rerun"
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MacsError(f"{path} is not a regular file; remove it and rerun")
    return fd


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and fsync (a crash loses at most the line being written); a
    symlink at `path` is refused (open_nofollow)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file written by append_jsonl (a torn last line is ignored)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def _default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
