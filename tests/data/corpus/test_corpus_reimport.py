"""Re-importing into a store that has labels and token shards (issue 25, defect 1): the same
documents keep them (one note), different documents are refused naming what would be lost and
--force, and --force replaces the store and says what it deleted. Never silent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


def _macs(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "macs", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def derived_store(tmp_path, mini_corpus_path, mini_tokenizer):
    """A store imported by `macs corpus import`, labelled (domain) and tokenized."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokens import tokenize_store
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    out = tmp_path / "mine"
    r = _macs("corpus", "import", mini_corpus_path, "--out", out, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    store = CorpusStore.open(out)
    cfg = LabelsConfig.model_validate({"actors": ["domain"], "workers": 1})
    run_labels(store, cfg, progress=False)
    tokenize_store(store, mini_tokenizer, name="bpe", progress=False)
    return out


def test_reimport_keeps_refuses_or_replaces_with_force(derived_store, tmp_path, mini_corpus_path):
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokens import TokenStore
    from macs.data.labels.sidecar import load_labels

    out = derived_store
    # the same documents again: labels and token shards are kept, and still valid
    r = _macs("corpus", "import", mini_corpus_path, "--out", out, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "kept" in r.stderr and "labels (domain)" in r.stderr and "token shards (bpe)" in r.stderr
    store = CorpusStore.open(out)
    assert len(load_labels(store, "domain").group) == store.n_docs
    assert TokenStore.open(out / "tokens" / "bpe").n_docs == store.n_docs
    # different documents: refused, naming what would be lost and the flag; store unchanged
    lines = mini_corpus_path.read_text(encoding="utf-8").splitlines()
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    before = (out / "manifest.json").read_bytes()
    r = _macs("corpus", "import", other, "--out", out, "-q", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1, r.stderr
    assert "labels (domain)" in err[0] and "token shards (bpe)" in err[0] and "--force" in err[0]
    assert (out / "manifest.json").read_bytes() == before
    assert (out / "labels" / "domain" / "manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.")]
    # --force: replaced, and the note says what was deleted
    r = _macs("corpus", "import", other, "--out", out, "--force", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "deleted" in r.stderr and "labels (domain)" in r.stderr
    assert json.loads((out / "manifest.json").read_text())["n_docs"] < store.n_docs
    assert not (out / "labels").exists() and not (out / "tokens").exists()


def test_force_is_documented_for_reimport(tmp_path):
    r = _macs("corpus", "import", "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "--force" in text and "labels/token shards" in text
