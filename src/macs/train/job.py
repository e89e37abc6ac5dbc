"""What one training run is given: a typed, frozen `TrainJob` (the trainer never sees the root config).

`macs.app.training.train_job(cfg)` builds it from the root config: the run directory, seed and
device, the `train` and `model` sections (macs.train.config), the method's name and label, the
boundary evaluation's size and, with influence.source=train, the in-run scoring schedule. The
root config itself travels only as an opaque `config` record (`SavedConfig`): the run directory
writes it as config.yaml and compares it with the saved one on a resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from macs.train.config import ModelConfig, TrainConfig


class SavedConfig(Protocol):
    """The run's whole config as a record: `save(path)` writes config.yaml, and
    `macs.data.rundir.RunDir.check_same_config` compares its `model_dump(mode="json")` (fields
    missing from a saved config read as those of `type(config)()`) with the saved one."""

    def save(self, path: str | Path) -> None: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class InRunSchedule:
    """influence.source=train: which training steps are scored (macs.train.inrun.scored_step) and
    how often the reference directions are recomputed (influence.train_dirs_every)."""

    every: int
    fraction: float
    dirs_every: int | None


@dataclass(frozen=True)
class TrainJob:
    """Everything the staged loop (macs.train.loop.train) reads of a run's configuration."""

    run_dir: Path
    seed: int
    device: str
    train: TrainConfig
    model: ModelConfig
    method: str  # selection.method (stage manifests, summary.json)
    method_label: str  # selection.label, else the method (run.json)
    boundary_limit: int | None  # eval.boundary_limit (None: no data-efficiency curve)
    inrun: InRunSchedule | None  # the in-run schedule with influence.source=train, else None
    config: SavedConfig  # the whole config: written as config.yaml, checked on a resume
