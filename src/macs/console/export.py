"""Moved to `macs.export` (kept so existing imports keep working)."""

from macs.export.jsonl import write_selected_jsonl
from macs.export.shards import write_selected_tokens

__all__ = ["write_selected_jsonl", "write_selected_tokens"]
