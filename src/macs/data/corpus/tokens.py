"""Token shards: a corpus store tokenized into memory-mapped arrays with a document index.

Layout `<store>/tokens/<tokenizer-name>/`: `tokens-00000.bin ...` (raw uint16 when the
vocabulary fits, else uint32; each document's tokens followed by one EOS), `index.npy`
(int64, shape (n_docs, 3): file number, offset in tokens within that file, length without
EOS; canonical doc order) and `meta.json`. Readers memory-map the files, never load them.
"""

from __future__ import annotations

import os
import sys
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.executor import Executor
from macs.core.formats import check_format, stamp
from macs.core.progress import Bar
from macs.core.timing import Stopwatch

UNIT_BYTES = 16 << 20  # text bytes per work unit / token file


class TokenStore:
    """Read-only view of token shards: `doc(i)` is a memmap view of doc i's tokens (no EOS)."""

    def __init__(self, path: Path, meta: dict[str, Any], index: np.ndarray):
        self.path = path
        self.meta = meta
        self._index = index
        self.dtype = np.dtype(meta["dtype"])
        self.eos_id = int(meta["eos_id"])
        self.vocab_size = int(meta["vocab_size"])
        self.n_docs = int(index.shape[0])
        self.lengths = np.ascontiguousarray(index[:, 2], dtype=np.int64)
        self.offsets = np.ascontiguousarray(index[:, 1], dtype=np.int64)
        self.file_of = np.ascontiguousarray(index[:, 0], dtype=np.int32)
        self.files = [path / f["file"] for f in meta["files"]]
        self._mm: dict[int, np.memmap] = {}

    @classmethod
    def open(cls, path: str | os.PathLike) -> TokenStore:
        """Open a token-shard folder; MacsError if it is missing or damaged."""
        from macs.core.io import read_json

        path = Path(path)
        if not (path / "meta.json").exists() or not (path / "index.npy").exists():
            raise MacsError(f"{path}: no token shards here; run `macs corpus tokenize` first")
        try:
            meta = read_json(path / "meta.json")
            check_format("tokens", meta, path)
            index = np.load(path / "index.npy", mmap_mode="r")
        except (ValueError, OSError) as e:
            raise MacsError(
                f"{path}: damaged token shards ({e}); re-run `macs corpus tokenize --force`"
            ) from e
        if index.ndim != 2 or index.shape[1] != 3 or index.shape[0] != int(meta["n_docs"]):
            raise MacsError(
                f"{path}/index.npy does not match meta.json; re-run `macs corpus tokenize`"
            )
        return cls(path, meta, np.asarray(index))

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return (
            f"TokenStore({str(self.path)!r}, n_docs={self.n_docs}, n_tokens={self.n_tokens}, "
            f"dtype={self.dtype.name}, vocab={self.vocab_size})"
        )

    @property
    def n_tokens(self) -> int:
        """Total tokens without EOS."""
        return int(self.lengths.sum())

    @property
    def tokenizer_path(self) -> Path | None:
        """The tokenizer.json these shards were made with (as recorded in meta.json)."""
        p = self.meta.get("tokenizer_path")
        return Path(p) if p else None

    def memmap(self, k: int) -> np.memmap:
        """The k-th token file as a read-only memmap (docs separated by EOS)."""
        mm = self._mm.get(k)
        if mm is None:
            f = self.files[k]
            if f.stat().st_size == 0:
                mm = np.zeros(0, dtype=self.dtype)
            else:
                mm = np.memmap(f, dtype=self.dtype, mode="r")
            self._mm[k] = mm
        return mm

    def doc(self, i: int) -> np.ndarray:
        """Token ids of doc i (canonical order), a memmap view without the trailing EOS."""
        if i < 0 or i >= self.n_docs:
            raise IndexError(f"doc index {i} out of range 0..{self.n_docs - 1}")
        off = int(self.offsets[i])
        return self.memmap(int(self.file_of[i]))[off : off + int(self.lengths[i])]

    def docs(self, indices) -> list[np.ndarray]:
        """Token arrays of several docs."""
        return [self.doc(int(i)) for i in indices]


