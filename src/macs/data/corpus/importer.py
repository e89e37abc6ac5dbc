"""Import documents into a corpus store: ids, dedup, chunking, atomic shard writing."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macs.core.errors import MacsError
from macs.core.io import writing
from macs.core.names import check_output, is_store
from macs.core.progress import Bar
from macs.core.timing import Stopwatch
from macs.data.corpus.chunk import chunk_text
from macs.data.corpus.columnar import make_reader
from macs.data.corpus.meta import META_FILE, MetaWriter
from macs.data.corpus.readers import (
    FieldSpec,
    ImportStats,
    JsonlReader,
    expand_inputs,
    input_size,
)
from macs.data.corpus.store import StoreWriter


class CorpusBuilder:
    """Adds documents (id, text, domain, source) to a new store: rejects duplicate ids, cuts
    long texts at paragraph boundaries (each chunk keeps `parent_id`), streams to shards."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        stats: ImportStats,
        max_chunk_bytes: int = 8192,
        shard_bytes: int = 128 << 20,
        replace_derived: bool = True,
        what: str = "macs corpus import",
    ):
        # replace_derived False: refuse to drop an old store's labels/token shards (re-import);
        # `what` is the command a store-lock refusal names
        self.writer = StoreWriter(
            out_dir, shard_bytes=shard_bytes, replace_derived=replace_derived, what=what
        )
        self.stats = stats
        self._texts: set[bytes] = set()  # blake2b-128 digests of the texts kept so far
        self.meta = MetaWriter(self.writer.tmp)
        self.max_chunk_bytes = max_chunk_bytes
        self._seen: set[str] = set()

    def add_table(self, table, where: str = "") -> None:
        """Add a pa.Table with id (non-null), text, domain, source columns; `rec` if present is
        used in messages. Counts each input row as a written record unless skipped."""
        import pyarrow as pa

        ids = table.column("id").to_pylist()
        seen = self._seen
        new = set(ids)
        dup_rows = []
        if len(new) == len(ids) and seen.isdisjoint(new):
            seen |= new  # set operations in C; the loop below only runs when there are duplicates
        else:
            dup_rows = self._dedup(table, ids, where)
        if dup_rows:
            keep = [True] * len(ids)
            for i in dup_rows:
                keep[i] = False
            table = table.filter(pa.array(keep))
        if self.dedup_texts and table.num_rows:
            table = self._drop_same_texts(table, where)
        if table.num_rows == 0:
            return
        self._add_unique(table, where)

    # exact-duplicate texts: the first record with a text is kept, later ones dropped and
    # counted (stats.duplicate_texts), so no copy can land on both sides of the held-out split
    # (import_corpus turns it on by default; the demo build keeps its documented contents)
    dedup_texts: bool = False

    def _drop_same_texts(self, table, where: str):
        """`table` without rows whose text (blake2b-128 of its UTF-8 bytes) was seen before."""
        import hashlib

        import numpy as np
        import pyarrow as pa

        text = table.column("text").combine_chunks()
        bufs = text.buffers()
        wide = pa.types.is_large_string(text.type)
        offs = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)
        offs = offs[text.offset : text.offset + len(text) + 1].tolist()
        data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
        seen = self._texts
        keep = []
        recs = None
        for i in range(len(offs) - 1):
            h = hashlib.blake2b(data[offs[i] : offs[i + 1]], digest_size=16).digest()
            if h in seen:
                if recs is None:
                    recs = table.column("rec").to_pylist() if "rec" in table.column_names else []
                self.stats.duplicate_text(f"{where} {recs[i]}" if recs else where)
            else:
                seen.add(h)
                keep.append(i)
        if len(keep) == len(offs) - 1:
            return table
        return table.take(pa.array(keep, pa.int64()))

    def _dedup(self, table, ids: list, where: str) -> list[int]:
        """Rows whose id was seen before (reported as duplicate_id); adds the others to _seen."""
        recs = table.column("rec").to_pylist() if "rec" in table.column_names else None
        seen = self._seen
        dup_rows = []
        for i, x in enumerate(ids):
            if x in seen:
                loc = f"{where} {recs[i]}" if recs is not None else f"{where} id {x!r}"
                self.stats.bad("duplicate_id", loc, f"duplicate id {x!r} (the first one is kept)")
                dup_rows.append(i)
            else:
                seen.add(x)
        return dup_rows

    def _add_unique(self, table, where: str) -> None:
        """Write rows with new ids (long texts cut into chunks)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        seen = self._seen
        self.stats.records_written += table.num_rows
        if "meta" in table.column_names:
            self.meta.add(table.select(["id", "meta"]))
        text = table.column("text")
        n_bytes = pc.binary_length(text).cast(pa.int64())
        base = pa.table(
            {
                "id": table.column("id"),
                "text": text,
                "domain": table.column("domain"),
                "source": table.column("source"),
                "n_bytes": n_bytes,
                "parent_id": table.column("id"),
            }
        )
        long_rows = []
        if self.max_chunk_bytes > 0:
            long_rows = pc.indices_nonzero(pc.greater(n_bytes, self.max_chunk_bytes)).to_pylist()
        if not long_rows:
            self.writer.write(base)
            self.stats.docs_written += base.num_rows
            return
        # rebuild the batch with each long doc replaced by its chunks (one write per batch)
        pieces = []
        c_ids: list[str] = []
        c_texts: list[str] = []
        c_dom: list[str] = []
        c_src: list[str] = []
        c_par: list[str] = []
        prev = 0
        for r in long_rows:
            if r > prev:
                pieces.append(base.slice(prev, r - prev))
            row = base.slice(r, 1).to_pylist()[0]
            chunks = chunk_text(row["text"], self.max_chunk_bytes)
            self.stats.chunked_records += 1
            cids = [f"{row['id']}#{k}" for k in range(len(chunks))]
            for c in cids:
                if c in seen:
                    raise MacsError(
                        f"{where}: chunk id {c!r} of document {row['id']!r} collides with an "
                        "existing id; rename the ids that contain '#'"
                    )
                seen.add(c)
            pieces.append(("chunks", len(c_ids), len(cids)))
            c_ids += cids
            c_texts += chunks
            c_dom += [row["domain"]] * len(chunks)
            c_src += [row["source"]] * len(chunks)
            c_par += [row["id"]] * len(chunks)
            prev = r + 1
        if prev < base.num_rows:
            pieces.append(base.slice(prev))
        chunk_table = pa.table(
            {
                "id": pa.array(c_ids, pa.string()),
                "text": pa.array(c_texts, pa.string()),
                "domain": pa.array(c_dom, pa.string()),
                "source": pa.array(c_src, pa.string()),
                "n_bytes": pc.binary_length(pa.array(c_texts, pa.string())).cast(pa.int64()),
                "parent_id": pa.array(c_par, pa.string()),
            }
        )
        parts = [chunk_table.slice(p[1], p[2]) if isinstance(p, tuple) else p for p in pieces]
        out = pa.concat_tables(parts)
        self.writer.write(out)
        self.stats.docs_written += out.num_rows

    def add(self, ids: Sequence[str], texts: Sequence[str], domain: str, source: str) -> None:
        """Add Python lists of documents of one domain and source (records already validated)."""
        import pyarrow as pa

        n = len(ids)
        self.stats.records_read += n
        self.add_table(
            pa.table(
                {
                    "id": pa.array(ids, pa.string()),
                    "text": pa.array(texts, pa.string()),
                    "domain": pa.array([domain] * n, pa.string()),
                    "source": pa.array([source] * n, pa.string()),
                }
            ),
            where=source,
        )

    def finish(self, manifest: dict[str, Any], heldout_fraction: float, heldout_seed: int) -> Path:
        """Write the manifest and move the store into place."""
        manifest = dict(manifest)
        manifest["import"] = {**manifest.get("import", {}), **self.stats.as_dict()}
        manifest["chunking"] = {"max_chunk_bytes": self.max_chunk_bytes, "boundaries": "paragraph"}
        if self.meta.close():
            manifest["meta"] = {"file": META_FILE, "records": self.meta.rows, "key": "parent_id"}
        out = self.writer.finish(manifest, heldout_fraction, heldout_seed)
        for note in self.writer.notes:  # derived data kept or deleted on re-import
            print(f"note: {note}", file=sys.stderr)
        return out

    def abort(self) -> None:
        """Remove the partial output."""
        self.meta.close()
        self.writer.abort()


@dataclass
class ImportResult:
    """What an import did: where the store is, its counts, and the seconds it took."""

    store_dir: Path
    stats: ImportStats
    seconds: float
    input_bytes: int

    def summary(self) -> str:
        """One-line summary: counts, skipped kinds, rate, output folder."""
        s = self.stats
        skipped = sum(s.skipped.values())
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(s.skipped.items()))
        rate = self.input_bytes / 1e6 / max(self.seconds, 1e-9)
        extra = f" ({kinds})" if kinds else ""
        ef = f", {s.empty_files} empty files" if s.empty_files else ""
        ids = f", {s.blank_ids} blank ids replaced by generated ones" if s.blank_ids else ""
        if s.duplicate_texts:
            ids += f", {s.duplicate_texts} duplicate texts dropped (the first copy kept)"
        partial = ""
        if s.partial:
            faults = ", ".join(f"{k}={v}" for k, v in sorted(s.faults.items()))
            partial = (
                f"; PARTIAL: {sum(s.faults.values())} damaged file(s) ({faults}) cut short, "
                "their later records are missing"
            )
        return (
            f"imported {s.records_read} records: {s.records_written} written as {s.docs_written} docs "
            f"({s.chunked_records} chunked), {skipped} skipped{extra}{ef}{ids}{partial}; "
            f"{self.input_bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:.1f} MB/s) -> {self.store_dir}"
        )


def import_corpus(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    name: str | None = None,
    text_field: str = "text",
    id_field: str | None = "id",
    domain_field: str | None = "domain",
    domain: str = "default",
    max_chunk_bytes: int = 8192,
    on_error: str = "raise",
    heldout_fraction: float = 0.05,
    heldout_seed: int = 0,
    shard_mb: float = 128.0,
    block_mb: float = 2.0,
    progress: bool = True,
    workers: int | None = None,
    parse_threads: int = 0,
    force: bool = False,
    max_record_mb: float = 64.0,
    dedup_texts: bool = True,
    require_domain: bool = False,
    meta_field: str | None = None,
) -> ImportResult:
    """Import files/folders into a corpus store at out_dir (atomic: old store or new, never half);
    optionally JSONL blocks parsed by pyarrow on `parse_threads` threads, or large plain JSONL
    files by `workers` forked processes over byte ranges; same output, order and counts.
    An existing out_dir that is not a corpus store is refused unless `force`. A record (JSONL
    line) over `max_record_mb` is a bad record (record_too_large), read past in bounded memory.
    dedup_texts: a record with the same text as an earlier one is dropped and counted.
    require_domain: a record without the domain field (a dotted path names a nested one) is a
    bad record (missing_domain). meta_field: a JSONL field whose value (any JSON) is kept per
    record in the store's meta.parquet (parent id, JSON text); None = not kept (the CLI keeps
    `corpus.meta_field`, "meta" by default; it turns off the pyarrow parse_threads path)."""
    if on_error not in ("raise", "skip"):
        raise MacsError(f"--on-error must be 'raise' or 'skip', not {on_error!r}")
    if not inputs:
        raise MacsError("no input files given")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise MacsError(f"{p}: no such file or folder")
    out_dir = Path(out_dir)
    check_output(out_dir, "corpus store", is_store, force)
    paths = expand_inputs(paths)
    clock = Stopwatch()
    stats = ImportStats(on_error=on_error)
    spec = FieldSpec(
        text=text_field,
        id=id_field or None,
        domain=domain_field or None,
        require_domain=require_domain and bool(domain_field),
        meta=meta_field if meta_field not in (None, "", text_field, id_field) else None,
    )
    total = sum(input_size(p) for p in paths)
    note = f"the previous store at {out_dir} (if any) is unchanged"
    with writing(out_dir, note):
        builder = CorpusBuilder(
            out_dir,
            stats,
            max_chunk_bytes,
            shard_bytes=int(shard_mb * (1 << 20)),
            replace_derived=force,
        )
        builder.dedup_texts = dedup_texts
        prog = _Progress(total, "import", enabled=progress)
        try:
            opts = (
                spec,
                domain,
                int(block_mb * (1 << 20)),
                max(1, workers or 1),
                parse_threads,
                int(max_record_mb * (1 << 20)),
            )
            for p in paths:
                _import_path(p, builder, prog, *opts)
            prog.close()
            assert stats.reconciles(), stats.as_dict()
            manifest = {
                "name": name or out_dir.name,
                "created_by": "macs corpus import",
                "inputs": [{"path": p.as_posix(), "bytes": input_size(p)} for p in paths],
                "fields": {
                    "text": text_field,
                    "id": id_field,
                    "domain": domain_field,
                    "default_domain": domain,
                },
                "on_error": on_error,
                "sources": [],
                "missing_sources": [],
            }
            store_dir = builder.finish(manifest, heldout_fraction, heldout_seed)
        except BaseException:
            prog.close()
            builder.abort()
            raise
    return ImportResult(store_dir, stats, clock.seconds, total)


def _import_path(
    p: Path, builder, prog, spec, domain, block_bytes, n_workers, parse_threads, max_record
):
    """Import one input path into the builder: by default one process, msgspec in this thread
    while a background thread writes Parquet (measured fastest on 2 cores, idle or busy);
    parse_threads=N parses JSONL blocks with pyarrow on N threads; n_workers=N forks N
    processes over byte ranges of a large plain JSONL file."""
    stats = builder.stats
    reader = make_reader(p, spec, stats, block_bytes=block_bytes)
    reader.max_record_bytes = max_record
    if isinstance(reader, JsonlReader):
        reader.parse_threads = max(0, parse_threads)
    stats.files += 1
    parts = _split_points(reader, n_workers)
    helpers = _start_helpers(reader, parts, builder, domain) if len(parts) > 1 else []
    try:
        if helpers:
            reader.byte_range = parts[0]
            prog.poll = [h.counter for h in helpers]
        for t in reader.tables(progress=prog.advance):
            builder.add_table(_with_ids(t, reader.current, domain, stats), where=_where(reader))
        prog.poll = []
        for k, h in enumerate(helpers):
            _adopt_or_redo(h, parts[k + 1], reader, builder, domain, prog)
    finally:
        for h in helpers:
            h.stop()


def idle_cores() -> int:
    """Cores not busy now (cores minus the 1-minute load average beyond this process's own
    unit, at least 1): a second thread only pays off on a free core; on a busy machine it
    costs CPU and gains no time, since the scheduler gives a session a fixed share."""
    cpu = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cpu
    return max(1, min(cpu, int(cpu - max(0.0, load - 1.0) + 0.5)))


def _with_ids(t, label: str, domain: str, stats: ImportStats):
    """A reader table with generated ids (`label:rec`) for missing, empty or whitespace-only
    ones (counted in stats), the default domain and the source column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = t.column("id")
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0)
    n_blank = int(pc.sum(blank).as_py() or 0)
    if n_blank:
        ids = pc.if_else(blank, pa.scalar(None, pa.string()), ids)
        stats.blank_ids += n_blank
    if ids.null_count:
        stats.ids_generated += ids.null_count
        gen = pc.binary_join_element_wise(
            pa.scalar(label + ":"), pc.cast(t.column("rec"), pa.string()), ""
        )
        ids = pc.coalesce(ids, gen)
    cols = {
        "rec": t.column("rec"),
        "id": ids,
        "text": t.column("text"),
        "domain": pc.coalesce(t.column("domain"), pa.scalar(domain)),
        "source": pa.repeat(pa.scalar(label, pa.string()), t.num_rows),
    }
    if "meta" in t.column_names:
        cols["meta"] = t.column("meta")
    return pa.table(cols)


