"""Streaming readers for corpus inputs: JSONL (plain/.gz/.zst) here; Parquet, HF save_to_disk
folders (Arrow read with pyarrow), single .arrow files and folders of .txt files in
`macs.data.corpus.columnar`, which also holds `make_reader` (the reader for a path, any format);
this module never imports it.

Every reader yields pyarrow tables with columns `rec` (int64 record number: the 1-based line
for JSONL, the 0-based row for tables, the file's position for text folders), `id`, `text`,
`domain` (id/domain may be null) and reports bad records to an `ImportStats`, which raises
(on_error="raise") or counts them (on_error="skip"), and damaged files (truncated or corrupt
streams) as faults: the records before the fault are kept. Memory stays bounded by the
block size.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from macs.core.errors import MacsError
from macs.data.corpus.stats import BAD_KINDS, FAULT_KINDS, ImportStats
from macs.data.corpus.streams import LongLine, StreamFault, line_blocks, open_binary

__all__ = [
    "BAD_KINDS",
    "FAULT_KINDS",
    "FieldSpec",
    "ImportStats",
    "JsonlReader",
    "Reader",
    "detect_format",
    "expand_inputs",
    "input_size",
]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_STR_OR_NONE = frozenset({str, type(None)})


@dataclass
class FieldSpec:
    """Which input fields hold the text, the id and the domain (None = not present)."""

    text: str = "text"
    id: str | None = "id"
    domain: str | None = "domain"  # a dotted path (meta.kind) names a field of a nested object
    require_domain: bool = False  # a record without the domain field is a bad record
    meta: str | None = None  # JSONL: a field whose value is kept as JSON text (column "meta")

    @property
    def domain_path(self) -> list[str]:
        return self.domain.split(".") if self.domain else []


def dig(obj, path: list[str]):
    """obj[path[0]][path[1]]... (None where a step is missing or not an object)."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


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


