"""Actor agreement (macs.data.labels.agreement): mutual information, NMI, score correlation and the
variance one actor's groups explain of another's score, checked by hand on built label sets."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from macs.data.labels.agreement import agreement_report, eta_squared, format_agreement, top_share


def _lab(group, score=None, names=None):
    group = np.asarray(group, np.int32)
    score = np.full(group.size, np.nan, np.float32) if score is None else np.asarray(score)
    names = names or [f"g{k}" for k in range(int(group.max()) + 1)]
    return SimpleNamespace(group=group, score=score, group_names=names)


def test_eta_squared_and_top_share_by_hand():
    # means 1.5 and 3.5 around 2.5: between 2*1 + 2*1 = 4 of a total 5
    assert eta_squared(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1])) == 0.8
    assert eta_squared(np.array([1.0, 2.0, 1.0, 2.0]), np.array([0, 0, 1, 1])) == 0.0
    assert eta_squared(np.array([5.0, 5.0, np.nan]), np.array([0, 1, 1])) is None
    t = top_share(np.arange(10.0), np.array([0] * 8 + [1] * 2), ["a", "b"], top=0.2)
    assert t == {"group": "b", "share": 1.0, "n_top": 2}


def test_a_quality_score_that_is_a_domain_classifier_is_flagged():
    rng = np.random.default_rng(0)
    n = 4000
    domain = rng.integers(0, 4, n)
    curated = np.isin(domain, [0, 1])
    # before: quality = which domain (plus noise); after: a within-domain signal
    q_dom = np.where(curated, 4.5, 0.5) + rng.normal(0, 0.1, n)
    q_within = rng.uniform(0, 5, n)
    bins = lambda s: np.clip(s.astype(int), 0, 4)  # noqa: E731
    dom = _lab(domain, names=["enc", "news", "ref", "spam"])
    before = agreement_report({"domain": dom, "quality": _lab(bins(q_dom), q_dom)})
    after = agreement_report({"domain": dom, "quality": _lab(bins(q_within), q_within)})
    (pb,), (pa,) = before["pairs"], after["pairs"]
    assert pb["actors"] == ["domain", "quality"] and pb["score_spearman"] is None  # no domain score
    assert pb["nmi"] > 0.4 and pa["nmi"] < 0.01
    # quality's groups carry 1 bit of the domain (curated or not) before, none after
    assert pb["mi_bits"] == pytest.approx(1.0, abs=0.02) and pa["mi_bits"] < 0.01
    (eb,), (ea,) = before["explained"], after["explained"]
    assert eb["score_of"] == "quality" and eb["groups_of"] == "domain"
    assert eb["eta_squared"] > 0.99 and ea["eta_squared"] < 0.01
    assert eb["top20"]["group"] in ("enc", "news") and eb["top20"]["share"] > 0.45
    text = "\n".join(format_agreement(before))
    assert "| domain x quality | 1.0" in text and "| quality | domain | 0.99" in text


def test_identical_groupings_and_correlated_scores():
    g = np.array([0, 1] * 50)
    s = np.arange(100.0)
    rep = agreement_report({"a": _lab(g, s), "b": _lab(g, -s), "c": _lab(1 - g)})
    by = {tuple(p["actors"]): p for p in rep["pairs"]}
    assert by[("a", "b")]["mi_bits"] == pytest.approx(1.0) and by[("a", "b")]["nmi"] == 1.0
    assert by[("a", "b")]["score_spearman"] == pytest.approx(-1.0)
    assert by[("a", "c")]["nmi"] == pytest.approx(1.0) and by[("a", "c")]["score_spearman"] is None
    assert {(e["score_of"], e["groups_of"]) for e in rep["explained"]} == {
        ("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"),
    }  # fmt: skip
