"""The run-directory lock: a second holder is refused with the first one's pid and command; a
released or SIGKILLed holder frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from macs.core.errors import MacsError
from macs.core.lock import read_holder, run_lock

SRC = Path(__file__).resolve().parents[2] / "src"

HOLDER = textwrap.dedent(
    """
    import sys, time
    from macs.core.lock import run_lock
    with run_lock(sys.argv[1], what="macs run"):
        print("held", flush=True)
        time.sleep(120)
    """
)


def _start_holder(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_holder_in_the_same_process_is_refused(tmp_path):
    with run_lock(tmp_path / "run", what="macs train"):
        info = read_holder(tmp_path / "run")
        assert info["pid"] == os.getpid() and info["command"] == "macs train"
        with pytest.raises(MacsError) as e, run_lock(tmp_path / "run"):
            pass
        msg = str(e.value)
        assert f"is in use by pid {os.getpid()} (macs train) since " in msg
        assert "another run.name" in msg and "\n" not in msg
    with run_lock(tmp_path / "run"):  # released: free again
        pass
    assert read_holder(tmp_path / "run") is None  # the released lock names nobody


def test_another_process_holds_it_until_killed(tmp_path):
    run_dir = tmp_path / "run"
    p = _start_holder(run_dir)
    try:
        with (
            pytest.raises(MacsError, match=rf"in use by pid {p.pid} \(macs run\)"),
            run_lock(run_dir),
        ):
            pass
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        with run_lock(run_dir, what="macs train"):  # the kernel dropped the killed holder's lock
            assert read_holder(run_dir)["pid"] == os.getpid()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_two_processes_racing_one_wins(tmp_path):
    """Two processes started together: exactly one holds the lock, the other is refused."""
    code = textwrap.dedent(
        """
        import sys, time
        from macs.core.errors import MacsError
        from macs.core.lock import run_lock
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
        try:
            with run_lock(sys.argv[1]):
                time.sleep(1.0)
                print("won")
        except MacsError as e:
            print("refused:", e)
        """
    )
    import time

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "run"), start],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs[1] == "won" and outs[0].startswith("refused:") and "in use by pid" in outs[0]
