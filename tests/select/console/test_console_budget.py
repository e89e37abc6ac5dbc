"""The O(N) budget engine on a large tie level, its helpers, manifests and summaries."""

from __future__ import annotations

import numpy as np
import pytest

from macs.data.manifest import read_manifest, stage_table, summarize, write_manifest
from macs.data.pool import LabelSet, Pool
from macs.select.actors import Actor
from macs.select.console import Console, doc_hash
from macs.select.console.budget import budget_select, merge_sorted, round_rel


def test_large_tie_level_uses_the_predicted_window_and_matches_brute_force():
    n = 200_000
    rng = np.random.default_rng(5)
    tok = rng.integers(1, 400, n)
    eligible = rng.random(n) > 0.02
    key = 123456789
    budget = 0.3 * tok[eligible].sum()
    res = budget_select(
        lambda s, e: np.where(eligible[s:e], 0, 1).astype(np.intp),
        n,
        np.array([1.0]),
        tok,
        budget,
        key,
    )
    assert res.threshold_docs == int(eligible.sum()) and res.n_levels == 1
    cand = np.flatnonzero(eligible)
    order = cand[np.argsort(doc_hash(cand, key), kind="stable")]
    k = int(np.searchsorted(np.cumsum(tok[order]), budget, side="left")) + 1
    np.testing.assert_array_equal(res.indices, np.sort(order[:k]))
    assert res.tokens == tok[res.indices].sum()
    assert res.tokens >= budget > res.tokens - tok[res.indices].max()


def test_hash_is_a_seeded_bijection_on_32_bits():
    idx = np.arange(100_000)
    a, b = doc_hash(idx, 1), doc_hash(idx, 2)
    assert a.dtype == np.uint32 and len(np.unique(a)) == len(idx)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(doc_hash(idx[5:9], 1), a[5:9])  # depends on the index only
    # roughly uniform: each quarter of the range holds ~25% of docs
    q = np.bincount((a >> np.uint32(30)).astype(np.int64), minlength=4) / len(idx)
    assert np.all(np.abs(q - 0.25) < 0.01)
    assert doc_hash(idx[:3], 1, bits=64).dtype == np.uint64


def test_helpers():
    np.testing.assert_array_equal(
        merge_sorted(np.array([1, 4, 9]), np.array([0, 5, 10])), [0, 1, 4, 5, 9, 10]
    )
    assert merge_sorted(np.array([], np.int64), np.array([3])).tolist() == [3]
    x = np.array([0.1 + 0.2, 0.3, 1e-20 * 3, 0.0, -2.5])
    r = round_rel(x)
    assert r[0] == r[1] and r[3] == 0.0 and r[4] == -2.5 and r[2] == pytest.approx(3e-20)


def _small():
    q = Actor("quality", np.array([0, 0, 1, 1, 2, 2]), ["low", "mid", "high"], init=[1, 2, 3])
    d = Actor("domain", np.array([0, 1, 0, 1, 0, 1]), ["web", "code"])
    return Console([q, d], seed=0), np.array([10, 20, 30, 40, 50, 60])


def _pool(c: Console, tok, eligible=None) -> Pool:
    labels = {a.name: LabelSet(a.name, a.groups, a.group_names) for a in c.actors}
    ids = list("abcdef")
    elig = np.ones(len(tok), bool) if eligible is None else eligible
    return Pool(tok, elig, labels, lambda ix: [ids[i] for i in ix])


def test_manifest_roundtrip(tmp_path):
    c, tok = _small()
    idx, scores = c.select(tok, 100, return_scores=True)
    # quality weights 0.5, 1, 1.5 (mean 1), domain 1, 1; theta 0.5 each -> 'high' docs 4, 5 first
    assert idx.tolist() == [4, 5]
    np.testing.assert_allclose(scores, [1.25, 1.25])
    table = stage_table(_pool(c, tok), idx, c.counts, scores)
    path = write_manifest(tmp_path / "stage-1.parquet", table, {"stage": 1, "theta": c.theta})
    back, meta = read_manifest(path)
    assert back.column_names[:5] == ["doc", "id", "tokens", "times_selected", "score"]
    assert back.column("doc").to_pylist() == [4, 5]
    assert back.column("id").to_pylist() == ["e", "f"]
    assert back.column("tokens").to_pylist() == [50, 60]
    assert back.column("quality").to_pylist() == ["high", "high"]
    assert back.column("domain").to_pylist() == ["web", "code"]
    assert back.column("times_selected").to_pylist() == [1, 1]
    assert meta == {"schema": 1, "stage": 1, "theta": [0.5, 0.5]}
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file


def test_summary_shares_by_hand():
    c, tok = _small()
    eligible = np.array([True, True, True, True, True, False])  # doc 5 held out
    idx = c.select(tok, 60, eligible)  # high/web (50) then a mid doc: 40 (doc 3) > ... by score tie
    s = summarize(_pool(c, tok, eligible), idx)
    assert s["pool_tokens"] == 150 and s["selected_tokens"] == int(tok[idx].sum())
    q = s["actors"]["quality"]
    # pool by quality: low 30, mid 70, high 50 of 150
    assert [q[g]["pool_share"] for g in ("low", "mid", "high")] == pytest.approx(
        [30 / 150, 70 / 150, 50 / 150], abs=1e-6
    )
    assert q["high"]["selected_share"] == pytest.approx(50 / tok[idx].sum(), abs=1e-6)
    assert sum(r["selected_share"] for r in q.values()) == pytest.approx(1.0, abs=1e-5)
    assert q["low"]["selected_share"] == 0 and q["low"]["ratio"] == 0.0
