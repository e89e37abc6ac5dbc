"""Streaming readers for corpus inputs: JSONL (plain/.gz/.zst), Parquet, HF save_to_disk
folders (Arrow read with pyarrow), single .arrow files and folders of .txt files.

Every reader yields pyarrow tables with columns `rec` (int64 record number: the 1-based line
for JSONL, the 0-based row for tables, the file's position for text folders), `id`, `text`,
`domain` (id/domain may be null) and reports bad records to an `ImportStats`, which raises
(on_error="raise") or counts them (on_error="skip"). Memory stays bounded by the block size.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from macs.errors import MacsError

BAD_KINDS = (
    "malformed_json",
    "missing_text",
    "non_string_text",
    "empty_text",
    "invalid_utf8",
    "bad_id",
    "duplicate_id",
)
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_STR_OR_NONE = frozenset({str, type(None)})


@dataclass
class FieldSpec:
    """Which input fields hold the text, the id and the domain (None = not present)."""

    text: str = "text"
    id: str | None = "id"
    domain: str | None = "domain"


@dataclass
class ImportStats:
    """Counts of an import: read = written + sum(skipped) always holds for records."""

    on_error: str = "raise"
    files: int = 0
    empty_files: int = 0
    records_read: int = 0
    records_written: int = 0
    docs_written: int = 0
    chunked_records: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def bad(self, kind: str, where: str, problem: str, n: int = 1) -> None:
        """Report `n` bad records of `kind` at `where` (file:line): raise or count."""
        if self.on_error == "raise":
            raise MacsError(
                f"{where}: {problem} ({kind}); fix the input or rerun with --on-error skip "
                "to skip and count such records"
            )
        self.skipped[kind] += n
        ex = self.examples.setdefault(kind, [])
        if len(ex) < 3:
            ex.append(f"{where}: {problem}")

    def empty_file(self, path: str) -> None:
        """A zero-byte (or record-less) input file: raise or count."""
        if self.on_error == "raise":
            raise MacsError(
                f"{path}: the file is empty (0 bytes, no records); remove it from the inputs "
                "or rerun with --on-error skip"
            )
        self.empty_files += 1
        self.examples.setdefault("empty_file", []).append(path)

    def merge(self, other: ImportStats) -> None:
        """Add the counts of a later part of the input (examples kept in input order)."""
        self.empty_files += other.empty_files
        self.records_read += other.records_read
        self.records_written += other.records_written
        self.docs_written += other.docs_written
        self.chunked_records += other.chunked_records
        self.skipped.update(other.skipped)
        for kind, ex in other.examples.items():
            mine = self.examples.setdefault(kind, [])
            mine.extend(ex[: max(0, 3 - len(mine))] if kind != "empty_file" else ex)

    def reconciles(self) -> bool:
        """True when records_read == records_written + skipped records."""
        return self.records_read == self.records_written + sum(self.skipped.values())

    def as_dict(self) -> dict:
        """Plain-dict form for manifests."""
        return {
            "files": self.files,
            "empty_files": self.empty_files,
            "records_read": self.records_read,
            "records_written": self.records_written,
            "records_skipped": sum(self.skipped.values()),
            "docs_written": self.docs_written,
            "chunked_records": self.chunked_records,
            "skipped": dict(sorted(self.skipped.items())),
            "examples": self.examples,
        }


def detect_format(path: Path) -> str:
    """One of jsonl, parquet, arrow, hf, txtdir for an input path (MacsError otherwise)."""
    if path.is_dir():
        if any(
            (path / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")
        ):
            return "hf"
        return "txtdir"
    if not path.exists():
        raise MacsError(f"{path}: no such file or folder")
    name = path.name.lower()
    for comp in ("", ".gz", ".zst", ".zstd"):
        for suf in JSONL_SUFFIXES:
            if name.endswith(suf + comp):
                return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".arrow"):
        return "arrow"
    if name.endswith(".txt"):
        return "txt"
    raise MacsError(
        f"{path}: unknown input format; expected .jsonl/.json (optionally .gz/.zst), .parquet, "
        ".arrow, .txt, a folder of .txt files or an HF save_to_disk folder"
    )


def _open_binary(path: Path):
    """(decompressed binary stream, raw file) for plain, gzip or zstd files."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    if name.endswith((".zst", ".zstd")):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader, buffer_size=1 << 20), raw
    return raw, raw


