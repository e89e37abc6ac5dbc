"""Stage manifests (Parquet: the documents chosen for a stage) and selection summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.console.console import Console
from macs.errors import MacsError

MANIFEST_META_KEY = b"macs"


def manifest_table(
    console: Console,
    idx: np.ndarray,
    ids: list[str],
    n_tokens: np.ndarray,
    scores: np.ndarray | None = None,
):
    """A pyarrow Table: id, doc, tokens, one dictionary column per actor (group name), score, times_selected.

    `score` is the console's aggregate score at selection time (higher = chosen first);
    `times_selected` counts the stages that chose the document, this one included.
    """
    import pyarrow as pa

    idx = np.asarray(idx, dtype=np.int64)
    if len(ids) != len(idx):
        raise MacsError(f"manifest: {len(ids)} ids for {len(idx)} selected docs")
    cols: dict[str, Any] = {
        "id": pa.array(ids, type=pa.string()),
        "doc": pa.array(idx, type=pa.int64()),
        "tokens": pa.array(np.asarray(n_tokens[idx], dtype=np.int64), type=pa.int64()),
    }
    for a in console.actors:
        g = np.asarray(a.groups[idx], dtype=np.int32)
        cols[a.name] = pa.DictionaryArray.from_arrays(
            pa.array(g, type=pa.int32()), pa.array(a.group_names, type=pa.string())
        )
    if scores is None:
        scores = np.full(len(idx), np.nan, dtype=np.float32)
    cols["score"] = pa.array(np.asarray(scores, dtype=np.float32), type=pa.float32())
    cols["times_selected"] = pa.array(console.counts[idx], type=pa.uint16())
    return pa.table(cols)


def write_manifest(path: str | Path, table, meta: dict[str, Any]) -> Path:
    """Write the manifest Parquet atomically with `meta` (JSON) in the schema metadata."""
    from macs.io import _default, write_parquet

    meta_json = json.dumps(meta, default=_default).encode("utf-8")
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), MANIFEST_META_KEY: meta_json}
    )
    write_parquet(path, table)
    return Path(path)


def read_manifest(path: str | Path):
    """(pyarrow Table, meta dict) of a stage manifest."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise MacsError(f"stage manifest {path} does not exist")
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(MANIFEST_META_KEY)
    return table, (json.loads(raw) if raw else {})


def summarize(
    console: Console,
    idx: np.ndarray,
    n_tokens: np.ndarray,
    eligible: np.ndarray | None = None,
    chunk: int = 1 << 22,
) -> dict[str, Any]:
    """Tokens per group of every actor: selected vs the eligible pool (shares sum to 1; ratio = sel/pool share)."""
    idx = np.asarray(idx, dtype=np.int64)
    sel_tok = np.asarray(n_tokens[idx], dtype=np.float64)
    total_sel = float(sel_tok.sum())
    out: dict[str, Any] = {
        "n_selected": int(len(idx)),
        "selected_tokens": int(total_sel),
    }
    per_actor: dict[str, Any] = {}
    total_pool = 0.0
    for a in console.actors:
        pool = np.zeros(a.n_groups)
        for s in range(0, console.n_docs, chunk):
            g = a.groups[s : s + chunk]
            t = np.asarray(n_tokens[s : s + chunk], dtype=np.float64)
            if eligible is not None:
                m = eligible[s : s + chunk]
                g, t = g[m], t[m]
            pool += np.bincount(g, weights=t, minlength=a.n_groups)[: a.n_groups]
        sel = np.bincount(a.groups[idx], weights=sel_tok, minlength=a.n_groups)[: a.n_groups]
        total_pool = float(pool.sum())
        rows = {}
        for j, name in enumerate(a.group_names):
            ps = pool[j] / total_pool if total_pool else 0.0
            ss = sel[j] / total_sel if total_sel else 0.0
            rows[name] = {
                "pool_tokens": int(pool[j]),
                "pool_share": round(ps, 6),
                "selected_tokens": int(sel[j]),
                "selected_share": round(ss, 6),
                "ratio": round(ss / ps, 4) if ps > 0 else None,
                "weight": round(float(a.weights[j]), 6),
            }
        per_actor[a.name] = rows
    if not console.actors:
        t = np.asarray(n_tokens, dtype=np.float64)
        total_pool = float(t[eligible].sum() if eligible is not None else t.sum())
    out["pool_tokens"] = int(total_pool)
    out["selected_fraction"] = round(total_sel / total_pool, 6) if total_pool else 0.0
    out["actors"] = per_actor
    return out
