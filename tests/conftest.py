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
    from macs.corpus.importer import import_corpus
    from macs.corpus.store import CorpusStore

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
