"""RegMix's mixture draws, LightGBM regression and search on a synthetic loss surface (real LightGBM)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.selectors.config import RegMixConfig
from macs.select.selectors.regmix import mixture_sample, stratified_order
from macs.select.selectors.regmix_fit import fit_regression, search_mixture
from macs.select.selectors.regmix_sweep import dirichlet_mixtures, largest_remainder

SHARE = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
BEST = np.array([0.1, 0.35, 0.3, 0.15, 0.1])  # the known best mixture of the synthetic surface


def surface(x: np.ndarray) -> np.ndarray:
    """Synthetic 'proxy loss': squared distance to BEST (lowest at BEST)."""
    return 3.0 + ((x - BEST) ** 2).sum(axis=1)


def test_dirichlet_mixtures_centre_and_strength():
    rng = np.random.default_rng(0)
    x = dirichlet_mixtures(SHARE, 20_000, rng, power=0.5, strength_min=0.1, strength_max=5.0)
    assert x.shape == (20_000, 5) and np.isfinite(x).all() and (x >= 0).all()
    np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-12)
    centre = SHARE**0.5 / (SHARE**0.5).sum()  # the tempered prior is the mean of every draw
    np.testing.assert_allclose(x.mean(axis=0), centre, atol=0.01)
    # strength log-uniform in [0.1, 5]: many draws are near a corner, many near the centre
    top = x.max(axis=1)
    assert (top > 0.95).mean() > 0.2 and (top < 0.6).mean() > 0.2
    # a strong Dirichlet stays near its centre; tiny alphas never give nan rows
    tight = dirichlet_mixtures(SHARE, 2000, rng, 1.0, 1000.0, 1000.0)
    assert np.abs(tight - SHARE).max() < 0.06
    tiny = dirichlet_mixtures(np.array([0.999, 0.0005, 0.0005]), 2000, rng, 1.0, 1e-3, 1e-3)
    assert np.isfinite(tiny).all() and np.allclose(tiny.sum(axis=1), 1.0)
    with pytest.raises(MacsError, match="positive group shares"):
        dirichlet_mixtures(np.array([0.5, 0.5, 0.0]), 3, rng)


def test_largest_remainder_counts():
    c = largest_remainder(np.array([0.5, 0.3, 0.2]), 7)
    assert c.tolist() == [4, 2, 1] and c.sum() == 7
    assert largest_remainder(np.array([1 / 3] * 3), 10).sum() == 10


def test_search_recovers_the_best_mixture_of_a_synthetic_surface():
    rc = RegMixConfig(search_samples=100_000, top_k=128)
    X = dirichlet_mixtures(SHARE, 256, np.random.default_rng(1))
    y = surface(X)
    fit = fit_regression(X, y, rc, seed=0)
    assert fit.folds == 5 and fit.oof.shape == y.shape
    assert fit.spearman > 0.9  # held out: each run predicted by a model that never saw it
    mix, info = search_mixture(fit.model, SHARE, rc, seed=0)
    assert mix.sum() == pytest.approx(1.0) and info["top_k"] == 128
    assert np.abs(mix - BEST).sum() < 0.2  # the prior (the pool's share) is 0.6 away
    assert surface(mix[None])[0] < np.quantile(y, 0.02)  # better than 98% of the swept mixtures


def test_fit_and_search_are_seeded_and_deterministic():
    rc = RegMixConfig(search_samples=5000, top_k=32, lgbm_rounds=80)
    X = dirichlet_mixtures(SHARE, 96, np.random.default_rng(2))
    y = surface(X) + np.random.default_rng(3).normal(0, 0.01, 96)
    a, b = fit_regression(X, y, rc, seed=7), fit_regression(X, y, rc, seed=7)
    np.testing.assert_array_equal(a.oof, b.oof)
    assert a.spearman == b.spearman
    ma, ia = search_mixture(a.model, SHARE, rc, seed=7)
    mb, ib = search_mixture(b.model, SHARE, rc, seed=7)
    np.testing.assert_array_equal(ma, mb)
    assert ia == ib
    mc, _ = search_mixture(a.model, SHARE, rc, seed=8)  # another seed draws other candidates
    assert not np.array_equal(ma, mc)


def test_fewer_successful_runs_than_groups_is_a_clear_error():
    rc = RegMixConfig()
    X = dirichlet_mixtures(SHARE, 8, np.random.default_rng(0))
    y = surface(X)
    y[3:] = np.nan  # 3 runs succeeded (the others diverged) for 5 groups
    with pytest.raises(MacsError, match="3 successful proxy runs for 5 groups"):
        fit_regression(X, y, rc, seed=0)


def test_lightgbm_missing_names_the_setup_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # `import lightgbm` now fails
    X = dirichlet_mixtures(SHARE, 20, np.random.default_rng(0))
    with pytest.raises(MacsError, match=r"bash scripts/setup.sh regmix"):
        fit_regression(X, surface(X), RegMixConfig(), seed=0)


def test_config_rejects_inconsistent_settings():
    with pytest.raises(ValueError, match="strength_min"):
        RegMixConfig(strength_min=6.0)
    with pytest.raises(ValueError, match="top_k"):
        RegMixConfig(search_samples=10, top_k=20)


def _toy_pool(seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 4, 3000).astype(np.int32)
    groups[groups == 3] = 2  # group 3 has no documents
    tok = rng.integers(50, 400, 3000)
    elig = rng.random(3000) > 0.1
    return groups, tok, elig


def test_mixture_sample_meets_quotas_and_redistributes_an_exhausted_group():
    groups, tok, elig = _toy_pool()
    cap = np.bincount(groups[elig], weights=tok[elig], minlength=4)
    mix = np.array([0.3, 0.3, 0.4, 0.0])
    total = 0.6 * cap[:3].sum()
    idx, info = mixture_sample(groups, tok, elig, mix, total, key=5)
    got = np.bincount(groups[idx], weights=tok[idx], minlength=4)
    assert elig[idx].all() and np.unique(idx).size == idx.size
    assert total <= got.sum() < total + 3 * tok.max()
    assert info["exhausted"] == [] and not info["pool_too_small"]
    np.testing.assert_allclose(got / got.sum(), mix, atol=400 * 3 / total)
    # group 1 asks for more than it has: all of it, the rest shared by 0 and 2 as 0.2 : 0.3
    mix = np.array([0.2, 0.7, 0.1, 0.0])
    total = 2.0 * cap[1]  # its quota is 1.4x what it has
    idx, info = mixture_sample(groups, tok, elig, mix, total, key=5, names=list("abcd"))
    got = np.bincount(groups[idx], weights=tok[idx], minlength=4)
    assert info["exhausted"] == ["b"] and got[1] == cap[1]
    assert got[0] / got[2] == pytest.approx(2.0, rel=0.05)
    assert got.sum() >= total
    # seeded: the same key gives the same docs, another key others
    np.testing.assert_array_equal(idx, mixture_sample(groups, tok, elig, mix, total, 5)[0])
    assert not np.array_equal(idx, mixture_sample(groups, tok, elig, mix, total, 6)[0])


def test_stratified_order_keeps_group_shares_in_every_prefix():
    groups, tok, elig = _toy_pool(1)
    idx = np.flatnonzero(elig)[::2]
    order = stratified_order(idx, groups, tok, key=3)
    assert sorted(order.tolist()) == idx.tolist()
    full = np.bincount(groups[idx], weights=tok[idx], minlength=4) / tok[idx].sum()
    cum = np.cumsum(tok[order])
    for frac in (0.1, 0.25, 0.5, 0.8):
        k = int(np.searchsorted(cum, frac * cum[-1])) + 1
        pre = order[:k]
        share = np.bincount(groups[pre], weights=tok[pre], minlength=4) / tok[pre].sum()
        assert np.abs(share - full).max() < 0.01
