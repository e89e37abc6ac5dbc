"""CorpusStore on the real mini corpus: canonical order, columns, random access, held-out split."""

import json

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.data.corpus.store import CorpusStore, compute_heldout_mask


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_store_layout_and_manifest(mini_store, mini_corpus_path):
    recs = _records(mini_corpus_path)
    m = mini_store.manifest
    assert (mini_store.path / "shards" / "part-00000.parquet").exists()
    assert m["import"]["records_read"] == len(recs) == m["import"]["records_written"]
    assert m["n_docs"] == mini_store.n_docs > len(recs)  # the 20 kB passage was chunked
    assert set(m["domains"]) == {r["domain"] for r in recs}
    assert sum(d["docs"] for d in m["domains"].values()) == mini_store.n_docs
    n_bytes = mini_store.read_column("n_bytes")
    assert n_bytes.dtype == np.int64 and int(n_bytes.sum()) == m["n_bytes"]
    assert n_bytes.max() <= 8192


def test_canonical_order_matches_input(mini_store, mini_corpus_path):
    recs = _records(mini_corpus_path)
    parents = mini_store.read_column("parent_id")
    ordered = list(dict.fromkeys(parents))  # parents in first-appearance order
    assert ordered == [r["id"] for r in recs]
    ids = mini_store.read_column("id")
    assert len(set(ids)) == len(ids)
    batches = list(mini_store.iter_batches(columns=["id", "text"], batch_size=50))
    assert [x for b in batches for x in b.column("id").to_pylist()] == ids
    assert all(b.num_rows <= 50 for b in batches)


def test_chunks_keep_parent_and_text(mini_store, mini_corpus_path):
    recs = {r["id"]: r["text"] for r in _records(mini_corpus_path)}
    ids, parents = mini_store.read_column("id"), mini_store.read_column("parent_id")
    texts = mini_store.read_column("text")
    chunked = [i for i, (a, p) in enumerate(zip(ids, parents, strict=True)) if a != p]
    assert chunked, "the fixture holds a passage longer than 8 kB"
    parent = parents[chunked[0]]
    pieces = [texts[i] for i in chunked if parents[i] == parent]
    assert len(pieces) >= 2
    squash = "".join("".join(pieces).split())
    assert squash == "".join(recs[parent].split())  # nothing lost but whitespace at cuts


def test_texts_random_access(mini_store):
    texts = mini_store.read_column("text")
    idx = np.array([5, 0, mini_store.n_docs - 1, 5, 120])
    assert mini_store.texts(idx) == [texts[i] for i in idx]
    assert mini_store.texts([]) == []
    with pytest.raises(IndexError):
        mini_store.texts([mini_store.n_docs])


def test_domains_codes(mini_store):
    codes, names = mini_store.domains()
    assert codes.dtype == np.int16 and len(codes) == mini_store.n_docs
    assert names == sorted(names) and len(names) == 10
    dom = mini_store.read_column("domain")
    assert [names[c] for c in codes] == dom


def test_heldout_split_per_domain_and_by_parent(mini_store):
    mask = mini_store.heldout_mask()
    assert mask.dtype == np.bool_ and len(mask) == mini_store.n_docs
    codes, names = mini_store.domains()
    for k in range(len(names)):
        n_d = int((codes == k).sum())
        held = int(mask[codes == k].sum())
        assert 1 <= held < n_d
        assert abs(held - 0.1 * n_d) <= 3
    parents = mini_store.read_column("parent_id")
    by_parent = {}
    for p, h in zip(parents, mask, strict=True):
        by_parent.setdefault(p, set()).add(bool(h))
    assert all(len(v) == 1 for v in by_parent.values())  # chunks of one doc stay together
    assert mini_store.manifest["heldout"]["n_docs"] == int(mask.sum())
    # the mask saved at import time equals the one recomputed from ids and the seed
    assert (mini_store.path / "heldout.npy").exists()
    assert (compute_heldout_mask(codes, parents, 0.1, 0) == mask).all()


def test_heldout_is_seeded_and_stable():
    domains = np.array([0] * 100 + [1] * 50, dtype=np.int16)
    parents = [f"doc{i}" for i in range(150)]
    a = compute_heldout_mask(domains, parents, 0.2, seed=1)
    b = compute_heldout_mask(domains, parents, 0.2, seed=1)
    c = compute_heldout_mask(domains, parents, 0.2, seed=2)
    assert (a == b).all() and not (a == c).all()
    assert a[:100].sum() == 20 and a[100:].sum() == 10
    # membership depends on the id, not the position: reversing the order keeps the same ids
    r = compute_heldout_mask(domains[::-1].copy(), parents[::-1], 0.2, seed=1)
    assert {p for p, h in zip(parents[::-1], r, strict=True) if h} == {
        p for p, h in zip(parents, a, strict=True) if h
    }


def test_open_errors(tmp_path):
    with pytest.raises(MacsError, match="not a corpus store"):
        CorpusStore.open(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(MacsError, match="not valid JSON"):
        CorpusStore.open(tmp_path)
