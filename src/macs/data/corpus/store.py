"""The corpus store: Parquet shards of documents in a canonical order, plus a manifest.

Layout (see docs/architecture.md): `<store>/shards/part-00000.parquet ...` with columns
`id, text, domain, source, n_bytes, parent_id`, `<store>/manifest.json` and
`<store>/heldout.npy` (the held-out mask, recomputable from ids and the manifest's seed). The canonical
order is shards sorted by file name, rows in order; a row's position is its doc index.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.formats import check_format, stamp
from macs.core.io import file_sha256, pid_alive

STORE_VERSION = 1
COLUMNS = ("id", "text", "domain", "source", "n_bytes", "parent_id")
ROW_GROUP_ROWS = 1024


def store_schema():
    """The pyarrow schema of a corpus shard."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("domain", pa.string()),
            ("source", pa.string()),
            ("n_bytes", pa.int64()),
            ("parent_id", pa.string()),
        ]
    )


def heldout_hash(seed: int, key: str) -> int:
    """A stable 64-bit hash of (seed, key) (keyed blake2b); lower = earlier in the held-out ranking."""
    k = str(seed).encode()[:64]
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8, key=k).digest(), "little")


def _heldout_hashes(seed: int, keys: Sequence[str]) -> np.ndarray:
    """heldout_hash(seed, k) for every key, as np.uint64 (the keyed state is copied, not redone)."""
    base = hashlib.blake2b(digest_size=8, key=str(seed).encode()[:64])
    out = bytearray()
    for x in keys:
        h = base.copy()
        h.update(x.encode())
        out += h.digest()
    return np.frombuffer(bytes(out), dtype="<u8").astype(np.uint64)


