"""Fixtures of the labels tests: a private copy of the mini store (labels are written into it)."""

from __future__ import annotations

import shutil

import pytest


def small_config(**overrides):
    """A LabelsConfig sized for the 283-doc mini store (3 units of 100 rows, 5 topics)."""
    from macs.app.config import deep_merge
    from macs.data.labels.config import LabelsConfig

    base = {
        "rows_per_part": 100,
        "batch_size": 64,
        "workers": 1,
        "topic": {"n_groups": 5, "sample_size": 200, "n_init": 2},
        "quality": {"classifier": {"pool_negatives": 60}},
    }
    return LabelsConfig.model_validate(deep_merge(base, overrides))


@pytest.fixture
def store_copy(mini_store, tmp_path):
    """A fresh copy of the mini store for one test (labels are written inside a store)."""
    from macs.data.corpus.store import CorpusStore

    dst = tmp_path / "mini"
    shutil.copytree(mini_store.path, dst, ignore=shutil.ignore_patterns("labels"))
    return CorpusStore.open(dst)


@pytest.fixture(scope="module")
def labelled_store(mini_store, tmp_path_factory):
    """A copy of the mini store labelled once (local executor, in-process) for read-only checks."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.job import run_labels

    dst = tmp_path_factory.mktemp("labelled") / "mini"
    shutil.copytree(mini_store.path, dst, ignore=shutil.ignore_patterns("labels"))
    store = CorpusStore.open(dst)
    manifests = run_labels(store, small_config(), seed=0, progress=False)
    return store, manifests


@pytest.fixture
def make_config():
    """The small_config factory (a fixture, so test modules need not import conftest)."""
    return small_config
