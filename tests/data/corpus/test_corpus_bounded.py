"""Bounded memory per record (issue 22): a line over the record limit is a bad record
(record_too_large) read past in bounded pieces, never held whole; a decompression step's output
is bounded (a small .zst/.gz bomb expanding to many MB of newlines or to one line); a record
nested too deeply to parse is a bad record (too_deep), not a RecursionError."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore
from macs.data.corpus.streams import DecodedStream, LongLine, line_blocks

MB = 1 << 20


def _imp(inputs, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("max_chunk_bytes", 0)
    return import_corpus([str(p) for p in inputs], out, **kw)


def _write(path: Path, data: bytes) -> Path:
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=1)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def _rec(i: int, text: str) -> bytes:
    return json.dumps({"id": f"d{i}", "text": text}).encode() + b"\n"


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_line_over_the_limit_is_a_counted_bad_record(tmp_path, suffix):
    big = _rec(2, "x" * (3 * MB))
    last = _rec(4, "w" * (3 * MB)).rstrip(b"\n")  # the last line has no newline
    data = _rec(1, "first") + big + _rec(3, "third") + last
    path = _write(tmp_path / f"in{suffix}", data)
    with pytest.raises(MacsError, match=r"line 2: the line is 3,145,7\d\d bytes, over the "):
        _imp([path], tmp_path / "s", max_record_mb=1)
    res = _imp([path], tmp_path / "s", max_record_mb=1, on_error="skip")
    st = res.stats
    assert dict(st.skipped) == {"record_too_large": 2} and st.reconciles()
    assert CorpusStore.open(tmp_path / "s").read_column("id") == ["d1", "d3"]
    res = _imp([path], tmp_path / "s2", max_record_mb=4)  # under a higher limit it is kept
    assert res.stats.records_written == 4


def test_long_lines_inside_one_block_are_found(tmp_path):
    """A block bigger than the limit holds a long line whole: it is still refused."""
    data = _rec(1, "a") + _rec(2, "y" * 5000) + _rec(3, "b")
    with open(_write(tmp_path / "p.jsonl", data), "rb") as f:
        blocks = list(line_blocks(f, 1 << 16, 4096))
    kinds = [type(b).__name__ for b in blocks]
    assert kinds == ["bytes", "LongLine", "bytes"], kinds
    assert blocks[0] == _rec(1, "a") and blocks[2] == _rec(3, "b")
    assert blocks[1].n_bytes == len(_rec(2, "y" * 5000)) - 1


def test_decoded_stream_step_output_is_bounded(tmp_path):
    """64 MB of newlines in a 2 KB .zst: the decoder's buffer never holds the whole expansion."""
    comp = zstandard.ZstdCompressor(level=19).compress(b"\n" * (64 * MB))
    path = tmp_path / "bomb.jsonl.zst"
    path.write_bytes(comp)
    assert len(comp) < 8192
    with open(path, "rb") as raw:
        s = DecodedStream(raw, "zstd")
        most = 0
        while s.read(2 * MB):
            most = max(most, len(s.buf))
    assert most < 40 * MB, most


def test_one_line_bomb_skips_in_bounded_pieces(tmp_path):
    comp = zstandard.ZstdCompressor(level=19).compress(b"z" * (48 * MB) + b"\n" + _rec(9, "ok"))
    path = tmp_path / "line.jsonl.zst"
    path.write_bytes(comp)
    with open(path, "rb") as raw:
        out = list(line_blocks(DecodedStream(raw, "zstd"), 2 * MB, 1 * MB))
    assert isinstance(out[0], LongLine) and out[0].n_bytes == 48 * MB
    assert out[1:] == [_rec(9, "ok")]


# peak RSS from VmHWM (ru_maxrss would include the forking pytest process's, kept over exec)
BOMB = """
import sys
from macs.data.corpus.importer import import_corpus
path, out = sys.argv[1], sys.argv[2]
res = import_corpus([path], out, on_error="skip", progress=False, max_record_mb=1)
hwm = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0].split()[1]
print(res.stats.records_written, dict(res.stats.skipped), res.stats.empty_files, int(hwm) // 1024)
"""


@pytest.mark.parametrize("shape", ["newlines", "one_line"])
def test_import_of_a_bomb_stays_bounded(tmp_path, shape):
    """A .zst expanding to 128 MB (of newlines, or one line): the import's peak RSS stays
    bounded (the old decoder buffered a whole 64 KB step's output, here all of it, and the
    reader then held the one line whole)."""
    cctx = zstandard.ZstdCompressor(level=19)
    path = tmp_path / f"{shape}.jsonl.zst"
    with open(path, "wb") as f, cctx.stream_writer(f) as w:
        w.write(_rec(1, "before"))
        piece = (b"\n" if shape == "newlines" else b"q") * (16 * MB)
        for _ in range(8):
            w.write(piece)
        w.write(b"\n" + _rec(2, "after"))
    assert path.stat().st_size < 64 * 1024
    r = subprocess.run(
        [sys.executable, "-c", BOMB, str(path), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    fields = r.stdout.split()
    assert fields[0] == "2", r.stdout
    if shape == "one_line":
        assert "'record_too_large': 1" in r.stdout
    assert int(fields[-1]) < 300, r.stdout  # MB of peak RSS for a 128 MB expansion


def test_deeply_nested_record_is_a_counted_bad_record(tmp_path):
    deep = b'{"id": "deep", "text": "t", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    data = _rec(1, "kept") + deep + _rec(3, "kept too")
    path = _write(tmp_path / "deep.jsonl", data)
    with pytest.raises(MacsError, match=r"deep.jsonl:line 2: the JSON is nested too deeply"):
        _imp([path], tmp_path / "s")
    res = _imp([path], tmp_path / "s", on_error="skip")
    assert dict(res.stats.skipped) == {"too_deep": 1} and res.stats.reconciles()
    assert CorpusStore.open(tmp_path / "s").read_column("id") == ["d1", "d3"]
