"""Selected data in the formats other trainers read, each written with its ecosystem's library.

```python
from macs.app.export import write_export
summary = write_export("hf", "out/hf", store, idx, tokens=ts)   # docs, tokens, bytes, path, seconds
```
Formats: `hf` (datasets save_to_disk), `litdata` (litdata.optimize, LitGPT's TokensLoader
layout), `mds` (MosaicML streaming MDSWriter), `flat` (nanoGPT-style uint16/uint32 train.bin +
document index), `jsonl`. See docs/exports.md for how each one loads.
"""

from __future__ import annotations

from macs.app.export.api import FORMATS, TOKEN_FORMATS, write_export
from macs.app.export.jsonl import write_selected_jsonl
from macs.app.export.shards import write_selected_tokens

__all__ = [
    "FORMATS",
    "TOKEN_FORMATS",
    "write_export",
    "write_selected_jsonl",
    "write_selected_tokens",
]