def _line_blocks(stream, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack a final newline): a read of block_bytes plus
    the rest of its last line (one copy, no carried-over tail)."""
    while True:
        data = stream.read(block_bytes)
        if not data:
            return
        if not data.endswith(b"\n"):
            rest = stream.readline()
            if rest:
                data += rest
        yield data


def _arrow_ok(spec: FieldSpec) -> bool:
    """True when the Arrow fast path can read these fields (distinct names)."""
    names = [n for n in (spec.text, spec.id, spec.domain) if n]
    return len(set(names)) == len(names)


def _one_chunk(col):
    """The single chunk of a column (no copy), or its chunks combined."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _arrow_block(block: bytes, line0: int, n_lines: int, spec: FieldSpec):
    """Parse a block of JSON lines with pyarrow's JSON reader (no Python object per record; the
    GIL is released) into the reader table (rec, id, text, domain). None when any line needs
    the careful path: a line not starting with '{' (blank, indented), invalid UTF-8 anywhere,
    a parse or type error (an int id, a lone surrogate escape, a duplicate key), not exactly
    one object per line, or a null or blank text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    if n_lines == 0 or not block.startswith(b"{"):
        return None
    # every line starts with '{' (numpy, not bytes.count of a 2-byte pattern: that is slow)
    raw = np.frombuffer(block, dtype=np.uint8)
    nl = np.flatnonzero(raw == 10)
    nl = nl[nl + 1 < raw.size]
    if not bool((raw[nl + 1] == 123).all()):
        return None
    names = [n for n in (spec.text, spec.id, spec.domain) if n]
    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(block)])
    try:
        whole.cast(pa.large_string())  # validates the block's UTF-8 (no copy)
        t = pj.read_json(
            pa.BufferReader(block),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(block) + 1),
            parse_options=pj.ParseOptions(
                explicit_schema=pa.schema([(n, pa.string()) for n in names]),
                unexpected_field_behavior="ignore",
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if t.num_rows != n_lines:  # each line starts with '{', so each gave one object or more
        return None
    text = _one_chunk(t.column(spec.text))
    if text.null_count:
        return None
    # blank texts: Python's str.strip() decides, asked only about the short texts
    short = pc.less_equal(pc.binary_length(text), 64)
    if pc.any(short).as_py():
        for x in pc.filter(text, short).to_pylist():
            if not x.strip():
                return None

    def col(name):
        if not name:
            return pa.nulls(n_lines, pa.string())
        return _one_chunk(t.column(name))

    return pa.table(
        {
            "rec": pa.array(np.arange(line0, line0 + n_lines, dtype=np.int64)),
            "id": col(spec.id),
            "text": text,
            "domain": col(spec.domain),
        }
    )


class _Limited:
    """A binary stream that stops after `n` bytes (one worker's part of a file)."""

    def __init__(self, raw, n: int):
        self.raw = raw
        self.left = n

    def read(self, size: int) -> bytes:
        data = self.raw.read(min(size, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.raw.readline(self.left) if self.left > 0 else b""
        self.left -= len(data)
        return data

    def close(self) -> None:
        pass


class Reader:
    """Base class: `tables()` yields validated tables; `progress` is a callable(bytes) or None."""

    def __init__(self, path: Path, spec: FieldSpec, stats: ImportStats, block_bytes: int = 8 << 20):
        self.path = path
        self.label = path.as_posix()
        self.current = self.label  # the file the last yielded table came from
        self.spec = spec
        self.stats = stats
        self.block_bytes = block_bytes

    def tables(self, progress: Callable[[int], None] | None = None) -> Iterator:
        """Yield validated pa.Tables (rec, id, text, domain); progress(n) gets bytes read."""
        raise NotImplementedError


def _string_table(recs, ids, texts, domains):
    import pyarrow as pa

    return pa.table(
        {
            "rec": pa.array(recs, pa.int64()),
            "id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "domain": pa.array(domains, pa.string()),
        }
    )


def validate_table(table, label: str, stats: ImportStats, line_based: bool):
    """Drop (or raise on) rows whose text is null or blank; counts records read."""
    import pyarrow.compute as pc

    stats.records_read += table.num_rows
    text = table.column("text")
    null = pc.is_null(text)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(text, ""))), 0)
    bad = pc.or_(null, blank)
    n_bad = int(pc.sum(bad).as_py() or 0)
    if n_bad == 0:
        return table
    where = "line" if line_based else "row"
    recs = table.column("rec").to_pylist()
    nulls = null.to_pylist()
    for r, is_bad, is_null in zip(recs, bad.to_pylist(), nulls, strict=True):
        if is_bad:
            if is_null:
                stats.bad(
                    "missing_text", f"{label}:{where} {r}", "the text field is missing or null"
                )
            else:
                stats.bad("empty_text", f"{label}:{where} {r}", "the text is empty")
    return table.filter(pc.invert(bad))


