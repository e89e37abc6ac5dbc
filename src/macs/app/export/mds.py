"""MosaicML `streaming` MDS shards written with `MDSWriter`, read with its `StreamingDataset`.

Columns: id, text, domain (str), and input_ids (ndarray of the shards' dtype, one document
without EOS) when token shards are given.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

from macs.app.export.base import EXPORT_RECORD, Selection, missing_library, progress


def import_streaming() -> types.ModuleType:
    """MosaicML streaming's `streaming.base` (MDSWriter, StreamingDataset, ...).

    `import streaming` also imports its vision subpackage, which needs torchvision; PyPI's
    torchvision for Linux is a CUDA build that cannot load beside macs's CPU torch. The writer
    and the dataset live in `streaming.base`, which does not use torchvision, so when only
    torchvision is missing the package is entered without running its `__init__`.
    """
    try:
        spec = importlib.util.find_spec("streaming")
    except ValueError:  # a bare module object from an earlier call
        spec = None
    if spec is None and "streaming" not in sys.modules:
        raise missing_library("mosaicml-streaming", "mds")
    try:
        return importlib.import_module("streaming.base")
    except (ImportError, RuntimeError) as e:
        if "torchvision" not in f"{getattr(e, 'name', '')} {e}":
            raise missing_library("mosaicml-streaming", "mds", e) from e
    pkg = types.ModuleType("streaming")
    pkg.__path__ = list(spec.submodule_search_locations or [])
    pkg.__spec__ = spec
    pkg.__file__ = spec.origin
    sys.modules["streaming"] = pkg
    return importlib.import_module("streaming.base")


def write_mds(
    sel: Selection,
    tmp: Path,
    compression: str | None = None,
    size_limit: int | str = "64mb",
) -> dict[str, Any]:
    """Write every selected doc as one MDS sample into `tmp` (selection order, repeats kept)."""
    from macs.core.io import write_json

    sb = import_streaming()
    columns = {"id": "str", "text": "str", "domain": "str"}
    if sel.tokens is not None:
        columns["input_ids"] = f"ndarray:{sel.tokens.dtype.name}"
    prog = progress(sel.n_docs, "writing mds")
    with (
        sb.MDSWriter(
            out=str(tmp), columns=columns, compression=compression, size_limit=size_limit
        ) as w,
        prog,
    ):
        for b in sel.batches(text=True):
            for k in range(len(b["doc"])):
                sample = {c: b[c][k] for c in columns}
                w.write(sample)
            prog.advance(len(b["doc"]))
    from importlib.metadata import version

    rec = sel.record(
        "mds",
        columns=columns,
        compression=compression,
        streaming_version=version("mosaicml-streaming"),
    )
    write_json(tmp / EXPORT_RECORD, rec)
    return {"tokens": rec.get("tokens")}
