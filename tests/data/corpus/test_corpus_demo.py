"""The demo corpus builder: text extraction helpers, budgets, manifest, missing sources,
idempotency; plus one network end-to-end build of a small demo corpus."""

import base64
import gzip
import os
import random
from pathlib import Path

import pytest

from macs.core.errors import MacsError
from macs.data.corpus import demo
from macs.data.corpus.demo import Source, _take, build_demo_corpus
from macs.data.corpus.extract import (
    dictd_entries,
    email_to_text,
    html_to_text,
    pod_to_text,
    strip_front_matter,
)
from macs.data.corpus.store import CorpusStore


def test_email_to_text_on_real_messages(mini_corpus_path):
    raw = (
        b"From: a@b.org\nSubject: Re: meeting\nContent-Type: multipart/alternative; boundary=XX\n\n"
        b"--XX\nContent-Type: text/plain; charset=iso-8859-1\n\nSee you at caf\xe9 10.\n"
        b"--XX\nContent-Type: text/html\n\n<p>See you</p>\n--XX--\n"
    )
    assert email_to_text(raw) == "Subject: Re: meeting\n\nSee you at café 10."
    html_only = b"Subject: Offer\nContent-Type: text/html\n\n<html><body><p>BUY&nbsp;NOW</p><script>x()</script></body></html>"
    assert email_to_text(html_only) == "Subject: Offer\n\nBUY\xa0NOW"


def test_html_pod_front_matter():
    assert html_to_text("<h1>Title</h1><p>One &amp; two</p><style>p{}</style><p>Three</p>") == (
        "Title\n\nOne & two\n\nThree"
    )
    pod = "=head1 NAME\n\nperlfoo - B<bold> and C<code>\n\n=cut\n\nsub x {}\n"
    assert pod_to_text(pod) == "NAME\n\nperlfoo - bold and code"
    assert strip_front_matter("---\nkey: mit\n---\nMIT License text\n") == "MIT License text\n"


def _b64(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    s = ""
    while True:
        s = alphabet[n % 64] + s
        n //= 64
        if not n:
            return s


def test_dictd_entries(tmp_path):
    entries = [("apple", "apple\n  A fruit.\n"), ("bank", "bank\n  A river side.\n")]
    data = b""
    index = ["00-database-info\tA\tB"]
    for word, text in entries:
        index.append(f"{word}\t{_b64(len(data))}\t{_b64(len(text.encode()))}")
        data += text.encode()
    index.append(f"apples\t{_b64(0)}\t{_b64(len(entries[0][1]))}")  # same location: kept once
    (tmp_path / "d.index").write_text("\n".join(index) + "\n")
    (tmp_path / "d.dict.dz").write_bytes(gzip.compress(data))
    assert list(dictd_entries(tmp_path / "d.index", tmp_path / "d.dict.dz")) == [
        ("apple", "apple\n  A fruit."),
        ("bank", "bank\n  A river side."),
    ]
    assert base64  # (dictd uses its own base64 digits, built above)


def test_take_is_seeded_budgeted_and_ordered():
    items = list(range(1000))
    a = _take(items, random.Random("0:x"), 100, lambda i: 1)
    b = _take(items, random.Random("0:x"), 100, lambda i: 1)
    c = _take(items, random.Random("1:x"), 100, lambda i: 1)
    assert a == b != c and len(a) == 100 and a == sorted(a)
    assert _take(items, random.Random(0), None, lambda i: 1) == items


def test_budgets_share_domain_and_cap_code():
    b = demo._budgets(2.0)
    assert (
        b["wikipedia"] == 2.0 and b["gcide"] == 0.5 and b["cpython-stdlib"] == pytest.approx(2 / 3)
    )
    full = demo._budgets(None)
    assert full["gcide"] is None and full["go-src"] == demo.CODE_MB_PER_LANGUAGE
    assert {s.domain for s in demo.SOURCES} == set(demo.DOMAINS)


LOCAL = (Source("cpython-stdlib", "local", "python stdlib", "code", "x_cpython"),)
BROKEN = Source("nowhere", "bogus", "no-such-package", "news", "x_bbc")


def test_build_local_source_missing_and_idempotent(tmp_path):
    out = tmp_path / "demo"
    s = build_demo_corpus(
        out, tmp_path / "cache", 0.05, seed=3, sources=LOCAL + (BROKEN,), progress=False
    )
    m = s.manifest
    assert s.n_docs > 3 and set(m["domains"]) == {"code"}
    src = m["sources"][0]
    assert src["name"] == "cpython-stdlib" and src["docs"] >= src["records"] > 0
    assert 0.04e6 < src["bytes"] < 0.07e6  # about the 0.05 MB budget
    assert (
        m["missing_sources"][0]["name"] == "nowhere"
        and "unknown source kind" in m["missing_sources"][0]["reason"]
    )
    assert all(i.startswith("cpython/Lib/") for i in s.read_column("parent_id"))
    # same seed -> same docs; the rebuilt store equals the first one
    again = build_demo_corpus(out, tmp_path / "cache", 0.05, seed=3, sources=LOCAL, progress=False)
    assert again.read_column("id") == s.read_column("id")
    mtime = (out / "manifest.json").stat().st_mtime_ns
    third = build_demo_corpus(out, tmp_path / "cache", 0.05, seed=3, sources=LOCAL, progress=False)
    assert (out / "manifest.json").stat().st_mtime_ns == mtime  # identical build reused
    assert third.n_docs == again.n_docs
    other = build_demo_corpus(
        tmp_path / "d2", tmp_path / "cache", 0.05, seed=4, sources=LOCAL, progress=False
    )
    assert other.read_column("id") != s.read_column("id")


def test_strict_makes_missing_an_error(tmp_path):
    with pytest.raises(MacsError, match="nowhere.*could not be fetched"):
        build_demo_corpus(
            tmp_path / "d",
            tmp_path / "c",
            0.01,
            strict=True,
            sources=LOCAL + (BROKEN,),
            progress=False,
        )
    assert not (tmp_path / "d").exists()


def _cache_dir() -> Path:
    env = os.environ.get("MACS_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "macs") / "demo"


@pytest.mark.network
@pytest.mark.slow
def test_build_small_demo_from_registries(tmp_path):
    """End to end: fetch every section-1 source (cached across runs) and build 0.3 MB/domain."""
    s = build_demo_corpus(tmp_path / "demo", _cache_dir(), 0.3, strict=True, seed=0, progress=False)
    m = s.manifest
    assert m["missing_sources"] == []
    assert set(m["domains"]) == set(demo.DOMAINS)
    for d, v in m["domains"].items():
        assert 0.2e6 < v["bytes"] < 0.45e6, (d, v)
        assert v["heldout_docs"] >= 1
    for src in m["sources"]:
        if src["kind"] != "local":
            assert len(src["sha256"]) == 64 and src["size"] > 0 and src["version"]
    assert CorpusStore.open(tmp_path / "demo").n_docs == s.n_docs
    texts = s.texts(range(0, s.n_docs, max(1, s.n_docs // 50)))
    assert all(t.strip() for t in texts)
