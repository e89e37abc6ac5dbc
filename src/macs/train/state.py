"""The training loop's state (checkpointed besides model and optimiser), its plan and its result."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from macs.train.config import TrainConfig
from macs.train.schedule import stage_bounds


@dataclass(frozen=True)
class Plan:
    """Steps, stage bounds and token budgets implied by the config (tokens per optimiser step = all
    ranks). Computed once per run (`plan`); checkpoints store `dataclasses.asdict(plan)`, a dict
    with these keys."""

    total_steps: int
    bounds: list[int]  # first step of each stage, then total_steps
    step_tokens: int
    stage_budgets: list[int]  # training tokens of each stage

    @property
    def n_stages(self) -> int:
        """Number of stages."""
        return len(self.bounds) - 1

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's plain data (the dict `plan` returned before it was a dataclass)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Rebuild from to_dict() (a checkpoint's `plan`)."""
        return cls(
            int(d["total_steps"]),
            [int(b) for b in d["bounds"]],
            int(d["step_tokens"]),
            [int(b) for b in d["stage_budgets"]],
        )


def plan(t: TrainConfig, world: int) -> Plan:
    """The Plan of the train section `t` (macs.train.config.TrainConfig) on `world` ranks."""
    step_tokens = t.batch_size * t.grad_accum * t.seq_len * world
    total = max(t.stages, math.ceil(t.tokens / step_tokens))
    bounds = stage_bounds(total, t.stages)
    return Plan(
        total_steps=total,
        bounds=bounds,
        step_tokens=step_tokens,
        stage_budgets=[(bounds[k + 1] - bounds[k]) * step_tokens for k in range(len(bounds) - 1)],
    )


@dataclass
class MetricWindow:
    """Training metrics accumulated since the last metrics.jsonl line."""

    loss: float = 0.0
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, loss: float, tokens: int, seconds: float) -> None:
        """Count one optimiser step."""
        self.loss += loss
        self.steps += 1
        self.tokens += tokens
        self.seconds += seconds


@dataclass
class TrainState:
    """Counters of a run: where it is (step, stage), what it has spent, and the data position."""

    plan: Plan
    step: int = 0
    stage: int = 0
    stage_ready: bool = False  # the current stage's documents are selected (manifest written)
    data: dict | None = None  # PackedStage.state_dict() of the current stage
    train_seconds: float = 0.0
    refresh_seconds: float = 0.0
    tokens: int = 0
    last_loss: float = float("nan")
    window: MetricWindow = field(default_factory=MetricWindow)
    inrun_seconds: float = 0.0  # in-run reward work inside the training steps (this process)
    costs: dict = field(
        default_factory=dict
    )  # refresh seconds by part: sample, reward, update, select

    @property
    def n_stages(self) -> int:
        """Number of stages of the plan."""
        return self.plan.n_stages

    @property
    def stage_end(self) -> int:
        """First step of the next stage."""
        return self.plan.bounds[self.stage + 1]

    @property
    def overhead(self) -> float:
        """Online selection time (refreshes and in-run reward work) as a fraction of the training
        time without the in-run reward work, so far."""
        online = self.refresh_seconds + self.inrun_seconds
        return online / max(self.train_seconds - self.inrun_seconds, 1e-9)

    def cost_summary(self) -> dict[str, float]:
        """Online cost by part in seconds and as a fraction of training time (without in-run work)."""
        train = max(self.train_seconds - self.inrun_seconds, 1e-9)
        c = dict(self.costs)
        parts = {
            "reward_inrun": self.inrun_seconds,
            "reward_separate": c.pop("reward", 0.0) + c.pop("sample", 0.0),
            "update": c.pop("update", 0.0),
            "select": c.pop("select", 0.0),
        }
        other = self.refresh_seconds - sum(v for k, v in parts.items() if k != "reward_inrun")
        parts["other"] = max(0.0, other)  # the refresh's remaining wall time (writing, transport)
        out = {"train_seconds": train, **{f"{k}_seconds": v for k, v in parts.items()}}
        out.update({f"{k}_fraction": v / train for k, v in parts.items()})
        out["online_fraction"] = (self.refresh_seconds + self.inrun_seconds) / train
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (the plan as its dict)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        """Rebuild from to_dict() (also reads the pre-dataclass checkpoint layout with `acc`)."""
        d = dict(d)
        if isinstance(d.get("plan"), dict):
            d["plan"] = Plan.from_dict(d["plan"])
        if "acc" in d:  # macs 0.1 checkpoints
            loss, n, tok, s = d.pop("acc")
            d["window"] = {"loss": loss, "steps": n, "tokens": tok, "seconds": s}
        win = MetricWindow(**d.pop("window", {}))
        keep = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "window"}
        return cls(**keep, window=win)


@dataclass
class TrainResult:
    """What train() returns."""

    run_dir: Path
    steps: int
    tokens: int
    final_loss: float
    train_seconds: float
    refresh_seconds: float
    finished: bool

    @property
    def overhead(self) -> float:
        """Online selection time (rewards + updates + selection) as a fraction of training time."""
        return self.refresh_seconds / self.train_seconds if self.train_seconds > 0 else float("nan")

    @classmethod
    def of(cls, run_dir: Path, st: TrainState, finished: bool) -> TrainResult:
        """The result of a state."""
        return cls(
            run_dir,
            st.step,
            st.tokens,
            st.last_loss,
            st.train_seconds,
            st.refresh_seconds,
            finished,
        )
