"""Importer: every input format, generated ids, bad input under raise/skip, atomic output."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore


@pytest.fixture(scope="module")
def records(mini_corpus_path):
    return [json.loads(x) for x in mini_corpus_path.read_text(encoding="utf-8").splitlines()][:60]


def _texts(store):
    return store.read_column("text")


def _imp(inputs, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("max_chunk_bytes", 0)
    return import_corpus([str(p) for p in inputs], out, **kw)


def _write_jsonl(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def test_jsonl_gz_zst_parquet_give_the_same_store(tmp_path, records):
    import zstandard

    raw = "".join(json.dumps(r) + "\n" for r in records).encode()
    (tmp_path / "a.jsonl").write_bytes(raw)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "a.parquet")
    stores = {}
    for name in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.parquet"):
        _imp([tmp_path / name], tmp_path / f"s-{name}")
        stores[name] = CorpusStore.open(tmp_path / f"s-{name}")
    want = [r["text"] for r in records]
    for s in stores.values():
        assert _texts(s) == want
        assert s.read_column("id") == [r["id"] for r in records]
        assert s.read_column("domain") == [r["domain"] for r in records]


def test_small_blocks_and_fast_path_agree(tmp_path, records):
    _write_jsonl(tmp_path / "a.jsonl", records)
    _imp([tmp_path / "a.jsonl"], tmp_path / "s1", block_mb=0.01)
    _imp([tmp_path / "a.jsonl"], tmp_path / "s2")
    assert _texts(CorpusStore.open(tmp_path / "s1")) == _texts(CorpusStore.open(tmp_path / "s2"))


def test_hf_save_to_disk_folder(tmp_path, records):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"content": r["text"], "cat": r["domain"]} for r in records])
    ds.save_to_disk(str(tmp_path / "hf"))
    dd = datasets.DatasetDict({"train": ds.select(range(40)), "test": ds.select(range(40, 60))})
    dd.save_to_disk(str(tmp_path / "hfdict"))
    for src in ("hf", "hfdict"):
        _imp(
            [tmp_path / src],
            tmp_path / f"s-{src}",
            text_field="content",
            domain_field="cat",
            id_field=None,
        )
        s = CorpusStore.open(tmp_path / f"s-{src}")
        assert _texts(s) == [r["text"] for r in records]
        assert s.read_column("domain") == [r["domain"] for r in records]
        assert len(set(s.read_column("id"))) == len(records)


def test_txt_folder_and_generated_ids(tmp_path, records):
    d = tmp_path / "txt" / "sub"
    d.mkdir(parents=True)
    for i, r in enumerate(records[:10]):
        (d / f"{i:02d}.txt").write_text(r["text"], encoding="utf-8")
    _imp([tmp_path / "txt"], tmp_path / "s", domain="mine")
    s = CorpusStore.open(tmp_path / "s")
    assert _texts(s) == [r["text"] for r in records[:10]]
    assert s.read_column("id")[0] == (tmp_path / "txt" / "sub" / "00.txt").as_posix()
    assert set(s.read_column("domain")) == {"mine"}
    # JSONL without ids: path + line number, stable across runs
    _write_jsonl(tmp_path / "noid.jsonl", [{"text": r["text"]} for r in records[:5]])
    _imp([tmp_path / "noid.jsonl"], tmp_path / "s2")
    ids = CorpusStore.open(tmp_path / "s2").read_column("id")
    assert ids == [f"{(tmp_path / 'noid.jsonl').as_posix()}:{k}" for k in range(1, 6)]


BAD_LINES = [
    b'{"id": "ok1", "text": "A valid first record."}',
    b'{"id": "m1", "text": "unterminated',  # malformed JSON
    b'{"id": "m2"}',  # missing text
    b'{"id": "m3", "text": 42}',  # non-string text
    b'{"id": "m4", "text": "   "}',  # empty text
    b'{"id": "m5", "text": "caf\xe9 latin-1"}',  # invalid UTF-8
    b'{"id": "ok1", "text": "A duplicate id."}',  # duplicate id
    b'["a", "list"]',  # not an object
    b"",  # blank line: not a record
    b'{"id": "ok2", "text": "A valid last record.", "domain": "x"}',
]


def test_bad_input_skip_counts_and_reconciles(tmp_path):
    (tmp_path / "bad.jsonl").write_bytes(b"\n".join(BAD_LINES) + b"\n")
    (tmp_path / "zero.jsonl").write_bytes(b"")
    res = _imp([tmp_path / "bad.jsonl", tmp_path / "zero.jsonl"], tmp_path / "s", on_error="skip")
    st = res.stats
    assert dict(st.skipped) == {
        "malformed_json": 2,
        "missing_text": 1,
        "non_string_text": 1,
        "empty_text": 1,
        "invalid_utf8": 1,
        "duplicate_id": 1,
    }
    assert st.records_read == 9 and st.records_written == 2 and st.reconciles()
    assert st.empty_files == 1
    s = CorpusStore.open(tmp_path / "s")
    assert s.read_column("id") == ["ok1", "ok2"]
    assert s.texts([0]) == ["A valid first record."]  # the first of a duplicate pair is kept
    assert "7 skipped" in res.summary() and "duplicate_id=1" in res.summary()
    assert s.manifest["import"]["skipped"]["invalid_utf8"] == 1


@pytest.mark.parametrize(
    ("line_no", "match"),
    [
        (2, "line 2: malformed JSON"),
        (3, "line 3: no 'text' field"),
        (4, "line 4: 'text' is an int"),
        (5, "line 5: the text is empty"),
        (6, "line 6: invalid UTF-8"),
        (7, "line 7: duplicate id 'ok1'"),
    ],
)
def test_bad_input_raise_names_file_and_line(tmp_path, line_no, match):
    lines = [BAD_LINES[0], BAD_LINES[line_no - 1], BAD_LINES[-1]]
    # keep the original line number by padding with valid records
    body = [BAD_LINES[0]] + [b'{"text": "filler %d"}' % i for i in range(line_no - 2)] + lines[1:]
    (tmp_path / "bad.jsonl").write_bytes(b"\n".join(body) + b"\n")
    with pytest.raises(MacsError, match=match) as e:
        _imp([tmp_path / "bad.jsonl"], tmp_path / "s")
    assert "bad.jsonl" in str(e.value) and "--on-error skip" in str(e.value)
    assert not (tmp_path / "s").exists()  # nothing half-written
    assert not list(tmp_path.glob(".s.partial-*"))


def test_bom_crlf_and_dictionary_columns(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"text": "first"}\r\n{"text": "second"}\r\n')
    res = _imp([tmp_path / "bom.jsonl"], tmp_path / "s")
    assert (
        _texts(CorpusStore.open(tmp_path / "s")) == ["first", "second"] and res.stats.reconciles()
    )
    t = pa.table(
        {"text": pa.array(["a b", "c d", "a b"]).dictionary_encode(), "id": ["1", "2", "3"]}
    )
    pq.write_table(t, tmp_path / "d.parquet")
    _imp([tmp_path / "d.parquet"], tmp_path / "s2", dedup_texts=False)  # the repeat is kept
    assert _texts(CorpusStore.open(tmp_path / "s2")) == ["a b", "c d", "a b"]


def test_zero_byte_file_raises(tmp_path):
    (tmp_path / "zero.jsonl").write_bytes(b"")
    with pytest.raises(MacsError, match="zero.jsonl: the file is empty"):
        _imp([tmp_path / "zero.jsonl"], tmp_path / "s")


def test_parquet_bad_rows(tmp_path):
    t = pa.table({"text": ["good one", None, "", "good two"], "id": ["a", "b", "c", "a"]})
    pq.write_table(t, tmp_path / "x.parquet")
    res = _imp([tmp_path / "x.parquet"], tmp_path / "s", on_error="skip")
    assert dict(res.stats.skipped) == {"missing_text": 1, "empty_text": 1, "duplicate_id": 1}
    assert res.stats.reconciles()
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    with pytest.raises(MacsError, match="non_string_text"):
        _imp([tmp_path / "n.parquet"], tmp_path / "s2")


def test_interrupted_import_keeps_old_store(tmp_path, records):
    _write_jsonl(tmp_path / "a.jsonl", records[:10])
    _imp([tmp_path / "a.jsonl"], tmp_path / "s")
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "fine"}\n{"text": 3}\n')
    with pytest.raises(MacsError):
        _imp([tmp_path / "b.jsonl"], tmp_path / "s")
    s = CorpusStore.open(tmp_path / "s")
    assert s.n_docs == 10 and _texts(s) == [r["text"] for r in records[:10]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "s"]


def test_streaming_memory_is_bounded(tmp_path):
    """Peak memory does not grow with the input: 15 MB and 60 MB JSONL files cost the same."""
    import subprocess
    import sys

    line = json.dumps({"text": "word " * 400}) + "\n"

    def grown_mb(n_lines: int) -> float:
        src = tmp_path / f"big{n_lines}.jsonl"
        src.write_text(line * n_lines)
        code = (
            "import resource;import pyarrow.parquet, pyarrow.compute, msgspec;"
            "from macs.data.corpus.importer import import_corpus;"
            "b=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            f"r=import_corpus([{str(src)!r}], {str(tmp_path / f's{n_lines}')!r}, progress=False, block_mb=2, dedup_texts=False);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-b, r.stats.docs_written)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        kb, docs = out.stdout.split()
        assert int(docs) == n_lines
        return int(kb) / 1024

    small, big = grown_mb(7500), grown_mb(30000)
    assert big < small + 25, (small, big)  # 45 MB more input, (almost) no more memory
    assert big < 60 + 5, big


def test_cli_import_and_show(tmp_path, records):
    from typer.testing import CliRunner

    from macs.app.cli import app

    _write_jsonl(tmp_path / "a.jsonl", records)
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "fine"}\n{"text": 3}\n')
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "corpus",
            "import",
            str(tmp_path / "a.jsonl"),
            str(tmp_path / "b.jsonl"),
            "--out",
            str(tmp_path / "s"),
            "--on-error",
            "skip",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "skipped (non_string_text=1)" in r.output and str(tmp_path / "s") in r.output
    r = runner.invoke(app, ["corpus", "show", str(tmp_path / "s")])
    assert r.exit_code == 0 and "encyclopedic" in r.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"text": 5}', "line 1: 'text' is an int, not a string"),
        (b'{"text": ["a"]}', "line 1: 'text' is a list, not a string"),
        (b'{"id": 1.5, "text": "ok"}', "line 1: 'id' is a float; use a string or int"),
        (b'{"text": "abc', "malformed JSON (Unterminated string starting at: column 10)"),
    ],
)
def test_bad_record_messages_read_as_english(tmp_path, line, message):
    """Issue 25: "'text' is a int" and "starting at at column" were the old wording."""
    (tmp_path / "x.jsonl").write_bytes(line + b"\n")
    with pytest.raises(MacsError) as e:
        _imp([tmp_path / "x.jsonl"], tmp_path / "s")
    assert message in str(e.value) and " at at " not in str(e.value)


def test_a_bad_option_value_is_blamed_on_the_command_line(tmp_path, records, capsys):
    """Issue 25: `--on-error ignore` was reported as a problem of "the --set overrides"."""
    from macs.app.cli import main

    _write_jsonl(tmp_path / "a.jsonl", records)
    args = ["corpus", "import", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "s")]
    with pytest.raises(SystemExit) as e:
        main([*args, "--on-error", "ignore"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: the command line: ")
    assert "corpus.on_error: input should be 'raise' or 'skip' (got 'ignore')" in err
    assert "given by --set or by an option of the command" in err
    assert "--set overrides" not in err