class JsonlReader(Reader):
    """JSON Lines (plain, .gz, .zst): a msgspec decoder that reads only the three fields on
    each line; any line it rejects is re-read by the stdlib path that names the problem."""

    def _decoder(self):
        import msgspec

        fields = [("t", str | None, None)]
        rename = {"t": self.spec.text}
        if self.spec.id:
            fields.append(("i", str | int | None, None))
            rename["i"] = self.spec.id
        if self.spec.domain:
            fields.append(("d", str | None, None))
            rename["d"] = self.spec.domain
        rec = msgspec.defstruct("Rec", fields, rename=rename)
        return msgspec.json.Decoder(rec), (msgspec.DecodeError, msgspec.ValidationError)

    # (start byte, end byte, number of the first line) for a worker reading one part of a plain
    # file (starts at a line start); None = the whole file
    byte_range: tuple[int, int, int] | None = None

    # threads parsing blocks with pyarrow's JSON reader (it releases the GIL, so blocks are
    # parsed on several cores); 0 = msgspec in this thread (the least CPU on a busy machine)
    parse_threads: int = 0

    def tables(self, progress=None):
        decoder, errors = self._decoder()
        stream, raw = _open_binary(self.path)
        pool = None
        if self.parse_threads > 0 and _arrow_ok(self.spec):
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(self.parse_threads, thread_name_prefix="macs-jsonl")
        # blocks in flight, in file order: (block, first line, n lines, bytes read, Arrow future)
        pending: deque = deque()
        window = max(1, self.parse_threads)  # bounded memory: a few blocks at a time
        try:
            line0 = 1
            last = 0
            any_data = False
            if self.byte_range is not None:
                start, end, line0 = self.byte_range
                raw.seek(start)
                stream = _Limited(raw, end - start)
                last = start
                any_data = start > 0  # a later part of a non-empty file (no byte-order mark)

            def finish(keep: int):
                # yield the finished oldest blocks' tables until `keep` blocks are in flight
                nonlocal last
                while len(pending) > keep:
                    table, pos = self._finish_block(pending.popleft(), decoder, errors)
                    if progress is not None:
                        progress(pos - last)
                    last = pos
                    if table.num_rows:
                        yield table

            in_flight = window - 1 if pool is not None else 0
            for block in _line_blocks(stream, self.block_bytes):
                if not any_data and block.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark
                    block = block[3:]
                any_data = True
                n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                fut = None
                if pool is not None:
                    fut = pool.submit(_arrow_block, block, line0, n_lines, self.spec)
                pending.append((block, line0, n_lines, raw.tell(), fut))
                line0 += n_lines
                yield from finish(in_flight)
            yield from finish(0)
            if not any_data:
                self.stats.empty_file(self.label)
        finally:
            for item in pending:
                if item[4] is not None:
                    item[4].cancel()
            if pool is not None:
                pool.shutdown(wait=True)
            stream.close()
            raw.close()

    def _finish_block(self, item, decoder, errors):
        """(table, bytes read) of one block: the Arrow result, else msgspec, else line by line."""
        block, line0, n_lines, pos, fut = item
        table = fut.result() if fut is not None else None
        if table is not None:
            self.stats.records_read += n_lines
            return table, pos
        cols = self._block_fast(block, line0, n_lines, decoder, errors)
        if cols is None:
            cols = self._block_lines(block, line0, decoder, errors)
        try:
            table = _string_table(*cols)
        except UnicodeEncodeError:  # a lone surrogate escape somewhere in the block
            table = self._recheck(*cols)
        return table, pos

    def _block_fast(self, block: bytes, line0: int, n_lines: int, decoder, errors):
        """Decode a whole block at once; None if any line needs the careful path."""
        try:
            objs = decoder.decode_lines(block)
        except (*errors, UnicodeDecodeError):
            return None
        if len(objs) != n_lines:  # blank lines were skipped: line numbers would shift
            return None
        has_id, has_dom = bool(self.spec.id), bool(self.spec.domain)
        texts = [r.t for r in objs]
        # C-level checks (map/all/set) instead of a Python loop per record
        if None in texts or "" in texts or any(map(str.isspace, texts)):  # = not t.strip()
            return None
        if has_id:
            ids = [r.i for r in objs]
            if not set(map(type, ids)) <= _STR_OR_NONE:
                for i, x in enumerate(ids):
                    if x is not None and not isinstance(x, str):
                        if isinstance(x, bool):
                            return None
                        ids[i] = str(x)
        else:
            ids = [None] * n_lines
        domains = [r.d for r in objs] if has_dom else [None] * n_lines
        self.stats.records_read += n_lines
        return list(range(line0, line0 + n_lines)), ids, texts, domains

    def _block_lines(self, block: bytes, line0: int, decoder, errors):
        """Decode line by line; lines msgspec rejects go to the stdlib path that names the problem."""
        decode = decoder.decode
        has_id, has_dom = bool(self.spec.id), bool(self.spec.domain)
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        recs, ids, texts, domains = [], [], [], []
        n_fast = 0
        for k, line in enumerate(lines):
            try:
                r = decode(line)
                text = r.t
                if text is None or not text.strip():
                    raise ValueError
                did = r.i if has_id else None
                if did is not None and not isinstance(did, str):
                    if isinstance(did, bool):
                        raise ValueError
                    did = str(did)
            except (*errors, UnicodeDecodeError, ValueError):
                t = self._slow(line, line0 + k)
                if t.num_rows:
                    recs.append(line0 + k)
                    ids.append(t.column("id")[0].as_py())
                    texts.append(t.column("text")[0].as_py())
                    domains.append(t.column("domain")[0].as_py())
                continue
            n_fast += 1
            recs.append(line0 + k)
            ids.append(did)
            texts.append(text)
            domains.append(r.d if has_dom else None)
        self.stats.records_read += n_fast  # _slow counts the lines it reads
        return recs, ids, texts, domains

    def _recheck(self, recs, ids, texts, domains):
        """Drop (or raise on) records whose text cannot be UTF-8 encoded (unpaired surrogates)."""
        keep = []
        for k, t in enumerate(texts):
            try:
                t.encode("utf-8")
                keep.append(k)
            except UnicodeEncodeError:
                where = f"{self.label}:line {recs[k]}"
                self.stats.bad("invalid_utf8", where, "the text holds an unpaired surrogate escape")

        def pick(xs):
            return [xs[k] for k in keep]

        return _string_table(pick(recs), pick(ids), pick(texts), pick(domains))

    def _slow(self, block: bytes, line0: int):
        """Parse line by line, reporting each bad record with its line number."""
        st, spec, label = self.stats, self.spec, self.label
        recs, ids, texts, domains = [], [], [], []
        for k, rawline in enumerate(block.split(b"\n")):
            if not rawline.strip():
                continue
            ln = line0 + k
            where = f"{label}:line {ln}"
            st.records_read += 1
            try:
                s = rawline.decode("utf-8")
            except UnicodeDecodeError as e:
                st.bad("invalid_utf8", where, f"invalid UTF-8 at byte {e.start}")
                continue
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                st.bad("malformed_json", where, f"malformed JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                st.bad("malformed_json", where, f"expected a JSON object, got {type(obj).__name__}")
                continue
            text = obj.get(spec.text)
            if text is None:
                st.bad("missing_text", where, f"no {spec.text!r} field (or it is null)")
                continue
            if not isinstance(text, str):
                st.bad(
                    "non_string_text",
                    where,
                    f"{spec.text!r} is a {type(text).__name__}, not a string",
                )
                continue
            if not text.strip():
                st.bad("empty_text", where, "the text is empty")
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                st.bad("invalid_utf8", where, "the text holds an unpaired surrogate escape")
                continue
            did = obj.get(spec.id) if spec.id else None
            if did is not None and not isinstance(did, str):
                if isinstance(did, int) and not isinstance(did, bool):
                    did = str(did)
                else:
                    st.bad(
                        "bad_id",
                        where,
                        f"{spec.id!r} is a {type(did).__name__}; use a string or int",
                    )
                    continue
            dom = obj.get(spec.domain) if spec.domain else None
            if dom is not None and not isinstance(dom, str):
                dom = str(dom)
            recs.append(ln)
            ids.append(did)
            texts.append(text)
            domains.append(dom)
        return _string_table(recs, ids, texts, domains)


def _table_columns(table, spec: FieldSpec, label: str, stats: ImportStats, row0: int):
    """Map a pyarrow table from Parquet/Arrow to rec/id/text/domain with type checks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    names = table.column_names
    if spec.text not in names:
        raise MacsError(
            f"{label}: no column {spec.text!r} (columns: {', '.join(names)}); "
            "name the text column with --text-field"
        )
    text = table.column(spec.text)
    if pa.types.is_dictionary(text.type) and pa.types.is_string(text.type.value_type):
        text = text.cast(pa.string())
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    elif pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        vals = []
        for r, v in enumerate(text.to_pylist()):
            if v is None:
                vals.append(None)
                continue
            try:
                vals.append(v.decode("utf-8"))
            except UnicodeDecodeError:
                stats.records_read += 1
                stats.bad("invalid_utf8", f"{label}:row {row0 + r}", "invalid UTF-8 in text")
                vals.append("\x00__macs_drop__")
        text = pa.array(vals, pa.string())
    elif not pa.types.is_string(text.type):
        stats.records_read += n
        stats.bad(
            "non_string_text",
            f"{label}:row {row0}",
            f"column {spec.text!r} has type {text.type}",
            n=n,
        )
        return None

    def opt(fname):
        if not fname or fname not in names:
            return pa.nulls(n, pa.string())
        col = table.column(fname)
        if not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        return col

    out = pa.table(
        {
            "rec": pa.array(range(row0, row0 + n), pa.int64()),
            "id": opt(spec.id),
            "text": text,
            "domain": opt(spec.domain),
        }
    )
    if pa.types.is_binary(table.column(spec.text).type) or pa.types.is_large_binary(
        table.column(spec.text).type
    ):
        keep = pc.not_equal(pc.fill_null(out.column("text"), ""), "\x00__macs_drop__")
        out = out.filter(keep)  # the dropped rows were counted as read + skipped above
    return out


class ParquetReader(Reader):
    """Parquet files, streamed by record batch."""

    def tables(self, progress=None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.path.stat().st_size == 0:
            self.stats.empty_file(self.label)
            return
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as e:
            raise MacsError(f"{self.label}: not a readable Parquet file ({e})") from e
        cols = [
            c
            for c in (self.spec.text, self.spec.id, self.spec.domain)
            if c and c in pf.schema_arrow.names
        ]
        total = pf.metadata.num_rows
        size = self.path.stat().st_size
        row0 = 0
        for batch in pf.iter_batches(batch_size=8192, columns=cols or None):
            t = _table_columns(
                pa.Table.from_batches([batch]), self.spec, self.label, self.stats, row0
            )
            row0 += batch.num_rows
            if progress is not None and total:
                progress(int(size * batch.num_rows / total))
            if t is None:
                continue
            t = validate_table(t, self.label, self.stats, False)
            if t.num_rows:
                yield t
        if total == 0:
            self.stats.empty_file(self.label)


def _arrow_batches(path: Path):
    """Record batches of an Arrow IPC file (stream format as HF writes, or file format)."""
    import pyarrow as pa

    with pa.memory_map(str(path), "r") as src:
        try:
            reader = pa.ipc.open_stream(src)
        except pa.ArrowInvalid:
            src.seek(0)
            f = pa.ipc.open_file(src)
            for i in range(f.num_record_batches):
                yield f.get_batch(i)
            return
        yield from reader


class ArrowReader(Reader):
    """A single .arrow file or an HF `save_to_disk` folder (Dataset or DatasetDict)."""

    def arrow_files(self) -> list[Path]:
        """The .arrow files of this input (every split of a DatasetDict, in order)."""
        p = self.path
        if p.is_file():
            return [p]
        if (p / "dataset_dict.json").exists():
            splits = json.loads((p / "dataset_dict.json").read_text())["splits"]
            out = []
            for s in splits:
                out.extend(ArrowReader(p / s, self.spec, self.stats).arrow_files())
            return out
        state = p / "state.json"
        if state.exists():
            files = json.loads(state.read_text()).get("_data_files", [])
            return [p / f["filename"] for f in files]
        return sorted(p.glob("*.arrow"))

    def tables(self, progress=None):
        import pyarrow as pa

        files = self.arrow_files()
        if not files:
            raise MacsError(
                f"{self.label}: no .arrow files found (is it an HF save_to_disk folder?)"
            )
        for f in files:
            label = f.as_posix()
            self.current = label
            if f.stat().st_size == 0:
                self.stats.empty_file(label)
                continue
            row0 = 0
            n_rows = 0
            try:
                batches = _arrow_batches(f)
                for batch in batches:
                    n_rows += batch.num_rows
                    t = _table_columns(
                        pa.Table.from_batches([batch]), self.spec, label, self.stats, row0
                    )
                    row0 += batch.num_rows
                    if t is None:
                        continue
                    t = validate_table(t, label, self.stats, False)
                    if t.num_rows:
                        yield t
            except pa.ArrowInvalid as e:
                raise MacsError(f"{label}: not a readable Arrow file ({e})") from e
            if progress is not None:
                progress(f.stat().st_size)
            if n_rows == 0:
                self.stats.empty_file(label)


class TextReader(Reader):
    """A folder of .txt files (recursively, sorted) or one .txt file: one record per file;
    `rec` is the file's position and the generated id is the file's path."""

    def files(self) -> list[Path]:
        """The .txt files of this input, sorted."""
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*.txt") if p.is_file())

    def tables(self, progress=None):
        files = self.files()
        if not files:
            raise MacsError(f"{self.label}: no .txt files in this folder")
        recs, ids, texts, domains = [], [], [], []
        buf = 0
        for k, f in enumerate(files):
            label = f.as_posix()
            data = f.read_bytes()
            if progress is not None:
                progress(len(data))
            if not data:
                self.stats.empty_file(label)
                continue
            self.stats.records_read += 1
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                self.stats.bad("invalid_utf8", label, f"invalid UTF-8 at byte {e.start}")
                continue
            if not text.strip():
                self.stats.bad("empty_text", label, "the file holds only whitespace")
                continue
            recs.append(k)
            ids.append(label)
            texts.append(text)
            domains.append(None)
            buf += len(data)
            if buf >= self.block_bytes:
                yield _string_table(recs, ids, texts, domains)
                recs, ids, texts, domains, buf = [], [], [], [], 0
        if recs:
            yield _string_table(recs, ids, texts, domains)


def make_reader(
    path: str | os.PathLike, spec: FieldSpec, stats: ImportStats, block_bytes: int = 8 << 20
) -> Reader:
    """The reader for an input path (format detected from the name or folder contents)."""
    p = Path(path)
    fmt = detect_format(p)
    cls = {
        "jsonl": JsonlReader,
        "parquet": ParquetReader,
        "arrow": ArrowReader,
        "hf": ArrowReader,
        "txtdir": TextReader,
        "txt": TextReader,
    }[fmt]
    return cls(p, spec, stats, block_bytes)


def input_size(path: str | os.PathLike) -> int:
    """Bytes on disk of an input (summed over a folder)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0
