"""macs's own token-shard layout for a selection (opens with macs.data.corpus.tokens.TokenStore)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from macs.app.export.base import progress
from macs.core.errors import MacsError


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
    from macs.core.io import write_json
    from macs.data.corpus.store import replace_dir
    from macs.data.corpus.tokens import TokenStore

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
        prog = progress(len(idx), "writing selected tokens")
        with open(tmp / "tokens-00000.bin", "wb") as f, prog:
            for s in range(0, len(idx), batch_docs):
                part = [x for i in idx[s : s + batch_docs] for x in (ts.doc(int(i)), eos)]
                if part:
                    np.concatenate(part).astype(ts.dtype, copy=False).tofile(f)
                prog.advance(len(part) // 2)
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
