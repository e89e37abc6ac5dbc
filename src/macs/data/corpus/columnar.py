"""Readers of columnar and text inputs: Parquet files, Arrow IPC files and HF save_to_disk
folders (read with pyarrow, every batch validated in full before use), folders of .txt files.
A damaged file (a cut or corrupt Parquet footer or page, an Arrow stream without its end
marker, an unreadable file) is a fault: the rows before it are kept (see ImportStats.fault).
`make_reader` picks the reader for any input path (JSONL ones live in `macs.data.corpus.readers`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from macs.core.errors import MacsError
from macs.data.corpus.readers import FieldSpec, JsonlReader, Reader, _string_table, detect_format
from macs.data.corpus.stats import ImportStats


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


class _Damaged(Exception):
    """A batch whose buffers are inconsistent (bad offsets): the file is corrupt from here."""


def _checked(table, label: str, stats: ImportStats, row0: int):
    """Fully validate a batch read from a file (offsets, UTF-8) before any kernel touches it:
    (table, None) when valid, else (the rows without invalid UTF-8, their positions); those
    rows are skipped as invalid_utf8 (counted as read). _Damaged when the buffers are broken."""
    import pyarrow as pa

    try:
        table.validate(full=True)
        return table, None
    except (pa.ArrowException, ValueError):
        pass
    as_bytes = {}
    for name in table.column_names:  # strings viewed as bytes: checks offsets, not UTF-8
        col = table.column(name)
        if pa.types.is_string(col.type):
            col = col.cast(pa.binary())
        elif pa.types.is_large_string(col.type):
            col = col.cast(pa.large_binary())
        try:
            col.validate(full=True)
        except (pa.ArrowException, ValueError) as e:
            raise _Damaged(f"column {name!r}: {e}") from e
        as_bytes[name] = col
    keep = [True] * table.num_rows
    for name, col in as_bytes.items():
        if col.type == table.column(name).type:
            continue  # not a string column
        for r, v in enumerate(col.to_pylist()):
            if v is None or not keep[r]:
                continue
            try:
                v.decode("utf-8")
            except UnicodeDecodeError as e:
                keep[r] = False
                stats.records_read += 1
                where = f"{label}:row {row0 + r}"
                stats.bad("invalid_utf8", where, f"invalid UTF-8 in {name!r} at byte {e.start}")
    rows = [r for r, k in enumerate(keep) if k]
    idx = pa.array(rows, pa.int64())
    good = pa.table({n: c.take(idx).cast(table.column(n).type) for n, c in as_bytes.items()})
    return good, rows


def _table_columns(table, spec: FieldSpec, label: str, stats: ImportStats, row0: int):
    """Map a pyarrow table from Parquet/Arrow to rec/id/text/domain with type checks (every
    batch validated in full first); None when the whole batch was skipped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    names = table.column_names
    if spec.text not in names:
        raise MacsError(
            f"{label}: no column {spec.text!r} (columns: {', '.join(names)}); "
            "name the text column with --text-field"
        )
    if spec.require_domain and spec.domain not in names:
        raise MacsError(
            f"{label}: no column {spec.domain!r} (columns: {', '.join(names)}); name the "
            "domain column with --domain-field (or leave it out to use --domain for all)"
        )
    table = table.select(
        [c for c in dict.fromkeys((spec.text, spec.id, spec.domain)) if c in names]
    )
    table, rows = _checked(table, label, stats, row0)
    if rows is None:
        recs = pa.array(range(row0, row0 + n), pa.int64())
    else:
        recs = pa.array([row0 + r for r in rows], pa.int64())
        n = table.num_rows
    text = table.column(spec.text)
    if pa.types.is_dictionary(text.type) and pa.types.is_string(text.type.value_type):
        text = text.cast(pa.string())
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    elif pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        vals, keep = [], []
        for r, v in enumerate(text.to_pylist()):
            try:
                vals.append(None if v is None else v.decode("utf-8"))
                keep.append(r)
            except UnicodeDecodeError as e:
                stats.records_read += 1
                where = f"{label}:row {recs[r].as_py()}"
                stats.bad("invalid_utf8", where, f"invalid UTF-8 in text at byte {e.start}")
        text = pa.array(vals, pa.string())
        idx = pa.array(keep, pa.int64())
        table, recs, n = table.take(idx), recs.take(idx), len(keep)
    elif not pa.types.is_string(text.type):
        stats.records_read += n
        stats.bad(
            "non_string_text",
            f"{label}:row {row0}",
            f"column {spec.text!r} has type {text.type}",
            n=n,
        )
        return None

    def opt(fname, flag):
        if not fname or fname not in names:
            return pa.nulls(n, pa.string())
        col = table.column(fname)
        if pa.types.is_string(col.type):
            return col
        try:
            return pc.cast(col, pa.string())
        except (pa.ArrowException, ValueError) as e:
            raise MacsError(
                f"{label}: column {fname!r} has type {col.type}, which cannot be read as a "
                f"string; name another column with {flag} (or '' for none)"
            ) from e

    return pa.table(
        {
            "rec": recs,
            "id": opt(spec.id, "--id-field"),
            "text": text,
            "domain": opt(spec.domain, "--domain-field"),
        }
    )


_ERRORS: tuple = ()


def _read_errors() -> tuple:
    """The exceptions pyarrow raises on a damaged file."""
    global _ERRORS
    if not _ERRORS:
        import pyarrow as pa

        _ERRORS = (
            pa.ArrowException,
            OSError,
            ValueError,
            MemoryError,
            EOFError,
            IndexError,
            _Damaged,
        )
    return _ERRORS


