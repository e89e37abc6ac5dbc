"""Damaged input files: truncated or corrupt gzip/zstd/Parquet/Arrow streams are faults that
name the file and where it broke; under skip the records before the fault are kept, the fault
is counted as its own kind and the import is partial (exit status 3). Blank ids are generated."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from macs.core.errors import EXIT_PARTIAL, MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture(scope="module")
def lines(mini_corpus_path) -> list[bytes]:
    return mini_corpus_path.read_bytes().splitlines(keepends=True)[:120]


def _imp(inputs, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("max_chunk_bytes", 0)
    return import_corpus([str(p) for p in inputs], out, **kw)


def _ids(lines_: list[bytes]) -> list[str]:
    return [json.loads(x)["id"] for x in lines_]


def _whole_lines_in(prefix: bytes) -> int:
    return prefix.count(b"\n")


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_truncated_compressed_stream_is_a_fault(tmp_path, mini_corpus_path, codec):
    lines = mini_corpus_path.read_bytes().splitlines(keepends=True)
    raw = b"".join(lines)
    comp = gzip.compress(raw) if codec == "gzip" else zstandard.ZstdCompressor().compress(raw)
    cut = len(comp) * 2 // 3
    path = tmp_path / ("a.jsonl.gz" if codec == "gzip" else "a.jsonl.zst")
    path.write_bytes(comp[:cut])
    # what a decoder fed one byte at a time can recover from the cut file: the reference
    if codec == "gzip":
        import zlib

        d = zlib.decompressobj(31)
        prefix = b"".join(d.decompress(comp[i : i + 1]) for i in range(cut))
    else:
        d = zstandard.ZstdDecompressor().decompressobj()
        prefix = b"".join(d.decompress(comp[i : i + 1]) for i in range(cut))
    n_whole = _whole_lines_in(prefix)
    assert 0 < n_whole < len(lines)

    with pytest.raises(MacsError) as e:
        _imp([path], tmp_path / "s")
    msg = str(e.value)
    assert str(path.as_posix()) in msg and "truncated_file" in msg
    assert f"ends at byte {cut}" in msg and f"after line {n_whole}" in msg and "\n" not in msg
    assert not (tmp_path / "s").exists()

    res = _imp([path], tmp_path / "s", on_error="skip")
    st = res.stats
    assert dict(st.faults) == {"truncated_file": 1} and st.partial and st.reconciles()
    assert (
        st.records_read == n_whole and not st.skipped
    )  # the cut line is the fault's, not a record
    store = CorpusStore.open(tmp_path / "s")
    assert store.read_column("id") == _ids(lines[:n_whole])
    assert store.manifest["import"]["faults"] == {"truncated_file": 1}
    assert store.manifest["import"]["partial"] is True
    assert "PARTIAL" in res.summary()


def test_not_gzip_and_corrupt_gzip_name_the_file(tmp_path, lines):
    raw = b"".join(lines)
    (tmp_path / "plain.jsonl.gz").write_bytes(raw)
    with pytest.raises(MacsError, match=r"plain\.jsonl\.gz: not a gzip file .*corrupt_file"):
        _imp([tmp_path / "plain.jsonl.gz"], tmp_path / "s")
    comp = bytearray(gzip.compress(raw))
    comp[len(comp) // 2] ^= 0x55  # a flipped byte in the deflate data
    (tmp_path / "flip.jsonl.gz").write_bytes(bytes(comp))
    res = _imp([tmp_path / "flip.jsonl.gz"], tmp_path / "s", on_error="skip")
    assert dict(res.stats.faults) == {"corrupt_file": 1} and res.stats.reconciles()
    (example,) = res.stats.examples["corrupt_file"]
    assert example.startswith(f"{(tmp_path / 'flip.jsonl.gz').as_posix()}: corrupt gzip data at")


def test_concatenated_members_frames_and_padding_are_not_faults(tmp_path, lines):
    a, b = b"".join(lines[:50]), b"".join(lines[50:])
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(a) + gzip.compress(b) + b"\0" * 16)
    zc = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(zc.compress(a) + zc.compress(b))
    for name in ("m.jsonl.gz", "m.jsonl.zst"):
        res = _imp([tmp_path / name], tmp_path / f"s-{name}")
        assert not res.stats.partial
        assert CorpusStore.open(tmp_path / f"s-{name}").read_column("id") == _ids(lines)


def test_gzip_garbage_after_a_member_is_a_fault(tmp_path, lines):
    (tmp_path / "g.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:10])) + b"not gzip")
    res = _imp([tmp_path / "g.jsonl.gz"], tmp_path / "s", on_error="skip")
    assert dict(res.stats.faults) == {"corrupt_file": 1}
    assert CorpusStore.open(tmp_path / "s").read_column("id") == _ids(lines[:10])


def test_truncated_parquet_is_a_fault(tmp_path, lines):
    recs = [json.loads(x) for x in lines]
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "a.parquet")
    data = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(MacsError, match=r"cut\.parquet: cut short \(no footer\).*truncated_file"):
        _imp([tmp_path / "cut.parquet"], tmp_path / "s")
    res = _imp([tmp_path / "cut.parquet", tmp_path / "a.parquet"], tmp_path / "s", on_error="skip")
    assert dict(res.stats.faults) == {"truncated_file": 1}
    assert CorpusStore.open(tmp_path / "s").read_column("id") == _ids(lines)


def _ipc_stream(path: Path, table, batch_rows: int) -> list[int]:
    """Write an Arrow IPC stream (as HF save_to_disk does); the byte offset after each batch."""
    ends = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        for b in table.to_batches(max_chunksize=batch_rows):
            w.write_batch(b)
            ends.append(sink.tell())
    return ends


def test_arrow_stream_cut_at_a_batch_boundary_is_a_fault(tmp_path, lines):
    table = pa.Table.from_pylist([json.loads(x) for x in lines])
    ends = _ipc_stream(tmp_path / "a.arrow", table, 40)
    data = (tmp_path / "a.arrow").read_bytes()
    (tmp_path / "cut.arrow").write_bytes(data[: ends[1]])  # two whole batches, no end marker
    with pytest.raises(MacsError, match=r"cut\.arrow: the stream stops at byte \d+ without"):
        _imp([tmp_path / "cut.arrow"], tmp_path / "s")
    res = _imp([tmp_path / "cut.arrow"], tmp_path / "s", on_error="skip")
    assert dict(res.stats.faults) == {"truncated_file": 1}
    assert CorpusStore.open(tmp_path / "s").read_column("id") == _ids(lines[:80])
    (tmp_path / "mid.arrow").write_bytes(data[: ends[1] + 100])  # inside the third batch
    res = _imp([tmp_path / "mid.arrow"], tmp_path / "s2", on_error="skip")
    assert dict(res.stats.faults) == {"truncated_file": 1}
    assert "ends inside an Arrow message after row 80" in res.stats.examples["truncated_file"][0]
    assert CorpusStore.open(tmp_path / "s2").read_column("id") == _ids(lines[:80])


def test_damaged_hf_folder_names_the_json_file(tmp_path, lines):
    d = tmp_path / "hf"
    d.mkdir()
    _ipc_stream(d / "data-00000-of-00001.arrow", pa.Table.from_pylist([{"text": "x"}]), 10)
    (d / "state.json").write_text('{"_data_files": [{"filename": ')
    with pytest.raises(MacsError, match=r"state\.json: not a readable JSON file"):
        _imp([d], tmp_path / "s")
    (d / "state.json").write_text('{"_data_files": [{"filename": "gone.arrow"}]}')
    res = _imp([d], tmp_path / "s", on_error="skip")
    assert dict(res.stats.faults) == {"unreadable_file": 1}


def test_blank_ids_are_generated_and_counted(tmp_path):
    path = tmp_path / "b.jsonl"
    recs = [{"id": "", "text": "one"}, {"id": " \t", "text": "two"}, {"id": "k", "text": "three"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = _imp([path], tmp_path / "s")
    assert res.stats.blank_ids == 2 and res.stats.ids_generated == 2
    ids = CorpusStore.open(tmp_path / "s").read_column("id")
    assert ids == [f"{path.as_posix()}:1", f"{path.as_posix()}:2", "k"]
    assert "2 blank ids replaced" in res.summary()
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "b.parquet")
    res = _imp([tmp_path / "b.parquet"], tmp_path / "s2")
    assert res.stats.blank_ids == 2
    assert CorpusStore.open(tmp_path / "s2").read_column("id")[2] == "k"


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "macs", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_cli_exit_status_says_partial(tmp_path, lines):
    raw = b"".join(lines)
    comp = gzip.compress(raw)
    (tmp_path / "cut.jsonl.gz").write_bytes(comp[: len(comp) // 2])
    (tmp_path / "ok.jsonl").write_bytes(raw[: raw.index(b"\n") + 1])
    r = _cli("corpus", "import", "cut.jsonl.gz", "--out", "s", "-q", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: cut.jsonl.gz: the gzip stream ends at byte")
    r = _cli(
        "corpus", "import", "cut.jsonl.gz", "--out", "s", "-q", "--on-error", "skip", cwd=tmp_path
    )
    assert r.returncode == EXIT_PARTIAL == 3, r.stderr
    assert "PARTIAL" in r.stdout and "the import is partial" in r.stderr
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["import"]["partial"]
    r = _cli(
        "corpus", "import", "ok.jsonl", "--out", "s2", "-q", "--on-error", "skip", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr


def test_library_messages_become_one_line(tmp_path):
    """pyarrow's thrift error ends with a newline: the MacsError is still one line (found by
    the long fuzzing profile)."""
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1" + bytes(range(40)) + b"\x08\x00\x00\x00PAR1")
    with pytest.raises(MacsError) as e:
        _imp([path], tmp_path / "s")
    assert "x.parquet: not a readable Parquet file" in str(e.value) and "\n" not in str(e.value)
