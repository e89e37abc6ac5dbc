"""The `meta` of imported records: each record's meta value (any JSON) kept as JSON text in
the store's `meta.parquet` (columns id = the record's id, which is its chunks' parent_id, and
meta), written while importing; `read_meta` reads it back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

META_FILE = "meta.parquet"


class MetaWriter:
    """Streams (id, meta JSON text) rows with a non-null meta into `folder`/meta.parquet."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / META_FILE
        self.rows = 0
        self._writer = None

    def add(self, table) -> None:
        """Add the rows of a pa.Table (id, meta) whose meta is not null."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = table.filter(pc.is_valid(table.column("meta")))
        if table.num_rows == 0:
            return
        schema = pa.schema([("id", pa.string()), ("meta", pa.string())])
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        self._writer.write_table(table.cast(schema))
        self.rows += table.num_rows

    def close(self) -> bool:
        """Close the file; True when it holds rows."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.rows > 0


def read_meta(store) -> dict[str, Any]:
    """{record id: its meta value} of a CorpusStore (or store folder); {} when none was kept.
    A chunk's record id is its parent_id."""
    import pyarrow.parquet as pq

    path = Path(getattr(store, "path", store)) / META_FILE
    if not path.exists():
        return {}
    t = pq.read_table(path)
    return {
        i: json.loads(m)
        for i, m in zip(t.column("id").to_pylist(), t.column("meta").to_pylist(), strict=True)
    }
