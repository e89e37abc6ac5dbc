"""Group-reward reliability: standard errors, split-half with Spearman-Brown, empirical-Bayes shrinkage."""

import numpy as np
import pytest

from macs.core.stats import group_stats, shrink, spearman_brown, split_half


def test_group_stats_means_errors_and_halves():
    g = [np.array([1.0, 3.0, np.nan, 5.0]), np.array([2.0]), np.array([])]
    s = group_stats(g)
    np.testing.assert_allclose(s.mean[:2], [3.0, 2.0])
    assert np.isnan(s.mean[2]) and s.n.tolist() == [3, 1, 0]
    assert s.se[0] == pytest.approx(2.0 / np.sqrt(3))
    assert np.isnan(s.se[1]) and s.split_half is None  # fewer than 3 groups with two halves


def test_split_half_tracks_signal_to_noise_and_spearman_brown():
    rng = np.random.default_rng(0)
    true = np.linspace(-1, 1, 20)
    clean = group_stats([t + 0.05 * rng.standard_normal(16) for t in true])
    noisy = group_stats([t + 5.0 * rng.standard_normal(16) for t in true])
    assert clean.split_half > 0.9 > noisy.split_half
    assert clean.spearman_brown == pytest.approx(2 * clean.split_half / (1 + clean.split_half))
    assert spearman_brown(0.5) == pytest.approx(2 / 3) and spearman_brown(-0.2) == -0.2
    assert spearman_brown(None) is None
    assert split_half(np.ones(4), np.arange(4.0)) is None


def test_shrink_pulls_noisy_groups_harder():
    m = np.array([1.0, -1.0, 0.5, np.nan, 0.0, 2.0])
    se = np.array([0.1, 2.0, 0.1, np.nan, 0.1, 0.1])
    out = shrink(m, se)
    assert np.isnan(out[3])
    assert abs(out[0] - 1.0) < 0.05  # precise: barely moved
    assert abs(out[1] - (-1.0)) > 0.5  # noisy: pulled most of the way to the pooled mean
    # no between-group variance beyond noise: every mean goes to the pooled mean
    flat = shrink(np.array([0.0, 0.1, -0.1]), np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(flat, flat[0])