def _arrow_ok(spec: FieldSpec) -> bool:
    """True when the Arrow fast path can read these fields (distinct top-level names)."""
    names = [n for n in (spec.text, spec.id, spec.domain) if n]
    nested = len(spec.domain_path) > 1 or spec.require_domain or bool(spec.meta)
    return len(set(names)) == len(names) and not nested


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

    def readline(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        data = self.raw.readline(n) if n > 0 else b""
        self.left -= len(data)
        return data

    def close(self) -> None:
        pass


MAX_RECORD_BYTES = 64 << 20  # default limit of one record (a JSONL line): larger is a bad record


class Reader:
    """Base class: `tables()` yields validated tables; `progress` is a callable(bytes) or None."""

    max_record_bytes: int = MAX_RECORD_BYTES  # 0 = no limit

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


def _a(word: str) -> str:
    """'a list', 'an int': the article a message needs before a type name."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _unencodable(text: str, did: str | None, dom: str | None) -> tuple[str, str] | None:
    """(kind, problem) when the text, id or domain holds an unpaired surrogate (not UTF-8)."""
    for value, kind, name in (
        (text, "invalid_utf8", "text"),
        (did, "bad_id", "id"),
        (dom, "invalid_utf8", "domain"),
    ):
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return kind, f"the {name} holds an unpaired surrogate escape"
    return None


def _raw_text(raw) -> str | None:
    """A msgspec.Raw JSON value as text (None for an absent or null one)."""
    if raw is None:
        return None
    t = bytes(raw).decode("utf-8", errors="replace")
    return None if t == "null" else t


def _string_table(recs, ids, texts, domains, metas=None):
    import pyarrow as pa

    cols = {
        "rec": pa.array(recs, pa.int64()),
        "id": pa.array(ids, pa.string()),
        "text": pa.array(texts, pa.string()),
        "domain": pa.array(domains, pa.string()),
    }
    if metas is not None:
        cols["meta"] = pa.array(metas, pa.string())
    return pa.table(cols)


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
        path = self.spec.domain_path
        if path and path[0] == self.spec.meta:  # the domain is read from the kept meta value
            path = []
        if path:  # a dotted path: one nested struct per level, the value in its field "v"
            leaf: object = str | None
            for k, key in enumerate(reversed(path[1:])):
                leaf = msgspec.defstruct(f"Dom{k}", [("v", leaf, None)], rename={"v": key}) | None
            fields.append(("d", leaf, None))
            rename["d"] = path[0]
        if self.spec.meta:
            fields.append(("m", msgspec.Raw | None, None))
            rename["m"] = self.spec.meta
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
        try:
            stream, raw = open_binary(self.path)
        except OSError as e:
            self.stats.fault("unreadable_file", self.label, f"cannot open the file: {e}")
            return
        pool = None
        if self.parse_threads > 0 and _arrow_ok(self.spec):
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(self.parse_threads, thread_name_prefix="macs-jsonl")
        # blocks in flight, in file order: (block, first line, n lines, bytes read, Arrow future)
        pending: deque = deque()
        window = max(1, self.parse_threads)  # bounded memory: a few blocks at a time
        read0 = self.stats.records_read
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
            fault = None
            try:
                for block in line_blocks(stream, self.block_bytes, self.max_record_bytes):
                    if isinstance(block, LongLine):
                        any_data = True
                        self._too_large(block.n_bytes, line0)
                        line0 += 1
                        continue
                    if not any_data and block.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark
                        block = block[3:]
                    any_data = True
                    n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                    if not block.strip():  # only blank lines (say a bomb of newlines): no records
                        line0 += n_lines
                        continue
                    fut = None
                    if pool is not None:
                        fut = pool.submit(_arrow_block, block, line0, n_lines, self.spec)
                    pending.append((block, line0, n_lines, raw.tell(), fut))
                    del block  # held by `pending` only, freed once parsed
                    line0 += n_lines
                    yield from finish(in_flight)
            except StreamFault as f:
                fault = f
            except OSError as e:  # an I/O error reading a plain file
                fault = StreamFault("unreadable_file", raw.tell(), f"read error: {e}")
            yield from finish(0)
            if fault is not None:
                self._report_fault(fault, line0 - 1)
            elif not any_data:
                self.stats.empty_file(self.label)
            elif self.byte_range is None and self.stats.records_read == read0:
                self.stats.empty_file(self.label, "only blank lines, no records")
        finally:
            for item in pending:
                if item[4] is not None:
                    item[4].cancel()
            if pool is not None:
                pool.shutdown(wait=True)
            stream.close()
            raw.close()

    def _too_large(self, n_bytes: int, line: int) -> None:
        """A line over max_record_bytes: a bad record (raise or count), read past, never held."""
        self.stats.records_read += 1
        self.stats.bad(
            "record_too_large",
            f"{self.label}:line {line}",
            f"the line is {n_bytes:,} bytes, over the {self.max_record_bytes:,}-byte limit of "
            "one record (corpus.max_record_mb / --max-record-mb)",
        )

    def _report_fault(self, f: StreamFault, last_line: int) -> None:
        """A damaged stream after `last_line` whole lines: raise or count (those lines are kept)."""
        where = [f"after line {last_line}"] if last_line else []
        if f.partial:
            where.append(f"line {last_line + 1} is cut off after {len(f.partial)} bytes")
        problem = f"{f.problem} ({'; '.join(where)})" if where else f.problem
        kept = f"the {last_line} lines before it" if last_line else ""
        self.stats.fault(f.kind, self.label, problem, kept=kept)

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
        except (*errors, UnicodeDecodeError, RecursionError):
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
        try:
            domains = [self._dom(r) for r in objs] if has_dom else [None] * n_lines
        except (*errors, RecursionError):  # a domain inside a meta value too deep to decode
            return None
        if self.spec.require_domain and None in domains:
            return None  # the careful path names the records without one
        self.stats.records_read += n_lines
        recs = list(range(line0, line0 + n_lines))
        if self.spec.meta:
            metas = [r.m for r in objs]
            if metas.count(None) < n_lines:  # any record with a meta value
                metas = [_raw_text(m) for m in metas]
            return recs, ids, texts, domains, metas
        return recs, ids, texts, domains

    def _block_lines(self, block: bytes, line0: int, decoder, errors):
        """Decode line by line; lines msgspec rejects go to the stdlib path that names the problem."""
        decode = decoder.decode
        has_id, has_dom = bool(self.spec.id), bool(self.spec.domain)
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        recs, ids, texts, domains = [], [], [], []
        metas: list | None = [] if self.spec.meta else None
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
                dom = self._dom(r) if has_dom else None
                if dom is None and self.spec.require_domain:
                    raise ValueError
            except (*errors, UnicodeDecodeError, ValueError, RecursionError):
                if not line.strip():  # a blank line: no record (as _slow, without its table)
                    continue
                t = self._slow(line, line0 + k)
                if t.num_rows:
                    recs.append(line0 + k)
                    ids.append(t.column("id")[0].as_py())
                    texts.append(t.column("text")[0].as_py())
                    domains.append(t.column("domain")[0].as_py())
                    if metas is not None:
                        metas.append(t.column("meta")[0].as_py())
                continue
            n_fast += 1
            recs.append(line0 + k)
            ids.append(did)
            texts.append(text)
            domains.append(dom)
            if metas is not None:
                metas.append(_raw_text(r.m))
        self.stats.records_read += n_fast  # _slow counts the lines it reads
        if metas is not None:
            return recs, ids, texts, domains, metas
        return recs, ids, texts, domains

    def _dom(self, r):
        """The domain of a decoded record (its nested field for a dotted path)."""
        path = self.spec.domain_path
        if path[0] == self.spec.meta:  # a field inside the meta value (decoded here)
            import msgspec

            d = dig(msgspec.json.decode(bytes(r.m)), path[1:]) if r.m is not None else None
            return d if d is None or isinstance(d, str) else str(d)
        d = r.d
        for _ in range(len(self.spec.domain_path) - 1):
            if d is None:
                return None
            d = d.v
        return d

    def _recheck(self, recs, ids, texts, domains, metas=None):
        """Drop (or raise on) records whose text, id or domain cannot be UTF-8 encoded (an
        unpaired surrogate escape such as "\\ud800")."""
        keep = []
        for k, (t, i, d) in enumerate(zip(texts, ids, domains, strict=True)):
            bad = _unencodable(t, i, d)
            if bad is None:
                keep.append(k)
            else:
                self.stats.bad(bad[0], f"{self.label}:line {recs[k]}", bad[1])

        def pick(xs):
            return [xs[k] for k in keep]

        m = None if metas is None else pick(metas)
        return _string_table(pick(recs), pick(ids), pick(texts), pick(domains), m)

    def _slow(self, block: bytes, line0: int):
        """Parse line by line, reporting each bad record with its line number."""
        st, spec, label = self.stats, self.spec, self.label
        recs, ids, texts, domains = [], [], [], []
        metas: list | None = [] if spec.meta else None
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
                st.bad("malformed_json", where, f"malformed JSON ({e.msg}: column {e.colno})")
                continue
            except RecursionError:  # the parser's nesting limit (Python's recursion limit)
                st.bad("too_deep", where, "the JSON is nested too deeply to parse")
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
                    f"{spec.text!r} is {_a(type(text).__name__)}, not a string",
                )
                continue
            if not text.strip():
                st.bad("empty_text", where, "the text is empty")
                continue
            did = obj.get(spec.id) if spec.id else None
            if did is not None and not isinstance(did, str):
                if isinstance(did, int) and not isinstance(did, bool):
                    did = str(did)
                else:
                    st.bad(
                        "bad_id",
                        where,
                        f"{spec.id!r} is {_a(type(did).__name__)}; use a string or int",
                    )
                    continue
            dom = dig(obj, spec.domain_path) if spec.domain else None
            if dom is None and spec.require_domain:
                st.bad(
                    "missing_domain",
                    where,
                    f"no {spec.domain!r} field (or it is null); --domain-field names a field "
                    "every record must have (leave it out to use --domain for all)",
                )
                continue
            if dom is not None and not isinstance(dom, str):
                dom = str(dom)
            bad = _unencodable(text, did, dom)
            if bad is not None:
                st.bad(bad[0], where, bad[1])
                continue
            if metas is not None:
                m = obj.get(spec.meta)
                try:
                    m = None if m is None else json.dumps(m, ensure_ascii=False)
                    if m is not None:
                        m.encode("utf-8")
                except (ValueError, RecursionError, UnicodeEncodeError):
                    st.bad("malformed_json", where, f"the {spec.meta!r} value cannot be kept")
                    continue
                metas.append(m)
            recs.append(ln)
            ids.append(did)
            texts.append(text)
            domains.append(dom)
        return _string_table(recs, ids, texts, domains, metas)


DATA_SUFFIXES = tuple(s + c for s in JSONL_SUFFIXES for c in ("", ".gz", ".zst", ".zstd")) + (
    ".parquet",
    ".arrow",
)


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Inputs with each plain folder (not an HF save_to_disk folder) that holds no .txt files
    replaced by its data files (.jsonl/.json/.ndjson, compressed too, .parquet, .arrow; sorted,
    searched recursively); a folder with neither is a one-line MacsError."""
    out: list[Path] = []
    for p in paths:
        if not p.is_dir() or detect_format(p) != "txtdir" or any(p.rglob("*.txt")):
            out.append(p)
            continue
        found = sorted(
            f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(DATA_SUFFIXES)
        )
        if not found:
            raise MacsError(
                f"{p}: no input files in this folder (looked for .txt, .jsonl/.json/.ndjson "
                "(optionally .gz/.zst), .parquet and .arrow files)"
            )
        out += found
    return out


def input_size(path: str | os.PathLike) -> int:
    """Bytes on disk of an input (summed over a folder)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0