def compute_heldout_mask(
    domains: np.ndarray, parent_ids: Sequence[str], fraction: float, seed: int
) -> np.ndarray:
    """Held-out mask (True = held out): per domain, whole parents in seeded-hash order until
    `fraction` of that domain's documents is reached (chunks of one original stay together)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(parent_ids)
    mask = np.zeros(n, dtype=np.bool_)
    if n == 0 or fraction <= 0:
        return mask
    if fraction >= 1:
        mask[:] = True
        return mask
    arr = (
        parent_ids
        if isinstance(parent_ids, pa.Array | pa.ChunkedArray)
        else pa.array(parent_ids, pa.string())
    )
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    parent_of = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    keys = enc.dictionary.to_pylist()
    _, first = np.unique(parent_of, return_index=True)  # first doc of each parent (sorted ids)
    p_domain_arr = np.asarray(domains)[first]
    sizes = np.bincount(parent_of, minlength=len(keys))
    hashes = _heldout_hashes(seed, keys)
    held_parent = np.zeros(len(keys), dtype=np.bool_)
    for d in np.unique(p_domain_arr):
        members = np.flatnonzero(p_domain_arr == d)
        n_d = int(sizes[members].sum())
        target = int(round(fraction * n_d))
        if target == 0 and n_d >= 2:
            target = 1
        order = members[np.argsort(hashes[members], kind="stable")]
        total = 0
        for j in order:
            if total >= target:
                break
            if total + int(sizes[j]) >= n_d:  # never hold out a whole domain
                continue
            held_parent[j] = True
            total += int(sizes[j])
    mask[:] = held_parent[parent_of]
    return mask


class CorpusStore:
    """A read-only view of a corpus store directory (canonical order = shard name, row)."""

    def __init__(self, path: Path, manifest: dict[str, Any], shards: list[Path]):
        import pyarrow.parquet as pq

        self.path = path
        self.manifest = manifest
        self.shards = shards
        self._files = [pq.ParquetFile(s) for s in shards]
        rows = [f.metadata.num_rows for f in self._files]
        self._shard_start = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.n_docs = int(self._shard_start[-1])
        # row-group boundaries (global doc index where each row group starts)
        rg_start = []
        rg_loc = []
        for si, f in enumerate(self._files):
            off = int(self._shard_start[si])
            for gi in range(f.metadata.num_row_groups):
                rg_start.append(off)
                rg_loc.append((si, gi))
                off += f.metadata.row_group(gi).num_rows
        self._rg_start = np.asarray(rg_start, dtype=np.int64)
        self._rg_loc = rg_loc
        self._cache: dict[str, Any] = {}
        self._ident = _manifest_ident(path)

    def check_unchanged(self) -> None:
        """MacsError when the store was replaced (re-imported) or removed since it was opened:
        what this command read may belong to the old store."""
        if _manifest_ident(self.path) != self._ident:
            raise MacsError(
                f"the store {self.path} was replaced or removed while this command read it "
                "(another `macs corpus import`?); nothing was published from it: rerun the command"
            )

    @classmethod
    def open(cls, path: str | os.PathLike) -> CorpusStore:
        """Open a store directory; MacsError if it is missing or not a corpus store."""
        from macs.core.io import read_json

        path = Path(path)
        mpath = path / "manifest.json"
        if not mpath.exists():
            raise MacsError(
                f"{path} is not a corpus store (no manifest.json); build one with "
                "`macs corpus build demo` or `macs corpus import FILES`"
            )
        try:
            manifest = read_json(mpath)
        except ValueError as e:
            raise MacsError(f"{mpath}: not valid JSON ({e}); re-import the corpus") from e
        if not isinstance(manifest, dict):
            raise MacsError(f"{mpath}: not a store manifest (a JSON object); re-import the corpus")
        check_format(
            "store",
            {**manifest, "format": manifest.get("format", manifest.get("version", 1))},
            path,
        )
        shards = sorted((path / "shards").glob("part-*.parquet"))
        try:
            store = cls(path, manifest, shards)
        except (
            OSError,
            ValueError,
        ) as e:  # pyarrow: a damaged shard (ArrowInvalid is a ValueError)
            raise MacsError(f"{path}: a shard is damaged ({e}); re-import the corpus") from e
        if "n_docs" in manifest and int(manifest["n_docs"]) != store.n_docs:
            raise MacsError(
                f"{path}: manifest says {manifest['n_docs']} documents but the shards hold "
                f"{store.n_docs}; the store is damaged, re-import it"
            )
        return store

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return f"CorpusStore({str(self.path)!r}, n_docs={self.n_docs}, shards={len(self.shards)})"

    @property
    def name(self) -> str:
        """The store's name (manifest `name`, else the folder name)."""
        return str(self.manifest.get("name", self.path.name))

    def iter_batches(
        self, columns: Sequence[str] | None = None, batch_size: int = 4096
    ) -> Iterator[Any]:
        """Yield pa.RecordBatch of `columns` in canonical order (at most batch_size rows each)."""
        cols = list(columns) if columns is not None else list(COLUMNS)
        for c in cols:
            if c not in COLUMNS:
                raise MacsError(f"unknown corpus column {c!r}; columns are {', '.join(COLUMNS)}")
        for f in self._files:
            yield from f.iter_batches(batch_size=batch_size, columns=cols)

    def read_column(self, name: str):
        """Whole column in canonical order: numpy for numeric columns, list[str] for strings."""
        if name not in COLUMNS:
            raise MacsError(f"unknown corpus column {name!r}; columns are {', '.join(COLUMNS)}")
        import pyarrow as pa

        chunks = [f.read(columns=[name]).column(0) for f in self._files]
        if not chunks:
            return np.zeros(0, dtype=np.int64) if name == "n_bytes" else []
        arr = pa.chunked_array([c for ch in chunks for c in ch.chunks], type=chunks[0].type)
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            return arr.to_numpy()
        return arr.to_pylist()

    def domains(self) -> tuple[np.ndarray, list[str]]:
        """(codes, names): np.int16 code per doc (canonical order) and sorted domain names."""
        if "domains" not in self._cache:
            import pyarrow as pa
            import pyarrow.compute as pc

            parts = [f.read(columns=["domain"]).column(0) for f in self._files]
            arr = pa.chunked_array([c for p in parts for c in p.chunks], type=pa.string())
            names = sorted(set(pc.unique(arr).to_pylist())) if len(arr) else []
            codes = pc.index_in(arr, value_set=pa.array(names, pa.string()))
            codes = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int16)
            self._cache["domains"] = (codes, names)
        codes, names = self._cache["domains"]
        return codes.copy(), list(names)

    def heldout_params(self) -> tuple[float, int]:
        """(fraction, seed) of the held-out split recorded in the manifest."""
        h = self.manifest.get("heldout", {})
        return float(h.get("fraction", 0.0)), int(h.get("seed", 0))

    def heldout_mask(self) -> np.ndarray:
        """np.bool_ per doc (canonical order), True = held out (for evaluation, never selected)."""
        if "heldout" not in self._cache:
            import pyarrow as pa

            saved = self.path / "heldout.npy"
            mask = None
            if saved.exists():  # written at import time from the same parameters
                mask = np.load(saved)
                if mask.shape != (self.n_docs,) or mask.dtype != np.bool_:
                    mask = None
            if mask is None:
                fraction, seed = self.heldout_params()
                codes, _ = self.domains()
                parents = pa.chunked_array(
                    [
                        c
                        for f in self._files
                        for c in f.read(columns=["parent_id"]).column(0).chunks
                    ],
                    type=pa.string(),
                )
                mask = compute_heldout_mask(codes, parents, fraction, seed)
            self._cache["heldout"] = mask
        return self._cache["heldout"].copy()

    def texts(self, indices: Sequence[int] | np.ndarray) -> list[str]:
        """Texts of the given doc indices (random access, any order, repeats allowed)."""
        return self._take("text", indices)

    def ids(self, indices: Sequence[int] | np.ndarray) -> list[str]:
        """Ids of the given doc indices."""
        return self._take("id", indices)

    def parent_ids(self, indices: Sequence[int] | np.ndarray) -> list[str]:
        """Record ids of the given doc indices (a chunk's record is its parent; keys of meta)."""
        return self._take("parent_id", indices)

    def _take(self, column: str, indices) -> list:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return []
        if idx.min() < 0 or idx.max() >= self.n_docs:
            raise IndexError(f"doc index out of range 0..{self.n_docs - 1}")
        rg = np.searchsorted(self._rg_start, idx, side="right") - 1
        out: list = [None] * idx.size
        order = np.argsort(rg, kind="stable")
        rg_sorted = rg[order]
        bounds = np.flatnonzero(np.diff(rg_sorted)) + 1
        for group in np.split(order, bounds):
            g = int(rg[group[0]])
            si, gi = self._rg_loc[g]
            col = self._files[si].read_row_group(gi, columns=[column]).column(0)
            local = idx[group] - self._rg_start[g]
            vals = col.take(local).to_pylist()
            for pos, v in zip(group.tolist(), vals, strict=True):
                out[pos] = v
        return out


