"""One time budget for the whole device run, and subprocesses that cannot outlive their share of it."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Clock:
    """Wall-clock budget from `t0` (epoch seconds, the start of scripts/gpu_run.sh)."""

    t0: float
    budget_s: float

    def elapsed(self) -> float:
        """Seconds since t0."""
        return time.time() - self.t0

    def left(self) -> float:
        """Seconds of the budget left (negative when over)."""
        return self.budget_s - self.elapsed()


def _kill_group(p: subprocess.Popen) -> None:
    """SIGTERM the process group (the command and every worker it started), then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
        try:
            p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def guarded(
    cmd: list[str],
    timeout: float,
    log: Path,
    stdout: Path | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
) -> dict:
    """Run `cmd` in its own process group for at most `timeout` s (stderr, and stdout unless given
    a file, appended to `log`); {command, rc, seconds, timed_out}. rc None = not started."""
    rec = {"command": shlex.join(cmd), "rc": None, "seconds": 0.0, "timed_out": False}
    if timeout < 1:
        rec["note"] = "not started: no time left in the budget"
        return rec
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with open(log, "ab") as err, contextlib.ExitStack() as stack:
        err.write(f"\n$ {rec['command']}\n".encode())
        err.flush()
        out = stack.enter_context(open(stdout, "wb")) if stdout else err
        try:
            p = subprocess.Popen(
                cmd, stdout=out, stderr=err, start_new_session=True, env=env, cwd=cwd
            )
        except OSError as e:
            rec["note"] = f"could not start: {e}"
            return rec
        try:
            rec["rc"] = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            rec["rc"], rec["timed_out"] = p.returncode, True
        _kill_group_quietly(p.pid)
    rec["seconds"] = round(time.time() - t, 1)
    return rec


def _kill_group_quietly(pgid: int) -> None:
    """Workers a finished command left behind in its group (e.g. a killed pool's children) end too."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def tail(path: Path, lines: int = 40, max_chars: int = 6000) -> str:
    """The last `lines` non-blank lines of a text file (at most max_chars), '' when missing."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [
        x for x in text.replace("\r", "\n").splitlines() if x.strip()
    ]  # progress bars: last state
    return "\n".join(kept[-lines:])[-max_chars:]
