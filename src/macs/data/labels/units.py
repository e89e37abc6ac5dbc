"""The labelling job's units and their scoring, shared by every executor (the local one in
`macs.data.labels.job`, the Ray one in `macs.data.labels.ray_exec`): a unit is a slice of one shard's
rows; scoring it writes each actor's part file and completion marker into the actor's staging
folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import write_json, write_parquet
from macs.core.timing import Stopwatch
from macs.data.labels.base import Batch, Labeller


class LabelBatchError(MacsError):
    """A labeller failed on one batch; the message names the actor, shard and batch."""


@dataclass(frozen=True)
class Unit:
    """A slice [start, stop) of one shard's rows; the resume and sidecar-part unit."""

    shard_index: int
    shard: str  # file path
    part: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"part-{self.shard_index:05d}-{self.part:04d}"

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass
class ActorJob:
    """One actor's labeller and its staging folder."""

    actor: str
    labeller: Labeller
    key: str
    work: Path
    final: Path
    done: set[str] = field(default_factory=set)
    fit_seconds: float = 0.0

    def marker(self, unit: Unit) -> Path:
        return self.work / ".done" / f"{unit.name}.json"


def plan_units(store, rows_per_part: int) -> list[Unit]:
    """Every shard cut into slices of at most `rows_per_part` rows, in canonical order."""
    import pyarrow.parquet as pq

    units = []
    for si, shard in enumerate(store.shards):
        n = pq.ParquetFile(shard).metadata.num_rows
        for k, a in enumerate(range(0, n, rows_per_part)):
            units.append(Unit(si, str(shard), k, a, min(a + rows_per_part, n)))
    return units


def score_rows(
    actor: str,
    lab: Labeller,
    ids: list[str],
    texts: list[str],
    domains: list[str],
    extra: dict[str, Any],
    where: str,
) -> dict[str, np.ndarray]:
    """Score rows with one labeller: score, group, and per-row empty/truncated flags."""
    m = lab.max_chars
    n = len(texts)
    trunc = np.fromiter(map(len, texts), dtype=np.int64, count=n) > m
    # empty = only whitespace; isspace() copies nothing (strip() copied every document)
    empty = np.fromiter((not t or t.isspace() for t in texts), dtype=bool, count=n)
    cut = [t[:m] for t in texts] if trunc.any() else texts
    try:
        score, group = lab.score(Batch(ids, cut, domains, extra))
    except Exception as e:
        first = ids[0] if ids else "-"
        raise LabelBatchError(
            f"labeller {actor} ({lab.kind}/{lab.method}) failed on {where} "
            f"(first doc id {first!r}): {type(e).__name__}: {e}"
        ) from e
    return {"score": score, "group": group, "empty": empty, "truncated": trunc}


def read_unit(unit: Unit, columns: Sequence[str]):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(unit.shard)
    md = f.metadata
    starts = np.cumsum([0] + [md.row_group(g).num_rows for g in range(md.num_row_groups)])
    g0 = int(np.searchsorted(starts, unit.start, side="right") - 1)
    g1 = int(np.searchsorted(starts, unit.stop, side="left"))
    table = f.read_row_groups(list(range(g0, g1)), columns=list(columns))
    return table.slice(unit.start - int(starts[g0]), unit.rows)


def write_unit(
    work: Path, unit: Unit, ids, out: dict[str, np.ndarray], n_groups: int, seconds: float
) -> dict[str, Any]:
    import pyarrow as pa

    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "score": pa.array(out["score"], pa.float32()),
            "group": pa.array(out["group"], pa.int32()),
        }
    )
    write_parquet(work / f"{unit.name}.parquet", table)
    stats = {
        "rows": unit.rows,
        "n_empty": int(out["empty"].sum()),
        "n_truncated": int(out["truncated"].sum()),
        "counts": np.bincount(out["group"], minlength=n_groups).tolist(),
        "seconds": round(seconds, 3),
    }
    write_json(work / ".done" / f"{unit.name}.json", stats)
    return stats


def label_unit(unit: Unit, actors: dict[str, tuple[Labeller, Path]], batch_size: int) -> int:
    """Read one unit, score it with each labeller, write each actor's part + marker; returns rows."""
    cols = ["id", "text", "domain"]
    for lab, _ in actors.values():
        cols += [c for c in lab.input_columns if c not in cols]
    table = read_unit(unit, cols)
    ids = table.column("id").to_pylist()
    texts = [t or "" for t in table.column("text").to_pylist()]
    domains = [d or "" for d in table.column("domain").to_pylist()]
    extra_cols = [c for c in cols if c not in ("id", "text", "domain")]
    for actor, (lab, work) in actors.items():
        clock = Stopwatch()
        parts: list[dict[str, np.ndarray]] = []
        for b, a in enumerate(range(0, len(ids), batch_size)):
            z = slice(a, a + batch_size)
            extra = {c: table.column(c).slice(a, batch_size).to_pylist() for c in extra_cols}
            last = unit.start + min(a + batch_size, len(ids)) - 1
            where = f"shard {Path(unit.shard).name} rows {unit.start + a}-{last} (unit {unit.name}, batch {b})"
            parts.append(score_rows(actor, lab, ids[z], texts[z], domains[z], extra, where))
        out = {
            k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
            for k in ("score", "group", "empty", "truncated")
        }
        out["group"] = out["group"].astype(np.int32)
        write_unit(work, unit, ids, out, lab.n_groups, clock.seconds)
    return unit.rows
