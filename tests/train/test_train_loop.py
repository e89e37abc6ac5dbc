"""The staged loop on a small real pool: console selection, alignment rewards, checkpoint and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from macs.app.config import load_config
from macs.app.training import train_job
from macs.core.io import read_json, read_jsonl
from macs.select.online import OnlineSelection
from macs.select.rewards import make_estimator
from macs.select.rewards.reference import ReferenceExample, ReferenceSet
from macs.train.loop import train


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
        f"selection.method={mode}",
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
    est = make_estimator(cfg.influence, reference_like_domain_a())

    def rewards(model, idx, step=None, optimizer=None):
        return est.rewards(model, [np.asarray(pool.doc(i), np.int64) for i in idx], step=step)

    rewards.estimator = est  # influence.source=train scores against this estimator's directions

    def make_selection(budgets):
        return OnlineSelection.from_config(cfg, budgets, pool=pool, reward_fn=rewards)

    return train(train_job(cfg), pool, make_selection, None, stop_at_step=stop_at_step)


def _manifest(d: Path, k: int):
    from macs.data.manifest import read_manifest

    return read_manifest(d / "stages" / f"stage-{k}.parquet")[0]


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
        "rewards/stage-1.parquet",
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
            pool.labels[a].group_names
        )
    # the reference looks like domain 'a': its group earns the highest reward and weight
    w_dom = np.array(last["actors"]["domain"]["w"])
    assert int(np.argmax(w_dom)) == 0
    assert last["seconds"]["reward"] > 0 and last["n_reward_docs"] > 0
    met = read_jsonl(d / "metrics.jsonl")
    assert met[-1]["step"] == 60 and met[-1]["overhead"] > 0 and met[-1]["tokens_per_s"] > 0
    assert met[-1]["loss"] < met[0]["loss"]
    st = _manifest(d, 2)
    assert {"doc", "id", "tokens", "times_selected", "score", "domain", "quality"} <= set(
        st.column_names
    ) and "store_domain" in st.column_names
    docs = st.column("doc").to_numpy()
    # no held-out (index % 10 == 0 in the test pool) or empty document was ever selected
    for k in range(3):
        chosen = _manifest(d, k).column("doc").to_numpy()
        assert chosen.size and not np.any(chosen % 10 == 0)
        assert (pool.n_tokens[chosen] > 0).all()
    assert st.column("tokens").to_pylist() == pool.n_tokens[docs].tolist()
    # the later stages lean to domain a (selection follows the weights)
    share_a = pool.group_shares(pool.labels["domain"].groups, 3, docs)[0]
    assert share_a > read_json(d / "pool.json")["actors"]["domain"]["token_share"][0] * 0.9
    # every reward-sampled doc is recorded with its reward

    rw = pq.read_table(d / "rewards" / "stage-1.parquet").to_pydict()
    assert len(rw["doc"]) == sel[1]["n_reward_docs"] and np.isfinite(rw["reward"]).any()
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
        assert _manifest(ref.run_dir, k).equals(_manifest(res.run_dir, k))
    ma, mb = read_jsonl(ref.run_dir / "metrics.jsonl"), read_jsonl(res.run_dir / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in ma] == [(r["step"], r["loss"]) for r in mb]


def _stage_tokens(d: Path) -> list[int]:
    return [sum(_manifest(d, k).column("tokens").to_pylist()) for k in range(3)]


def test_every_method_selects_and_trains_equal_tokens(pool, tmp_path):
    """Tokens actually selected and trained per stage, for the method and each baseline."""
    runs = {
        m: run(make_cfg(tmp_path, m.replace(":", "-"), m), pool)
        for m in ("multi_actor", "fixed_theta:domain", "random")
    }
    budgets = [2560, 2560, 2560]
    for m, r in runs.items():
        assert r.tokens == 60 * 128, m  # trained: 20 steps x 128 tokens per stage
        met = read_jsonl(r.run_dir / "metrics.jsonl")
        per_stage = [max(x["tokens"] for x in met if x["stage"] == k) for k in range(3)]
        assert per_stage == [2560, 5120, 7680], m
        sel = _stage_tokens(r.run_dir)  # selected: at least the budget, less than one doc over
        for got, b in zip(sel, budgets, strict=True):
            assert b <= got < b + int(pool.n_tokens.max()), (m, sel)
    f = read_jsonl(runs["fixed_theta:domain"].run_dir / "selection.jsonl")
    assert f[-1]["theta"] == {"domain": 1.0} and list(f[-1]["actors"]) == ["domain"]
    assert np.ptp(f[-1]["actors"]["domain"]["w"]) > 0


def test_random_selector_matches_pool_domain_shares(pool, tmp_path):
    """Random stages take each domain in proportion to its tokens, within sampling error."""
    r = run(make_cfg(tmp_path, "rnd", "random"), pool)
    sel = read_jsonl(r.run_dir / "selection.jsonl")
    assert all("theta" not in s and s["method"] == "random" for s in sel)
    dom = pool.labels["domain"].groups
    want = pool.group_shares(dom, 3)
    docs = np.concatenate([_manifest(r.run_dir, k).column("doc").to_numpy() for k in range(3)])
    got = pool.group_shares(dom, 3, docs)
    # tokens of ~200 docs: the standard error of a share is below 0.05; allow 3 of them
    assert np.abs(got - want).max() < 0.15, (got, want)
    # without replacement across stages while the pool lasts: the pool (~3,700 tokens) runs out
    # in stage 1, which therefore holds every document stage 0 did not choose
    s0, s1 = (set(_manifest(r.run_dir, k).column("doc").to_pylist()) for k in (0, 1))
    assert pool.eligible_tokens < 2 * 2560 and not (s0 & set(np.flatnonzero(~pool.eligible)))
    assert s0 | s1 == set(np.flatnonzero(pool.eligible).tolist())


def test_a_finished_run_survives_new_config_fields_at_their_defaults(pool, tmp_path):
    """A run made before a config field existed is reused when the field keeps its default."""
    import yaml

    from macs.core.errors import MacsError
    from macs.data.rundir import RunDir

    cfg = make_cfg(tmp_path, "old")
    d = tmp_path / "old"
    d.mkdir()
    saved = cfg.model_dump(mode="json")
    del saved["selection"]["reward_pool"]  # as a run of an older macs wrote it
    del saved["influence"]["reference_shots"]
    (d / "config.yaml").write_text(yaml.safe_dump(saved))
    RunDir(d).check_same_config(cfg)  # no difference
    changed = make_cfg(tmp_path, "old", **{"selection.reward_pool": "unselected"})
    with pytest.raises(MacsError, match="selection.reward_pool: 'all' -> 'unselected'"):
        RunDir(d).check_same_config(changed)


def test_settings_of_other_baselines_do_not_invalidate_a_run(pool, tmp_path):
    from macs.app.config import save_config
    from macs.core.errors import MacsError
    from macs.data.rundir import RunDir

    cfg = make_cfg(tmp_path, "q", "quality_topk")
    (tmp_path / "q").mkdir()
    save_config(cfg, tmp_path / "q" / "config.yaml")
    other = make_cfg(tmp_path, "q", "quality_topk", **{"baselines.qurating.tau": 5.0})
    RunDir(tmp_path / "q").check_same_config(other)  # qurating's settings are not this run's
    own = make_cfg(tmp_path, "q", "quality_topk", **{"baselines.quality_topk.labels": "topic"})
    with pytest.raises(MacsError, match="baselines.quality_topk"):
        RunDir(tmp_path / "q").check_same_config(own)
