"""Parallel import of one plain JSONL file over byte ranges (forked workers): the store, the
counts, the skip examples and the raised errors equal those of a one-process import."""

import json

import numpy as np
import pytest

import macs.data.corpus.importer as importer
from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore

pytestmark = pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork"
)


@pytest.fixture
def small_split(monkeypatch):
    """Split files of a few kB (the default only splits files of 8 MB per worker)."""
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 2000)


@pytest.fixture(scope="module")
def lines(mini_corpus_path):
    return mini_corpus_path.read_bytes().splitlines()


def _both(tmp_path, src, **kw):
    kw.setdefault("progress", False)
    r1 = import_corpus([src], tmp_path / "one", workers=1, **kw)
    r3 = import_corpus([src], tmp_path / "three", workers=3, **kw)
    return (r1, CorpusStore.open(tmp_path / "one")), (r3, CorpusStore.open(tmp_path / "three"))


def _same_store(a: CorpusStore, b: CorpusStore) -> None:
    for col in ("id", "text", "domain", "source", "parent_id"):
        assert a.read_column(col) == b.read_column(col), col
    assert np.array_equal(a.read_column("n_bytes"), b.read_column("n_bytes"))
    assert np.array_equal(a.heldout_mask(), b.heldout_mask())
    assert a.manifest["domains"] == b.manifest["domains"]
    assert a.manifest["import"] == b.manifest["import"]


def test_parallel_equals_one_process(tmp_path, small_split, lines):
    src = tmp_path / "c.jsonl"
    # ids missing on some lines: generated ids carry absolute line numbers in every range
    recs = [json.loads(x) for x in lines]
    for r in recs[::7]:
        del r["id"]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    (r1, a), (r3, b) = _both(tmp_path, src, max_chunk_bytes=2000, heldout_fraction=0.1)
    assert len(b.shards) > len(a.shards)  # the workers really wrote their own shards
    _same_store(a, b)
    assert r3.stats.as_dict() == r1.stats.as_dict() and r3.stats.reconciles()
    assert a.read_column("id")[7 * 3] == f"{src.as_posix()}:22"
    assert not [p for p in (tmp_path / "three").rglob("*") if "partial" in p.name]


def test_parallel_skips_count_like_one_process(tmp_path, small_split, lines):
    bad = [b'{"text": 5}', b"{oops", b'{"id": "x"}', b'{"text": "  "}', b'{"text": "caf\xe9"}']
    body = []
    for k, line in enumerate(lines):
        body.append(line)
        if k % 40 == 39:
            body.append(bad[(k // 40) % len(bad)])
    body.append(lines[5])  # a duplicate id in the last range of an id from the first range
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(body) + b"\n")
    (r1, a), (r3, b) = _both(tmp_path, src, on_error="skip", max_chunk_bytes=0)
    _same_store(a, b)
    assert r1.stats.skipped["duplicate_id"] == 1 and sum(r1.stats.skipped.values()) == 7
    assert r3.stats.as_dict() == r1.stats.as_dict()


def test_parallel_raise_names_the_first_bad_line(tmp_path, small_split, lines):
    body = list(lines)
    body[250] = b'{"text": 5}'  # in a later range
    body[260] = b"{oops"
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(body) + b"\n")
    for workers in (1, 3):
        with pytest.raises(MacsError, match="line 251: 'text' is an int"):
            import_corpus([src], tmp_path / f"s{workers}", workers=workers, progress=False)
        assert not list(tmp_path.glob(f".s{workers}.partial-*"))


def test_arrow_threads_equal_msgspec(tmp_path, monkeypatch, lines):
    """Blocks parsed by pyarrow on threads give the same store and counts as msgspec; blocks
    with anything unusual fall back to the careful path."""
    odd = [
        b'{"id": 7, "text": "an int id"}',
        b'{"text": "a lone \\ud800 surrogate"}',
        b'{"text": "pair \\ud83d\\ude00 ok", "domain": "x"}',
        b"",
        b'  {"text": "indented"}',
        b'{"text": "two"} {"text": "objects"}',
        b'{"text": "dup", "text": "key"}',
        b'{"text": "caf\xe9"}',
        b'{"text": " \\u3000 "}',
        b'{"text": "nested", "meta": {"a": [1, {"b": null}]}}',
    ]
    body = []
    for k, line in enumerate(lines):
        body.append(line)
        if k % 25 == 24:
            body.append(odd[(k // 25) % len(odd)])
    src = tmp_path / "odd.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(body) + b"\r\n")
    kw = {"on_error": "skip", "progress": False, "block_mb": 0.02, "max_chunk_bytes": 3000}
    r1 = import_corpus([src], tmp_path / "m", **kw)
    calls = []
    real = importer.JsonlReader._finish_block

    def spy(self, item, *a):
        calls.append(item[4] is not None and item[4].result() is not None)
        return real(self, item, *a)

    monkeypatch.setattr(importer.JsonlReader, "_finish_block", spy)
    r2 = import_corpus([src], tmp_path / "a", parse_threads=2, **kw)
    assert any(calls) and not all(calls)  # both paths ran
    _same_store(CorpusStore.open(tmp_path / "m"), CorpusStore.open(tmp_path / "a"))
    assert r2.stats.as_dict() == r1.stats.as_dict() and r2.stats.reconciles()
    assert r1.stats.skipped["invalid_utf8"] >= 1 and r1.stats.skipped["malformed_json"] >= 1
