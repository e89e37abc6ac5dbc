"""Write a selection's documents out: JSONL (text + groups) or token shards (TokenStore layout)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from macs.errors import MacsError


def _progress():
    """A transient progress bar on stderr (hidden when stderr is not a terminal)."""
    import sys

    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())


def write_selected_jsonl(
    path: str | Path,
    store,
    console,
    idx: np.ndarray,
    n_tokens: np.ndarray,
    scores: np.ndarray,
    log: Callable[[str], None] = print,
) -> int:
    """Stream the selected docs (canonical order) to JSONL atomically: id, text, tokens, score, groups."""
    from macs.io import atomic_path

    idx = np.asarray(idx, dtype=np.int64)
    n = 0
    with (
        atomic_path(path) as tmp,
        open(tmp, "w", encoding="utf-8") as f,
        _progress() as bar,
    ):
        task = bar.add_task("writing selected docs", total=len(idx))
        start = pos = 0  # first doc of the batch; position in idx
        for batch in store.iter_batches(columns=["id", "text"], batch_size=8192):
            end = start + batch.num_rows
            stop = int(np.searchsorted(idx, end, side="left"))
            if stop > pos:
                local = idx[pos:stop] - start
                ids = batch.column(0).take(local).to_pylist()
                texts = batch.column(1).take(local).to_pylist()
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
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += stop - pos
                bar.advance(task, stop - pos)
                pos = stop
            start = end
    log(f"wrote {n:,} selected documents to {path}")
    return n


def write_selected_tokens(
    out_dir: str | Path,
    token_dir: str | Path,
    idx: np.ndarray,
    log: Callable[[str], None] = print,
    batch_docs: int = 4096,
) -> Path:
    """Copy the selected docs' tokens into a new token-shard folder (opens with TokenStore).

    Layout as `macs corpus tokenize` writes it: `tokens-00000.bin` (each doc + EOS),
    `index.npy` (file, offset, length) and `meta.json`, plus `docs.npy` (the source doc
    indices, int64). Written to a temp folder and swapped in, so a crash leaves no half output.
    """
    from macs.corpus.store import replace_dir
    from macs.corpus.tokens import TokenStore
    from macs.io import write_json

    ts = TokenStore.open(token_dir)
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= ts.n_docs):
        raise MacsError(f"{token_dir}: selected doc index out of range 0..{ts.n_docs - 1}")
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lengths = ts.lengths[idx]
    offsets = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    eos = np.array([ts.eos_id], dtype=ts.dtype)
    try:
        with open(tmp / "tokens-00000.bin", "wb") as f, _progress() as bar:
            task = bar.add_task("writing selected tokens", total=len(idx))
            for s in range(0, len(idx), batch_docs):
                part = [x for i in idx[s : s + batch_docs] for x in (ts.doc(int(i)), eos)]
                if part:
                    np.concatenate(part).astype(ts.dtype, copy=False).tofile(f)
                bar.advance(task, len(part) // 2)
        index = np.stack([np.zeros_like(idx), offsets, lengths], axis=1)
        np.save(tmp / "index.npy", index)
        np.save(tmp / "docs.npy", idx)
        n_tok = int(lengths.sum())
        meta = {
            **{k: v for k, v in ts.meta.items() if k not in ("files", "workers", "seconds")},
            "n_docs": len(idx),
            "n_tokens": n_tok,
            "n_tokens_with_eos": n_tok + len(idx),
            "files": [{"file": "tokens-00000.bin", "n_tokens": n_tok + len(idx)}],
            "selected_from": str(Path(token_dir).resolve()),
        }
        write_json(tmp / "meta.json", meta)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"wrote {len(idx):,} selected documents, {n_tok:,} tokens as token shards to {out}")
    return out