def _encode_unit(args: tuple) -> tuple[int, np.ndarray, float]:
    """Worker: tokenize docs of row groups `groups` of one shard into `out_file` (tokens + EOS)."""
    shard, groups, tok_path, out_file, dtype, batch_docs, threads = args
    if not threads:
        os.environ["RAYON_NUM_THREADS"] = "1"
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    clock = Stopwatch()
    tok = Tokenizer.from_file(tok_path)
    tok.encode_special_tokens = True  # a literal "<|endoftext|>" in a text is text, not EOS
    eos = tok.token_to_id("<|endoftext|>")
    batch_encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    pf = pq.ParquetFile(shard)
    lengths: list[np.ndarray] = []
    dt = np.dtype(dtype)
    with open(out_file, "wb") as f:
        for g in groups:
            texts = pf.read_row_group(g, columns=["text"]).column(0).to_pylist()
            for s in range(0, len(texts), batch_docs):
                batch = texts[s : s + batch_docs]
                if threads:  # encode_batch_fast skips character offsets (tokenizers >= 0.21)
                    encs = batch_encode(batch, add_special_tokens=False)
                else:
                    encs = [tok.encode(t, add_special_tokens=False) for t in batch]
                ids = [e.ids for e in encs]
                lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
                for x in ids:
                    x.append(eos)
                # one C-level pass over the whole batch: tokens, EOS, tokens, EOS, ...
                flat = np.fromiter(
                    chain.from_iterable(ids), dtype=dt, count=int(lens.sum()) + len(ids)
                )
                f.write(flat.tobytes())
                lengths.append(lens)
    out = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    return 0, out, clock.seconds


def _units(store, unit_bytes: int) -> list[tuple[Path, list[int], int, int]]:
    """Work units (shard, row groups, first doc, n docs) of about unit_bytes text each."""
    units = []
    doc = 0
    for shard, pf in zip(store.shards, store._files, strict=True):
        md = pf.metadata
        cur: list[int] = []
        cur_docs = cur_bytes = 0
        start = doc
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            cur.append(g)
            cur_docs += rg.num_rows
            cur_bytes += rg.total_byte_size
            if cur_bytes >= unit_bytes:
                units.append((shard, cur, start, cur_docs))
                start += cur_docs
                cur, cur_docs, cur_bytes = [], 0, 0
        if cur:
            units.append((shard, cur, start, cur_docs))
            start += cur_docs
        doc = start
    return units


def tokens_dir(store, name: str) -> Path:
    """`<store>/tokens/<name>`."""
    return Path(store.path) / "tokens" / name


def tokenize_store(
    store,
    tokenizer_json: str | os.PathLike,
    name: str | None = None,
    *,
    workers: int | None = None,
    batch_docs: int = 1024,
    unit_mb: float = 16.0,
    force: bool = False,
    progress: bool = True,
) -> TokenStore:
    """Tokenize every doc of `store` into `<store>/tokens/<name>` (parallel over units of row
    groups, EOS after each doc); reuses existing shards made with the same tokenizer. Holds the
    store's shared lock and its exclusive tokens lock (see macs.core.lock.store_lock)."""
    from macs.core.lock import store_lock

    with store_lock(store.path, "macs corpus tokenize", area="tokens"):
        store.check_unchanged()
        return _tokenize_store(
            store, tokenizer_json, name, workers, batch_docs, unit_mb, force, progress
        )


def _tokenize_store(
    store, tokenizer_json, name, workers, batch_docs, unit_mb, force, progress
) -> TokenStore:
    import hashlib

    from macs.core.io import writing
    from macs.data.corpus.store import clean_stale
    from macs.data.corpus.tokenizer import eos_id, load_tokenizer

    tok_path = Path(tokenizer_json)
    if tok_path.is_dir():
        tok_path = tok_path / "tokenizer.json"
    tok = load_tokenizer(tok_path)
    vocab = tok.get_vocab_size()
    tok_info = {
        "tokenizer": name or tok_path.parent.name,
        "tokenizer_path": str(tok_path.resolve()),
        "tokenizer_sha256": hashlib.sha256(tok_path.read_bytes()).hexdigest(),
        "vocab_size": vocab,
        "eos_id": eos_id(tok),
        "dtype": "uint16" if vocab <= 65536 else "uint32",
    }
    out = tokens_dir(store, tok_info["tokenizer"])
    if not force and (out / "meta.json").exists():
        try:
            ts = TokenStore.open(out)
            same = ts.meta.get("tokenizer_sha256") == tok_info["tokenizer_sha256"] and ts.meta.get(
                "store_n_bytes"
            ) == store.manifest.get("n_bytes")
            if same and ts.n_docs == store.n_docs:
                return ts
        except MacsError:
            pass
    clock = Stopwatch()
    units = _units(store, int(unit_mb * (1 << 20)))
    # few cores: one process, Rust threads inside encode_batch; many: one process per unit
    default = 1 if (os.cpu_count() or 1) <= 4 else (os.cpu_count() or 1)
    workers = max(1, min(workers or default, len(units) or 1))
    clean_stale(out)
    with writing(out, f"the previous token shards in {out} (if any) are unchanged"):
        meta = _tokenize_into(out, store, units, tok_info, workers, batch_docs, progress, clock)
    ts = TokenStore.open(out)
    if progress:
        secs = meta["seconds"]
        print(
            f"tokenized {store.n_docs} docs into {ts.n_tokens} tokens ({tok_info['dtype']}, "
            f"{meta['bytes_per_token']} bytes/token) in {secs:.1f} s "
            f"({ts.n_tokens / max(secs, 1e-9):,.0f} tokens/s, {workers} workers) -> {out}",
            file=sys.stderr,
        )
    return ts


