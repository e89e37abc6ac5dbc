"""JSONL exports: one JSON object per selected document, in selection order."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.app.export.base import Selection, progress


def write_jsonl(
    sel: Selection, out: str | Path, columns: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, Any]:
    """Write id, text, domain (+ `tokens` per doc with token shards, + `meta`, each record's
    meta, when the store kept them, + `columns`) as JSONL atomically.

    `columns` maps a field name to values aligned with the selection (e.g. a stage manifest's
    score, higher = chosen first, and each actor's group); written after the standard fields.
    """
    from macs.core.io import atomic_path

    cols = {k: list(v) for k, v in (columns or {}).items()}
    for k, v in cols.items():
        if len(v) != sel.n_docs:
            raise ValueError(f"column {k!r} has {len(v)} values for {sel.n_docs} documents")
    lengths = sel.lengths() if sel.tokens is not None else None
    with_meta = sel.has_meta()
    n = 0
    prog = progress(sel.n_docs, "writing jsonl")
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f, prog:
        for b in sel.batches(text=True, meta=with_meta):
            for k in range(len(b["doc"])):
                rec: dict[str, Any] = {
                    "id": b["id"][k],
                    "text": b["text"][k],
                    "domain": b["domain"][k],
                }
                if lengths is not None:
                    rec["tokens"] = int(lengths[n + k])
                if with_meta:
                    rec["meta"] = b["meta"][k]
                for c, v in cols.items():
                    rec[c] = _plain(v[n + k])
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += len(b["doc"])
            prog.advance(len(b["doc"]))
    return {"tokens": int(lengths.sum()) if lengths is not None else None}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def write_selected_jsonl(
    path: str | Path,
    store,
    console,
    idx: np.ndarray,
    n_tokens: np.ndarray,
    scores: np.ndarray,
    log: Callable[[str], None] = print,
) -> int:
    """Stream the selected docs (canonical order) to JSONL atomically: id, text, tokens, score,
    groups (+ meta, each record's meta, when the store kept them).

    `scores` are S(x) at selection time (higher = chosen first), aligned with `idx`;
    `console` supplies each actor's groups (one field per actor, the group name).
    """
    from macs.core.io import atomic_path
    from macs.data.corpus.meta import read_meta

    idx = np.asarray(idx, dtype=np.int64)
    meta = read_meta(store)
    cols = ["id", "text", "parent_id"] if meta else ["id", "text"]
    n = 0
    prog = progress(len(idx), "writing selected docs")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f, prog:
        start = pos = 0  # first doc of the batch; position in idx
        for batch in store.iter_batches(columns=cols, batch_size=8192):
            end = start + batch.num_rows
            stop = int(np.searchsorted(idx, end, side="left"))
            if stop > pos:
                local = idx[pos:stop] - start
                ids = batch.column(0).take(local).to_pylist()
                texts = batch.column(1).take(local).to_pylist()
                parents = batch.column(2).take(local).to_pylist() if meta else None
                for k, (i, t) in enumerate(zip(ids, texts, strict=True)):
                    d = int(idx[pos + k])
                    rec = {
                        "id": i,
                        "text": t,
                        "tokens": int(n_tokens[d]),
                        "score": float(scores[pos + k]),
                    }
                    for a in console.actors:
                        rec[a.name] = a.group_names[int(a.groups[d])]
                    if parents is not None:
                        rec["meta"] = meta.get(parents[k])
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += stop - pos
                prog.advance(stop - pos)
                pos = stop
            start = end
    log(f"wrote {n:,} selected documents to {path}")
    return n
