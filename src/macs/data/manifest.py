"""The stage manifest: the one Parquet schema for a stage's selected documents.

Written by `macs select` (one static stage) and `macs train` (every stage, `stages/stage-K.parquet`),
read by the report and `macs export`. Columns (docs/architecture.md, "Stage manifest"):

| column | type | meaning |
|---|---|---|
| `doc` | int64 | doc index in the store's canonical order (sorted ascending) |
| `id` | string | document id |
| `tokens` | int64 | training tokens (the pool's token rule: content tokens + 1 EOS) |
| `times_selected` | uint16 | stages that chose the document, this one included |
| `score` | float32 | the selector's preference at selection time (higher = first; NaN if none) |
| `<label set>` | dictionary<int32, string> | the document's group under each label sidecar |
| `store_domain` | dictionary<int32, string> | the store's own domain column |

Schema metadata key `macs` holds JSON: `schema` (version), `kind` (`stage` | `static_select`),
`stage`, `method`, `seed`, `budget`, `store`, `token_source` and what the selector reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError

MANIFEST_META_KEY = b"macs"
MANIFEST_SCHEMA = 1
RESERVED_COLUMNS = ("doc", "id", "tokens", "times_selected", "score", "store_domain")


def _groups(codes: np.ndarray, names: list[str]):
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32), type=pa.int32()),
        pa.array([str(n) for n in names], type=pa.string()),
    )


def stage_table(
    pool,
    idx: np.ndarray,
    counts: np.ndarray,
    scores: np.ndarray | None = None,
    extra_groups: dict[str, tuple[np.ndarray, list[str]]] | None = None,
):
    """The manifest of the docs `idx` of `pool` as a pyarrow Table (counts: times selected so far, this stage included).

    `extra_groups` adds group columns that are not label sets of the pool (custom actors).
    """
    import pyarrow as pa

    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and np.any(np.diff(idx) <= 0):
        raise MacsError("stage manifest: doc indices must be sorted and unique")
    if scores is None:
        scores = np.full(idx.size, np.nan, dtype=np.float32)
    if len(scores) != idx.size:
        raise MacsError(f"stage manifest: {len(scores)} scores for {idx.size} documents")
    cols: dict[str, Any] = {
        "doc": pa.array(idx, type=pa.int64()),
        "id": pa.array(pool.ids(idx), type=pa.string()),
        "tokens": pa.array(pool.n_tokens[idx], type=pa.int64()),
        "times_selected": pa.array(np.asarray(counts)[idx].astype(np.uint16), type=pa.uint16()),
        "score": pa.array(np.asarray(scores, dtype=np.float32), type=pa.float32()),
    }
    groups = {n: (lab.groups, lab.group_names) for n, lab in pool.labels.items()}
    groups.update(extra_groups or {})
    for name, (codes, names) in groups.items():
        if name in RESERVED_COLUMNS:
            raise MacsError(f"label set {name!r} clashes with a manifest column; rename it")
        cols[name] = _groups(np.asarray(codes)[idx], names)
    if pool.domain_codes is not None and pool.domain_names:
        cols["store_domain"] = _groups(np.asarray(pool.domain_codes)[idx], pool.domain_names)
    return pa.table(cols)


def write_manifest(path: str | Path, table, meta: dict[str, Any]) -> Path:
    """Write the manifest Parquet atomically with `meta` (JSON) in the schema metadata."""
    from macs.core.io import _default, write_parquet

    meta = {"schema": MANIFEST_SCHEMA, **meta}
    meta_json = json.dumps(meta, default=_default).encode("utf-8")
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), MANIFEST_META_KEY: meta_json}
    )
    write_parquet(path, table)
    return Path(path)


def read_manifest(path: str | Path, columns: list[str] | None = None):
    """(pyarrow Table, meta dict) of a stage manifest; MacsError if missing or of another schema."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise MacsError(f"stage manifest {path} does not exist")
    try:
        table = pq.read_table(path, columns=columns)
        raw = (pq.read_schema(path).metadata or {}).get(MANIFEST_META_KEY)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise MacsError(f"stage manifest {path} cannot be read ({e}); delete it and rerun") from e
    meta = json.loads(raw) if raw else {}
    if meta.get("schema", MANIFEST_SCHEMA) > MANIFEST_SCHEMA:
        raise MacsError(
            f"{path} was written by a newer macs (manifest schema {meta['schema']}); upgrade macs"
        )
    return table, meta


def manifest_docs(path: str | Path) -> np.ndarray:
    """The doc indices (int64, canonical order) of a stage manifest."""
    table, _ = read_manifest(path, columns=["doc"])
    return table.column("doc").to_numpy().astype(np.int64)


def group_codes(table, column: str) -> tuple[np.ndarray, list[str]]:
    """(int codes, names) of a dictionary column of a manifest table."""
    import pyarrow as pa

    col = table.column(column).combine_chunks()
    if not pa.types.is_dictionary(col.type):
        raise MacsError(f"manifest column {column!r} is not a group column")
    return col.indices.to_numpy(zero_copy_only=False), col.dictionary.to_pylist()


def summarize(
    pool,
    idx: np.ndarray,
    weights: dict[str, np.ndarray] | None = None,
    extra_groups: dict[str, tuple[np.ndarray, list[str]]] | None = None,
) -> dict:
    """Tokens per group of every label set: selected vs the eligible pool (shares sum to 1; ratio = sel/pool)."""
    idx = np.asarray(idx, dtype=np.int64)
    sel_tok = int(pool.n_tokens[idx].sum())
    pool_tok = pool.eligible_tokens
    out: dict[str, Any] = {
        "n_selected": int(idx.size),
        "selected_tokens": sel_tok,
        "pool_tokens": pool_tok,
        "selected_fraction": round(sel_tok / pool_tok, 6) if pool_tok else 0.0,
        "actors": {},
    }
    groups = {n: (lab.groups, lab.group_names) for n, lab in pool.labels.items()}
    groups.update(extra_groups or {})
    for name, (codes, names) in groups.items():
        codes = np.asarray(codes)
        ps = pool.group_shares(codes, len(names))
        ss = pool.group_shares(codes, len(names), idx)
        w = (weights or {}).get(name)
        rows = {}
        for j, g in enumerate(names):
            rows[g] = {
                "pool_share": round(float(ps[j]), 6),
                "selected_share": round(float(ss[j]), 6),
                "ratio": round(float(ss[j] / ps[j]), 4) if ps[j] > 0 else None,
                "weight": None if w is None else round(float(w[j]), 6),
            }
        out["actors"][name] = rows
    return out
