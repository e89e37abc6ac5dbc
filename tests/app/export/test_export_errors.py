"""Bad input to an export: one clear MacsError, and never a half-written or clobbered output."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from macs.app.export import write_export
from macs.core.errors import MacsError


def test_unknown_format_lists_the_formats(mini_store, tmp_path):
    with pytest.raises(MacsError, match="unknown export format 'parquet'.*hf, litdata, mds, flat"):
        write_export("parquet", tmp_path / "x", mini_store, np.arange(3))


@pytest.mark.parametrize("fmt", ["flat", "litdata"])
def test_token_formats_need_token_shards(fmt, mini_store, tmp_path):
    with pytest.raises(
        MacsError, match="needs the store's token shards.*macs corpus tokenize"
    ) as e:
        write_export(fmt, tmp_path / "x", mini_store, np.arange(3))
    assert "--tokens DIR" not in str(e.value)  # `macs select --tokens` is the budget (issue 25)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("idx", "msg"),
    [([], "empty"), ([0, 10**6], "doc index 1000000 is outside"), ([[0, 1]], "1-D array")],
)
def test_bad_selection(idx, msg, mini_store, tmp_path):
    with pytest.raises(MacsError, match=msg):
        write_export("jsonl", tmp_path / "x.jsonl", mini_store, np.asarray(idx, dtype=np.int64))


def test_token_shards_of_another_store(mini_store, mini_tokens, tmp_path):
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore

    src = tmp_path / "two.jsonl"
    src.write_text('{"text": "one doc"}\n{"text": "another doc"}\n', encoding="utf-8")
    import_corpus([src], tmp_path / "two", name="two", progress=False)
    small = CorpusStore.open(tmp_path / "two")
    with pytest.raises(MacsError, match="token shards cover .* docs but the store has 2"):
        write_export("flat", tmp_path / "x", small, np.arange(2), tokens=mini_tokens)


def test_jsonl_out_must_be_a_file(mini_store, tmp_path):
    with pytest.raises(MacsError, match="is a folder; the jsonl export writes one file"):
        write_export("jsonl", tmp_path, mini_store, np.arange(3))


def test_unknown_option_names_the_known_ones(mini_store, mini_tokens, tmp_path):
    with pytest.raises(MacsError, match="unknown option 'chunk_bytes' for the flat export"):
        write_export(
            "flat", tmp_path / "x", mini_store, np.arange(3), tokens=mini_tokens, chunk_bytes=1
        )


def test_never_replaces_a_folder_that_is_not_an_export(mini_store, mini_tokens, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(MacsError, match="is not a macs export"):
        write_export("flat", out, mini_store, np.arange(3), tokens=mini_tokens)
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


def test_rerun_replaces_an_earlier_export(mini_store, mini_tokens, tmp_path):
    out = tmp_path / "flat"
    write_export("flat", out, mini_store, np.arange(10), tokens=mini_tokens)
    s = write_export("flat", out, mini_store, np.array([4, 4]), tokens=mini_tokens)
    assert s["docs"] == 2 and np.load(out / "index.npy").shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["flat"]  # no temp folder left


def test_a_failing_writer_leaves_no_output(mini_store, mini_tokens, tmp_path):
    from macs.app.export.mds import import_streaming

    try:
        import_streaming()
    except MacsError as e:
        pytest.skip(str(e))
    with pytest.raises(ValueError):
        write_export("mds", tmp_path / "m", mini_store, np.arange(3), compression="nope")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "module", "package"),
    [("litdata", "litdata", "litdata"), ("hf", "datasets", "datasets")],
)
def test_missing_library_names_the_extra(
    fmt, module, package, mini_store, mini_tokens, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(
        MacsError, match=f"needs the package .{package}., which cannot be imported.*setup.sh export"
    ):
        write_export(fmt, tmp_path / "x", mini_store, np.arange(3), tokens=mini_tokens)
    assert list(tmp_path.iterdir()) == []
