"""The staged loop on a small real pool: console selection, alignment rewards, checkpoint and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from macs.config import load_config
from macs.influence import make_estimator
from macs.influence.reference import ReferenceExample, ReferenceSet
from macs.io import read_json, read_jsonl
from macs.train.loop import train
from macs.train.selection import make_selector


def reference_like_domain_a(n: int = 8, seed: int = 5) -> ReferenceSet:
    """Reference examples whose tokens follow domain 'a' (ids 1..30) of the test pool."""
    rng = np.random.default_rng(seed)
    ex = [
        ReferenceExample("a_like", str(i), rng.integers(1, 31, 24).astype(np.int64), 8)
        for i in range(n)
    ]
    return ReferenceSet({"a_like": ex})


def make_cfg(runs: Path, name: str, mode: str = "multi_actor", **extra):
    sets = [
        f"run.runs_dir={runs}",
        f"run.name={name}",
        "model.size=llama-tiny",
        "train.tokens=7680",
        "train.seq_len=32",
        "train.batch_size=4",
        "train.stages=3",
        f"selection.mode={mode}",
        "train.log_every=4",
        "selection.samples_per_group=6",
        "selection.actors=[domain, quality]",
        "train.warmup_frac=0.1",
        "influence.window=64",
        "influence.overlap=0",
        "influence.n_per_task=8",
        "train.threads=1",
    ]
    sets += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, sets)


def run(cfg, pool, stop_at_step=None):
    def rewards(p):
        est = make_estimator(cfg.influence, reference_like_domain_a())
        return lambda model, idx: est.rewards(
            model, [np.asarray(p.tokens.doc(i), np.int64) for i in idx]
        )

    return train(
        cfg,
        pool,
        lambda p: make_selector(p, cfg, cfg.run.seed),
        rewards,
        None,
        stop_at_step=stop_at_step,
    )


def test_multi_actor_run_updates_weights_and_writes_run_dir(pool, tmp_path):
    cfg = make_cfg(tmp_path, "ma")
    res = run(cfg, pool)
    d = res.run_dir
    assert res.finished and res.steps == 60 and res.tokens == 60 * 128
    for f in (
        "config.yaml",
        "metrics.jsonl",
        "selection.jsonl",
        "pool.json",
        "summary.json",
        "DONE",
        "stages/stage-0.parquet",
        "stages/stage-2.parquet",
        "model/config.json",
        "checkpoints/latest.json",
    ):
        assert (d / f).exists(), f
    sel = read_jsonl(d / "selection.jsonl")
    assert [r["stage"] for r in sel] == [0, 1, 2]
    last = sel[-1]
    thetas = [np.array(list(r["theta"].values())) for r in sel]
    assert all(t.sum() == pytest.approx(1.0) and t.min() >= 0 for t in thetas)  # on the simplex
    assert any(np.ptp(t) > 0 for t in thetas[1:])  # theta moved off 1/2, 1/2 at a refresh
    for a in ("domain", "quality"):
        assert np.ptp(last["actors"][a]["w"]) > 0 and len(last["actors"][a]["R_j"]) == len(
            pool.actors[a].group_names
        )
    # the reference looks like domain 'a': its group earns the highest reward and weight
    w_dom = np.array(last["actors"]["domain"]["w"])
    assert int(np.argmax(w_dom)) == 0
    assert last["seconds"]["reward"] > 0 and last["n_reward_docs"] > 0
    met = read_jsonl(d / "metrics.jsonl")
    assert met[-1]["step"] == 60 and met[-1]["overhead"] > 0 and met[-1]["tokens_per_s"] > 0
    assert met[-1]["loss"] < met[0]["loss"]
    st = pq.read_table(d / "stages" / "stage-2.parquet").to_pydict()
    assert {"index", "id", "n_tokens", "group_domain", "group_quality", "domain"} <= set(st)
    assert sum(st["n_tokens"]) >= 20 * 128 and not pool.eligible[~pool.eligible].any()
    assert all(pool.eligible[i] for i in st["index"])
    # the later stages lean to domain a (selection follows the weights)
    share_a = np.mean(np.array(st["group_domain"]) == 0)
    assert share_a > read_json(d / "pool.json")["actors"]["domain"]["token_share"][0] * 0.9
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(d / "model")
    assert m.config.vocab_size == 96


def _weights(d: Path) -> dict:
    return torch.load(
        d / "checkpoints" / read_json(d / "checkpoints/latest.json")["dir"] / "model.pt"
    )


@pytest.mark.parametrize("stops", [(20,), (23, 41)], ids=["between-stages", "inside-stages"])
def test_resume_matches_uninterrupted(pool, tmp_path, stops):
    ref = run(make_cfg(tmp_path, "full", **{"train.checkpoint_every": 6}), pool)
    cfg = make_cfg(tmp_path, "cut", **{"train.checkpoint_every": 6})
    for s in stops:  # a 'kill' after step s: nothing after the last checkpoint is saved
        r = run(cfg, pool, stop_at_step=s)
        assert not r.finished
    res = run(cfg, pool)  # the same command again resumes from the latest checkpoint
    assert res.finished and res.steps == ref.steps
    assert res.final_loss == ref.final_loss
    a, b = _weights(ref.run_dir), _weights(res.run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = (
        read_jsonl(ref.run_dir / "selection.jsonl"),
        read_jsonl(res.run_dir / "selection.jsonl"),
    )
    assert [r["theta"] for r in sa] == [r["theta"] for r in sb]
    assert [r["actors"] for r in sa] == [r["actors"] for r in sb]
    for k in range(3):
        ta = pq.read_table(ref.run_dir / f"stages/stage-{k}.parquet").column("index").to_pylist()
        tb = pq.read_table(res.run_dir / f"stages/stage-{k}.parquet").column("index").to_pylist()
        assert ta == tb
    ma, mb = read_jsonl(ref.run_dir / "metrics.jsonl"), read_jsonl(res.run_dir / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in ma] == [(r["step"], r["loss"]) for r in mb]


def test_random_and_fixed_theta_modes(pool, tmp_path):
    r = run(make_cfg(tmp_path, "rnd", "random"), pool)
    sel = read_jsonl(r.run_dir / "selection.jsonl")
    assert all(s["theta"] == {} and s["seconds"]["reward"] == 0 for s in sel)
    f = run(make_cfg(tmp_path, "fix", "fixed_theta", **{"selection.actors": "[domain]"}), pool)
    sel = read_jsonl(f.run_dir / "selection.jsonl")
    assert sel[-1]["theta"] == {"domain": 1.0} and list(sel[-1]["actors"]) == ["domain"]
    assert np.ptp(sel[-1]["actors"]["domain"]["w"]) > 0
    ma = read_jsonl(r.run_dir / "stages/../selection.jsonl")
    assert [s["budget"] for s in ma] == [s["budget"] for s in sel]  # equal token budgets
