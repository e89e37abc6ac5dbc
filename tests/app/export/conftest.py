"""Fixtures of the export tests: a selection over the mini store with repeats across stages."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def selection(mini_store) -> np.ndarray:
    """Two stages of sorted doc indices, concatenated (stage 1 repeats docs of stage 0)."""
    rng = np.random.default_rng(0)
    n = mini_store.n_docs
    s0 = np.sort(rng.choice(n, 50, replace=False))
    s1 = np.sort(
        np.concatenate([s0[:5], rng.choice(np.setdiff1d(np.arange(n), s0), 25, replace=False)])
    )
    return np.concatenate([s0, s1]).astype(np.int64)


@pytest.fixture(scope="module")
def expected(mini_store, mini_tokens, selection) -> dict:
    """What every export must hold, read straight from the store and its token shards."""
    codes, names = mini_store.domains()
    docs = [np.asarray(mini_tokens.doc(int(i))) for i in selection]
    eos = mini_tokens.eos_id
    return {
        "id": mini_store.ids(selection),
        "text": mini_store.texts(selection),
        "domain": [names[c] for c in codes[selection]],
        "tokens": docs,
        "stream": np.concatenate([x for d in docs for x in (d, [eos])]),
    }


@pytest.fixture(scope="module")
def wide_tokens(mini_store, tmp_path_factory):
    """Token shards of a word-level tokenizer with 70,000 entries (ids past 65535: uint32).

    Every word of the mini corpus gets an id above 65535; the rest of the vocabulary is filler.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers

    from macs.data.corpus.tokens import tokenize_store

    words: set[str] = set()
    split = pre_tokenizers.Whitespace()
    for t in mini_store.texts(range(mini_store.n_docs)):
        words.update(w for w, _ in split.pre_tokenize_str(t or ""))
    size = max(70_000, 66_000 + len(words))
    vocab = {"<|endoftext|>": 0, "[UNK]": 1}
    vocab.update({f"[filler{i}]": i for i in range(2, size - len(words))})
    vocab.update({w: size - len(words) + k for k, w in enumerate(sorted(words))})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = split
    out = tmp_path_factory.mktemp("tokenizers") / "wide"
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    return tokenize_store(mini_store, out / "tokenizer.json", progress=False)