def _tokenize_into(
    out: Path, store, units, tok_info, workers, batch_docs, progress, clock: Stopwatch
) -> dict:
    """Write the token files, index.npy and meta.json in a temp folder, then swap it into
    `out` (a kill or an error leaves the previous shards); returns the meta."""
    import shutil

    from macs.core.io import write_json
    from macs.data.corpus.importer import idle_cores
    from macs.data.corpus.store import replace_dir

    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    files = [f"tokens-{k:05d}.bin" for k in range(len(units))]
    # one unit -> threaded encode_batch in this process; several -> one process per unit
    threads = workers == 1
    rust_parallel = threads and idle_cores() >= 2
    tok_file, dtype = tok_info["tokenizer_path"], tok_info["dtype"]
    jobs = [
        (str(u[0]), u[1], tok_file, str(tmp / files[k]), dtype, batch_docs, threads)
        for k, u in enumerate(units)
    ]
    bar = Bar(store.n_docs, f"tokenize ({tok_info['tokenizer']})", progress, unit="docs")
    try:
        lengths = _encode_all(jobs, [u[3] for u in units], workers, rust_parallel, bar)
        bar.close()
        index, file_tokens = _index(store.n_docs, units, lengths)
        np.save(tmp / "index.npy", index)
        run_info = {
            "workers": workers,
            "rust_threads": ((os.cpu_count() or 1) if rust_parallel else 1) if threads else 0,
            "seconds": round(clock.seconds, 2),
        }
        meta = _meta(store, tok_info, index, dict(zip(files, file_tokens, strict=True)), run_info)
        write_json(tmp / "meta.json", meta)
        store.check_unchanged()  # shards of a replaced store's documents are never published
        replace_dir(tmp, out)
    except BaseException:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _encode_all(
    jobs: list, unit_docs: list[int], workers: int, rust_parallel: bool, bar: Bar
) -> list:
    """Token lengths (np.int64 per doc) of every unit: in this process (batches on the Rust
    thread pool when a second core is free; serially on a busy machine, where idle pool
    threads only burn the session's CPU share), or on `workers` spawned processes of the
    executor (macs.core.executor), one unit at a time each."""
    lengths: list[np.ndarray | None] = [None] * len(jobs)
    env = os.environ.get("TOKENIZERS_PARALLELISM")
    if workers == 1 and not rust_parallel:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        with Executor(workers, jobs) as ex:
            for k, (_, lens, _) in ex.map(_encode_job, range(len(jobs))):
                lengths[k] = lens
                bar.advance(unit_docs[k])
    finally:
        if env is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = env
    return lengths


def _encode_job(jobs: list, k: int) -> tuple[int, np.ndarray, float]:
    """Unit `k` of `jobs` (see `_encode_unit`), here or in a worker process."""
    return _encode_unit(jobs[k])


def _meta(store, tok_info: dict, index: np.ndarray, files: dict[str, int], run_info: dict) -> dict:
    """meta.json of token shards: format, tokenizer, counts, files (tokens with EOS), timing."""
    n_tokens = int(index[:, 2].sum())
    n_bytes = int(store.manifest.get("n_bytes", 0))
    return {
        **stamp("tokens"),
        **tok_info,
        "n_docs": store.n_docs,
        "n_tokens": n_tokens,
        "n_tokens_with_eos": n_tokens + store.n_docs,
        "store": str(store.path),
        "store_n_bytes": store.manifest.get("n_bytes"),
        "bytes_per_token": round(n_bytes / max(1, n_tokens), 4),
        "files": [{"file": f, "n_tokens": n} for f, n in files.items()],
        **run_info,
    }


def _index(n_docs: int, units: list, lengths: list) -> tuple[np.ndarray, list[int]]:
    """The (n_docs, 3) index (file, offset in tokens, length) and each file's tokens with EOS."""
    index = np.zeros((n_docs, 3), dtype=np.int64)
    file_tokens = []
    for k, u in enumerate(units):
        lens = lengths[k]
        assert lens is not None and lens.size == u[3]
        start = u[2]
        offs = np.concatenate([[0], np.cumsum(lens + 1)[:-1]]) if lens.size else lens
        index[start : start + u[3], 0] = k
        index[start : start + u[3], 1] = offs
        index[start : start + u[3], 2] = lens
        file_tokens.append(int(lens.sum() + lens.size))
    return index, file_tokens
