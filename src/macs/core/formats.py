"""Format versions of what macs writes (corpus stores, token shards, label sidecars, run
directories): each records `format` (an integer this module owns) and `macs_version`; a
reader refuses, in one line, a folder written by a newer macs (a format it does not know) or
by an older one it can no longer read, saying what to do."""

from __future__ import annotations

import os
from typing import Any

from macs.core.errors import MacsError

# the format each kind of output is written in now; readers accept FORMATS[k] down to READS[k]
FORMATS = {"store": 1, "tokens": 1, "labels": 1, "run": 1}
READS = {"store": 1, "tokens": 1, "labels": 1, "run": 1}
_WHAT = {
    "store": ("corpus store", "re-import it with `macs corpus import` (or `macs corpus build`)"),
    "tokens": ("token shards", "re-run `macs corpus tokenize --force`"),
    "labels": ("label sidecar", "re-run `macs label --force`"),
    "run": ("run directory", "start a new run (another run.name)"),
}


def stamp(kind: str) -> dict[str, Any]:
    """The fields to write into a new output's manifest/meta: format and macs version."""
    from macs import __version__

    return {"format": FORMATS[kind], "macs_version": __version__}


def check_format(
    kind: str, meta: dict[str, Any], path: str | os.PathLike, default: int = 1
) -> None:
    """MacsError unless this macs reads the `format` recorded in `meta` (a missing field means
    `default`: outputs from before the field existed)."""
    from macs import __version__

    what, redo = _WHAT[kind]
    found = meta.get("format", default)
    by = f" by macs {meta['macs_version']}" if meta.get("macs_version") else ""
    if not isinstance(found, int) or isinstance(found, bool):
        raise MacsError(f"{path}: the {what}'s format field is {found!r}, not an integer; {redo}")
    if found > FORMATS[kind]:
        raise MacsError(
            f"{path}: this {what} was written{by} in format {found}, newer than this macs "
            f"{__version__} reads (format {FORMATS[kind]}); upgrade macs, or {redo} with this version"
        )
    if found < READS[kind]:
        raise MacsError(
            f"{path}: this {what} was written{by} in format {found}, older than this macs "
            f"{__version__} reads (format {READS[kind]} or later); {redo}"
        )
