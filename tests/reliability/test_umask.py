"""Every output follows the user's umask: atomic writes (manifest.json, config.yaml, eval.json,
report.md, DONE, ...) are no longer owner-only while the rest is 0644 (issue 16)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from macs.core import io


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in [root, *root.rglob("*")]
    }


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    io.write_json(tmp_path / "manifest.json", {"a": 1})
    io.write_text(tmp_path / "report.md", "# report\n")
    io.write_bytes(tmp_path / "DONE", b"")
    io.append_jsonl(tmp_path / "log.jsonl", {"b": 2})
    (tmp_path / "plain.txt").write_text("x")  # what any other output gets
    import pyarrow as pa

    io.write_parquet(tmp_path / "t.parquet", pa.table({"x": [1]}))
    want = 0o666 & ~mask
    assert {k: oct(v) for k, v in _modes(tmp_path).items() if k != "."} == {
        k: oct(want)
        for k in ("manifest.json", "report.md", "DONE", "log.jsonl", "plain.txt", "t.parquet")
    }


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_store_tokens_and_labels_follow_the_umask(tmp_path, umask, mask, mini_corpus_path):
    from macs.app.config import Config, save_config
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import tokenize_store
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    umask(mask)
    import_corpus([mini_corpus_path], tmp_path / "store", progress=False)
    store = CorpusStore.open(tmp_path / "store")
    tok = build_tokenizer("byte", tmp_path / "tok")
    tokenize_store(store, tok, progress=False)
    cfg = LabelsConfig.model_validate({"actors": ["domain"], "rows_per_part": 100, "workers": 1})
    run_labels(store, cfg, seed=0, progress=False)
    save_config(Config(), tmp_path / "run" / "config.yaml")
    modes = _modes(tmp_path)
    files = {k: v for k, v in modes.items() if (tmp_path / k).is_file()}
    dirs = {k: v for k, v in modes.items() if (tmp_path / k).is_dir() and k != "."}
    for must in ("store/manifest.json", "run/config.yaml", "store/labels/domain/manifest.json"):
        assert must in files
    assert any(k.startswith("store/tokens/") and k.endswith("meta.json") for k in files)
    assert {oct(v) for v in files.values()} == {oct(0o666 & ~mask)}, files
    assert {oct(v) for v in dirs.values()} == {oct(0o777 & ~mask)}, dirs
