"""`qurating`: budget, seeding, its two temperature limits on the mini pool, and its inclusion
probabilities against the exact ones of successive sampling on a hand-built pool."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from macs.baselines.base import SelectorContext
from macs.baselines.registry import build_selector
from macs.config import load_config
from macs.errors import MacsError
from macs.online import OnlineSelection
from macs.pool import LabelSet, Pool

BUDGETS = [20_000, 20_000, 20_000]


def _with(cfg, **qurating):
    cfg = cfg.model_copy(deep=True)
    for k, v in qurating.items():
        setattr(cfg.baselines.qurating, k, v)
    return cfg


def _chosen(pool, cfg, seed, total=sum(BUDGETS), method="qurating"):
    ctx = SelectorContext(pool=pool, cfg=cfg, seed=seed, stage_budgets=[total])
    return build_selector(method, ctx).choose(total)[0]


def test_stages_meet_the_budget_and_the_draw_is_seeded(mini_pool):
    pool, cfg = mini_pool
    runs = []
    for seed in (0, 0, 1):
        sel = OnlineSelection.from_config(
            cfg, BUDGETS, pool=pool, method="qurating", seed=seed, log=lambda m: None
        )
        stages = [sel.initial()] + [sel.refresh() for _ in range(2)]
        for st in stages:
            tok = int(pool.n_tokens[st.idx].sum())
            assert st.budget <= tok < st.budget + int(pool.n_tokens[st.idx].max())
            assert pool.eligible[st.idx].all()
        assert stages[0].log["select_info"]["tau"] == 2.0
        runs.append([s.idx.tolist() for s in stages])
    assert runs[0] == runs[1]  # same seed, same draw
    assert runs[0] != runs[2]  # another seed, another draw


def test_small_tau_is_quality_topk_and_large_tau_is_uniform(mini_pool):
    pool, cfg = mini_pool
    top = set(_chosen(pool, cfg, 0, method="quality_topk").tolist())
    cold = set(_chosen(pool, _with(cfg, tau=1e-4), 0).tolist())
    print(f"tau=1e-4 vs quality_topk: {len(cold & top)}/{len(top)} docs in common")
    assert len(cold & top) / len(top) >= 0.95
    # tau = 2 prefers quality; tau = 1e6 does not: domain shares of the draw match the pool's
    dom, nd = pool.domain_codes, len(pool.domain_names)
    q = pool.labels["quality"].scores
    shares, q_hot, q_warm = [], [], []
    for seed in range(24):
        hot = _chosen(pool, _with(cfg, tau=1e6), seed)
        shares.append(pool.group_shares(dom, nd, hot))
        q_hot.append(np.average(q[hot], weights=pool.n_tokens[hot]))
        warm = _chosen(pool, cfg, seed)
        q_warm.append(np.average(q[warm], weights=pool.n_tokens[warm]))
    dev = np.abs(np.mean(shares, axis=0) - pool.group_shares(dom, nd))
    elig = pool.eligible
    q_pool = np.average(q[elig], weights=pool.n_tokens[elig])
    print(f"tau=1e6 domain share max |dev| {dev.max():.4f}; quality pool {q_pool:.3f} "
          f"tau=1e6 {np.mean(q_hot):.3f} tau=2 {np.mean(q_warm):.3f}")  # fmt: skip
    assert dev.max() < 0.03
    assert abs(np.mean(q_hot) - q_pool) < 0.25
    assert np.mean(q_warm) > q_pool + 0.3


def exact_inclusion(w: np.ndarray, tokens: np.ndarray, budget: int) -> np.ndarray:
    """P(doc drawn) when docs are drawn one by one w/o replacement with p proportional to w until
    `budget` tokens are reached, by enumerating every order."""
    n, p = len(w), np.zeros(len(w))
    for perm in itertools.permutations(range(n)):
        prob, rest = 1.0, w.sum()
        for i in perm:
            prob *= w[i] / rest
            rest -= w[i]
        cum = np.cumsum(tokens[list(perm)])
        k = int(np.searchsorted(cum, budget)) + 1  # the doc that reaches the budget is taken
        p[list(perm[:k])] += prob
    return p


def test_inclusion_probabilities_match_successive_sampling():
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.5, 5.0], dtype=np.float32)
    tokens = np.array([5, 3, 8, 2, 6, 4])
    budget, tau = 10, 2.0
    pool = Pool(
        n_tokens=tokens,
        eligible=np.ones(6, bool),
        labels={"quality": LabelSet("quality", np.zeros(6, np.int32), ["all"], scores)},
        ids=lambda idx: [f"d{i}" for i in idx],
    )
    cfg = _with(load_config(None, []), tau=tau)
    exact = exact_inclusion(np.exp(scores.astype(np.float64) / tau), tokens, budget)
    n_seeds = 30_000
    hits = np.zeros(6)
    for seed in range(n_seeds):
        idx = _chosen(pool, cfg, seed, total=budget)
        assert tokens[idx].sum() >= budget
        hits[idx] += 1
    freq = hits / n_seeds
    se = np.sqrt(exact * (1 - exact) / n_seeds)
    print(
        "exact", exact.round(4), "empirical", freq.round(4), "max |err|", np.abs(freq - exact).max()
    )
    assert np.all(np.abs(freq - exact) < 4.5 * se + 1e-3)
    # and the hand-checked shape: higher score, likelier; the top doc is almost always in
    assert exact[5] > exact[4] > exact[1] and exact[5] > 0.6


def test_missing_quality_labels_name_the_method(mini_pool):
    pool, cfg = mini_pool
    from dataclasses import replace

    bare = replace(pool, labels={k: v for k, v in pool.labels.items() if k != "quality"})
    ctx = SelectorContext(pool=bare, cfg=cfg, seed=0, stage_budgets=BUDGETS)
    with pytest.raises(MacsError, match="method qurating needs the 'quality' labels"):
        build_selector("qurating", ctx)
