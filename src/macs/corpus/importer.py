"""Import documents into a corpus store: ids, dedup, chunking, atomic shard writing."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macs.corpus.chunk import chunk_text
from macs.corpus.readers import FieldSpec, ImportStats, JsonlReader, input_size, make_reader
from macs.corpus.store import StoreWriter
from macs.errors import MacsError


class CorpusBuilder:
    """Adds documents (id, text, domain, source) to a new store: rejects duplicate ids, cuts
    long texts at paragraph boundaries (each chunk keeps `parent_id`), streams to shards."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        stats: ImportStats,
        max_chunk_bytes: int = 8192,
        shard_bytes: int = 128 << 20,
    ):
        self.writer = StoreWriter(out_dir, shard_bytes=shard_bytes)
        self.stats = stats
        self.max_chunk_bytes = max_chunk_bytes
        self._seen: set[str] = set()

    def add_table(self, table, where: str = "") -> None:
        """Add a pa.Table with id (non-null), text, domain, source columns; `rec` if present is
        used in messages. Counts each input row as a written record unless skipped."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = table.column("id").to_pylist()
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
        if dup_rows:
            keep = [True] * len(ids)
            for i in dup_rows:
                keep[i] = False
            table = table.filter(pa.array(keep))
        if table.num_rows == 0:
            return
        self.stats.records_written += table.num_rows
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
        return self.writer.finish(manifest, heldout_fraction, heldout_seed)

    def abort(self) -> None:
        """Remove the partial output."""
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
        return (
            f"imported {s.records_read} records: {s.records_written} written as {s.docs_written} docs "
            f"({s.chunked_records} chunked), {skipped} skipped{extra}{ef}; "
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
    block_mb: float = 8.0,
    progress: bool = True,
) -> ImportResult:
    """Import files/folders into a corpus store at out_dir (atomic: old store or new, never half)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if on_error not in ("raise", "skip"):
        raise MacsError(f"--on-error must be 'raise' or 'skip', not {on_error!r}")
    if not inputs:
        raise MacsError("no input files given")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise MacsError(f"{p}: no such file or folder")
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    stats = ImportStats(on_error=on_error)
    spec = FieldSpec(text=text_field, id=id_field or None, domain=domain_field or None)
    total = sum(input_size(p) for p in paths)
    builder = CorpusBuilder(out_dir, stats, max_chunk_bytes, shard_bytes=int(shard_mb * (1 << 20)))
    prog = _Progress(total, "import", enabled=progress)
    try:
        for p in paths:
            reader = make_reader(p, spec, stats, block_bytes=int(block_mb * (1 << 20)))
            stats.files += 1
            for t in reader.tables(progress=prog.advance):
                label = reader.current
                ids = t.column("id")
                if ids.null_count:
                    gen = pc.binary_join_element_wise(
                        pa.scalar(label + ":"), pc.cast(t.column("rec"), pa.string()), ""
                    )
                    ids = pc.coalesce(ids, gen)
                dom = pc.coalesce(t.column("domain"), pa.scalar(domain))
                tbl = pa.table(
                    {
                        "rec": t.column("rec"),
                        "id": ids,
                        "text": t.column("text"),
                        "domain": dom,
                        "source": pa.array([label] * t.num_rows, pa.string()),
                    }
                )
                unit = "line" if isinstance(reader, JsonlReader) else "row"
                builder.add_table(tbl, where=f"{label}:{unit}")
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
    return ImportResult(store_dir, stats, time.perf_counter() - t0, total)


class _Progress:
    """A rich progress bar over bytes on stderr (silent when disabled or not a terminal)."""

    def __init__(self, total: int, what: str, enabled: bool = True):
        self._p = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._p = Progress(
                f"[bold]{what}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._p.start()
            self._task = self._p.add_task(what, total=total or None)

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.advance(self._task, n)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
