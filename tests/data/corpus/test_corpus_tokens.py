"""Token shards: dtype, index, EOS layout, memmap access, parallel units, reuse."""

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.data.corpus.importer import CorpusBuilder
from macs.data.corpus.readers import ImportStats
from macs.data.corpus.store import CorpusStore
from macs.data.corpus.tokenizer import byte_tokenizer, load_tokenizer, save_tokenizer
from macs.data.corpus.tokens import TokenStore, tokenize_store


def test_mini_tokens_match_encode(mini_store, mini_tokens, mini_tokenizer):
    tok = load_tokenizer(mini_tokenizer)
    assert mini_tokens.n_docs == mini_store.n_docs
    assert (
        mini_tokens.dtype == np.uint16
        and mini_tokens.eos_id == 0
        and mini_tokens.vocab_size == 1024
    )
    assert mini_tokens.lengths.dtype == np.int64 and (mini_tokens.lengths > 0).all()
    texts = mini_store.read_column("text")
    for i in range(0, mini_store.n_docs, 5):
        d = mini_tokens.doc(i)
        assert isinstance(d, np.memmap)  # a view, never a loaded copy
        assert d.tolist() == tok.encode(texts[i], add_special_tokens=False).ids
        assert tok.decode(d.tolist()) == texts[i]
    assert mini_tokens.path == mini_store.path / "tokens" / "bpe-1024"


def test_eos_between_docs(mini_tokens):
    mm = mini_tokens.memmap(0)
    assert mm.size == mini_tokens.n_tokens + mini_tokens.n_docs
    ends = mini_tokens.offsets + mini_tokens.lengths
    assert (mm[ends] == mini_tokens.eos_id).all()
    assert int((mm == mini_tokens.eos_id).sum()) == mini_tokens.n_docs  # EOS only between docs


def test_byte_tokens_are_utf8(mini_store, mini_byte_tokens):
    assert mini_byte_tokens.eos_id == 256
    text = mini_store.texts([3])[0]
    assert bytes(mini_byte_tokens.doc(3).astype(np.uint8)) == text.encode()
    assert mini_byte_tokens.n_tokens == mini_store.manifest["n_bytes"]


@pytest.fixture(scope="module")
def multi_group_store(tmp_path_factory, mini_store):
    """Four copies of the mini corpus (distinct ids): more than one Parquet row group."""
    out = tmp_path_factory.mktemp("multi") / "store"
    b = CorpusBuilder(out, ImportStats(), max_chunk_bytes=0)
    ids, texts = mini_store.read_column("id"), mini_store.read_column("text")
    for k in range(4):
        b.add([f"{k}/{i}" for i in ids], texts, domain=f"copy{k}", source="mini")
    b.finish({"name": "multi"}, 0.1, 0)
    return CorpusStore.open(out)


def test_parallel_units_equal_single(multi_group_store, mini_tokenizer):
    s = multi_group_store
    one = tokenize_store(s, mini_tokenizer, name="one", workers=1, progress=False)
    par = tokenize_store(s, mini_tokenizer, name="par", workers=2, unit_mb=0.3, progress=False)
    assert len(par.files) > 1 and par.meta["workers"] == 2
    assert (one.lengths == par.lengths).all()
    for i in (0, 1023, 1024, s.n_docs - 1):
        assert one.doc(i).tolist() == par.doc(i).tolist()


def test_reuse_and_literal_eos_text(tmp_path, mini_store):
    b = CorpusBuilder(tmp_path / "s", ImportStats())
    b.add(["a", "b"], ["before <|endoftext|> after", "plain"], domain="d", source="t")
    b.finish({"name": "s"}, 0.0, 0)
    s = CorpusStore.open(tmp_path / "s")
    tok_path = save_tokenizer(byte_tokenizer(), tmp_path / "tok", {"kind": "byte"})
    ts = tokenize_store(s, tok_path, progress=False)
    assert 256 not in ts.doc(0).tolist()  # literal text, not an EOS
    assert bytes(ts.doc(0).astype(np.uint8)).decode() == "before <|endoftext|> after"
    mtime = (ts.path / "index.npy").stat().st_mtime_ns
    again = tokenize_store(s, tok_path, progress=False)
    assert (again.path / "index.npy").stat().st_mtime_ns == mtime  # reused, not rewritten


def test_uint32_when_vocab_exceeds_uint16(tmp_path):
    b = CorpusBuilder(tmp_path / "s", ImportStats())
    b.add(["a"], ["zq0 zq70000"], domain="d", source="t")
    b.finish({"name": "s"}, 0.0, 0)
    tok = byte_tokenizer()
    tok.add_tokens([f"zq{i}" for i in range(70001)])
    path = save_tokenizer(tok, tmp_path / "big", {"kind": "test"})
    ts = tokenize_store(CorpusStore.open(tmp_path / "s"), path, progress=False)
    assert ts.dtype == np.uint32 and max(ts.doc(0).tolist()) > 65535


def test_open_missing(tmp_path):
    with pytest.raises(MacsError, match="macs corpus tokenize"):
        TokenStore.open(tmp_path)


def test_cli_tokenize(tmp_path, mini_store, mini_tokenizer):
    from typer.testing import CliRunner

    from macs.app.cli import app

    r = CliRunner().invoke(
        app,
        ["corpus", "tokenize", "--store", str(mini_store.path), "--tokenizer", str(mini_tokenizer)],
    )
    assert r.exit_code == 0, r.output
    assert "token shards:" in r.output
