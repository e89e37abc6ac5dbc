"""Paired statistics of a comparison on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from macs.app.report.stats import paired_diff, rank_methods, t_interval


def test_t_interval_by_hand():
    m, lo, hi = t_interval(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert m == 2.0 and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    m, lo, hi = t_interval(np.array([0.7]))
    assert m == 0.7 and math.isnan(lo) and math.isnan(hi)


def test_paired_difference_verdicts():
    by_seed = {"a": {0: 1.0, 1: 1.1, 2: 0.9}, "base": {0: 2.0, 1: 2.05, 2: 1.95}}
    d = paired_diff("bpb", "a", "base", by_seed, higher_is_better=False)
    assert d.n == 3 and d.mean == pytest.approx(-1.0) and d.hi < 0 and d.verdict == "better"
    d = paired_diff("acc", "a", "base", by_seed, higher_is_better=True)
    assert d.verdict == "worse"
    noisy = {"a": {0: 1.0, 1: 3.0}, "base": {0: 2.0, 1: 2.0}}  # diffs -1, +1
    assert paired_diff("bpb", "a", "base", noisy, False).verdict == "no measurable difference"
    one = {"a": {0: 1.0}, "base": {0: 2.0}}
    assert paired_diff("bpb", "a", "base", one, False).verdict == "no interval (1 seed)"
    # pairing: only seeds both ran count
    partial = {"a": {0: 1.0, 5: 9.0}, "base": {0: 2.0, 1: 7.0}}
    assert paired_diff("bpb", "a", "base", partial, False).n == 1
    assert paired_diff("bpb", "a", "base", {"a": {0: 1.0}, "base": {1: 1.0}}, False) is None


def test_ranking_by_mean_rank():
    means = {
        "a": {"bpb": 1.0, "acc": 0.30},
        "b": {"bpb": 2.0, "acc": 0.40},
        "c": {"bpb": 3.0, "acc": 0.20},
    }
    order = rank_methods(means, [("bpb", False), ("acc", True)])
    assert order == [("a", 1.5), ("b", 1.5), ("c", 3.0)]


def test_holm_adjustment_by_hand():
    from macs.app.report.stats import holm

    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.06
    adj = holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([float("nan"), 0.02])  # nan is outside the family (m = 1)
    assert math.isnan(out[0]) and out[1] == pytest.approx(0.02)


def test_paired_p_value_matches_scipy():
    from scipy import stats

    from macs.app.report.stats import t_pvalue

    x = np.array([0.3, -0.1, 0.5, 0.2])
    assert t_pvalue(x) == pytest.approx(stats.ttest_1samp(x, 0.0).pvalue)
    assert t_pvalue(np.array([0.2, 0.2])) == 0.0 and math.isnan(t_pvalue(np.array([1.0])))
