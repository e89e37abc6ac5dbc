"""Shared pytest fixtures: the committed real-text mini corpus and stores built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    """The folder of committed test fixtures (tests/fixtures)."""
    return FIXTURES


@pytest.fixture(scope="session")
def mini_corpus_path(fixture_dir) -> Path:
    """The mini corpus JSONL: 279 real documents in 10 domains (see tests/fixtures/README.md)."""
    return fixture_dir / "mini_corpus.jsonl"


@pytest.fixture(scope="session")
def mini_store(tmp_path_factory, mini_corpus_path):
    """A CorpusStore imported from the mini corpus (chunks over 8 kB, 10% held out, seed 0)."""
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore

    out = tmp_path_factory.mktemp("corpus") / "mini"
    import_corpus(
        [mini_corpus_path],
        out,
        name="mini",
        max_chunk_bytes=8192,
        heldout_fraction=0.1,
        heldout_seed=0,
        progress=False,
    )
    return CorpusStore.open(out)


@pytest.fixture(scope="session")
def mini_tokenizer(tmp_path_factory, mini_store) -> Path:
    """tokenizer.json of a 1024-token byte-level BPE trained on mini_store (seed 0)."""
    from macs.data.corpus.tokenizer import build_tokenizer

    out = tmp_path_factory.mktemp("tokenizers") / "bpe-1024"
    return build_tokenizer("bpe", out, store=mini_store, vocab_size=1024, seed=0)


@pytest.fixture(scope="session")
def mini_tokens(mini_store, mini_tokenizer):
    """TokenStore of mini_store under mini_tokenizer (uint16, EOS between docs)."""
    from macs.data.corpus.tokens import tokenize_store

    return tokenize_store(mini_store, mini_tokenizer, progress=False)


@pytest.fixture(scope="session")
def mini_byte_tokens(mini_store, tmp_path_factory):
    """TokenStore of mini_store under the 256-byte tokenizer (EOS = 256)."""
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import tokenize_store

    path = build_tokenizer("byte", tmp_path_factory.mktemp("tokenizers") / "byte")
    return tokenize_store(mini_store, path, progress=False)


# The smallest `macs run` settings on the committed mini corpus (store name "mini", no network).
SMALL_SETS = [
    "run.device=cpu",
    "corpus.name=mini",
    "tokenizer.vocab_size=512",
    "tokenizer.train_mb=1",
    "labels.topic.n_groups=4",
    "labels.topic.sample_size=100",
    "labels.topic.svd_dims=16",
    "labels.workers=1",
    "labels.quality.classifier.backend=hashing",
    "model.size=llama-tiny",
    "train.tokens=6000",
    "train.seq_len=64",
    "train.batch_size=4",
    "train.stages=3",
    "train.threads=1",
    "train.log_every=2",
    "selection.samples_per_group=4",
    "influence.n_per_task=4",
    "influence.window=64",
    "influence.overlap=0",
    "influence.max_windows=2",
    "eval.tasks=[reference, arc_easy]",
    "eval.limit=4",
    "eval.heldout_docs_per_domain=2",
    "eval.batch_size=8",
]


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory, mini_corpus_path) -> tuple[Path, list[str]]:
    """A data dir holding the mini corpus store with its tokenizer, token shards and labels; and the settings."""
    from macs.app.config import load_config
    from macs.app.pipeline import prepare_data
    from macs.data.corpus.importer import import_corpus

    data = tmp_path_factory.mktemp("macs-data")
    import_corpus(
        [mini_corpus_path],
        data / "corpus" / "mini",
        name="mini",
        max_chunk_bytes=8192,
        heldout_fraction=0.1,
        heldout_seed=0,
        progress=False,
    )
    sets = [f"run.data_dir={data}", *SMALL_SETS]
    prepare_data(load_config(None, sets))
    return data, sets


@pytest.fixture(scope="session")
def mini_pool(mini_data):
    """The macs.data.pool.Pool of mini_data (BPE-512 token shards, quality/domain/topic labels) and its config."""
    from macs.app.config import load_config
    from macs.data.pool import open_pool

    _, sets = mini_data
    cfg = load_config(None, sets)
    return open_pool(cfg), cfg
