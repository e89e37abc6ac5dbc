"""Read run directories (the report reads nothing else): config, metrics, selections, stages, pool mix, eval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from macs.core.errors import MacsError
from macs.eval.groups import group_label, group_summary


@dataclass
class Run:
    """One run directory's records."""

    path: Path
    config: dict
    metrics: list[dict]
    selection: list[dict]
    pool: dict
    stages: list[dict]  # per stage: {column: np.ndarray}
    eval: dict | None
    summary: dict | None
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """The selection method (a selector name: multi_actor | fixed_theta | random | ...)."""
        sel = self.config.get("selection") or {}
        return sel.get("label") or sel.get("method") or sel.get("mode") or "?"

    @property
    def seed(self) -> int:
        """The run's master seed."""
        return int(self.config.get("run", {}).get("seed", 0))


def load_run(path: str | Path) -> Run:
    """Load a run directory written by `macs train`; MacsError if it is not one.

    Stage manifests are read through the run directory's checks (macs.data.rundir.RunDir)."""
    from macs.data.rundir import RunDir

    rd = RunDir(path)
    if not rd.is_run():
        raise MacsError(
            f"{rd.path} is not a macs run directory (no {RunDir.CONFIG}); give folders made by "
            "`macs train`"
        )
    rd.check_format()
    stages = [_stage_columns(rd.read_stage(k)[0]) for k in range(rd.stage_count())]
    run = Run(
        rd.path,
        rd.read_config(),
        rd.read_metrics(),
        rd.read_selection(),
        rd.read_pool(),
        stages,
        rd.read_eval(),
        rd.read_summary(),
    )
    run.label = f"{run.mode} (seed {run.seed})"
    boundary = rd.read_boundary()  # the data-efficiency curve (macs.train.boundary)
    if boundary is not None:
        run.extra["boundary"] = boundary
    return run


def _stage_columns(t) -> dict[str, np.ndarray]:
    """A stage manifest as arrays: group columns as int codes, the rest as they are (ids dropped)."""
    import pyarrow as pa

    out = {}
    for c in t.column_names:
        if c == "id":
            continue
        col = t.column(c).combine_chunks()
        if pa.types.is_dictionary(col.type):
            out[c] = col.indices.to_numpy(zero_copy_only=False)
        else:
            out[c] = col.to_numpy(zero_copy_only=False)
    return out


def stage_mix(run: Run, column: str, n_groups: int) -> np.ndarray:
    """Token share of each group in each stage's selection: array (n_stages, n_groups), rows sum to 1."""
    out = np.zeros((len(run.stages), n_groups))
    for k, st in enumerate(run.stages):
        if column not in st:
            continue
        w = np.bincount(
            st[column].astype(np.int64), weights=st["tokens"].astype(float), minlength=n_groups
        )
        out[k] = w[:n_groups] / max(w.sum(), 1.0)
    return out


def eval_metrics(ev: dict | None) -> dict[str, tuple[float, bool]]:
    """Flatten eval.json to {metric name: (value, higher_is_better)}.

    Group means ("<group> mean <k>shot|scored <metric>") are recomputed from the tasks (see
    macs.eval.groups): each is the mean over every task of its group.
    """
    out: dict[str, tuple[float, bool]] = {}
    if not ev:
        return out
    for name, entry in (ev.get("tasks") or {}).items():
        for key, m in entry.items():
            if not key.endswith("shot") or not isinstance(m, dict):
                continue
            group = entry.get("group", "")
            tag = f"{group}/{name} {key}"
            if "acc_per_char" in m:
                out[f"{tag} acc_per_char"] = (m["acc_per_char"], True)
            if "bpb" in m:
                out[f"{tag} bpb"] = (m["bpb"], False)
    for grp, by_shot in group_summary(ev.get("tasks") or {}).items():  # never ev["groups"]:
        for key, m in by_shot.items():  # files written before 2026-12-06 hold partial means
            for metric, hib in (("acc_per_char", True), ("bpb", False)):
                if metric in m:
                    out[f"{grp} mean {key} {metric}"] = (m[metric], hib)
    held = ev.get("heldout") or {}
    for d, m in (held.get("domains") or {}).items():
        out[f"heldout/{d} bpb"] = (m["bpb"], False)
    if "overall" in held:
        out["heldout overall bpb"] = (held["overall"]["bpb"], False)
    for n in ("unigram", "bigram"):  # the count n-gram gate of the run's training tokens
        if f"{n}_bpb" in (ev.get("gate") or {}):
            out[f"gate {n} bpb"] = (ev["gate"][f"{n}_bpb"], False)
    return {k: v for k, v in out.items() if isinstance(v[0], int | float) and math.isfinite(v[0])}


def group_labels(ev: dict | None) -> dict[str, str]:
    """{group-mean metric name: the tasks and renderings it averages, e.g. 'LAMBADA 0-shot, SQuAD 5-shot'}."""
    out = {}
    for grp, by_shot in group_summary((ev or {}).get("tasks") or {}).items():
        for key, m in by_shot.items():
            for metric in ("acc_per_char", "bpb"):
                if metric in m:
                    out[f"{grp} mean {key} {metric}"] = group_label(m)
    return out
