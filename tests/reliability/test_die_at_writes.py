"""`macs train` dies (os._exit, as under kill -9) just before one of its file-system
mutations, at evenly spaced ones of all it makes, then runs again: the finished run equals an
uninterrupted one (stage manifests, steps, tokens, loss, weights). The fault campaign
(benchmarks/fault_campaign.py) does this at every mutation of import, tokenize, label, select
and train; tests/train/test_checkpoint.py pins the checkpoint swap that such a death found."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from crash import mutations, run_cli, run_die, sweep_points  # noqa: E402

pytestmark = pytest.mark.slow


def _args(mini_data, runs: Path) -> list:
    _, sets = mini_data
    flat = [x for kv in sets for x in ("--set", kv)]
    return ["train", *flat, "--set", "train.checkpoint_every=4", "--set", f"run.runs_dir={runs}"]


def _outcome(run: Path):
    if not (run / "DONE").exists():
        return None
    stages = [json.dumps(pq.read_table(f).to_pydict()) for f in sorted(run.glob("stages/*"))]
    s = json.loads((run / "summary.json").read_text())
    w = (run / "model" / "model.safetensors").read_bytes()
    return stages, s["steps"], s["tokens"], s["final_loss"], w


def test_train_dies_at_a_write_then_reruns_to_the_same_run(tmp_path, mini_data):
    ref = run_die(0, _args(mini_data, tmp_path / "ref"), tmp_path)
    assert ref.rc == 0, ref.err
    want, n = _outcome(tmp_path / "ref" / "demo"), mutations(ref)
    assert want is not None and n > 50  # checkpoints, stage manifests, metrics, model, eval
    for k in sweep_points(n, 6)[1:]:  # (the first is before anything of the run exists)
        runs = tmp_path / f"k{k}"
        died = run_die(k, _args(mini_data, runs), tmp_path)
        assert died.killed, died.err
        r = run_cli(_args(mini_data, runs), tmp_path, timeout=600)
        assert r.rc == 0 and "Traceback" not in r.err, f"died at write {k}/{n}: {r.err}"
        assert _outcome(runs / "demo") == want, f"died at write {k}/{n}"
        left = [p for p in runs.rglob(".*") if p.name.endswith(".tmp") or ".partial" in p.name]
        assert not left, f"died at write {k}/{n}: the rerun left {left}"
