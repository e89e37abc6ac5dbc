"""What an input is: a file of only blank lines is empty (an error, like a 0-byte file), and a
folder of .jsonl (or .parquet) files imports those files instead of asking for .txt files."""

from __future__ import annotations

import pytest

from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore


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


META = [
    {"id": "a", "text": "alpha text", "meta": {"kind": "news", "lang": "en"}},
    {"id": "b", "text": "beta text", "meta": {"kind": "code"}},
    {"id": "c", "text": "alpha text", "meta": {"kind": "news"}},  # the text of "a" again
    {"id": "d", "text": "delta text", "meta": {"lang": "en", "kind": 7}},
]


def _jsonl(path, recs):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_dotted_domain_field_reads_nested_values(tmp_path):
    src = _jsonl(tmp_path / "m.jsonl", META)
    _imp([src], tmp_path / "s", domain_field="meta.kind", require_domain=True)
    s = CorpusStore.open(tmp_path / "s")
    assert s.read_column("id") == ["a", "b", "d"]
    assert s.read_column("domain") == ["news", "code", "7"]


def test_named_domain_field_missing_is_an_error_naming_the_record(tmp_path):
    recs = [*META[:2], {"id": "e", "text": "no kind here", "meta": {"lang": "de"}}]
    src = _jsonl(tmp_path / "m.jsonl", recs)
    for field, line in (("meta.kind", 3), ("kind", 1)):
        with pytest.raises(MacsError, match=rf"m.jsonl:line {line}: no '{field}' field"):
            _imp([src], tmp_path / "s", domain_field=field, require_domain=True)
    res = _imp(
        [src], tmp_path / "s", domain_field="meta.kind", require_domain=True, on_error="skip"
    )
    assert dict(res.stats.skipped) == {"missing_domain": 1} and res.stats.reconciles()
    # not named by the user: the default 'domain' field may be absent (the default domain)
    res = _imp([src], tmp_path / "t")
    assert CorpusStore.open(tmp_path / "t").read_column("domain") == ["default"] * 3


def test_duplicate_texts_kept_once_and_counted(tmp_path):
    src = _jsonl(tmp_path / "m.jsonl", META)
    other = _jsonl(tmp_path / "n.jsonl", [{"id": "z", "text": "beta text"}])  # another file
    res = _imp([src, other], tmp_path / "s", heldout_fraction=0.5)
    st = res.stats
    assert st.duplicate_texts == 2 and st.records_written == 3 and st.reconciles()
    assert "2 duplicate texts dropped" in res.summary()
    s = CorpusStore.open(tmp_path / "s")
    texts = s.read_column("text")
    assert sorted(texts) == sorted(set(texts)) and s.read_column("id") == ["a", "b", "d"]
    assert s.manifest["import"]["duplicate_texts"] == 2
    res = _imp([src, other], tmp_path / "k", dedup_texts=False)
    assert res.stats.duplicate_texts == 0 and res.stats.records_written == 5


def test_cli_domain_field_and_keep_duplicates(tmp_path, capsys):
    from macs.app.cli import main

    src = _jsonl(tmp_path / "m.jsonl", META[:3])
    main(["corpus", "import", str(src), "--out", str(tmp_path / "s"), "-q"])
    assert "1 duplicate texts dropped" in capsys.readouterr().out
    argv = ["corpus", "import", str(src), "--out", str(tmp_path / "s"), "-q"]
    main([*argv, "--keep-duplicates", "--domain-field", "meta.kind"])
    s = CorpusStore.open(tmp_path / "s")
    assert s.read_column("domain") == ["news", "code", "news"]
    from macs.data.corpus.meta import read_meta

    assert read_meta(s)["b"] == {"kind": "code"}  # the CLI keeps corpus.meta_field ("meta")


def test_meta_is_carried_to_the_store(tmp_path):
    from macs.data.corpus.meta import read_meta

    recs = [*META, {"id": "e", "text": "no meta here"}, {"id": "f", "text": "x " * 9000, "meta": 1}]
    src = _jsonl(tmp_path / "m.jsonl", recs)
    _imp([src], tmp_path / "s", max_chunk_bytes=8192, meta_field="meta")
    s = CorpusStore.open(tmp_path / "s")
    meta = read_meta(s)
    assert meta == {
        "a": {"kind": "news", "lang": "en"},
        "b": {"kind": "code"},
        "d": {"lang": "en", "kind": 7},
        "f": 1,
    }
    assert s.manifest["meta"]["records"] == 4
    parents = s.read_column("parent_id")
    assert parents.count("f") > 1 and all(meta[p] == 1 for p in parents if p == "f")  # chunks
    _imp([src], tmp_path / "n")  # the API keeps no meta unless asked
    assert (
        read_meta(tmp_path / "n") == {} and "meta" not in CorpusStore.open(tmp_path / "n").manifest
    )


def test_meta_with_parallel_workers_equals_one_process(tmp_path, monkeypatch):
    import macs.data.corpus.importer as imp
    from macs.data.corpus.meta import read_meta

    monkeypatch.setattr(imp, "PARALLEL_MIN_BYTES", 2048)
    recs = [{"id": f"r{i}", "text": f"text number {i} " * 20, "meta": {"i": i}} for i in range(300)]
    src = _jsonl(tmp_path / "m.jsonl", recs)
    _imp([src], tmp_path / "one", workers=1, meta_field="meta")
    _imp([src], tmp_path / "three", workers=3, meta_field="meta")
    assert (
        read_meta(tmp_path / "one")
        == read_meta(tmp_path / "three")
        == {f"r{i}": {"i": i} for i in range(300)}
    )
