"""`write_export`: one entry point over every export format."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from macs.app.export.base import Selection, output_dir, tree_bytes
from macs.core.errors import MacsError
from macs.core.timing import Stopwatch

FORMATS = ("hf", "litdata", "mds", "flat", "jsonl")
TOKEN_FORMATS = ("litdata", "flat")  # need token shards; hf and mds add input_ids when given


def _writer(fmt: str) -> Callable[..., dict[str, Any]]:
    if fmt == "hf":
        from macs.app.export.hf import write_hf

        return write_hf
    if fmt == "litdata":
        from macs.app.export.lit import write_litdata

        return write_litdata
    if fmt == "mds":
        from macs.app.export.mds import write_mds

        return write_mds
    if fmt == "flat":
        from macs.app.export.flat import write_flat

        return write_flat
    if fmt == "jsonl":
        from macs.app.export.jsonl import write_jsonl

        return write_jsonl
    raise MacsError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def write_export(
    fmt: str,
    out: str | os.PathLike,
    store,
    idx: np.ndarray,
    tokens=None,
    log: Callable[[str], None] | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Write the docs `idx` of `store` (output order, repeats kept) as `fmt` at `out`.

    `tokens` (a TokenStore of the same store) adds token ids; litdata and flat need it.
    `opts` go to the format's writer (hf: num_shards; litdata: chunk_bytes, workers;
    mds: compression, size_limit; flat: batch_docs; jsonl: columns). Returns a summary:
    format, path, docs, tokens (without EOS; None without token shards), bytes on disk, seconds.
    """
    writer = _writer(fmt)
    known = list(inspect.signature(writer).parameters)[2:]
    for k in opts:
        if k not in known:
            raise MacsError(
                f"unknown option {k!r} for the {fmt} export (options: {', '.join(known) or 'none'})"
            )
    sel = Selection.make(store, idx, tokens)
    out = Path(out)
    clock = Stopwatch()
    if fmt == "jsonl":
        if out.is_dir():
            raise MacsError(
                f"{out} is a folder; the jsonl export writes one file (e.g. {out}/selected.jsonl)"
            )
        res = writer(sel, out, **opts)
    else:
        with output_dir(out) as tmp:
            res = writer(sel, tmp, **opts)
    summary = {
        "format": fmt,
        "path": str(out),
        "docs": sel.n_docs,
        "tokens": res.get("tokens"),
        "bytes": tree_bytes(out),
        "seconds": round(clock.seconds, 3),
    }
    if log is not None:
        tok = (
            f", {summary['tokens']:,} tokens (no EOS counted; training adds one per doc)"
            if summary["tokens"] is not None
            else ""
        )
        log(
            f"wrote {summary['docs']:,} docs{tok} as {fmt} to {out} "
            f"({summary['bytes'] / 1e6:,.1f} MB) in {summary['seconds']:.1f} s "
            f"({summary['docs'] / max(summary['seconds'], 1e-9):,.0f} docs/s)"
        )
    return summary
