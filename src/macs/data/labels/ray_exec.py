"""The Ray Data executor of the labelling job: the same units and sidecar parts as the local
executor, scored by labeller actors on a Ray cluster (a local one, or the cluster at
labels.ray_address / $RAY_ADDRESS). Labels equal the local executor's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.executor import RaySpec, init_ray
from macs.core.progress import Bar
from macs.core.timing import Stopwatch
from macs.data.labels.units import ActorJob, LabelBatchError, Unit, score_rows, write_unit


class _RayLabelUDF:
    """Ray Data map_batches UDF: labellers received and set up once per Ray worker."""

    def __init__(self, payload_ref: list, batch_size: int):
        import ray

        # the labellers travel as one object-store ref inside a list (not auto-resolved); Ray
        # serialises them itself (the driver's objects, in memory, never a file)
        self.actors = ray.get(payload_ref[0])  # {actor: labeller}
        self.batch_size = batch_size
        for lab in self.actors.values():
            lab.setup()

    def __call__(self, batch):
        import pyarrow as pa

        ids = batch.column("id").to_pylist()
        texts = [t or "" for t in batch.column("text").to_pylist()]
        domains = [d or "" for d in batch.column("domain").to_pylist()]
        paths = batch.column("path").to_pylist()
        out = {"path": batch.column("path"), "id": batch.column("id")}
        for actor, lab in self.actors.items():
            extra = {
                c: batch.column(c).to_pylist()
                for c in lab.input_columns
                if c not in ("id", "text", "domain")
            }
            where = (
                f"shard {Path(paths[0]).name if paths else '-'} (a Ray batch of {len(ids)} rows)"
            )
            r = score_rows(actor, lab, ids, texts, domains, extra, where)
            out[f"{actor}.score"] = pa.array(r["score"], pa.float32())
            out[f"{actor}.group"] = pa.array(r["group"], pa.int32())
            out[f"{actor}.empty"] = pa.array(r["empty"])
            out[f"{actor}.truncated"] = pa.array(r["truncated"])
        return pa.table(out)


def ray_address(configured: str | None) -> str | None:
    """The Ray cluster to use: labels.ray_address, else $RAY_ADDRESS, else None (a local Ray)."""
    return configured or os.environ.get("RAY_ADDRESS") or None


def _ray_init(address: str | None, workers: int) -> Any:
    """Ray (macs.core.executor.init_ray) with Ray Data set for the labelling job: order kept,
    no progress bars, errors-only logging. A local Ray gets one CPU beyond the labelling
    actors, so read tasks are never starved."""
    import logging

    ray, _ = init_ray(
        RaySpec(
            address,
            workers + 1,
            why="--executor ray",
            address_from="labels.ray_address or RAY_ADDRESS",
            log_to_driver=False,
        )
    )
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    for attr in ("print_on_execution_start", "enable_rich_progress_bars"):
        if hasattr(ctx, attr):
            setattr(ctx, attr, False)
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray


def _cluster_info(ray, workers: int) -> dict[str, Any]:
    """Where the Ray job ran: GCS address, alive nodes, CPUs, labelling actors."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "address": ray.get_runtime_context().gcs_address,
        "nodes": len(nodes),
        "cpus": int(ray.cluster_resources().get("CPU", 0)),
        "workers": workers,
    }


def run_ray(
    todo: list[tuple[Unit, list[str]]],
    jobs: dict[str, ActorJob],
    workers: int,
    batch_size: int,
    progress: bool,
    address: str | None,
) -> dict[str, Any]:
    """Label on Ray Data: read_parquet -> map_batches(labeller UDF) -> parts written by the driver.

    `address` None = a local Ray with `workers` + 1 CPUs; else the cluster at that address,
    where `workers` <= 0 means one labelling actor per cluster CPU but one (left for reads).
    Returns where it ran (address, alive nodes, CPUs, workers).
    """
    import warnings

    warnings.filterwarnings("ignore", message=".*concurrent actors.*")
    ray = _ray_init(address, workers)
    if workers <= 0:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
    ds, n_blocks = _labelled_dataset(ray, todo, jobs, workers, batch_size)
    total = sum(u.rows for u, _ in todo)
    try:
        with Bar(total, "labelling (ray)", progress, unit="docs") as bar:
            _write_parts(ds, todo, jobs, bar)
    except MacsError:
        raise
    except Exception as e:
        raise _ray_failure(e) from e
    return _cluster_info(ray, max(1, min(workers, n_blocks)))


