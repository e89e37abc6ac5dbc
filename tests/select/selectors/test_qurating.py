"""`qurating`: budget, seeding, its two temperature limits on the mini pool, its inclusion
probabilities against the exact ones of successive sampling on a hand-built pool, and the
standardization of the score over the pool before the temperature (QuRating's tau on z-scores)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from macs.app.config import load_config
from macs.core.errors import MacsError
from macs.data.pool import LabelSet, Pool
from macs.select.online import OnlineSelection
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.qurating import standardize
from macs.select.selectors.registry import build_selector

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
    s64 = scores.astype(np.float64)
    z = (s64 - s64.mean()) / s64.std()  # all six docs are eligible
    exact = exact_inclusion(np.exp(z / tau), tokens, budget)
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
    # and the hand-checked shape: higher score, likelier; the two best docs are in most draws
    assert exact[5] > exact[1] > exact[0] and exact[4] > exact[2] and min(exact[4:]) > 0.6


def test_missing_quality_labels_name_the_method(mini_pool):
    pool, cfg = mini_pool
    from dataclasses import replace

    bare = replace(pool, labels={k: v for k, v in pool.labels.items() if k != "quality"})
    ctx = SelectorContext(pool=bare, cfg=cfg, seed=0, stage_budgets=BUDGETS)
    with pytest.raises(MacsError, match="method qurating needs the 'quality' labels"):
        build_selector("qurating", ctx)


def _hand_pool(scores, eligible=None):
    n = len(scores)
    return Pool(
        n_tokens=np.full(n, 10),
        eligible=np.ones(n, bool) if eligible is None else eligible,
        labels={
            "quality": LabelSet(
                "quality", np.zeros(n, np.int32), ["all"], np.asarray(scores, np.float32)
            )
        },
        ids=lambda idx: [f"d{i}" for i in idx],
    )


def test_the_temperature_applies_to_z_scores_so_the_score_scale_does_not_matter():
    """QuRating's tau = 2 is on standardized ratings: a labeller that reports 10x the score
    (plus a shift) must give the same draw; on the raw score it would be a near top-k."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    cfg = load_config(None, [])
    total = 500  # 50 of 200 docs
    small, large = _hand_pool(base), _hand_pool(base * 10.0 + 3.0)
    for seed in range(3):
        a, b = _chosen(small, cfg, seed, total=total), _chosen(large, cfg, seed, total=total)
        assert a.tolist() == b.tolist()
    # the raw-score setting keeps the old meaning: 10x the score is a much colder draw
    raw = _with(cfg, standardize=False)
    top = set(np.argsort(-base)[:50].tolist())
    hot = np.mean([len(top & set(_chosen(small, raw, s, total=total).tolist())) for s in range(8)])
    cold = np.mean([len(top & set(_chosen(large, raw, s, total=total).tolist())) for s in range(8)])
    zed = np.mean([len(top & set(_chosen(large, cfg, s, total=total).tolist())) for s in range(8)])
    print(f"top-50 overlap: raw x1 {hot:.1f} raw x10 {cold:.1f} z-scored {zed:.1f}")
    assert cold > 40 and zed < 30 and abs(zed - hot) < 6


def test_standardization_uses_the_eligible_docs_with_a_finite_score():
    s = np.array([1.0, 2.0, 3.0, 100.0, np.nan])
    elig = np.array([True, True, True, False, True])
    z, mean, std = standardize(s, elig)
    assert mean == 2.0 and std == pytest.approx(np.sqrt(2 / 3))
    assert z[:3] == pytest.approx([-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert z[3] == pytest.approx(98 / np.sqrt(2 / 3)) and np.isnan(z[4])
    flat, _, sd = standardize(np.array([4.0, 4.0, np.inf]), np.ones(3, bool))
    assert sd == 0.0 and flat[:2].tolist() == [0.0, 0.0] and np.isinf(flat[2])
    # the selector reports the mean and std it used
    pool = _hand_pool(s[:4], elig[:4])
    sel = build_selector(
        "qurating",
        SelectorContext(pool=pool, cfg=load_config(None, []), seed=0, stage_budgets=[20]),
    )
    sel.choose(20)
    assert sel.info["standardize"] is True and sel.info["mean"] == 2.0
