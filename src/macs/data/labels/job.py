"""The labelling job: fit each actor's labeller on a seeded sample, score every document, and
write one sidecar per actor: `<store>/labels/<actor>/part-*.parquet` (id, score, group) plus
`manifest.json`. Documents are never rewritten.

Work happens in `<store>/labels/.work/<actor>-<key>/` (key = hash of the labeller config and
the store): `.fit.json` (the fit's report and a digest of its scores on a probe of the
store), one part file per unit (a slice of `rows_per_part` rows of one shard) and a
completion marker per unit. A rerun skips finished units, so an interrupted run resumes;
when every unit is done the manifest is written and the folder is swapped into
`labels/<actor>/` in one rename, so a partial sidecar is never visible.

Nothing executable is ever read from the store: a resumed job refits its labeller (the fit is
seeded) and keeps the finished units only when the refitted labeller scores the probe
exactly as the first fit did (else it relabels from scratch). Fitted labellers are never
written to disk as pickles (a planted `.labeller.pkl` is deleted unread).

The units and their scoring, shared by both executors, are in `macs.data.labels.units`; the local
executor is here, the Ray one in `macs.data.labels.ray_exec` (which imports units, never this module).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.executor import Executor
from macs.core.formats import stamp
from macs.core.io import read_json, remove_temps, write_json, writing
from macs.core.progress import Bar
from macs.core.timing import timed
from macs.data.corpus.store import clean_stale, replace_dir
from macs.data.labels.base import Labeller
from macs.data.labels.config import LabelsConfig
from macs.data.labels.units import (
    ActorJob,
    Unit,
    label_unit,
    plan_units,
    read_unit,
    score_rows,
)
from macs.data.labels.units import LabelBatchError as LabelBatchError  # re-exported

LABELS_DIR = "labels"
WORK_DIR = ".work"
MODELS_DIR = ".models"  # fitted models kept for reuse (e.g. the store's quality classifier)


def labels_dir(store_path: str | os.PathLike, actor: str) -> Path:
    """The sidecar folder of `actor` in a store."""
    return Path(store_path) / LABELS_DIR / actor


def _store_fingerprint(store) -> dict[str, Any]:
    shards = [{"file": Path(s).name, "bytes": Path(s).stat().st_size} for s in store.shards]
    return {"n_docs": int(store.n_docs), "shards": shards}


def _key(labeller: Labeller, store, rows_per_part: int) -> str:
    blob = json.dumps(
        {
            "labeller": labeller.config_dict(),
            "store": _store_fingerprint(store),
            "rows_per_part": rows_per_part,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- local executor (processes) -------------------------------------------------------------


def _setup_labellers(actors: dict[str, tuple[Labeller, Path]]) -> None:
    """Once per worker process: lazy model loading."""
    for lab, _ in actors.values():
        lab.setup()


def _label(
    actors: dict[str, tuple[Labeller, Path]], item: tuple[Unit, list[str]], batch_size: int
) -> int:
    unit, names = item
    return label_unit(unit, {a: actors[a] for a in names}, batch_size)


def run_local(
    todo: list[tuple[Unit, list[str]]],
    jobs: dict[str, ActorJob],
    workers: int,
    batch_size: int,
    progress: bool,
) -> None:
    """Label the units in this process (workers <= 1) or on spawned processes, each of which
    receives the labellers once (in memory) and sets them up once."""
    total = sum(u.rows for u, _ in todo)
    # {actor: (labeller, work dir)}, sent by the driver (in memory)
    payload = {a: (j.labeller, j.work) for a, j in jobs.items()}
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    with (
        Bar(total, "labelling", progress, unit="docs") as bar,
        Executor(workers, payload, setup=_setup_labellers, threads=threads) as ex,
    ):
        for (unit, _), _rows in ex.map(partial(_label, batch_size=batch_size), todo):
            bar.advance(unit.rows)


# --- the job ----------------------------------------------------------------------------------

PROBE_DOCS = 64  # docs a fitted labeller scores to show that a refit equals the first fit


def _read_fit(path: Path) -> dict[str, Any] | None:
    """The fit record of an interrupted job (None when absent or unreadable: refit from scratch)."""
    try:
        rec = read_json(path)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _probe_digest(store, labeller: Labeller, wanted: bool) -> str | None:
    """sha256 of a fitted labeller's group names, scores and groups on the first PROBE_DOCS
    docs of the store: equal digests mean a refit scores like the fit it replaces. None when
    not `wanted` (a labeller without a fit: its config, in the job key, fixes it)."""
    if not wanted:
        return None
    h = hashlib.sha256(json.dumps(labeller.group_names).encode())
    if store.shards:
        unit = plan_units(store, PROBE_DOCS)[0]
        cols = ["id", "text", "domain"]
        cols += [c for c in labeller.input_columns if c not in cols]
        t = read_unit(unit, cols)
        extra = {c: t.column(c).to_pylist() for c in cols[3:]}
        texts = [x or "" for x in t.column("text").to_pylist()]
        domains = [x or "" for x in t.column("domain").to_pylist()]
        ids = t.column("id").to_pylist()
        out = score_rows("probe", labeller, ids, texts, domains, extra, "the fit probe")
        h.update(out["score"].astype(np.float32).tobytes())
        h.update(out["group"].astype(np.int32).tobytes())
    return h.hexdigest()


def prepare_actor(
    store,
    actor: str,
    labeller: Labeller,
    rows_per_part: int,
    force: bool,
    log: Callable[[str], None],
) -> ActorJob | None:
    """Fit (or reload the fitted) labeller in its work folder; None when the sidecar is up to date."""
    labeller.bind(store, Path(store.path) / LABELS_DIR / MODELS_DIR)
    key = _key(labeller, store, rows_per_part)
    final = labels_dir(store.path, actor)
    clean_stale(final)
    if not force and (final / "manifest.json").exists():
        try:
            if read_json(final / "manifest.json").get("key") == key:
                log(f"{actor}: up to date ({final})")
                return None
        except ValueError:
            pass
    work = Path(store.path) / LABELS_DIR / WORK_DIR / f"{actor}-{key}"
    if force and work.exists():
        shutil.rmtree(work)
    (work / ".done").mkdir(parents=True, exist_ok=True)
    job = ActorJob(actor, labeller, key, work, final)
    # a pickle here is a planted file or one an older macs left: never read, deleted
    (work / ".labeller.pkl").unlink(missing_ok=True)
    fit_file = work / ".fit.json"
    before = _read_fit(fit_file)
    with timed() as sw:
        if labeller.needs_fit:
            ids = store.read_column("id")
            domains = store.read_column("domain")
            idx = labeller.select_fit_sample(ids, domains)
            texts = store.texts(idx) if len(idx) else []
            meta = {"id": [ids[i] for i in idx], "domain": [domains[i] for i in idx]}
            log(f"{actor}: fitting {labeller.kind}/{labeller.method} on a {len(idx):,}-doc sample")
            labeller.fit([t or "" for t in texts], meta)
    seconds = sw.seconds
    # a resumed quality job may reuse the classifier its first fit cached (no fit now): the
    # probe still shows that it scores the same
    probe = _probe_digest(
        store, labeller, labeller.needs_fit or bool(before and before.get("probe"))
    )
    if before is not None and before.get("probe") == probe:
        job.fit_seconds = float(before.get("seconds", seconds))
        labeller.fit_report = before.get("report", labeller.fit_report)
        log(f"{actor}: resuming in {work}")
    else:
        if before is not None:
            log(f"{actor}: the refitted labeller scores differently; relabelling from scratch")
        shutil.rmtree(work / ".done", ignore_errors=True)  # units of another fit, if any
        for part in work.glob("part-*.parquet"):
            part.unlink()
        (work / ".done").mkdir(parents=True, exist_ok=True)
        job.fit_seconds = seconds
        # the fit record is written last (a kill before it refits and relabels everything)
        write_json(fit_file, {"seconds": seconds, "report": labeller.fit_report, "probe": probe})
        if labeller.needs_fit:
            log(f"{actor}: fitted {labeller.kind}/{labeller.method} in {seconds:.1f}s")
    for note in getattr(job.labeller, "notes", []):
        log(note)
    job.done = {
        p.stem for p in (work / ".done").glob("*.json") if (work / f"{p.stem}.parquet").exists()
    }
    return job


def _check_columns(store, jobs: dict[str, ActorJob]) -> None:
    import pyarrow.parquet as pq

    if not store.shards:
        raise MacsError(f"{store.path}: the store has no shards")
    schema = pq.read_schema(store.shards[0])
    for a, j in jobs.items():
        for c in j.labeller.input_columns:
            if c not in schema.names:
                raise MacsError(
                    f"labeller {a} needs the column {c!r}, which the store {store.path} does not "
                    f"have (columns: {schema.names})"
                )


def publish(
    store,
    job: ActorJob,
    units: list[Unit],
    executor: str,
    label_seconds: float,
    executor_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the manifest and swap the finished work folder into labels/<actor>/ (one rename)."""
    store.check_unchanged()
    lab = job.labeller
    counts = np.zeros(lab.n_groups, dtype=np.int64)
    n_empty = n_trunc = rows = 0
    unit_seconds = 0.0
    for u in units:
        st = read_json(job.marker(u))
        counts += np.asarray(st["counts"], dtype=np.int64)
        n_empty += st["n_empty"]
        n_trunc += st["n_truncated"]
        rows += st["rows"]
        unit_seconds += st["seconds"]
    if rows != store.n_docs:
        raise MacsError(f"{job.actor}: labelled {rows} rows but the store has {store.n_docs}")
    degenerate = lab.degenerate_reason(counts)
    manifest = {
        **stamp("labels"),
        "actor": job.actor,
        "labeller": f"{lab.kind}/{lab.method}",
        "version": lab.version,
        "key": job.key,
        "group_names": lab.group_names,
        "counts": dict(zip(lab.group_names, counts.tolist(), strict=True)),
        "n_docs": int(store.n_docs),
        "degenerate": degenerate is not None,
        "degenerate_reason": degenerate,
        "n_empty": int(n_empty),
        "n_truncated": int(n_trunc),
        "max_chars": lab.max_chars,
        "config": lab.config_dict(),
        "fit": lab.fit_report,
        "store": {"path": str(store.path), "name": store.name, **_store_fingerprint(store)},
        "parts": [f"{u.name}.parquet" for u in units],
        "executor": executor,
        **({"executor_info": executor_info} if executor_info else {}),
        "seconds": {
            "fit": round(job.fit_seconds, 3),
            "label_wall": round(label_seconds, 3),
            "label_cpu_sum": round(unit_seconds, 3),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(job.work / "manifest.json", manifest)
    (job.work / ".fit.json").unlink(missing_ok=True)
    shutil.rmtree(job.work / ".done", ignore_errors=True)
    remove_temps(job.work)  # writes that a killed run left half-done
    replace_dir(job.work, job.final)
    return manifest


def run_labels(store, cfg: LabelsConfig, seed: int = 0, **kwargs) -> dict[str, dict[str, Any]]:
    """Label every document of `store` for each actor; returns {actor: manifest} of written sidecars.

    Holds the store's shared lock and its exclusive labels lock (a second label job, or an
    import that would replace the store, is refused naming this one). Keyword arguments: see
    `_run_labels`."""
    from macs.core.lock import store_lock

    with store_lock(store.path, "macs label", area="labels"):
        store.check_unchanged()  # replaced between open and lock: read nothing from the old one
        return _run_labels(store, cfg, seed, **kwargs)


def _run_labels(
    store,
    cfg: LabelsConfig,
    seed: int = 0,
    *,
    actors: Sequence[str] | None = None,
    executor: str | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    labellers: dict[str, Labeller] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Label every document of `store` for each actor; returns {actor: manifest} of written sidecars.

    `labellers` overrides the configured labeller of an actor (custom actors, tests).
    """
    from macs.data.labels.registry import make_labeller

    log = log or (lambda s: None)
    seed = cfg.seed if cfg.seed is not None else seed
    names = list(actors) if actors is not None else list(cfg.actors)
    labellers = dict(labellers or {})
    names += [a for a in labellers if a not in names]
    executor = executor or cfg.executor
    address = None
    if executor == "ray":
        from macs.data.labels.ray_exec import ray_address

        address = ray_address(cfg.ray_address)
    n_workers = workers if workers is not None else (cfg.workers or os.cpu_count() or 1)
    if address and workers is None and not cfg.workers:
        n_workers = 0  # on a cluster: one actor per cluster CPU but one
    units = plan_units(store, cfg.rows_per_part)
    out = Path(store.path) / LABELS_DIR
    note = (
        "the published sidecars are unchanged and finished units are kept: rerun the same "
        "command to resume"
    )
    with writing(out, note):
        jobs: dict[str, ActorJob] = {}
        for a in names:
            lab = labellers.get(a) or make_labeller(a, cfg, seed)
            lab.check()  # missing model or package: fail before fitting or starting workers
            job = prepare_actor(store, a, lab, cfg.rows_per_part, force, log)
            if job is not None:
                jobs[a] = job
        if not jobs:
            return {}
        _check_columns(store, jobs)
        todo = [(u, [a for a, j in jobs.items() if u.name not in j.done]) for u in units]
        todo = [(u, need) for u, need in todo if need]
        skipped = len(units) * len(jobs) - sum(len(n) for _, n in todo)
        if skipped:
            log(f"skipping {skipped} finished unit(s) of {len(units) * len(jobs)}")
        info = None
        with timed() as sw:
            if todo:
                if executor == "ray":
                    from macs.data.labels.ray_exec import run_ray

                    info = run_ray(todo, jobs, n_workers, cfg.batch_size, progress, address)
                elif executor == "local":
                    run_local(todo, jobs, n_workers, cfg.batch_size, progress)
                else:
                    raise MacsError(f"unknown executor {executor!r}; use local or ray")
        seconds = sw.seconds
        published = {a: publish(store, j, units, executor, seconds, info) for a, j in jobs.items()}
    for a, m in published.items():
        if m["degenerate"]:
            log(
                f"note: the {a} actor is degenerate: {m['degenerate_reason']}; selection runs without it"
            )
    return published
