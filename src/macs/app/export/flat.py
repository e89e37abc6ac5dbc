"""nanoGPT-style flat token file: `train.bin` (uint16 when the vocabulary fits, else uint32),
each selected document's tokens followed by EOS, plus a document index.

Files: `train.bin`; `index.npy` (int64, shape (n, 2): offset of the doc's first token in
train.bin, length without EOS; selection order); `docs.parquet` (id, doc, domain, offset,
length); `macs_export.json`. Read with `np.memmap(path / "train.bin", dtype=..., mode="r")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from macs.app.export.base import EXPORT_RECORD, Selection, progress

TOKENS_FILE = "train.bin"


def stream_offsets(lengths: np.ndarray) -> np.ndarray:
    """Offset (tokens) of each doc in a stream where every doc is followed by one EOS."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)


def write_doc_index(sel: Selection, tmp: Path, lengths: np.ndarray) -> None:
    """Write docs.parquet (id, doc, domain, offset, length) for a token stream in `tmp`."""
    import pyarrow as pa

    from macs.core.io import write_parquet

    ids, domains = [], []
    for a in range(0, sel.n_docs, 65536):
        b = sel.idx[a : a + 65536]
        ids += sel.store.ids(b)
        domains += sel.domain_names(b)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "doc": pa.array(sel.idx, pa.int64()),
            "domain": pa.array(domains, pa.string()).dictionary_encode(),
            "offset": pa.array(stream_offsets(lengths), pa.int64()),
            "length": pa.array(lengths, pa.int64()),
        }
    )
    write_parquet(tmp / "docs.parquet", table)


def write_flat(sel: Selection, tmp: Path, batch_docs: int = 8192) -> dict[str, Any]:
    """Write train.bin (docs + EOS, the shards' dtype), index.npy and docs.parquet into `tmp`."""
    from macs.core.io import write_json

    ts = sel.need_tokens("flat")
    lengths = sel.lengths()
    eos = np.array([ts.eos_id], dtype=ts.dtype)
    prog = progress(sel.n_docs, "writing flat tokens")
    with open(tmp / TOKENS_FILE, "wb") as f, prog:
        for a in range(0, sel.n_docs, batch_docs):
            b = sel.idx[a : a + batch_docs]
            np.concatenate([x for i in b for x in (ts.doc(int(i)), eos)]).astype(
                ts.dtype, copy=False
            ).tofile(f)
            prog.advance(len(b))
    index = np.stack([stream_offsets(lengths), lengths], axis=1)
    np.save(tmp / "index.npy", index)
    write_doc_index(sel, tmp, lengths)
    n_tok = int(lengths.sum())
    write_json(
        tmp / EXPORT_RECORD,
        sel.record("flat", tokens_file=TOKENS_FILE, tokens_with_eos=n_tok + sel.n_docs),
    )
    return {"tokens": n_tok}


def read_flat(path: str | Path) -> tuple[np.memmap, np.ndarray, dict[str, Any]]:
    """(tokens memmap, index (n, 2) offset/length, export record) of a flat export."""
    from macs.core.io import read_json

    path = Path(path)
    rec = read_json(path / EXPORT_RECORD)
    tokens = np.memmap(path / TOKENS_FILE, dtype=np.dtype(rec["token_dtype"]), mode="r")
    return tokens, np.load(path / "index.npy"), rec
