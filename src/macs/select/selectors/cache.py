"""Shared by the static baselines: seeded noise keys, and per-pool caches: where they live, how
they are keyed, and the label-style per-document sidecars (`scores.parquet` with `id` + value columns, then
`manifest.json`, written last, as the completion marker).

A cache folder is `<ctx.cache_dir>/<method>/`, or `<store>/selectors/<method>/` (as `macs train` sets it) when the context
names no cache folder, so work on a pool is shared by every run and seed over that pool.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import read_json, write_json, write_parquet
from macs.select.selectors.base import SelectorContext

SCORES = "scores.parquet"
MANIFEST = "manifest.json"


def seed_key(seed: int, salt: int) -> int:
    """A 64-bit noise key derived from a run seed and a per-method salt (independent streams)."""
    words = np.random.SeedSequence([int(seed) & (2**63 - 1), salt]).generate_state(1, np.uint64)
    return int(words[0])


def digest(obj: Any) -> str:
    """A 16-hex-digit sha256 of a JSON-able object (keys sorted): the cache key of settings."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir(cfg) -> Path:
    """Where selectors cache per-pool work (scores, sweeps) for a config: <store>/selectors/."""
    from macs.data.corpus.store import store_path

    return store_path(cfg) / "selectors"


def cache_root(ctx: SelectorContext, method: str) -> Path:
    """The cache folder of `method` over ctx's pool (ctx.cache_dir, else the store's cache/)."""
    if ctx.cache_dir is not None:
        return Path(ctx.cache_dir) / method
    store = getattr(ctx.pool, "store", None)
    if store is None:
        raise MacsError(
            f"method {method}: this pool has neither a corpus store nor a cache folder; "
            "open the pool from a corpus store (macs.data.pool.open_pool)"
        )
    return Path(store.path) / "selectors" / method


def pool_fingerprint(pool) -> dict[str, Any]:
    """What identifies a pool's documents: their count and the sha256 of the store manifest."""
    store = getattr(pool, "store", None)
    manifest = getattr(store, "manifest", None) if store is not None else None
    return {
        "n_docs": int(pool.n_docs),
        "store_manifest": digest(manifest) if manifest is not None else None,
    }


def write_doc_scores(
    folder: Path, pool, columns: dict[str, np.ndarray], manifest: dict[str, Any]
) -> Path:
    """Write one value per pool document (canonical order) with its id, then the manifest."""
    import pyarrow as pa

    n = pool.n_docs
    for name, col in columns.items():
        if np.asarray(col).shape != (n,):
            raise ValueError(f"column {name!r} has shape {np.shape(col)}, the pool has {n} docs")
    ids = pool.ids(np.arange(n, dtype=np.int64))
    table = pa.table(
        {"id": pa.array(ids, pa.string()), **{k: np.asarray(v) for k, v in columns.items()}}
    )
    folder = Path(folder)
    write_parquet(folder / SCORES, table)
    write_json(folder / MANIFEST, {**manifest, "n_docs": n, "columns": list(columns)})
    return folder / SCORES


def read_doc_scores(folder: Path, pool, names: list[str]) -> dict[str, np.ndarray] | None:
    """The cached columns `names` of a finished sidecar aligned to the pool, or None when absent."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    if not (folder / MANIFEST).exists() or not (folder / SCORES).exists():
        return None
    man = read_json(folder / MANIFEST)
    table = pq.read_table(folder / SCORES)
    missing = [c for c in ["id", *names] if c not in table.column_names]
    if missing or table.num_rows != pool.n_docs or man.get("n_docs") != pool.n_docs:
        raise MacsError(
            f"{folder / SCORES}: cached scores do not match this pool ({table.num_rows} rows, "
            f"pool has {pool.n_docs}; missing columns {missing}); delete the folder and rerun"
        )
    if table.column("id").to_pylist() != pool.ids(np.arange(pool.n_docs, dtype=np.int64)):
        raise MacsError(
            f"{folder / SCORES}: cached document ids differ from the pool's; delete the folder and rerun"
        )
    return {c: table.column(c).to_numpy() for c in names}


def file_fingerprint(folder: Path) -> list[dict[str, Any]]:
    """Name, size and sha256 of the first MiB of every file in a model folder (its identity)."""
    out = []
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            with p.open("rb") as f:
                head = hashlib.sha256(f.read(1 << 20)).hexdigest()[:16]
            out.append({"file": p.name, "bytes": p.stat().st_size, "head_sha256": head})
    return out
