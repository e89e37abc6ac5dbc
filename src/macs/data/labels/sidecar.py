"""Read a label sidecar back as numpy arrays aligned to the store's canonical doc order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.formats import check_format
from macs.core.io import read_json
from macs.data.labels.job import labels_dir


@dataclass
class Labels:
    """One actor's labels: `group` (np.int32) and `score` (np.float32) per doc, canonical order."""

    actor: str
    group: np.ndarray
    score: np.ndarray
    group_names: list[str]
    manifest: dict[str, Any]

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    def counts(self) -> np.ndarray:
        """Docs per group (np.int64, length n_groups)."""
        return np.bincount(self.group, minlength=self.n_groups)


def available_actors(store) -> list[str]:
    """Actors with a published sidecar in the store (sorted)."""
    root = Path(store.path) / "labels"
    if not root.exists():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if (p / "manifest.json").exists() and not p.name.startswith(".")
    )


def load_labels(store, actor: str) -> Labels:
    """Labels of `actor` aligned to the canonical order of `store`; MacsError if missing or stale."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = labels_dir(store.path, actor)
    mpath = folder / "manifest.json"
    if not mpath.exists():
        have = available_actors(store)
        raise MacsError(
            f"no labels for actor {actor!r} in {folder.parent} (have: {have or 'none'}); "
            "run `macs label --config ...` first"
        )
    try:
        manifest = read_json(mpath)
    except ValueError as e:
        raise MacsError(f"{mpath}: not valid JSON ({e}); rerun `macs label --force`") from e
    check_format("labels", manifest, folder)
    if int(manifest.get("n_docs", -1)) != store.n_docs:
        raise MacsError(
            f"{mpath}: labels cover {manifest.get('n_docs')} docs but the store has "
            f"{store.n_docs}; the store changed - rerun `macs label`"
        )
    parts = manifest.get("parts") or sorted(p.name for p in folder.glob("part-*.parquet"))
    tables = []
    for name in parts:
        p = folder / name
        if not p.exists():
            raise MacsError(
                f"{folder}: part {name} listed in the manifest is missing; rerun `macs label --force`"
            )
        tables.append(pq.read_table(p, columns=["id", "score", "group"]))
    table = pa.concat_tables(tables) if tables else pa.table({"id": [], "score": [], "group": []})
    ids = table.column("id")
    store_ids = pa.chunked_array(
        [b.column(0) for b in store.iter_batches(columns=["id"], batch_size=1 << 16)],
        type=pa.string(),
    )
    score = table.column("score").to_numpy().astype(np.float32)
    group = table.column("group").to_numpy().astype(np.int32)
    if not (len(ids) == len(store_ids) and ids.equals(store_ids)):
        pos = {k: i for i, k in enumerate(ids.to_pylist())}
        try:
            order = np.fromiter(
                (pos[k] for k in store_ids.to_pylist()), dtype=np.int64, count=len(store_ids)
            )
        except KeyError as e:
            raise MacsError(
                f"{folder}: no label for document id {e.args[0]!r}; rerun `macs label --force`"
            ) from e
        score, group = score[order], group[order]
    return Labels(actor, group, score, list(manifest["group_names"]), manifest)


def degenerate_actors(store, actors: list[str] | None = None) -> dict[str, str]:
    """{actor: reason} for sidecars that cannot tell documents apart (one group, or every doc in
    one group); such an actor's weights cannot change the selection, so the console drops it."""
    out: dict[str, str] = {}
    for actor in actors if actors is not None else available_actors(store):
        mpath = labels_dir(store.path, actor) / "manifest.json"
        if not mpath.exists():
            continue
        m = read_json(mpath)
        if "degenerate" in m:  # written by this macs: the labeller's own reason
            if m["degenerate"]:
                out[actor] = str(m.get("degenerate_reason") or "one group")
            continue
        counts = {str(k): int(v) for k, v in (m.get("counts") or {}).items()}
        used = [g for g, c in counts.items() if c > 0]
        if len(counts) < 2:
            out[actor] = f"it has a single group {next(iter(counts), '')!r}"
        elif len(used) == 1:
            out[actor] = f"all {sum(counts.values()):,} docs are in one group {used[0]!r}"
    return out