def _labelled_dataset(ray, todo, jobs: dict[str, ActorJob], workers: int, batch_size: int):
    """The todo shards read by Ray Data and mapped through the labeller UDF; (dataset, blocks)."""
    names = sorted({a for _, ns in todo for a in ns})
    shards = sorted({u.shard for u, _ in todo})
    cols = ["id", "text", "domain"]
    for a in names:
        cols += [c for c in jobs[a].labeller.input_columns if c not in cols]
    payload = {a: jobs[a].labeller for a in names}
    n_blocks = max(len(shards), len(todo))
    ds = ray.data.read_parquet(
        shards, columns=cols, include_paths=True, shuffle=None, override_num_blocks=n_blocks
    )
    ds = ds.map_batches(
        _RayLabelUDF,
        fn_constructor_args=([ray.put(payload)], batch_size),
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=max(1, min(workers, n_blocks)),
        num_cpus=1,
    )
    return ds, n_blocks


def _write_parts(ds, todo, jobs: dict[str, ActorJob], bar: Bar) -> None:
    """Drain the labelled batches, split them by shard and write each unit's parts as soon as
    all its rows are in; MacsError if Ray returned too few rows for a unit."""
    shards = sorted({u.shard for u, _ in todo})
    units_by_shard: dict[str, list[Unit]] = {}
    for u, _ in todo:
        units_by_shard.setdefault(u.shard, []).append(u)
    wanted = {u.name: ns for u, ns in todo}
    by_name = {Path(s).name: s for s in shards}
    buf: dict[str, list] = {s: [] for s in shards}
    seen: dict[str, int] = dict.fromkeys(shards, 0)
    clock = Stopwatch()
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        paths = batch.column("path").to_pylist()
        # split into runs of one path (order within a shard is preserved)
        cuts = [0] + [i for i in range(1, len(paths)) if paths[i] != paths[i - 1]] + [len(paths)]
        for a, b in zip(cuts, cuts[1:], strict=False):
            shard = by_name[Path(paths[a]).name]
            buf[shard].append(batch.slice(a, b - a))
            seen[shard] += b - a
            _flush_ray_units(shard, buf, seen[shard], units_by_shard, wanted, jobs, clock)
        bar.advance(batch.num_rows)
    for s, us in units_by_shard.items():
        if us:
            raise MacsError(
                f"Ray returned {seen[s]} rows for {Path(s).name}; units {[u.name for u in us]} "
                "were not completed"
            )


def _ray_failure(e: Exception) -> MacsError:
    """The one-line error for a failed Ray job: a labeller's LabelBatchError if the Ray
    traceback holds one, else the Ray error's type and tail."""
    msg = str(e)
    for line in msg.splitlines():
        if "LabelBatchError" in line or "failed on shard" in line:
            return LabelBatchError(line.split("LabelBatchError:", 1)[-1].strip())
    return MacsError(f"the Ray labelling job failed: {type(e).__name__}: {msg[-2000:]}")


def _flush_ray_units(shard, buf, seen_rows, units_by_shard, wanted, jobs, clock) -> None:
    import pyarrow as pa

    pending = units_by_shard[shard]
    while pending and pending[0].stop <= seen_rows:
        unit = pending.pop(0)
        table = pa.concat_tables(buf[shard])
        first = seen_rows - table.num_rows  # shard row of table's first row
        part = table.slice(unit.start - first, unit.rows)
        buf[shard] = [table.slice(unit.stop - first)]
        ids = part.column("id").to_pylist()
        for actor in wanted[unit.name]:
            out = {
                k: part.column(f"{actor}.{k}").to_numpy(zero_copy_only=False)
                for k in ("score", "group", "empty", "truncated")
            }
            out["group"] = out["group"].astype(np.int32)
            write_unit(
                jobs[actor].work,
                unit,
                ids,
                out,
                jobs[actor].labeller.n_groups,
                clock.seconds,
            )
    if not pending:
        buf[shard] = []
