"""The run directory: every path and file name a training run writes, its readers and writers, and
the resume checks. `RunDir(path)` is the one place that spells them:

| path | what |
|---|---|
| `config.yaml` | the resolved config (written first; `--resume` reads it) |
| `run.json` | the run directory's format and macs version (macs.core.formats) |
| `stages/stage-K.parquet` | stage K's manifest (macs.data.manifest) |
| `rewards/stage-K.parquet` | doc, id, reward: every document scored at the refresh that chose stage K |
| `selection.jsonl` | one record per stage |
| `metrics.jsonl` | one record per `train.log_every` steps |
| `pool.json` | the pool's group mixes |
| `checkpoints/` | macs.train.checkpoint |
| `boundary/stage-K.json` | the evaluation after K stages (macs.train.boundary) |
| `model/` | the final model |
| `eval.json` | the evaluation of the final model |
| `summary.json`, `DONE` | totals, then the finished mark |
| `select/` | `macs select`'s output with run.name set |

A Trainer's output_dir (macs.app.integrations.hf_trainer) holds a partial run directory in
`macs/` (stages, rewards, selection.jsonl): `RunDir.of_trainer_output(output_dir)`.
Stage manifests are read through the manifest schema check (macs.data.manifest.read_manifest)
plus the run's own check that the file is the stage its name says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import append_jsonl, read_json, read_jsonl, write_json, write_parquet, write_text

# fields that may differ between a run and its resumption (where it runs, not what it computes)
RUNTIME_FIELDS = {"run": {"device", "runs_dir", "name"}, "train": {"threads", "eval_at_end"}}
JOB_SECTIONS = {"compare"}  # which methods and seeds run beside this one: not part of a run

STAGE_FILE = re.compile(r"^stage-(\d+)\.parquet$")


class RunDir:
    """The paths of one run directory (see the module doc), its readers and its writers."""

    CONFIG = "config.yaml"
    META = "run.json"
    STAGES = "stages"
    REWARDS = "rewards"
    SELECTION = "selection.jsonl"
    METRICS = "metrics.jsonl"
    POOL = "pool.json"
    CHECKPOINTS = "checkpoints"
    BOUNDARY = "boundary"
    MODEL = "model"
    EVAL = "eval.json"
    SUMMARY = "summary.json"
    DONE = "DONE"
    SELECT = "select"
    TRAINER_SUBDIR = "macs"  # a Trainer's output_dir keeps its partial run directory here

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def of_trainer_output(cls, output_dir: str | Path) -> RunDir:
        """The partial run directory a Trainer's SelectionCallback writes under its output_dir."""
        return cls(Path(output_dir) / cls.TRAINER_SUBDIR)

    # ------------------------------------------------------------------ paths
    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def meta(self) -> Path:
        return self.path / self.META

    @property
    def stages_dir(self) -> Path:
        return self.path / self.STAGES

    @property
    def rewards_dir(self) -> Path:
        return self.path / self.REWARDS

    @property
    def selection(self) -> Path:
        return self.path / self.SELECTION

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def pool(self) -> Path:
        return self.path / self.POOL

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def boundary_dir(self) -> Path:
        return self.path / self.BOUNDARY

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def eval(self) -> Path:
        return self.path / self.EVAL

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def done(self) -> Path:
        return self.path / self.DONE

    @property
    def select_dir(self) -> Path:
        return self.path / self.SELECT

    def stage(self, k: int) -> Path:
        """Stage K's manifest."""
        return self.stages_dir / f"stage-{int(k)}.parquet"

    def rewards(self, k: int) -> Path:
        """The rewards scored at the refresh that chose stage K."""
        return self.rewards_dir / f"stage-{int(k)}.parquet"

    def boundary(self, stages_done: int) -> Path:
        """The evaluation after `stages_done` stages (macs.train.boundary)."""
        return self.boundary_dir / f"stage-{int(stages_done)}.json"

    @staticmethod
    def stage_number(path: str | Path) -> int | None:
        """K of a `stage-K.parquet` file name, else None."""
        m = STAGE_FILE.match(Path(path).name)
        return int(m.group(1)) if m else None

    # ------------------------------------------------------------------ what is there
    def is_run(self) -> bool:
        """True when config.yaml is there (every run directory writes it first)."""
        return self.config.is_file()

    def is_finished(self) -> bool:
        """True when the run finished: DONE (written last) and summary.json."""
        return self.done.exists() and self.summary.exists()

    def is_evaluated(self) -> bool:
        """True when the run finished and wrote eval.json."""
        return self.done.exists() and self.eval.exists()

    def stage_count(self) -> int:
        """Stages 0, 1, ... whose manifests are there (up to the first missing one)."""
        k = 0
        while self.stage(k).exists():
            k += 1
        return k

    def stage_files(self) -> dict[int, Path]:
        """{K: path} of every stage-K.parquet in stages/, in stage order."""
        if not self.stages_dir.is_dir():
            return {}
        found = ((self.stage_number(p), p) for p in self.stages_dir.glob("stage-*.parquet"))
        return dict(sorted((k, p) for k, p in found if k is not None))

    # ------------------------------------------------------------------ readers
    def read_stage(self, k: int, columns: list[str] | None = None):
        """(pyarrow Table, meta) of stage K's manifest; MacsError when it is missing, damaged, of
        a newer schema, or records another stage or kind than this file is (a moved or swapped file)."""
        return read_stage_manifest(self.stage(k), k, columns)

    def stage_docs(self, k: int) -> np.ndarray:
        """The doc indices (int64, canonical order) of stage K."""
        table, _ = self.read_stage(k, columns=["doc"])
        return table.column("doc").to_numpy().astype(np.int64)

    def all_stage_docs(self) -> list[np.ndarray]:
        """Doc indices of stages 0, 1, ... (see stage_count)."""
        return [self.stage_docs(k) for k in range(self.stage_count())]

    def read_config(self) -> dict:
        """The saved config.yaml as plain data ({} when empty)."""
        import yaml

        return yaml.safe_load(self.config.read_text(encoding="utf-8")) or {}

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics) if self.metrics.exists() else []

    def read_selection(self) -> list[dict]:
        return read_jsonl(self.selection) if self.selection.exists() else []

    def read_pool(self) -> dict:
        return read_json(self.pool) if self.pool.exists() else {}

    def read_eval(self) -> dict | None:
        return read_json(self.eval) if self.eval.exists() else None

    def read_summary(self) -> dict | None:
        return read_json(self.summary) if self.summary.exists() else None

    def read_boundary(self) -> list[dict] | None:
        """The boundary evaluations in stage order; None when the run wrote none (no boundary/)."""
        if not self.boundary_dir.is_dir():
            return None
        recs = [read_json(p) for p in self.boundary_dir.glob("stage-*.json")]
        return sorted(recs, key=lambda r: r["stage"])

    # ------------------------------------------------------------------ writers
    def prepare(self, config, method_label: str, pool_mixes: dict) -> None:
        """A fresh run: config.yaml (`config.save(path)`), run.json (with the method's label) and
        pool.json; metrics and selections of an unfinished earlier start (no checkpoint) dropped."""
        self.path.mkdir(parents=True, exist_ok=True)
        config.save(self.config)
        self.write_meta(method_label)
        for f in (self.metrics, self.selection):
            f.unlink(missing_ok=True)
        write_json(self.pool, pool_mixes)

    def write_meta(self, method_label: str) -> None:
        """run.json: the run directory's format and macs version (readers refuse other formats)."""
        import time

        from macs.core.formats import stamp

        write_json(
            self.meta,
            {
                **stamp("run"),
                "method": method_label,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def write_stage(
        self, pool, stage, counts: np.ndarray, meta: dict, extra_groups: dict | None = None
    ) -> None:
        """Write stage K's manifest, its rewards (if any were scored) and its selection.jsonl record."""
        import pyarrow as pa

        from macs.data.manifest import stage_table, write_manifest

        write_manifest(
            self.stage(stage.stage),
            stage_table(pool, stage.idx, counts, stage.scores, extra_groups),
            {
                "kind": "stage",
                "stage": stage.stage,
                "budget": stage.budget,
                **_store_of(pool),
                **meta,
            },
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
            write_parquet(self.rewards(stage.stage), table)
        append_jsonl(self.selection, stage.log)

    def append_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics, record)

    def write_boundary(self, stages_done: int, record: dict) -> None:
        write_json(self.boundary(stages_done), record)

    def write_eval(self, result: dict) -> None:
        write_json(self.eval, result)

    def finish(self, summary: dict) -> None:
        """summary.json, then DONE (what marks the run finished)."""
        write_json(self.summary, summary)
        write_text(self.done, "finished\n")

    def truncate_to(self, step: int, last_stage: int) -> None:
        """After a resume: metrics up to `step`, selection records up to stage `last_stage`."""
        truncate_jsonl(self.metrics, lambda r: r.get("step", 0) <= step)
        truncate_jsonl(self.selection, lambda r: r.get("stage", 0) <= last_stage)

    # ------------------------------------------------------------------ checks
    def check_format(self) -> None:
        """MacsError unless this macs reads the run directory's format (no run.json: a macs 0.1 run)."""
        from macs.core.formats import check_format

        meta = read_json(self.meta) if self.meta.is_file() else {}
        check_format("run", meta, self.path)

    def check_same_config(self, cfg) -> None:
        """MacsError unless cfg computes the same run as the config.yaml saved here."""
        if not self.config.exists():
            return
        saved = self.read_config()
        if "mode" in (saved.get("selection") or {}):  # macs 0.1 spelled selection.method "mode"
            saved["selection"]["method"] = saved["selection"].pop("mode")
        now = cfg.model_dump(mode="json")
        defaults = type(cfg)().model_dump(mode="json")  # a field a run predates is its default
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
                f"{self.path} holds a run with a different config ({'; '.join(diffs[:5])}); "
                f"use `macs train --resume {self.path}` to continue it, or set run.name to start "
                "a new run"
            )


def read_stage_manifest(path: str | Path, stage: int | None = None, columns=None):
    """(Table, meta) of a run's stage manifest: the manifest schema check (macs.data.manifest),
    then, where the file records them, kind `stage` and stage number `stage` (default: the K of
    its stage-K.parquet name)."""
    from macs.data.manifest import read_manifest

    path = Path(path)
    table, meta = read_manifest(path, columns)
    k = RunDir.stage_number(path) if stage is None else int(stage)
    if "kind" in meta and meta["kind"] != "stage":
        raise MacsError(f"{path}: a {meta['kind']!r} manifest, not a run's stage manifest")
    if k is not None and "stage" in meta and meta["stage"] != k:
        raise MacsError(
            f"{path}: records stage {meta['stage']!r}, not stage {k}; the run directory was "
            "altered (restore the file or rerun the run)"
        )
    return table, meta


def _store_of(pool) -> dict:
    """{"store": its folder} for a pool opened from a corpus store (`macs export` reads it)."""
    path = getattr(getattr(pool, "store", None), "path", None)
    return {"store": str(Path(path).resolve())} if path is not None else {}


def truncate_jsonl(path: Path, keep: Callable[[dict], bool]) -> None:
    """Rewrite a JSONL file keeping the records `keep` accepts (after a resume)."""
    if path.exists():
        recs = [r for r in read_jsonl(path) if keep(r)]
        write_text(path, "".join(json.dumps(r) + "\n" for r in recs))


def _baselines_used(cfg: dict[str, Any]) -> set[str]:
    """The `baselines` sub-sections a run reads: its own method's, and RegMix's for init: regmix."""
    sel = cfg.get("selection") or {}
    used = {str(sel.get("method", "")).split(":")[0]}
    if "regmix" in json.dumps(sel):
        used.add("regmix")
    return used
