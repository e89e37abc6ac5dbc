"""Locks on run directories and corpus stores: two macs commands never write one place at once.

`run_lock(run_dir)` takes an exclusive `fcntl.flock` on `<run_dir>/.lock`; `store_lock(store)`
a shared (readers: label, tokenize, select) or exclusive (import, which replaces the store)
lock on `<store>/.lock`, and, for `area="labels"` / `"tokens"`, an exclusive lock on
`<store>/.labels.lock` / `.tokens.lock` so two writers of one derived area never overlap.
Each holder writes its pid, host, command and start time into the lock file, which the refusal
message names. The kernel drops a lock when its process ends in any way (kill -9 included), so
a crashed command never leaves it stuck; the file stays and only informs the next message.
Lock files are opened with O_NOFOLLOW: a symbolic link where the lock goes is refused, never
written through. flock needs a local file system (on NFS it may lock per host only).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from macs.core.errors import MacsError
from macs.core.io import open_nofollow, pid_alive, write_failure

LOCK_NAME = ".lock"
_STORE_HELD: dict[str, list] = {}  # lock file -> [fd, shared, depth] (store locks of this process)


def _holder(what: str) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": what,
        "argv": sys.argv,
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_holder(run_dir: str | os.PathLike, name: str = LOCK_NAME) -> dict | None:
    """What the last holder wrote into `<run_dir>/<name>` (None if nothing readable)."""
    path = Path(run_dir) / name
    if path.is_symlink():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _who(info: dict) -> str:
    """'pid 12 (macs label) since ...' for a holder record (a dead local pid: another command)."""
    pid, host = info.get("pid"), info.get("host")
    local = not host or host == socket.gethostname()
    if not isinstance(pid, int) or (local and not pid_alive(pid)):
        return "another macs command"
    who = f"pid {pid}" + ("" if local else f" on {host}")
    return f"{who} ({info.get('command') or 'another macs command'}) since {info.get('since', 'an unknown time')}"


def _names_live_holder(path: Path) -> bool:
    info = read_holder(path.parent, path.name) or {}
    return _who(info) != "another macs command"


@contextlib.contextmanager
def _flock(
    path: Path,
    what: str,
    shared: bool,
    busy,
    info: Path | None = None,
    directory: bool = False,
    record: bool = True,
) -> Iterator[int]:
    """Hold flock on `path` (a lock file, created if missing; or, with `directory`, the folder
    itself, so nothing is created in it) for the block. Holder records live in `info` (default:
    the lock file), written only when `record`; `busy(record)` is the MacsError message when
    another process holds the lock."""
    import fcntl

    info = path if info is None and not directory else info
    if directory:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        try:
            fd = open_nofollow(path, os.O_RDWR | os.O_CREAT)
        except OSError as e:  # a read-only folder: one line naming it
            raise (write_failure(e, path) or e) from e
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MacsError(busy(_read_new_holder(info))) from None
        record = record and info is not None
        if record and (not shared or not _names_live_holder(info)):
            # a reader of a read-only store holds the lock without a record
            with contextlib.suppress(OSError) if info != path else contextlib.nullcontext():
                _write_record(info, fd if info == path else None, _holder(what))
        try:
            yield fd
        finally:
            with contextlib.suppress(OSError):
                # the last holder (an exclusive lock, or a shared one nobody else holds now)
                # leaves an empty record: a released lock names nobody
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if record:
                    _write_record(info, fd if info == path else None, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_new_holder(info: Path | None, wait: float = 0.5) -> dict:
    """The holder record in `info`; a holder that took the lock an instant ago writes its record
    just after, so an empty or partial one is read again for up to `wait` seconds."""
    if info is None:
        return {}
    deadline = time.monotonic() + wait
    while True:
        found = read_holder(info.parent, info.name)
        if found or time.monotonic() >= deadline:
            return found or {}
        time.sleep(0.02)


def _write_record(path: Path, fd: int | None, record: dict | None) -> None:
    """Replace the holder record in `path` (through `fd` when it is the open lock file)."""
    own = fd is None
    if own:
        if record is None and not path.exists():
            return
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT)
    try:
        os.ftruncate(fd, 0)
        if record is not None:
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    finally:
        if own:
            os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "macs train") -> Iterator[Path]:
    """Hold the exclusive lock of `run_dir` (created if missing) for the block; MacsError
    naming the holder (pid, command, start time) when another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME

    def busy(info: dict) -> str:
        return f"{run_dir} is in use by {_who(info)}; wait for it to finish or use another run.name"

    with _flock(path, what, False, busy):
        yield path


