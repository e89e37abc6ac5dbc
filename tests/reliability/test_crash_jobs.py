"""kill -9 of `macs select` and `macs run` at seeded random points, then the same command again:
the outputs equal an uninterrupted run's (contents, not mtimes). `macs compare` has its own kill
test (tests/test_compare.py) and `macs train` its own (tests/train/test_train_e2e.py)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from crash import run_cli  # noqa: E402

pytestmark = pytest.mark.slow


def _sets(mini_data) -> list[str]:
    _, sets = mini_data
    return [x for kv in sets for x in ("--set", kv)]


def _select_args(mini_data, out: Path) -> list:
    return ["select", *_sets(mini_data), "--set", "selection.fraction=0.3", "--out", out]


def test_select_killed_then_rerun_equals_uninterrupted(tmp_path, mini_data):
    ref = run_cli(_select_args(mini_data, tmp_path / "ref" / "m.parquet"), tmp_path)
    assert ref.rc == 0, ref.err
    want = pq.read_table(tmp_path / "ref" / "m.parquet")
    out = tmp_path / "run" / "m.parquet"
    rng = random.Random(1702)
    for _ in range(3):  # the whole command takes a few seconds: kill it inside
        r = run_cli(_select_args(mini_data, out), tmp_path, kill_after=rng.uniform(0.2, 2.5))
        if out.exists():  # what is visible is complete: the previous output or none
            assert pq.read_table(out).equals(want)
    r = run_cli(_select_args(mini_data, out), tmp_path)
    assert r.rc == 0 and "Traceback" not in r.err, r.err
    assert pq.read_table(out).equals(want)
    assert not list(out.parent.glob(".*tmp"))


def _run_args(mini_data, runs: Path) -> list:
    return [
        "run",
        *_sets(mini_data),
        "--set",
        f"run.runs_dir={runs}",
        "--set",
        "train.checkpoint_every=4",
        "--methods",
        "multi_actor,random",
    ]


def _outcome(root: Path) -> dict:
    out = {}
    for run in sorted(p for p in root.iterdir() if (p / "DONE").exists()):
        stages = [  # as JSON text: NaN scores (random has none) compare equal
            json.dumps(pq.read_table(f).to_pydict())
            for f in sorted((run / "stages").glob("*.parquet"))
        ]
        summ = json.loads((run / "summary.json").read_text())
        weights = (run / "model" / "model.safetensors").read_bytes()
        out[run.name] = (stages, summ["steps"], summ["tokens"], summ["final_loss"], weights)
    return out


def test_run_killed_then_rerun_equals_uninterrupted(tmp_path, mini_data):
    ref = run_cli(_run_args(mini_data, tmp_path / "ref"), tmp_path, timeout=600)
    assert ref.rc == 0, ref.err
    want = _outcome(tmp_path / "ref" / "demo")
    assert set(want) == {"multi_actor-s0", "random-s0"}
    runs = tmp_path / "cut"
    metrics = runs / "demo" / "multi_actor-s0" / "metrics.jsonl"
    r = run_cli(_run_args(mini_data, runs), tmp_path, started=metrics.exists, kill_after=1.5)
    assert r.killed and not (runs / "demo" / "report").exists()
    r = run_cli(_run_args(mini_data, runs), tmp_path, timeout=600)
    assert r.rc == 0 and "Traceback" not in r.err, r.err
    assert _outcome(runs / "demo") == want
    assert (runs / "demo" / "report" / "compare" / "table.md").exists()
