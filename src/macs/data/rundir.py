"""What a training run writes into its run directory besides checkpoints, and the resume checks.

`stages/stage-K.parquet` (the stage manifest, macs.data.manifest), `rewards/stage-K.parquet`
(doc, id, reward: every document scored at the refresh that chose stage K), `selection.jsonl`
(one record per stage), `metrics.jsonl`, `pool.json`, `summary.json`, `DONE`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import append_jsonl, read_jsonl, write_parquet, write_text

# fields that may differ between a run and its resumption (where it runs, not what it computes)
RUNTIME_FIELDS = {"run": {"device", "runs_dir", "name"}, "train": {"threads", "eval_at_end"}}
JOB_SECTIONS = {"compare"}  # which methods and seeds run beside this one: not part of a run


def manifest_path(run_dir: Path, stage: int) -> Path:
    """The stage manifest of stage `stage`."""
    return Path(run_dir) / "stages" / f"stage-{stage}.parquet"


def _store_of(pool) -> dict:
    """{"store": its folder} for a pool opened from a corpus store (`macs export` reads it)."""
    path = getattr(getattr(pool, "store", None), "path", None)
    return {"store": str(Path(path).resolve())} if path is not None else {}


def write_stage(
    run_dir: Path, pool, stage, counts: np.ndarray, meta: dict, extra_groups: dict | None = None
) -> None:
    """Write stage K's manifest, its rewards (if any were scored) and its selection.jsonl record."""
    import pyarrow as pa

    from macs.data.manifest import stage_table, write_manifest

    write_manifest(
        manifest_path(run_dir, stage.stage),
        stage_table(pool, stage.idx, counts, stage.scores, extra_groups),
        {"kind": "stage", "stage": stage.stage, "budget": stage.budget, **_store_of(pool), **meta},
    )
    if stage.rewards is not None:
        docs, r = stage.rewards
        docs = np.asarray(docs, dtype=np.int64)
        table = pa.table(
            {
                "doc": pa.array(docs, pa.int64()),
                "id": pa.array(pool.ids(docs), pa.string()),
                "reward": pa.array(np.asarray(r, dtype=np.float64), pa.float64()),
            }
        )
        write_parquet(Path(run_dir) / "rewards" / f"stage-{stage.stage}.parquet", table)
    append_jsonl(Path(run_dir) / "selection.jsonl", stage.log)


def truncate_jsonl(path: Path, keep: Callable[[dict], bool]) -> None:
    """Rewrite a JSONL file keeping the records `keep` accepts (after a resume)."""
    if path.exists():
        recs = [r for r in read_jsonl(path) if keep(r)]
        write_text(path, "".join(json.dumps(r) + "\n" for r in recs))


def _baselines_used(cfg: dict) -> set[str]:
    """The `baselines` sub-sections a run reads: its own method's, and RegMix's for init: regmix."""
    sel = cfg.get("selection") or {}
    used = {str(sel.get("method", "")).split(":")[0]}
    if "regmix" in json.dumps(sel):
        used.add("regmix")
    return used


def check_same_config(cfg, run_dir: Path) -> None:
    """MacsError unless cfg computes the same run as the config.yaml saved in run_dir."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        return
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "mode" in (saved.get("selection") or {}):  # macs 0.1 spelled selection.method "mode"
        saved["selection"]["method"] = saved["selection"].pop("mode")
    now = cfg.model_dump(mode="json")
    defaults = type(cfg)().model_dump(mode="json")  # a field a run predates counts as its default
    diffs = []
    used = _baselines_used(now)
    for sec in sorted((set(saved) | set(now)) - JOB_SECTIONS):
        a, b = saved.get(sec) or {}, now.get(sec) or {}
        for k in sorted(set(a) | set(b)):
            if k in RUNTIME_FIELDS.get(sec, set()) or (sec == "baselines" and k not in used):
                continue
            old = a[k] if k in a else (defaults.get(sec) or {}).get(k)
            if old != b.get(k):
                diffs.append(f"{sec}.{k}: {old!r} -> {b.get(k)!r}")
    if diffs:
        raise MacsError(
            f"{run_dir} holds a run with a different config ({'; '.join(diffs[:5])}); "
            f"use `macs train --resume {run_dir}` to continue it, or set run.name to start a new run"
        )


RUN_META = "run.json"


def write_run_meta(run_dir: Path, cfg) -> None:
    """run.json: the run directory's format and macs version (readers refuse other formats)."""
    import time

    from macs.core.formats import stamp
    from macs.core.io import write_json

    write_json(
        Path(run_dir) / RUN_META,
        {
            **stamp("run"),
            "method": cfg.selection.label or cfg.selection.method,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


def check_run_format(run_dir: Path) -> None:
    """MacsError unless this macs reads the run directory's format (no run.json: a macs 0.1 run)."""
    from macs.core.formats import check_format
    from macs.core.io import read_json

    path = Path(run_dir) / RUN_META
    meta = read_json(path) if path.is_file() else {}
    check_format("run", meta, run_dir)