def _manifest_ident(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, mtime) of a store's manifest: changes when the store is replaced."""
    try:
        st = os.stat(Path(path) / "manifest.json")
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished directory `tmp` to `final`, replacing any old one (near-atomic swap);
    first tidy what dead writers of `final` left beside it (clean_stale)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale(final: Path) -> list[Path]:
    """Tidy what a killed writer of `final` left beside it: `.NAME.partial-PID` and
    `.NAME.tmp-PID` folders of dead processes are deleted; a `.NAME.old-PID` folder (the previous output, moved aside just
    before the new one was renamed in) is moved back when `final` is missing, else deleted.
    Returns the folders removed or restored."""
    final = Path(final)
    done = []
    if not final.parent.is_dir():
        return done
    for p in sorted(final.parent.glob(f".{final.name}.*-*")):
        kind, _, pid = p.name[len(final.name) + 2 :].rpartition("-")
        if kind not in ("partial", "old", "tmp") or not pid.isdigit() or pid_alive(int(pid)):
            continue
        if kind == "old" and not final.exists():
            os.replace(p, final)
        else:
            shutil.rmtree(p, ignore_errors=True)
        done.append(p)
    return done


class StoreWriter:
    """Writes documents into a new store in a temp folder; `finish()` swaps it into place.

    Replacing an existing store holds its exclusive store lock from start to swap (refused,
    naming the holder, while a label/tokenize/select job uses it). The old store's derived data
    (labels, token shards, selector caches) is kept when the new documents are byte-identical;
    otherwise the swap is refused, naming what would be lost, unless `replace_derived`."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        shard_bytes: int = 128 << 20,
        compression: str = "zstd",
        *,
        replace_derived: bool = True,
        what: str = "macs corpus import",
    ):
        from macs.core.lock import WRITER_FILE, store_lock

        self.out_dir = Path(out_dir)
        self.replace_derived = replace_derived
        self.notes: list[str] = []
        self._lock = contextlib.ExitStack()
        if (self.out_dir / "manifest.json").exists():  # an existing store: no reader under us
            self._lock.enter_context(store_lock(self.out_dir, what, shared=False))
        clean_stale(self.out_dir)
        self.tmp = self.out_dir.with_name(f".{self.out_dir.name}.partial-{os.getpid()}")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        (self.tmp / "shards").mkdir(parents=True)
        self._writer_file = self.tmp / WRITER_FILE  # names this command to a refused reader
        self._writer_file.write_text(what, encoding="utf-8")
        self.shard_bytes = shard_bytes
        self.compression = compression
        self._writer = None
        self._shard_i = -1
        self._shard_written = 0
        self._buf: list = []
        self._buf_rows = 0
        self.n_docs = 0
        self.n_bytes = 0
        self.domain_docs: dict[str, int] = {}
        self.domain_bytes: dict[str, int] = {}
        self.shard_rows: list[int] = []
        # Parquet encoding + zstd run in one background thread (pyarrow releases the GIL),
        # overlapping with parsing; FIFO order keeps the canonical order.
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="macs-parquet")
        self._pending: list = []

    def write(self, table) -> None:
        """Append a pa.Table with the store columns (in canonical order)."""
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        table = table.select(list(COLUMNS)).cast(store_schema())
        self.n_docs += table.num_rows
        nb = table.column("n_bytes")
        self.n_bytes += int(pc.sum(nb).as_py() or 0)
        enc = pc.dictionary_encode(table.column("domain")).combine_chunks()
        codes = enc.indices.to_numpy(zero_copy_only=False)
        nbytes = nb.to_numpy() if hasattr(nb, "to_numpy") else np.asarray(nb)
        docs = np.bincount(codes, minlength=len(enc.dictionary))
        sums = np.bincount(codes, weights=nbytes, minlength=len(enc.dictionary))
        for k, d in enumerate(enc.dictionary.to_pylist()):
            self.domain_docs[d] = self.domain_docs.get(d, 0) + int(docs[k])
            self.domain_bytes[d] = self.domain_bytes.get(d, 0) + int(sums[k])
        self._buf.append(table)
        self._buf_rows += table.num_rows
        if self._buf_rows >= ROW_GROUP_ROWS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buf:
            return
        t = pa.concat_tables(self._buf)
        n_full = t.num_rows if final else (t.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
        head, rest = t.slice(0, n_full), t.slice(n_full)
        self._buf = [rest] if rest.num_rows else []
        self._buf_rows = rest.num_rows
        if head.num_rows == 0:
            return
        if self._writer is None:
            self._shard_i += 1
            path = self.tmp / "shards" / f"part-{self._shard_i:05d}.parquet"
            self._writer = pq.ParquetWriter(
                path, store_schema(), compression=self.compression, write_statistics=False
            )
            self._shard_written = 0
            self.shard_rows.append(0)
        writer = self._writer
        self._submit(lambda: writer.write_table(head, row_group_size=ROW_GROUP_ROWS))
        self.shard_rows[-1] += head.num_rows
        self._shard_written += int(pa.compute.sum(head.column("n_bytes")).as_py() or 0)
        if self._shard_written >= self.shard_bytes:
            self._submit(writer.close)
            self._writer = None

    def _submit(self, fn) -> None:
        """Queue a write on the background thread (at most 2 pending: bounded memory)."""
        self._pending.append(self._pool.submit(fn))
        while len(self._pending) > 2:
            self._pending.pop(0).result()

    def _drain(self) -> None:
        """Wait for every queued write (re-raising the first error)."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def close_shards(self) -> None:
        """Write out buffered rows and close the open shard (the next write starts a new one)."""
        self._flush(final=True)
        if self._writer is not None:
            self._submit(self._writer.close)
            self._writer = None
        self._drain()

    def adopt(self, part: dict[str, Any]) -> None:
        """Append finished shards written by another writer (`part` from `part_info()`), in order."""
        self.close_shards()
        for f, rows in part["shards"]:
            self._shard_i += 1
            os.replace(f, self.tmp / "shards" / f"part-{self._shard_i:05d}.parquet")
            self.shard_rows.append(rows)
        self.n_docs += part["n_docs"]
        self.n_bytes += part["n_bytes"]
        for d, v in part["domain_docs"].items():
            self.domain_docs[d] = self.domain_docs.get(d, 0) + v
        for d, v in part["domain_bytes"].items():
            self.domain_bytes[d] = self.domain_bytes.get(d, 0) + v

    def part_info(self) -> dict[str, Any]:
        """Close everything and describe the shards written (for `adopt` by the main writer)."""
        self.close_shards()
        self._pool.shutdown()
        files = [self.tmp / "shards" / f"part-{i:05d}.parquet" for i in range(len(self.shard_rows))]
        return {
            "shards": [(str(f), r) for f, r in zip(files, self.shard_rows, strict=True)],
            "n_docs": self.n_docs,
            "n_bytes": self.n_bytes,
            "domain_docs": dict(self.domain_docs),
            "domain_bytes": dict(self.domain_bytes),
        }

    def finish(self, manifest: dict[str, Any], heldout_fraction: float, heldout_seed: int) -> Path:
        """Close shards, write manifest.json (with held-out counts) and move the store into place."""
        from macs.core.io import write_json

        self.close_shards()
        self._pool.shutdown()
        manifest = dict(manifest)
        manifest.setdefault("version", STORE_VERSION)
        manifest.update(stamp("store"))
        manifest["n_docs"] = self.n_docs
        manifest["n_bytes"] = self.n_bytes
        manifest["heldout"] = {
            "fraction": heldout_fraction,
            "seed": heldout_seed,
            "by": "parent_id hash (blake2b of 'seed\\x1fparent_id'), per domain",
        }
        manifest["shards"] = [
            {"file": f"shards/part-{i:05d}.parquet", "rows": r}
            for i, r in enumerate(self.shard_rows)
        ]
        write_json(self.tmp / "manifest.json", manifest)
        store = CorpusStore.open(self.tmp)
        mask = store.heldout_mask()
        np.save(self.tmp / "heldout.npy", mask)
        codes, names = store.domains()
        held = np.bincount(codes[mask], minlength=len(names)) if len(names) else []
        manifest["heldout"]["n_docs"] = int(mask.sum())
        per_domain = {}
        for i, d in enumerate(names):
            per_domain[d] = {
                "docs": self.domain_docs.get(d, 0),
                "bytes": self.domain_bytes.get(d, 0),
                "mb": round(self.domain_bytes.get(d, 0) / 1e6, 3),
                "heldout_docs": int(held[i]),
            }
        manifest["domains"] = per_domain
        write_json(self.tmp / "manifest.json", manifest)
        self._carry_derived()
        self._writer_file.unlink(missing_ok=True)
        replace_dir(self.tmp, self.out_dir)
        self._lock.close()
        return self.out_dir

    def _carry_derived(self) -> None:
        """Keep the old store's derived data when the documents are unchanged (hard links, so
        a kill before the swap leaves the old store whole); else refuse unless replace_derived."""
        old = self.out_dir
        lost = derived_data(old)
        if not lost:
            return
        if same_documents(old, self.tmp):
            for d in DERIVED_DIRS:
                if (old / d).is_dir():
                    shutil.copytree(old / d, self.tmp / d, copy_function=_link_or_copy)
            self.notes.append(f"kept {old}'s {'; '.join(lost)}: the documents are unchanged")
        elif not self.replace_derived:
            raise MacsError(
                f"{old} already holds a store with {'; '.join(lost)}, made from its current "
                "documents; this import has different documents, so replacing the store would "
                "delete them: add --force to replace the store and delete them, or import under "
                "another --name / --out (the store is unchanged)"
            )
        else:
            self.notes.append(f"replaced {old}: its {'; '.join(lost)} were deleted (--force)")

    def abort(self) -> None:
        """Drop the partial output (the old store, if any, is untouched)."""
        with contextlib.suppress(Exception):
            self._drain()
        self._pool.shutdown()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._lock.close()


