"""What an input is: a file of only blank lines is empty (an error, like a 0-byte file), and a
folder of .jsonl (or .parquet) files imports those files instead of asking for .txt files."""

from __future__ import annotations

import pytest

from macs.corpus.importer import import_corpus
from macs.corpus.store import CorpusStore
from macs.errors import MacsError


def _imp(inputs, out, **kw):
    kw.setdefault("progress", False)
    return import_corpus([str(p) for p in inputs], out, **kw)


def test_file_of_blank_lines_is_empty(tmp_path, mini_corpus_path):
    blanks = tmp_path / "blanks.jsonl"
    blanks.write_bytes(b"\n \n\t\n\n")
    with pytest.raises(MacsError, match="blanks.jsonl: the file is empty .only blank lines"):
        _imp([blanks], tmp_path / "s")
    assert not (tmp_path / "s").exists()
    res = _imp([mini_corpus_path, blanks], tmp_path / "s", on_error="skip")
    assert res.stats.empty_files == 1 and res.stats.records_written == 279
    assert "1 empty files" in res.summary()


def test_folder_of_jsonl_files(tmp_path, mini_corpus_path):
    lines = mini_corpus_path.read_bytes().splitlines(keepends=True)
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(b"".join(lines[:100]))
    (folder / "sub" / "b.jsonl").write_bytes(b"".join(lines[100:]))
    (folder / "README.md").write_text("not data")
    res = _imp([folder], tmp_path / "s")
    assert res.stats.files == 2 and res.stats.records_written == 279
    assert CorpusStore.open(tmp_path / "s").n_docs >= 279
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("x")
    with pytest.raises(MacsError, match=r"no input files in this folder \(looked for .txt, .jsonl"):
        _imp([other], tmp_path / "t")
