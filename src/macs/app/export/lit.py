"""LitGPT's streaming format: chunks written with `litdata.optimize` and a `TokensLoader`, the
layout LitGPT's pretraining data modules (`LitData`, `TextFiles`, `TinyLlama`) read with
`StreamingDataset(input_dir, item_loader=TokensLoader(block_size=seq_len + 1))`.

One item per selected document: its token ids followed by EOS as an int32 torch tensor (what
LitGPT's `Tokenizer.encode(text, eos=True)` yields), so the chunks hold the token stream in
selection order. A `docs.parquet` (id, doc, domain, offset, length) maps the stream back.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from macs.app.export.base import EXPORT_RECORD, Selection, missing_library


def _import_litdata():
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")  # no PyPI request per call
    try:
        import litdata
    except ImportError as e:
        raise missing_library("litdata", "litdata", e) from e
    return litdata


@contextmanager
def _private_cache(folder: Path) -> Iterator[None]:
    """Point litdata's scratch folders (default /tmp/chunks, /tmp/data, shared by every
    optimize call on the machine) at `folder` while it runs; remove it afterwards."""
    names = ("DATA_OPTIMIZER_CACHE_FOLDER", "DATA_OPTIMIZER_DATA_CACHE_FOLDER")
    old = {k: os.environ.get(k) for k in names}
    os.environ[names[0]] = str(folder / "chunks")
    os.environ[names[1]] = str(folder / "data")
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


def _items(span: tuple[int, int], token_path: str, idx: np.ndarray):
    """Yield doc + EOS as int32 tensors for positions span[0]..span[1]-1 (runs in a litdata worker)."""
    import torch

    from macs.data.corpus.tokens import TokenStore

    ts = TokenStore.open(token_path)
    eos = np.array([ts.eos_id], dtype=np.int32)
    for i in idx[span[0] : span[1]]:
        yield torch.from_numpy(np.concatenate([ts.doc(int(i)).astype(np.int32), eos]))


def write_litdata(
    sel: Selection,
    tmp: Path,
    chunk_bytes: int | str = "64MB",
    workers: int = 1,
    span_docs: int = 2048,
) -> dict[str, Any]:
    """Run `litdata.optimize` over the selection into `tmp` (order kept: keep_data_ordered)."""
    from macs.app.export.flat import write_doc_index
    from macs.core.io import write_json

    ts = sel.need_tokens("litdata")
    litdata = _import_litdata()
    from litdata import TokensLoader

    spans = [(a, min(a + span_docs, sel.n_docs)) for a in range(0, sel.n_docs, span_docs)]
    with _private_cache(tmp.with_name(tmp.name + ".cache")):
        litdata.optimize(
            fn=partial(_items, token_path=str(ts.path), idx=sel.idx),
            inputs=spans,
            output_dir=str(tmp),
            chunk_bytes=chunk_bytes,
            num_workers=max(1, min(workers, len(spans))),
            item_loader=TokensLoader(),
            keep_data_ordered=True,
            reorder_files=False,
            verbose=sys.stderr.isatty(),
        )
    lengths = sel.lengths()
    write_doc_index(sel, tmp, lengths)
    n_tok = int(lengths.sum())
    rec = sel.record(
        "litdata",
        litdata_version=litdata.__version__,
        item_dtype="int32",
        tokens_with_eos=n_tok + sel.n_docs,
    )
    write_json(tmp / EXPORT_RECORD, rec)
    return {"tokens": n_tok}
