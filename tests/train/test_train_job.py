"""The trainer's typed TrainJob (issue 21): built from the root config in macs.app.training, and
the only configuration macs.train reads (no root-config section is reached from there)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml

import macs.train
from macs.app.config import Config, load_config
from macs.app.training import train_job
from macs.core.io import read_json
from macs.data.rundir import RunDir
from macs.train.config import ModelConfig, TrainConfig
from macs.train.job import InRunSchedule, TrainJob


def test_a_train_job_from_a_loaded_config(tmp_path):
    cfg = load_config(
        None,
        [
            f"run.runs_dir={tmp_path}",
            "run.name=r1",
            "run.seed=7",
            "run.device=cpu",
            "selection.method=multi_actor",
            "selection.label=mine",
            "eval.boundary_limit=5",
            "influence.source=train",
            "influence.train_every=3",
            "influence.train_fraction=0.5",
            "influence.train_dirs_every=9",
            "train.tokens=7680",
            "model.size=llama-tiny",
        ],
    )
    job = train_job(cfg)
    assert isinstance(job, TrainJob)
    assert job.run_dir == Path(cfg.run.run_dir) == tmp_path / "r1"
    assert (job.seed, job.device) == (7, "cpu")
    assert isinstance(job.train, TrainConfig) and job.train == cfg.train
    assert isinstance(job.model, ModelConfig) and job.model.size == "llama-tiny"
    assert (job.method, job.method_label) == ("multi_actor", "mine")
    assert job.boundary_limit == 5
    assert job.inrun == InRunSchedule(every=3, fraction=0.5, dirs_every=9)
    assert job.config is cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.seed = 1  # type: ignore[misc]


def test_defaults_no_label_no_boundary_no_inrun():
    cfg = load_config(None, ["selection.method=random"])
    job = train_job(cfg)
    assert job.method == job.method_label == "random"
    assert job.boundary_limit is cfg.eval.boundary_limit
    assert cfg.influence.source != "train" and job.inrun is None


def _train_sources():
    root = Path(macs.train.__file__).parent
    return sorted(root.rglob("*.py"))


def test_macs_train_reads_no_root_config_section():
    """No `<x>.cfg` / `cfg.<root section>` / `config.<root section>` access under src/macs/train:
    the trainer reads its TrainJob (job.*, job.train.*, job.model) only."""
    root_only = set(Config.model_fields) - {"train", "model"}
    assert {"run", "selection", "eval", "influence"} <= root_only
    bad = []
    for path in _train_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            v = node.value
            holder = (
                v.id
                if isinstance(v, ast.Name)
                else v.attr
                if isinstance(v, ast.Attribute)
                else None
            )
            if node.attr == "cfg" or (holder in ("cfg", "config") and node.attr in root_only):
                bad.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert bad == []


class _Record:
    """A minimal SavedConfig: what the trainer may do with `job.config` (save it, dump it)."""

    def __init__(self, data: dict | None = None):
        self.data = data or {"note": {"k": 1}}

    def save(self, path) -> None:
        Path(path).write_text(yaml.safe_dump(self.data), encoding="utf-8")

    def model_dump(self, mode: str = "python") -> dict:
        return self.data


@pytest.mark.slow
def test_a_run_whose_config_record_is_not_the_root_config(pool, tmp_path):
    """The loop trains with a TrainJob whose `config` has no sections at all: it reads nothing of it
    but save/model_dump (config.yaml written, resume check passes, run.json carries the label)."""
    from test_train_loop import make_cfg  # the same small run settings

    from macs.select.online import OnlineSelection
    from macs.train.loop import train

    cfg = make_cfg(tmp_path, "rec", "random", **{"selection.label": "lbl"})
    job = dataclasses.replace(train_job(cfg), config=_Record())

    def make_selection(budgets):
        return OnlineSelection.from_config(cfg, budgets, pool=pool)

    res = train(job, pool, make_selection, None)
    assert res.finished
    rd = RunDir(tmp_path / "rec")
    assert rd.read_config() == {"note": {"k": 1}}
    assert read_json(rd.meta)["method"] == "lbl"
    assert read_json(rd.summary)["method"] == "random"
    again = train(job, pool, make_selection, None)  # finished: same record, nothing trained
    assert again.finished and again.steps == res.steps
