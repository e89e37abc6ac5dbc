"""Process helpers of the kill -9 tests that drive a subprocess themselves (the seeded kill-point
harness of the reliability tests is tests/reliability/crash.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def wait_until(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> None:
    """Poll every 50 ms until ready() holds, the process ends, or timeout seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
