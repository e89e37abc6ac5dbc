"""Moved to `macs.app.export` (kept so existing imports keep working)."""

from macs.app.export.jsonl import write_selected_jsonl
from macs.app.export.shards import write_selected_tokens

__all__ = ["write_selected_jsonl", "write_selected_tokens"]
