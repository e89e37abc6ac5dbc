"""Selections from stage manifests (Parquet: `id`, `doc`, ...) and run directories (stages/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError


def stage_manifests(run_dir: str | Path, stage: str | int = "all") -> list[Path]:
    """The stage manifests of a run directory: one stage (`stage` = K) or every stage in order."""
    from macs.data.rundir import RunDir

    run_dir = Path(run_dir)
    rd = RunDir(run_dir)
    if not rd.stages_dir.is_dir() and RunDir.of_trainer_output(run_dir).stages_dir.is_dir():
        rd = RunDir.of_trainer_output(run_dir)  # a Trainer's output_dir (SelectionCallback's log)
    found = sorted(rd.stage_files().items())
    if not found:
        raise MacsError(
            f"{run_dir} has no stage manifests ({rd.stages_dir}/stage-K.parquet); pass a "
            "run directory that `macs train` wrote (or a Trainer's output_dir with macs/stages), "
            "or a manifest file"
        )
    if str(stage) == "all":
        return [p for _, p in found]
    try:
        k = int(stage)
    except ValueError:
        raise MacsError(f"--stage must be a stage number or 'all', got {stage!r}") from None
    have = dict(found)
    if k not in have:
        raise MacsError(f"{run_dir}: no stage {k} (stages: {', '.join(map(str, have))})")
    return [have[k]]


def read_selection(paths: list[Path], store) -> tuple[np.ndarray, dict[str, list[Any]]]:
    """(doc indices in manifest order, other manifest columns) of one or more manifests.

    Several manifests are concatenated in the given order (a `stage` column tells them apart).
    Each manifest's ids are checked against the store, so a manifest of another store fails.
    """
    idx_parts: list[np.ndarray] = []
    columns: dict[str, list[Any]] = {}
    n = 0
    for k, path in enumerate(paths):
        table = _read(path)
        if "id" not in table.column_names:
            raise MacsError(f"{path}: no `id` column (columns: {table.column_names})")
        ids = table.column("id").to_pylist()
        if "doc" in table.column_names:
            doc = table.column("doc").to_numpy().astype(np.int64)
        else:
            doc = _docs_of_ids(ids, store, path)
        _check_ids(path, ids, doc, store)
        idx_parts.append(doc)
        extra = [c for c in table.column_names if c not in ("id", "doc")]
        if len(paths) > 1:
            extra = ["stage", *extra]
        for c in extra:
            vals = [_stage_of(path, k)] * len(doc) if c == "stage" else table.column(c).to_pylist()
            columns.setdefault(c, [None] * n).extend(vals)
        n += len(doc)
        for v in columns.values():  # a column missing from this manifest
            v.extend([None] * (n - len(v)))
    return np.concatenate(idx_parts), columns


def _read(path: Path):
    """A manifest's table through the schema check (macs.data.manifest); a run's stage manifest
    (stages/stage-K.parquet) also through the run directory's check (macs.data.rundir)."""
    from macs.data.manifest import read_manifest
    from macs.data.rundir import RunDir, read_stage_manifest

    if path.parent.name == RunDir.STAGES and RunDir.stage_number(path) is not None:
        return read_stage_manifest(path)[0]
    return read_manifest(path)[0]


def _stage_of(path: Path, k: int) -> int:
    from macs.data.rundir import RunDir

    n = RunDir.stage_number(path)
    return k if n is None else n


def _docs_of_ids(ids: list[str], store, path: Path) -> np.ndarray:
    pos = {d: i for i, d in enumerate(store.read_column("id"))}
    out = np.empty(len(ids), dtype=np.int64)
    for r, d in enumerate(ids):
        if d not in pos:
            raise MacsError(f"{path} row {r}: id {d!r} is not in the store {store.path}")
        out[r] = pos[d]
    return out


def _check_ids(path: Path, ids: list[str], doc: np.ndarray, store) -> None:
    if len(doc) and (doc.min() < 0 or doc.max() >= store.n_docs):
        r = int(np.flatnonzero((doc < 0) | (doc >= store.n_docs))[0])
        raise MacsError(
            f"{path} row {r}: doc {int(doc[r])} is outside the store {store.path} "
            f"(0..{store.n_docs - 1}); pass the store the selection was made on (--store/--config)"
        )
    for a in range(0, len(doc), 65536):
        have = store.ids(doc[a : a + 65536])
        for r, (want, got) in enumerate(zip(ids[a : a + 65536], have, strict=True), start=a):
            if want != got:
                raise MacsError(
                    f"{path} row {r}: id {want!r} but the store {store.path} has {got!r} at doc "
                    f"{int(doc[r])}; pass the store the selection was made on (--store/--config)"
                )