def _where(reader) -> str:
    return f"{reader.current}:{'line' if isinstance(reader, JsonlReader) else 'row'}"


PARALLEL_MIN_BYTES = 8 << 20  # plain JSONL files at least this big per worker are split


def _split_points(reader, n_workers: int) -> list[tuple[int, int, int]]:
    """Byte ranges (start, end, first line number = 0 until the worker counts it) that start
    at line starts; one range (the whole file) unless the file is plain JSONL and large."""
    import multiprocessing as mp

    size = reader.path.stat().st_size if reader.path.is_file() else 0
    plain = isinstance(reader, JsonlReader) and not reader.path.name.lower().endswith(
        (".gz", ".zst", ".zstd")
    )
    n = min(n_workers, size // PARALLEL_MIN_BYTES) if plain else 1
    if n < 2 or "fork" not in mp.get_all_start_methods():
        return [(0, size, 1)]
    cuts = [0]
    with open(reader.path, "rb") as f:
        for k in range(1, n):
            f.seek(max(size * k // n, cuts[-1]))
            f.readline()  # to the next line start
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    ranges = [(a, b, 0) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    return [(0, ranges[0][1], 1), *ranges[1:]] if len(ranges) > 1 else [(0, size, 1)]


def _count_lines(path: Path, end: int) -> int:
    """Newlines in the first `end` bytes of a file."""
    n = 0
    with open(path, "rb") as f:
        left = end
        while left > 0:
            data = f.read(min(left, 8 << 20))
            if not data:
                break
            n += data.count(b"\n")
            left -= len(data)
    return n


class _Helper:
    """A forked process importing one byte range of a file into its own shards."""

    def __init__(self, proc, conn, counter, tmp: Path):
        self.proc, self.conn, self.counter = proc, conn, counter
        self.tmp = tmp  # the worker's partial store folder (inside the main one)

    def result(self, prog) -> tuple[str, Any]:
        while not self.conn.poll(0.1):
            prog.advance(0)
            if not self.proc.is_alive() and not self.conn.poll(0):
                return "err", f"worker process exited with code {self.proc.exitcode}"
        try:
            return self.conn.recv()
        except EOFError:
            return "err", "worker process died"

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join()
        self.conn.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _part_worker(
    conn, counter, reader, part, out_dir, on_error, max_chunk_bytes, shard_bytes, domain, dedup
):
    """Child process: import lines of `part` into shards under out_dir; send back counts, keys."""
    try:
        stats = ImportStats(on_error=on_error)
        reader.stats = stats
        start, end, _ = part
        reader.byte_range = (start, end, 1 + _count_lines(reader.path, start))
        builder = CorpusBuilder(out_dir, stats, max_chunk_bytes, shard_bytes=shard_bytes)
        builder.dedup_texts = dedup

        def advance(n: int) -> None:
            counter.value += n

        for t in reader.tables(progress=advance):
            builder.add_table(
                _with_ids(t, reader.current, domain, builder.stats), where=_where(reader)
            )
        info = builder.writer.part_info()
        keys = {"keys": list(builder._seen), "texts": list(builder._texts)}
        keys["meta"] = str(builder.meta.path) if builder.meta.close() else None
        conn.send(("ok", {"part": info, "stats": stats, **keys}))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which redoes the part
        conn.send(("err", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _start_helpers(reader, parts, builder, domain) -> list[_Helper]:
    """Fork one process per part after the first (the caller imports the first part)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    builder.writer.close_shards()  # no background write in flight while forking
    # objects alive now go to the permanent GC generation: the collector then never walks (and
    # so never copies-on-write) the parent's heap pages in the children
    gc.freeze()
    helpers = []
    for k, part in enumerate(parts[1:], 1):
        recv, send = ctx.Pipe(duplex=False)
        counter = ctx.Value("q", 0, lock=False)
        out_dir = builder.writer.tmp / f"part{k}"
        proc = ctx.Process(
            target=_part_worker,
            args=(
                send,
                counter,
                reader,
                part,
                out_dir,
                builder.stats.on_error,
                builder.max_chunk_bytes,
                builder.writer.shard_bytes,
                domain,
                builder.dedup_texts,
            ),
            daemon=True,
        )
        proc.start()
        send.close()
        tmp = out_dir.with_name(f".{out_dir.name}.partial-{proc.pid}")
        helpers.append(_Helper(proc, recv, counter, tmp))
    gc.unfreeze()
    return helpers


def _adopt_or_redo(h: _Helper, part, reader, builder: CorpusBuilder, domain: str, prog) -> None:
    """Append a helper's shards and counts; if it failed (bad input under --on-error raise,
    or anything else) or its ids collide with earlier ones, import its part here instead, so
    that errors, skips and duplicates are reported exactly as by one process."""
    status, res = h.result(prog)
    prog.advance_to_poll(h)
    disjoint = status == "ok" and builder._texts.isdisjoint(res["texts"])
    if disjoint and builder._seen.isdisjoint(res["keys"]):
        builder.writer.adopt(res["part"])
        builder._seen.update(res["keys"])
        builder._texts.update(res["texts"])
        if res["meta"]:  # the part's meta rows join this store's meta file
            import pyarrow.parquet as pq

            builder.meta.add(pq.read_table(res["meta"]))
        builder.stats.merge(res["stats"])
        return
    if status == "ok":
        for f, _ in res["part"]["shards"]:
            Path(f).unlink(missing_ok=True)
    start, end, _ = part
    reader.byte_range = (start, end, 1 + _count_lines(reader.path, start))
    for t in reader.tables():
        builder.add_table(_with_ids(t, reader.current, domain, builder.stats), where=_where(reader))


class _Progress:
    """Bytes read on a `macs.core.progress.Bar` (with transfer speed), counting the bytes of worker
    processes too: their shared counters are polled on every advance."""

    def __init__(self, total: int, what: str, enabled: bool = True):
        self.bar = Bar(total or None, what, enabled, unit="bytes", transfer=True)
        self.poll: list = []  # counters of bytes read by worker processes, shown as they grow
        self._polled: dict[int, int] = {}

    def advance(self, n: int) -> None:
        """Count `n` more bytes read here plus what the polled worker counters gained."""
        for c in self.poll:
            done = self._polled.get(id(c), 0)
            if c.value > done:
                n += c.value - done
                self._polled[id(c)] = c.value
        self.bar.advance(n)

    def advance_to_poll(self, h) -> None:
        """Count the rest of a finished worker's bytes."""
        done = self._polled.get(id(h.counter), 0)
        self._polled[id(h.counter)] = h.counter.value
        self.bar.advance(max(0, h.counter.value - done))

    def close(self) -> None:
        """Remove the bar."""
        self.bar.close()