DERIVED_DIRS = ("labels", "tokens", "selectors")  # made from a store's documents


def derived_data(store_dir: Path) -> list[str]:
    """What a store holds beyond its documents, e.g. ['labels (domain, quality)', 'token
    shards (gpt2)']; [] when nothing."""
    out = []
    for d, what in zip(DERIVED_DIRS, ("labels", "token shards", "selector caches"), strict=True):
        names = sorted(p.name for p in (store_dir / d).glob("*") if not p.name.startswith("."))
        if names:
            out.append(f"{what} ({', '.join(names)})")
    return out


def same_documents(a: Path, b: Path) -> bool:
    """True when the stores `a` and `b` have byte-identical shard files (same names)."""
    sa, sb = (
        sorted((a / "shards").glob("part-*.parquet")),
        sorted((b / "shards").glob("part-*.parquet")),
    )
    if [p.name for p in sa] != [p.name for p in sb]:
        return False
    if any(x.stat().st_size != y.stat().st_size for x, y in zip(sa, sb, strict=True)):
        return False
    return all(file_sha256(x) == file_sha256(y) for x, y in zip(sa, sb, strict=True))


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (no bytes copied), or a copy where the file system has none."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def store_path(cfg) -> Path:
    """The corpus store folder of a Config, for every command: labels.store if set, else
    run.data_dir/corpus/<corpus.name>."""
    explicit = getattr(getattr(cfg, "labels", None), "store", None)
    if explicit is not None:
        return Path(explicit)
    return Path(cfg.run.data_dir) / "corpus" / cfg.corpus.name