def _parquet_kind(path: Path) -> str:
    """truncated_file when the file starts like Parquet but lacks its closing magic bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(0, path.stat().st_size - 4))
        tail = f.read(4)
    return "truncated_file" if head == b"PAR1" and tail != b"PAR1" else "corrupt_file"


class ParquetReader(Reader):
    """Parquet files, streamed by record batch within each row group; a damaged footer or row
    group is a fault (the rows before it are kept)."""

    def tables(self, progress=None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.path.stat().st_size == 0:
            self.stats.empty_file(self.label)
            return
        try:
            pf = pq.ParquetFile(self.path)
            names = pf.schema_arrow.names
            total = pf.metadata.num_rows
            n_groups = pf.num_row_groups
        except _read_errors() as e:
            kind = _parquet_kind(self.path)
            what = (
                "cut short (no footer)"
                if kind == "truncated_file"
                else "not a readable Parquet file"
            )
            self.stats.fault(kind, self.label, f"{what}: {e}")
            return
        cols = [c for c in (self.spec.text, self.spec.id, self.spec.domain) if c and c in names]
        size = self.path.stat().st_size
        row0 = 0
        for g in range(n_groups):
            try:
                for batch in pf.iter_batches(batch_size=8192, row_groups=[g], columns=cols or None):
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
            except _read_errors() as e:
                where = f"{self.label}: row group {g} (from row {row0})"
                self.stats.fault(
                    "corrupt_file", where, f"cannot be read: {e}", kept=f"the {row0} rows before it"
                )
                return
        if total == 0:
            self.stats.empty_file(self.label)


_CUT = re.compile(r"Expected to (be able to )?read \d+ .*(got|only read) \d+")
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # the end-of-stream marker of the Arrow IPC format


class _NoEnd(Exception):
    """An Arrow IPC stream that stops without its end-of-stream marker (or with bytes after it)."""


def _arrow_batches(src, size: int):
    """Record batches of an Arrow IPC file (stream format as HF writes, or file format);
    _NoEnd when a stream lacks its end marker (it was cut at a message boundary)."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(src)
    except pa.ArrowInvalid:
        src.seek(0)
        f = pa.ipc.open_file(src)
        for i in range(f.num_record_batches):
            yield f.get_batch(i)
        return
    yield from reader
    end = src.tell()
    src.seek(max(0, end - 8))
    if src.read(8) != _EOS:
        raise _NoEnd(
            f"the stream stops at byte {end} without the end-of-stream marker: the file is truncated"
        )
    if end != size:
        raise ValueError(f"{size - end} unexpected bytes after the end of the stream at byte {end}")


class ArrowReader(Reader):
    """A single .arrow file or an HF `save_to_disk` folder (Dataset or DatasetDict)."""

    def _json(self, path: Path):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise MacsError(
                f"{path}: not a readable JSON file ({e}); the dataset folder is damaged"
            ) from e

    def arrow_files(self) -> list[Path]:
        """The .arrow files of this input (every split of a DatasetDict, in order)."""
        p = self.path
        if p.is_file():
            return [p]
        if (p / "dataset_dict.json").exists():
            splits = self._json(p / "dataset_dict.json")
            splits = splits.get("splits") if isinstance(splits, dict) else None
            if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
                raise MacsError(f"{p / 'dataset_dict.json'}: no list of split names under 'splits'")
            out = []
            for s in splits:
                out.extend(ArrowReader(p / s, self.spec, self.stats).arrow_files())
            return out
        state = p / "state.json"
        if state.exists():
            st = self._json(state)
            files = st.get("_data_files", []) if isinstance(st, dict) else None
            if not isinstance(files, list) or not all(
                isinstance(f, dict) and isinstance(f.get("filename"), str) for f in files
            ):
                raise MacsError(f"{state}: '_data_files' is not a list of {{'filename': ...}}")
            return [p / f["filename"] for f in files]
        return sorted(p.glob("*.arrow"))

    def tables(self, progress=None):
        files = self.arrow_files()
        if not files:
            raise MacsError(
                f"{self.label}: no .arrow files found (is it an HF save_to_disk folder?)"
            )
        for f in files:
            label = f.as_posix()
            self.current = label
            if not f.is_file():
                self.stats.fault(
                    "unreadable_file", label, "listed in the dataset folder but missing"
                )
                continue
            if f.stat().st_size == 0:
                self.stats.empty_file(label)
                continue
            yield from self._file_tables(f, label)
            if progress is not None:
                progress(f.stat().st_size)

    def _file_tables(self, f: Path, label: str):
        """The validated tables of one .arrow file (a fault ends it, earlier rows kept)."""
        import pyarrow as pa

        row0 = 0
        size = f.stat().st_size
        try:
            with pa.memory_map(str(f), "r") as src:
                for batch in _arrow_batches(src, size):
                    t = _table_columns(
                        pa.Table.from_batches([batch]), self.spec, label, self.stats, row0
                    )
                    row0 += batch.num_rows
                    if t is None:
                        continue
                    t = validate_table(t, label, self.stats, False)
                    if t.num_rows:
                        yield t
        except _NoEnd as e:
            self.stats.fault("truncated_file", label, str(e), kept=f"the {row0} rows before it")
            return
        except _read_errors() as e:
            kept = f"the {row0} rows before it" if row0 else ""
            if _CUT.search(str(e)):  # the file ends inside a message
                what = (
                    f"the file ends inside an Arrow message after row {row0}: it is truncated ({e})"
                )
                self.stats.fault("truncated_file", label, what, kept=kept)
                return
            what = (
                f"not a readable Arrow file: {e}" if row0 == 0 else f"damaged after row {row0}: {e}"
            )
            self.stats.fault("corrupt_file", label, what, kept=kept)
            return
        if row0 == 0:
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
            try:
                data = f.read_bytes()
            except OSError as e:
                self.stats.fault("unreadable_file", label, f"cannot read the file: {e}")
                continue
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
