"""examples/hf_trainer.py: a real transformers.Trainer with SelectionCallback; killed and resumed, it
selects exactly what an uninterrupted run selects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from macs.io import read_jsonl
from procs import wait_until

REPO = Path(__file__).resolve().parents[2]


def _cmd(sets: list[str], out: Path, *extra: str) -> list[str]:
    args = [sys.executable, str(REPO / "examples" / "hf_trainer.py"), "--out", str(out)]
    args += ["--max-steps", "24", "--refresh-every", "8", "--batch-size", "4", "--seq-len", "64"]
    args += ["--save-steps", "4", "--config", "none"]
    for kv in sets:
        args += ["--set", kv]
    return [*args, *extra]


@pytest.mark.slow
def test_hf_trainer_example_resumes_to_the_same_selections(tmp_path, mini_data):
    from macs.console.manifest import read_manifest

    _, sets = mini_data
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    clean = tmp_path / "clean"
    out = subprocess.run(_cmd(sets, clean), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(sets, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:  # kill it after the checkpoint at step 12 (inside stage 1) and before the end
        wait_until(proc, (killed / "checkpoint-12" / "macs_selection.npz").exists, 300)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    out = subprocess.run(
        _cmd(sets, killed, "--resume"), env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for k in range(3):
        a = read_manifest(clean / "macs" / "stages" / f"stage-{k}.parquet")[0]
        b = read_manifest(killed / "macs" / "stages" / f"stage-{k}.parquet")[0]
        assert a.column("id").to_pylist() == b.column("id").to_pylist(), k
    sel = read_jsonl(clean / "macs" / "selection.jsonl")
    assert [r["stage"] for r in sel] == [0, 1, 2] and sel[1]["theta"] != sel[0]["theta"]
    assert sel[1]["n_reward_docs"] > 0 and sel[1]["step"] == 8