@contextlib.contextmanager
def store_lock(
    store_dir: str | os.PathLike, what: str, *, shared: bool = True, area: str | None = None
) -> Iterator[None]:
    """Hold `<store>/.lock` (shared for a reader, exclusive for a command that replaces the
    store) and, with `area`, the exclusive `<store>/.<area>.lock` for the block. Re-entrant in
    one process (an import inside a pipeline that already holds it); a store that does not
    exist yet has nothing to lock. MacsError naming the holder when another command has it."""
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        yield
        return
    with contextlib.ExitStack() as stack:
        # the store folder itself is locked (an import leaves nothing in a store it replaces
        # or fails to replace); readers record themselves in <store>/.lock
        stack.enter_context(_store_flock(store_dir, LOCK_NAME, what, shared, directory=True))
        if area is not None:
            stack.enter_context(_store_flock(store_dir, f".{area}.lock", what, False, area))
        yield


@contextlib.contextmanager
def _store_flock(
    store_dir: Path,
    name: str,
    what: str,
    shared: bool,
    area: str | None = None,
    directory: bool = False,
) -> Iterator[None]:
    import fcntl

    path = store_dir / name
    key = os.path.join(os.path.realpath(store_dir), name)
    held = _STORE_HELD.get(key)
    if held is not None:  # this process holds it: nest (an exclusive request upgrades)
        fd, was_shared, _ = held
        if was_shared and not shared:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = read_holder(store_dir, name) or {}
                raise MacsError(_store_busy(store_dir, what, area)(info)) from None
        held[1], held[2] = was_shared and shared, held[2] + 1
        try:
            yield
        finally:
            held[2] -= 1
            if was_shared and not shared:
                fcntl.flock(fd, fcntl.LOCK_SH)
            held[1] = was_shared
        return
    busy = _store_busy(store_dir, what, area)
    # the folder's lock: readers record themselves in <store>/.lock, an import (exclusive)
    # writes nothing into the store it replaces (its .NAME.partial-PID names it)
    target, record = (store_dir, shared) if directory else (path, True)
    with _flock(target, what, shared, busy, path, directory, record) as fd:
        _STORE_HELD[key] = [fd, shared, 1]
        try:
            yield
        finally:
            del _STORE_HELD[key]


WRITER_FILE = ".writer"  # in a store writer's .NAME.partial-PID: the command writing it


def _importer(store_dir: Path) -> dict:
    """The holder record of a live import (or demo build) replacing `store_dir` (its
    `.NAME.partial-PID`, whose WRITER_FILE names the command)."""
    for p in store_dir.parent.glob(f".{store_dir.name}.partial-*"):
        pid = p.name.rpartition("-")[2]
        if pid.isdigit() and pid_alive(int(pid)):
            since = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(p.stat().st_mtime))
            command = _writer_command(p / WRITER_FILE)
            return {"pid": int(pid), "command": command or "macs corpus import", "since": since}
    return {}


def _writer_command(path: Path) -> str:
    """The command a store writer wrote to `path` ('' when absent, a link or unreadable)."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except (OSError, MacsError):
        return ""
    try:
        return os.read(fd, 100).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)


def _store_busy(store_dir: Path, what: str, area: str | None):
    def busy(info: dict) -> str:
        if not area and _who(info) == "another macs command":
            info = _importer(store_dir) or info
        doing = f"writing its {area}" if area else "using it"
        return (
            f"the store {store_dir} is in use by {_who(info)}; {what} cannot run while another "
            f"command is {doing}: wait for it to finish and rerun"
        )

    return busy
