"""Exports carry each document's record `meta` (issue 25 item 6) when the store kept it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from macs.app.export import write_export


@pytest.fixture(scope="module")
def meta_store(mini_corpus_path, tmp_path_factory):
    """40 mini-corpus records, every other one with a nested meta; long ones cut into chunks."""
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore

    lines = mini_corpus_path.read_text(encoding="utf-8").splitlines()[:40]
    recs = [json.loads(x) for x in lines]
    want = {}
    for k, r in enumerate(recs):
        if k % 2 == 0:
            r["meta"] = {"line": k + 1, "kind": r["domain"], "tags": ["a", k], "ok": k % 4 == 0}
            want[r["id"]] = r["meta"]
    root = tmp_path_factory.mktemp("meta")
    src = root / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    import_corpus([src], root / "store", max_chunk_bytes=1024, meta_field="meta", progress=False)
    store = CorpusStore.open(root / "store")
    parents = store.parent_ids(np.arange(store.n_docs))
    assert len(set(parents)) < store.n_docs  # some records were chunked: meta goes by parent
    return store, want


def _selection(store) -> np.ndarray:
    n = store.n_docs
    return np.concatenate([np.arange(n)[::-1], np.arange(0, n, 3)]).astype(np.int64)


def test_jsonl_export_has_each_records_meta(meta_store, tmp_path):
    store, want = meta_store
    idx = _selection(store)
    out = tmp_path / "sel.jsonl"
    write_export("jsonl", out, store, idx, columns={"score": np.arange(len(idx))})
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    parents = store.parent_ids(idx)
    assert [r["id"] for r in rows] == store.ids(idx)
    assert [r["meta"] for r in rows] == [want.get(p) for p in parents]
    assert sum(r["meta"] is not None for r in rows) > len(rows) // 3
    assert [r["score"] for r in rows] == list(range(len(idx)))


def test_hf_export_has_each_records_meta_as_json(meta_store, tmp_path):
    datasets = pytest.importorskip("datasets")
    store, want = meta_store
    idx = _selection(store)
    write_export("hf", tmp_path / "hf", store, idx)
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.column_names == ["id", "text", "domain", "meta"]
    got = [None if m is None else json.loads(m) for m in ds["meta"]]
    assert got == [want.get(p) for p in store.parent_ids(idx)]


def test_a_store_without_meta_exports_no_meta_field(mini_store, tmp_path):
    out = tmp_path / "sel.jsonl"
    write_export("jsonl", out, mini_store, np.arange(10))
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 10 and all("meta" not in r for r in rows)


def test_macs_select_jsonl_has_each_records_meta(meta_store, tmp_path):
    from types import SimpleNamespace

    from macs.app.export import write_selected_jsonl

    store, want = meta_store
    idx = np.arange(0, store.n_docs, 2, dtype=np.int64)  # canonical order, as macs select
    out = tmp_path / "sel.jsonl"
    group = SimpleNamespace(name="g", group_names=["x"], groups=np.zeros(store.n_docs, int))
    n_tokens = np.arange(store.n_docs) + 5
    scores = np.linspace(1, 0, len(idx))
    console = SimpleNamespace(actors=[group])
    write_selected_jsonl(out, store, console, idx, n_tokens, scores, log=lambda m: None)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == store.ids(idx)
    assert [r["meta"] for r in rows] == [want.get(p) for p in store.parent_ids(idx)]
    assert [r["tokens"] for r in rows] == (n_tokens[idx]).tolist()
    assert all(r["g"] == "x" for r in rows)
