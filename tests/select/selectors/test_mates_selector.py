"""The `mates` selector on the real mini pool: probe oracle with the training optimiser, budgets,
seeds, the feature cache, and a tiny end-to-end training run that resumes to the same selections."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from macs.app.config import load_config
from macs.app.training import train_job
from macs.core.errors import MacsError
from macs.core.io import read_jsonl
from macs.select.online import OnlineSelection
from macs.select.selectors.base import Online, SelectorContext
from macs.select.selectors.registry import available_selectors, build_selector
from macs.train.loop import param_groups, train
from macs.train.model import build_model

BUDGETS = [20_000, 20_000, 20_000]
SETS = ["baselines.mates.oracle_samples=24"]


@pytest.fixture(scope="module")
def mates_cfg(mini_pool):
    pool, cfg = mini_pool
    return pool, cfg.model_copy(update={"baselines": load_config(None, SETS).baselines})


def _trained(pool, cfg, steps: int = 3, seed: int = 0):
    """A tiny model and its AdamW after `steps` real optimiser steps on pool documents."""
    model = build_model(cfg.model, int(pool.tokens.vocab_size), 64, int(pool.tokens.eos_id), seed)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=3e-3, betas=(0.9, 0.95))
    for i in range(steps):
        x = torch.from_numpy(np.asarray(pool.doc(1 + i)[:64], dtype=np.int64))[None]
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, opt


def _selector(pool, cfg, seed=0, cache_dir=None, log=None):
    ctx = SelectorContext(
        pool=pool,
        cfg=cfg,
        seed=seed,
        stage_budgets=list(BUDGETS),
        cache_dir=cache_dir,
        log=log or (lambda m: None),
    )
    return build_selector("mates", ctx)


def _stages(sel, model, opt) -> list:
    out = [sel.initial(BUDGETS[0])]
    for k in (1, 2):
        out.append(sel.refresh(k, BUDGETS[k], Online(model, 3 + k, None, opt)))
    return out


def test_stages_meet_budgets_are_seeded_and_use_fresh_candidates(mates_cfg, tmp_path):
    pool, cfg = mates_cfg
    assert "mates" in available_selectors()
    model, opt = _trained(pool, cfg)
    runs = [_stages(_selector(pool, cfg, seed), model, opt) for seed in (0, 0, 1)]
    for choices in runs:
        for ch, b in zip(choices, BUDGETS, strict=True):
            tok = int(pool.n_tokens[ch.idx].sum())
            assert b <= tok < b + int(pool.n_tokens[ch.idx].max())
            assert pool.eligible[ch.idx].all() and (np.diff(ch.idx) > 0).all()
    a, b, c = ([ch.idx.tolist() for ch in r] for r in runs)
    assert a == b and a != c  # the same seed gives the same stages, another seed others
    assert runs[0][1].rewards is not None
    for k, ch in enumerate(runs[0][1:], start=1):
        log = ch.log
        # a fresh slice of ~5x the budget, all never chosen before (the pool has room), 1/5 kept
        cands = log["candidates"]
        assert 5 * BUDGETS[k] <= cands["n_tokens"] and cands["fresh_docs"] == cands["n_docs"]
        assert log["oracle"]["n_docs"] == 24 and log["oracle"]["with_training_optimizer"]
        im = log["influence_model"]
        assert im["n_fit"] + im["n_heldout"] == log["oracle"]["n_scored"]
        assert isinstance(im["heldout_spearman"], float) and -1 <= im["heldout_spearman"] <= 1
        assert all(log["seconds"][s] > 0 for s in ("oracle", "fit", "predict", "features"))
        assert ch.scores is not None and ch.scores.shape == ch.idx.shape
    # stages 1 and 2 never repeat a document while fresh ones remain
    assert not set(a[1]) & set(a[0]) and not set(a[2]) & (set(a[0]) | set(a[1]))


def test_bad_pools_and_too_few_oracle_values(mates_cfg):
    pool, cfg = mates_cfg
    with pytest.raises(MacsError, match="method mates: .*tokenize the corpus"):
        _selector(dataclasses.replace(pool, tokenizer_path=None), cfg)
    with pytest.raises(MacsError, match="method mates: .*no store"):
        _selector(dataclasses.replace(pool, store=None), cfg)
    # no document is long enough to probe: a logged note, a uniform sample of the slice
    short = cfg.model_copy(
        update={"influence": cfg.influence.model_copy(update={"min_tokens": 10**6})}
    )
    notes: list[str] = []
    sel = _selector(pool, short, log=notes.append)
    sel.initial(BUDGETS[0])
    model, opt = _trained(pool, cfg, steps=1)
    ch = sel.refresh(1, BUDGETS[1], Online(model, 1, None, opt))
    assert ch.log["oracle"]["n_docs"] == 0 and "too few to fit" in ch.log["influence_model"]["note"]
    assert any("too few to fit" in n for n in notes)
    assert BUDGETS[1] <= int(pool.n_tokens[ch.idx].sum()) and not np.any(ch.scores)


def test_oracle_starts_from_the_training_optimizer_state(mates_cfg):
    pool, cfg = mates_cfg
    model, opt = _trained(pool, cfg)
    sel = _selector(pool, cfg)
    sel.initial(BUDGETS[0])
    before_opt = copy.deepcopy(opt.state_dict())
    before_w = {k: v.clone() for k, v in model.state_dict().items()}
    ch = sel.refresh(1, BUDGETS[1], Online(model, 3, None, opt))
    # the training model and optimiser are exactly as they were
    after = opt.state_dict()
    assert after["param_groups"] == before_opt["param_groups"]
    for i, st in before_opt["state"].items():
        assert all(torch.equal(st[k], after["state"][i][k]) for k in st)
    assert all(torch.equal(before_w[k], v) for k, v in model.state_dict().items())
    # the refresh's oracle is the probe started from the training AdamW's state: recomputing it
    # with that optimiser gives the same values, with a stateless AdamW (same settings) others
    docs, r = ch.rewards
    oracle = sel.oracle()
    again = oracle(model, docs, 3, opt)
    np.testing.assert_allclose(again, r, rtol=1e-6, atol=1e-9)
    fresh = torch.optim.AdamW(param_groups(model, 0.1), lr=3e-3, betas=(0.9, 0.95))
    stateless = oracle(model, docs, 3, fresh)
    assert not np.allclose(stateless, r, rtol=1e-3, atol=0)
    assert np.isfinite(r).all() and np.ptp(r) > 0


class CountingStore:
    """The corpus store, counting the document texts read through it."""

    def __init__(self, store):
        self.store, self.reads = store, []

    def texts(self, idx):
        self.reads += np.asarray(idx).tolist()
        return self.store.texts(idx)


def test_features_are_computed_once_and_read_back_from_the_cache(mates_cfg, tmp_path):
    pool, cfg = mates_cfg
    model, opt = _trained(pool, cfg)
    store = CountingStore(pool.store)
    sel = _selector(dataclasses.replace(pool, store=store), cfg, cache_dir=tmp_path)
    chs = _stages(sel, model, opt)
    # every document's text was read (and featurised) once, over two refreshes
    assert len(store.reads) == len(set(store.reads)) == chs[2].log["features"]["computed"]
    assert set(chs[1].rewards[0].tolist()) | set(chs[2].rewards[0].tolist()) <= set(store.reads)
    assert chs[2].log["features"]["cached_docs"] == len(store.reads)
    # a new selector over the same cache folder (a resumed run) reads them back, reads no text
    store2 = CountingStore(pool.store)
    again = _selector(dataclasses.replace(pool, store=store2), cfg, cache_dir=tmp_path)
    assert _stages(again, model, opt)[2].idx.tolist() == chs[2].idx.tolist()
    assert store2.reads == [] and again.features.stats["from_disk"] == len(store.reads)


def test_gumbel_top_k_follows_predictions_as_tau_falls(mates_cfg):
    pool, cfg = mates_cfg
    cand = np.flatnonzero(pool.eligible)[::2]
    pred = np.random.default_rng(0).normal(size=cand.size)
    picks = {}
    for tau in (1e-6, 1.0, 1e6):
        c = cfg.model_copy(
            update={"baselines": load_config(None, [f"baselines.mates.tau={tau}"]).baselines}
        )
        sel = _selector(pool, c)
        idx = sel._gumbel_top(cand, pred, 20_000, key=11)
        assert np.isin(idx, cand).all() and int(pool.n_tokens[idx].sum()) >= 20_000
        assert np.array_equal(idx, sel._gumbel_top(cand, pred, 20_000, key=11))
        picks[tau] = pred[np.searchsorted(cand, idx)].mean()
    # tau -> 0: the top predictions in order until the budget (a prefix of the sorted candidates)
    sel = _selector(
        pool,
        cfg.model_copy(
            update={"baselines": load_config(None, ["baselines.mates.tau=1e-6"]).baselines}
        ),
    )
    idx = sel._gumbel_top(cand, pred, 20_000, key=11)
    order = cand[np.argsort(-pred)]
    assert set(idx.tolist()) == set(order[: idx.size].tolist())
    assert picks[1e-6] > picks[1.0] > picks[1e6] and abs(picks[1e6]) < 0.5


def _run_cfg(sets, runs, name):
    extra = [
        f"run.runs_dir={runs}",
        f"run.name={name}",
        "selection.method=mates",
        "baselines.mates.oracle_samples=16",
        "train.checkpoint_every=3",
    ]
    return load_config(None, [*sets, *extra])


def _train(cfg, pool, stop_at_step=None):
    def make_selection(budgets):
        return OnlineSelection.from_config(cfg, budgets, pool=pool, log=lambda m: None)

    return train(train_job(cfg), pool, make_selection, None, stop_at_step=stop_at_step)


def test_train_run_logs_spearman_per_refresh_and_resumes_to_the_same_stages(
    mini_pool, mini_data, tmp_path
):
    pool, _ = mini_pool
    sets = mini_data[1]
    ref = _train(_run_cfg(sets, tmp_path, "full"), pool)
    assert ref.finished and ref.steps > 20
    sel = read_jsonl(ref.run_dir / "selection.jsonl")
    assert [s["stage"] for s in sel] == [0, 1, 2] and all(s["method"] == "mates" for s in sel)
    for s in sel:
        assert s["budget"] <= s["n_tokens"] < s["budget"] + int(pool.n_tokens.max())
    for s in sel[1:]:
        rho = s["influence_model"]["heldout_spearman"]
        assert isinstance(rho, float) and -1 <= rho <= 1
        assert s["seconds"]["oracle"] > 0 and s["seconds"]["fit"] > 0
        assert s["oracle"]["with_training_optimizer"] and s["oracle"]["n_scored"] == 16
        assert (ref.run_dir / "rewards" / f"stage-{s['stage']}.parquet").exists()
    assert read_jsonl(ref.run_dir / "metrics.jsonl")[-1]["overhead"] > 0
    # killed inside stage 1: the stage-2 refresh happens after the resume and must match
    cfg = _run_cfg(sets, tmp_path, "cut")
    assert not _train(cfg, pool, stop_at_step=ref.steps // 2 + 1).finished
    res = _train(cfg, pool)
    assert res.finished and res.final_loss == ref.final_loss
    cut = read_jsonl(res.run_dir / "selection.jsonl")
    drop = ("seconds", "overhead_so_far", "costs_so_far")  # timings
    strip = [[{k: v for k, v in s.items() if k not in drop} for s in x] for x in (sel, cut)]
    for x in (*strip[0], *strip[1]):
        x.get("oracle", {}).pop("docs_per_s", None)
        x.pop("features", None)  # the resumed process featurised fewer docs
        x.get("compute", {}).pop("seconds", None)  # the oracle's tokens must match, not its time
    assert strip[0] == strip[1]


def test_oracle_compute_and_the_near_random_floor(mates_cfg):
    """Each refresh records its oracle's work (a forward and backward pass per probed window,
    a reference-set forward per probe and per refresh) and says when its influence model is
    below the Spearman floor."""
    pool, cfg = mates_cfg
    model, opt = _trained(pool, cfg)
    for floor, near in ((1.0, True), (-1.0, False)):
        c = cfg.model_copy(deep=True)
        c.baselines.mates.spearman_floor = floor
        notes: list[str] = []
        sel = _selector(pool, c, log=notes.append)
        ch = _stages(sel, model, opt)
        assert "compute" not in ch[0].log
        est = sel.oracle().estimator
        windows = 0
        for k in (1, 2):
            log = ch[k].log
            comp, im = log["compute"], log["influence_model"]
            assert comp["what"] == "mates oracle" and comp["probes"] == 24
            assert comp["seconds"] == log["seconds"]["oracle"] > 0
            # backward: the probed windows' tokens; at most the probed docs' tokens
            probed = pool.n_tokens[sel.oracle_sample(0)].sum()  # any sample: just a scale check
            assert 0 < comp["backward_tokens"] <= 4 * probed
            ref_passes, rest = divmod(
                comp["forward_tokens"] - comp["backward_tokens"], est.ref_tokens
            )
            assert rest == 0 and ref_passes >= log["oracle"]["n_scored"]
            windows += ref_passes
            assert im["near_random"] is near and im["spearman_floor"] == floor
            assert ("near_random_note" in im) is near
        said = [n for n in notes if "samples its candidate slice near-randomly" in n]
        assert len(said) == (2 if near else 0)
    assert est.forward_tokens > 0 and windows > 0
