"""Issue 22: a label job never runs code from its store. A pickle planted where older macs kept
the fitted labeller (`labels/.work/<actor>-<key>/.labeller.pkl`) is deleted unread, and an
interrupted job resumes from JSON only (a refit checked against the first fit's probe)."""

from __future__ import annotations

import os
import pickle

from macs.core.io import read_json
from macs.data.labels.job import LABELS_DIR, MODELS_DIR, WORK_DIR, _key, run_labels
from macs.data.labels.registry import make_labeller


class _Planted:
    """Unpickling this creates `marker` (what a planted pickle could do: run any code)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _work_dir(store, cfg, actor: str):
    lab = make_labeller(actor, cfg, 0)
    lab.bind(store, store.path / LABELS_DIR / MODELS_DIR)
    return store.path / LABELS_DIR / WORK_DIR / f"{actor}-{_key(lab, store, cfg.rows_per_part)}"


def test_planted_pickle_never_runs(store_copy, make_config, tmp_path):
    cfg = make_config(actors=["topic"])
    work = _work_dir(store_copy, cfg, "topic")
    marker = tmp_path / "pwned"
    (work / ".done").mkdir(parents=True)
    (work / ".labeller.pkl").write_bytes(pickle.dumps(_Planted(str(marker))))
    (work / ".fit.json").write_text('{"seconds": 1.0, "report": {}}')
    out = run_labels(store_copy, cfg, seed=0, progress=False)
    assert not marker.exists(), "the planted pickle ran"
    assert out["topic"]["n_docs"] == store_copy.n_docs
    assert not work.exists()  # published: the work folder (and the planted file) are gone
    # the sidecar equals a clean run's
    clean = run_labels(store_copy, cfg, seed=0, force=True, progress=False)
    assert clean["topic"]["counts"] == out["topic"]["counts"]


def test_resume_keeps_units_only_for_an_equal_refit(store_copy, make_config):
    cfg = make_config(actors=["topic"])
    work = _work_dir(store_copy, cfg, "topic")
    # an interrupted job: fit record and one finished unit, nothing executable on disk
    logs: list[str] = []
    from macs.data.labels.job import plan_units, prepare_actor

    job = prepare_actor(
        store_copy, "topic", make_labeller("topic", cfg, 0), 100, False, logs.append
    )
    assert job.work == work and not list(work.rglob("*.pkl"))
    fit = read_json(work / ".fit.json")
    assert fit["probe"] and set(fit) == {"seconds", "report", "probe"}
    unit = plan_units(store_copy, 100)[0]
    (work / f"{unit.name}.parquet").write_bytes(b"stale part")  # a unit of another fit
    (work / ".done" / f"{unit.name}.json").write_text("{}")
    (work / ".fit.json").write_text(read_json_text(fit, probe="0" * 64))
    logs.clear()
    again = prepare_actor(
        store_copy, "topic", make_labeller("topic", cfg, 0), 100, False, logs.append
    )
    assert any("scores differently" in m for m in logs) and again.done == set()
    assert not (work / f"{unit.name}.parquet").exists()
    # with the true probe (rewritten by that refit), a rerun resumes and publishes
    assert read_json(work / ".fit.json")["probe"] == fit["probe"]
    logs.clear()
    resumed = run_labels(store_copy, cfg, seed=0, progress=False, log=logs.append)["topic"]
    assert any("resuming in" in m for m in logs), logs
    assert (
        resumed["n_docs"] == store_copy.n_docs
        and sum(resumed["counts"].values()) == resumed["n_docs"]
    )


def read_json_text(rec: dict, **changes) -> str:
    import json

    return json.dumps({**rec, **changes})
