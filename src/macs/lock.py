"""A run-directory lock: two `macs train` / `macs run` on one run directory never overlap.

`run_lock(run_dir)` takes an exclusive `fcntl.flock` on `<run_dir>/.lock` and writes the
holder's pid, host, command and start time into it. The kernel drops the lock when the
holding process ends in any way (kill -9 included), so a crashed run never leaves it stuck;
the file itself stays and only informs the next message. flock needs a local file system
(on NFS it may lock per host only).
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

from macs.errors import MacsError

LOCK_NAME = ".lock"


def _holder(what: str) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": what,
        "argv": sys.argv,
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_holder(run_dir: str | os.PathLike) -> dict | None:
    """What the last holder wrote into `<run_dir>/.lock` (None if nothing readable)."""
    try:
        info = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "macs train") -> Iterator[Path]:
    """Hold the exclusive lock of `run_dir` (created if missing) for the block; MacsError
    naming the holder (pid, command, start time) when another process holds it."""
    import fcntl

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MacsError(_busy_message(run_dir)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_holder(what)) + "\n").encode("utf-8"), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _busy_message(run_dir: Path) -> str:
    info = read_holder(run_dir) or {}
    who = f"pid {info.get('pid', '?')}"
    if info.get("host") and info.get("host") != socket.gethostname():
        who += f" on {info['host']}"
    cmd = info.get("command") or "another macs command"
    since = info.get("since", "an unknown time")
    return (
        f"{run_dir} is in use by {who} ({cmd}) since {since}; wait for it to finish or use "
        "another run.name"
    )
