"""The fault-injection harness shared by the reliability tests and benchmarks/fault_campaign.py:
valid input files in every format, damaged copies, an importer run that never lets an
exception escape, and oracles of the records that must survive a damage.

An import *survives* a case when it either succeeds with reconciling counts (read = written +
skipped, the store and manifest agreeing) and keeps every valid record the oracle says is
readable, or fails with a one-line MacsError naming the file. Anything else (another
exception, a lost record, counts that do not add up) is a failure the campaign reports.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import traceback
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_corpus.jsonl"
FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet", "arrow", "txt")
LOG_ENV = "MACS_FUZZ_LOG"  # append every case's Outcome as a JSON line here (the campaign)


def fixture_records(n: int = 24) -> list[dict]:
    """The first n records of the committed mini corpus (real text, unique ids)."""
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(x) for x in lines]


Row = tuple[str, str, str]  # (id, text, domain) as stored


@dataclass
class Outcome:
    """What one case did: survived or not, valid records lost, an escaped exception."""

    kind: str
    survived: bool
    lost: int = 0
    traceback: bool = False
    detail: str = ""
    counts: dict = field(default_factory=dict)

    def log(self) -> Outcome:
        """Append this outcome to the campaign log (when MACS_FUZZ_LOG is set); returns self."""
        path = os.environ.get(LOG_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(self)) + "\n")
        return self


# --- valid files ---------------------------------------------------------------------------


def jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")


def write_valid(fmt: str, records: list[dict], path: Path) -> Path:
    """A valid input of `fmt` holding `records` (path's suffix is set from fmt); for txt a
    folder of one file per record."""
    if fmt == "txt":
        path.mkdir(parents=True, exist_ok=True)
        for k, r in enumerate(records):
            (path / f"{k:03d}.txt").write_text(r["text"], encoding="utf-8")
        return path
    path = path.with_name(f"{path.name}.{fmt}")
    raw = jsonl_bytes(records)
    if fmt == "jsonl":
        path.write_bytes(raw)
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress(raw, mtime=0))
    elif fmt == "jsonl.zst":
        path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=6)
    elif fmt == "arrow":
        table = pa.Table.from_pylist(records)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            for b in table.to_batches(max_chunksize=6):
                w.write_batch(b)
    else:
        raise ValueError(fmt)
    return path


def damage(data: bytes, cut: int | None = None, flips: list[tuple[int, int]] = ()) -> bytes:
    """`data` cut to `cut` bytes and with each (position, xor mask) applied."""
    out = bytearray(data if cut is None else data[:cut])
    for pos, mask in flips:
        if out:
            out[pos % len(out)] ^= mask or 1
    return bytes(out)


# --- oracles: the records that must survive --------------------------------------------------


def decodable_prefix(fmt: str, data: bytes) -> tuple[bytes, bool]:
    """(what a decoder fed one byte at a time recovers, whether the stream ended cleanly)."""
    if fmt == "jsonl":
        return data, True
    out = bytearray()
    dec = None
    for i in range(len(data)):
        b = data[i : i + 1]
        if dec is None:
            if fmt == "jsonl.gz" and b == b"\0":
                continue
            dec = zlib.decompressobj(31) if fmt == "jsonl.gz" else _zstd_dec()
        try:
            out += dec.decompress(b)
        except (zlib.error, zstandard.ZstdError):
            return bytes(out), False
        if dec.eof:
            dec = None
    return bytes(out), dec is None


def _zstd_dec():
    return zstandard.ZstdDecompressor().decompressobj()


def jsonl_survivors(fmt: str, data: bytes, originals: list[dict]) -> list[Row]:
    """Original records whose whole line is intact in the decodable part of a damaged JSONL
    file, unless an earlier (damaged) line took their id."""
    text, clean = decodable_prefix(fmt, data)
    lines = text.split(b"\n")
    if not clean or (lines and lines[-1] == b""):
        lines = lines[:-1]  # an unterminated last line is cut by the fault (or is empty)
    wanted = {jsonl_bytes([r])[:-1]: r for r in originals}
    seen: set[str] = set()
    out = []
    for line in lines:
        r = wanted.get(line)
        if r is not None and r["id"] not in seen:
            out.append((r["id"], r["text"], r["domain"]))
        try:
            obj = json.loads(line)
            if isinstance(obj, dict) and isinstance(obj.get("id"), str | int):
                seen.add(str(obj["id"]))
        except ValueError:
            pass
    return out


def table_survivors(fmt: str, path: Path, originals: list[dict]) -> list[Row]:
    """Original rows that pyarrow reads intact (row group by row group, batch by batch, up
    to the first that fails or does not validate) from a damaged Parquet/Arrow file."""
    want = {(r["id"], r["text"], r["domain"]) for r in originals}
    rows: list[Row] = []
    try:
        for t in _oracle_tables(fmt, path):
            t.validate(full=True)
            names = t.column_names
            if not {"id", "text", "domain"} <= set(names):
                break
            for row in zip(
                *(t.column(c).to_pylist() for c in ("id", "text", "domain")), strict=True
            ):
                if row in want:
                    rows.append(row)
    except Exception:  # noqa: BLE001 - the oracle stops where pyarrow stops
        pass
    seen, out = set(), []
    for row in rows:
        if row[0] not in seen:
            out.append(row)
            seen.add(row[0])
    return out


def _oracle_tables(fmt: str, path: Path):
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        for g in range(pf.num_row_groups):
            yield pf.read_row_group(g, columns=["id", "text", "domain"])
        return
    with pa.memory_map(str(path), "r") as src:
        for b in pa.ipc.open_stream(src):
            yield pa.Table.from_batches([b])


def survivors(fmt: str, path: Path, originals: list[dict]) -> list[Row]:
    """The records a correct importer must keep from the (damaged) input at `path`."""
    if fmt.startswith("jsonl"):
        return jsonl_survivors(fmt, path.read_bytes(), originals)
    if fmt in ("parquet", "arrow"):
        return table_survivors(fmt, path, originals)
    out = []
    for k, r in enumerate(originals):
        f = path / f"{k:03d}.txt"
        try:
            text = f.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text == r["text"]:
            out.append((f.as_posix(), text, "default"))
    return out


# --- one import, every outcome caught -------------------------------------------------------


def run_import(
    kind: str,
    inputs: list[Path],
    out: Path,
    must_keep: list[Row],
    on_error: str = "skip",
    **kw,
) -> Outcome:
    """Import `inputs` into `out` and judge it (never raises); `must_keep` are the rows that
    must be in the store when the import succeeds."""
    kw.setdefault("progress", False)
    kw.setdefault("max_chunk_bytes", 0)
    kw.setdefault("heldout_fraction", 0.0)
    shutil.rmtree(out, ignore_errors=True)
    try:
        res = import_corpus([str(p) for p in inputs], out, on_error=on_error, **kw)
    except MacsError as e:
        msg = str(e)
        named = any(p.name in msg for p in inputs) or any(
            f.name in msg for p in inputs if p.is_dir() for f in p.rglob("*")
        )
        ok = "\n" not in msg and named
        return Outcome(kind, ok, detail=("" if ok else "unclear error: ") + msg[:300]).log()
    except Exception as e:  # noqa: BLE001 - the campaign counts these
        tb = traceback.format_exc(limit=6)
        return Outcome(kind, False, traceback=True, detail=f"{type(e).__name__}: {e}\n{tb}").log()
    st = res.stats
    store = CorpusStore.open(out)
    cols = [store.read_column(c) for c in ("id", "text", "domain")]
    stored = set(zip(*cols, strict=True))
    # a valid record repeating an earlier record's text is dropped on purpose (duplicate_texts):
    # it is lost only when its text is not in the store at all
    texts = set(cols[1])
    lost = sum(
        1 for r in must_keep if r not in stored and not (st.duplicate_texts and r[1] in texts)
    )
    manifest = store.manifest["import"]
    counts = {
        "read": st.records_read,
        "written": st.records_written,
        "duplicate_texts": st.duplicate_texts,
        "skipped": dict(st.skipped),
        "faults": dict(st.faults),
    }
    problems = []
    if not st.reconciles():
        problems.append("read != written + skipped")
    if store.n_docs != st.records_written:
        problems.append(f"store has {store.n_docs} docs, {st.records_written} written")
    if manifest["skipped"] != dict(sorted(st.skipped.items())) or manifest["faults"] != dict(
        sorted(st.faults.items())
    ):
        problems.append("manifest counts differ from the summary")
    if lost:
        problems.append(f"{lost} valid records lost")
    return Outcome(kind, not problems, lost=lost, detail="; ".join(problems), counts=counts).log()
