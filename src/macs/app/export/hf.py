"""Hugging Face `datasets` export: a Dataset (id, text, domain, + input_ids with token shards,
+ meta as JSON text when the store kept its records' meta) written with `save_to_disk`,
loadable with `datasets.load_from_disk`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from macs.app.export.base import EXPORT_RECORD, Selection, missing_library


def _rows(
    store_path: str, token_path: str | None, idx: np.ndarray, meta: bool = False
) -> Iterator[dict[str, Any]]:
    """The rows of the dataset (a module-level generator, so `datasets` can fingerprint it)."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokens import TokenStore

    tokens = TokenStore.open(token_path) if token_path else None
    sel = Selection(CorpusStore.open(store_path), idx, tokens)
    for b in sel.batches(text=True, meta=meta):
        for k in range(len(b["doc"])):
            row = {"id": b["id"][k], "text": b["text"][k], "domain": b["domain"][k]}
            if tokens is not None:
                row["input_ids"] = b["input_ids"][k].astype(np.int32)
            if meta:  # any JSON: one string column (json.loads it), None where a record had none
                m = b["meta"][k]
                row["meta"] = None if m is None else json.dumps(m, ensure_ascii=False)
            yield row


def write_hf(sel: Selection, tmp: Path, num_shards: int | None = None) -> dict[str, Any]:
    """Build the Dataset with `Dataset.from_generator` and `save_to_disk` it into `tmp`.

    input_ids are int32, one document per row, without EOS (add it when packing); meta is
    the record's meta as JSON text.
    """
    try:
        import datasets
    except ImportError as e:
        raise missing_library("datasets", "hf", e) from e
    from macs.core.io import write_json

    feats = {
        "id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "domain": datasets.Value("string"),
    }
    if sel.tokens is not None:
        feats["input_ids"] = datasets.Sequence(datasets.Value("int32"))
    with_meta = sel.has_meta()
    if with_meta:
        feats["meta"] = datasets.Value("string")
    cache = tmp.with_name(tmp.name + ".cache")
    bars = datasets.utils.logging.is_progress_bar_enabled()
    if not sys.stderr.isatty():
        datasets.disable_progress_bars()
    try:
        ds = datasets.Dataset.from_generator(
            _rows,
            features=datasets.Features(feats),
            gen_kwargs={
                "store_path": str(sel.store.path),
                "token_path": str(sel.tokens.path) if sel.tokens is not None else None,
                "idx": sel.idx,
                "meta": with_meta,
            },
            cache_dir=str(cache),
        )
        ds.save_to_disk(str(tmp), num_shards=num_shards)
        del ds
    finally:
        if bars:
            datasets.enable_progress_bars()
        shutil.rmtree(cache, ignore_errors=True)
    rec = sel.record("hf", columns=list(feats), datasets_version=datasets.__version__)
    write_json(tmp / EXPORT_RECORD, rec)
    return {"tokens": rec.get("tokens")}
