"""influence.source=train in the staged loop: in-run rewards, coverage, resume, costs, DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from macs.core.io import read_json, read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from test_train_loop import make_cfg, run  # noqa: E402

HERE = Path(__file__).parent
INRUN = {"influence.source": "train", "influence.method": "ghost"}


def test_in_run_source_scores_training_batches_and_reports_costs(pool, tmp_path):
    res = run(make_cfg(tmp_path, "inrun", **INRUN, **{"train.checkpoint_every": 0}), pool)
    assert res.finished
    recs = read_jsonl(res.run_dir / "selection.jsonl")
    for rec in recs[1:]:
        assert rec["reward_source"] == "train"
        info = rec["inrun"]
        assert info["steps"] == 20 and info["rows"] == 80 and info["docs"] > 10
        assert info["seconds"] > 0 and rec["n_inrun_docs"] == info["docs"]
        for a in ("domain", "quality"):
            act = rec["actors"][a]
            # every group has at least train_cover (4) docs with a reward: in-run or topped up
            assert min(act["n_j"]) >= 4 and sum(act["n_inrun_j"]) == info["docs"]
            assert all(v is None or v >= 0 for v in act["se_j"])
            assert "split_half_sb" in act and "split_half_r" in act
    so_far = [r["costs_so_far"] for r in recs]
    assert so_far[0]["reward_inrun_seconds"] == 0 < so_far[1]["reward_inrun_seconds"]
    assert all(
        a["train_seconds"] < b["train_seconds"]
        for a, b in zip(so_far[:-1], so_far[1:], strict=True)
    )
    costs = read_json(res.run_dir / "summary.json")["costs"]
    assert costs["reward_inrun_seconds"] > 0 and costs["reward_separate_seconds"] > 0
    total = sum(
        costs[f"{k}_fraction"] for k in ("reward_inrun", "reward_separate", "update", "select")
    )
    assert total <= costs["online_fraction"] + 1e-9


def test_groups_without_in_run_documents_keep_their_weight_when_cover_is_off(pool, tmp_path):
    """train_cover=0: a group the stage did not train on gets no reward (None) and keeps its weight;
    quality's top-k stage 0 holds only some of its groups."""
    from macs.select.console.config import ActorSpec

    extra = {"influence.train_cover": 0, "train.tokens": 1536}  # stages of 512 tokens
    cfg = make_cfg(tmp_path, "nocover", **INRUN, **extra)
    # stage 0: the top quality group first
    cfg.selection.actors = ["domain", ActorSpec(name="quality", init=[1.0, 1.0, 1.0, 8.0])]
    res = run(cfg, pool)
    rec = read_jsonl(res.run_dir / "selection.jsonl")[1]
    q = rec["actors"]["quality"]
    assert rec["n_reward_docs"] == 0  # no separate pass at all
    missing = [j for j, n in enumerate(q["n_inrun_j"]) if n == 0]
    assert missing, q["n_inrun_j"]
    w0 = read_jsonl(res.run_dir / "selection.jsonl")[0]["actors"]["quality"]["w"]
    for j in missing:
        assert q["R_j"][j] is None and q["w"][j] == pytest.approx(w0[j])


@pytest.mark.parametrize("dirs_every", [0, 5])
def test_resume_after_a_kill_mid_stage_gives_the_same_accumulators_and_selection(
    pool, tmp_path, dirs_every
):
    """Stage 1 runs steps 20..39; the kill lands after the step-28 checkpoint (with dirs_every 5
    its directions are step 25's, which the resumed run must use, not recompute)."""
    extra = {**INRUN, "train.checkpoint_every": 4, "influence.train_dirs_every": dirs_every}
    ref = run(make_cfg(tmp_path, "full", **extra), pool)
    cfg = make_cfg(tmp_path, "cut", **extra)
    assert not run(cfg, pool, stop_at_step=30).finished
    done = run(cfg, pool)
    assert done.finished
    a = read_jsonl(ref.run_dir / "selection.jsonl")
    b = read_jsonl(done.run_dir / "selection.jsonl")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a[1:], b[1:], strict=True):
        assert (
            ra["inrun"]["rows"] == rb["inrun"]["rows"]
            and ra["inrun"]["docs"] == rb["inrun"]["docs"]
        )
        for name in ("domain", "quality"):
            np.testing.assert_allclose(
                np.array(ra["actors"][name]["R_j"], dtype=float),
                np.array(rb["actors"][name]["R_j"], dtype=float),
                rtol=1e-9,
            )
        assert ra["theta"] == pytest.approx(rb["theta"], rel=1e-12)
    assert done.final_loss == pytest.approx(ref.final_loss, rel=1e-6)


@pytest.mark.slow
def test_ddp_in_run_sums_equal_one_process(tmp_path, pool):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1] / "src")}
    sets = [f"{k}={v}" for k, v in INRUN.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(HERE / "ddp_worker.py"), str(tmp_path), "ddp", "2", *sets]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    run(make_cfg(tmp_path, "single", **INRUN, **{"train.batch_size": 4}), pool)
    d = read_jsonl(tmp_path / "ddp" / "selection.jsonl")
    s = read_jsonl(tmp_path / "single" / "selection.jsonl")
    for rd, rs in zip(d[1:], s[1:], strict=True):
        assert rd["inrun"]["rows"] == rs["inrun"]["rows"] == 80
        assert rd["inrun"]["docs"] == rs["inrun"]["docs"]
        for name in ("domain", "quality"):
            assert rd["actors"][name]["n_j"] == rs["actors"][name]["n_j"]
            np.testing.assert_allclose(
                np.array(rd["actors"][name]["R_j"], dtype=float),
                np.array(rs["actors"][name]["R_j"], dtype=float),
                rtol=1e-3,
                atol=1e-5,
            )


def test_check_logs_the_agreement_of_in_run_and_separate_group_means(pool, tmp_path):
    res = run(make_cfg(tmp_path, "check", **INRUN, **{"influence.train_check": True}), pool)
    rec = read_jsonl(res.run_dir / "selection.jsonl")[1]
    chk = rec["inrun_vs_refresh"]
    assert set(chk) == {"domain", "quality"} and rec["seconds"]["check"] > 0
    assert chk["domain"]["groups"] == 3 and -1 <= chk["domain"]["r"] <= 1


def test_shrink_feeds_the_shrunk_group_means_to_the_actors(pool, tmp_path):
    res = run(make_cfg(tmp_path, "shrink", **{"selection.shrink": True}), pool)
    rec = read_jsonl(res.run_dir / "selection.jsonl")[1]
    for name in ("domain", "quality"):
        a = rec["actors"][name]
        used = np.array(a["R_j_shrunk"], dtype=float)
        ok = np.isfinite(used)
        z = (used[ok] - used[ok].mean()) / used[ok].std() if used[ok].std() > 0 else 0 * used[ok]
        np.testing.assert_allclose(np.array(a["z"], dtype=float)[ok], z, atol=1e-9)
        assert a["split_half_sb"] is None or a["split_half_sb"] <= 1
