"""Config section(s) for macs.select.console (owned by that layer; fields documented one line each)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator


class ActorSpec(BaseModel):
    """One actor of the console: its name, class and (optionally) its own initial weights."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="actor name (a manifest column; also the default sidecar name)")
    cls: str | None = Field(
        None, description="registered actor name or dotted path 'pkg.mod:Class' (default: name)"
    )
    labels: str | None = Field(None, description="label sidecar to read (default: name)")
    init: str | list[float] | dict[str, float] | None = Field(
        None, description="initial weights for this actor (default: selection.init)"
    )


class SelectionConfig(BaseModel):
    """Actors, the console and budgeted selection (method.md sections 1, 2, 4, 7)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    actors: list[str | ActorSpec] = Field(
        default_factory=lambda: ["quality", "domain", "topic"],
        description="actors used (any subset; names or {name, cls, labels, init})",
    )
    init: str | list[float] | dict[str, float] = Field(
        "uniform",
        description="initial weights: uniform | natural (token share) | regmix (proxy sweep, baselines.regmix) | list",
    )
    update: Literal["standardized", "eq5"] = Field(
        "standardized",
        description="actor update: standardized (z-score, exp, mean 1) or eq5 (paper)",
    )
    eta_w: float = Field(0.1, ge=0.0, le=1.0, description="actor weight step size eta_w")
    eta_theta: float = Field(0.1, ge=0.0, description="collaborative weight step size eta_theta")
    theta_reward: Literal["standardized", "raw"] = Field(
        "standardized",
        description="theta step uses R_A - Rbar divided by its std over actors (standardized) or raw",
    )
    method: str = Field(
        "multi_actor",
        validation_alias=AliasChoices("method", "mode"),
        description="selector by name (macs.select.selectors registry): multi_actor | fixed_theta | random | "
        "quality_topk | ... ; an actor subset as multi_actor:quality+domain",
    )
    label: str | None = Field(
        None, description="this setting's name in comparisons and reports (default: the method)"
    )
    decay_factor: float = Field(
        0.1, ge=0.0, description="repetition decay 1 / (1 + decay_factor * times_selected)"
    )
    operator: Literal["topk", "sample"] = Field(
        "topk",
        description="topk (the paper: top scores, whole cells) or sample (Gumbel-top-k, p ~ exp(S/temperature))",
    )
    # the operator and its controls are checked in one place, Controls (see _controls_valid)
    temperature: float = Field(
        0.25, description="sample operator: temperature of exp(S(x)/temperature) (> 0)"
    )
    epsilon: float = Field(
        0.0, description="share of each stage drawn uniformly from the pool, in [0, 1] (0 = off)"
    )
    max_repeats: int = Field(
        0, description="a document chosen this many times is not chosen again (0 = no cap)"
    )
    min_share: dict[str, float] = Field(
        default_factory=dict,
        description="{actor: share}: each group of the actor gets at least this share of a stage",
    )
    max_share: dict[str, float] = Field(
        default_factory=dict,
        description="{actor: share}: each group of the actor gets at most this share of a stage",
    )
    reward_pool: Literal["all", "unselected"] = Field(
        "all",
        description="where reward samples are drawn: all eligible docs (the paper) or only never-selected ones",
    )
    samples_per_group: int = Field(
        200, ge=1, description="m: docs sampled per group at each reward refresh"
    )
    seed_offset: int = Field(
        0,
        ge=0,
        description="the selection's own random draws use run.seed + this (model init, data order "
        "and evaluation keep theirs): a comparison's A/A arm is random with an offset",
    )
    shrink: bool = Field(
        False,
        description="empirical-Bayes shrinkage of noisy group-mean rewards toward the actor's "
        "pooled mean by se^2 / (se^2 + tau^2) before the actor update (macs.core.stats.shrink)",
    )
    tokens: float | None = Field(
        None, gt=0, description="token budget of a static `macs select` (default: fraction of pool)"
    )
    fraction: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="budget as a fraction of eligible pool tokens when tokens is unset",
    )
    bytes_per_token: float = Field(
        4.0, gt=0, description="token estimate n_bytes / this when the store has no token shards"
    )
    out: Path | None = Field(
        None,
        description="manifest path of `macs select` (default: run_dir/select/manifest.parquet with "
        "run.name set, else runs_dir/<corpus.name>/select/manifest.parquet)",
    )

    @field_validator("actors")
    @classmethod
    def _unique(cls, v: list[str | ActorSpec]) -> list[str | ActorSpec]:
        from macs.core.names import name_problem

        names = [a if isinstance(a, str) else a.name for a in v]
        sidecars = [a.labels for a in v if not isinstance(a, str) and a.labels]
        for n in [*names, *sidecars]:
            problem = name_problem(n)
            if problem:
                raise ValueError(f"actor {n!r} is not a safe name: {problem}")
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique, got {names}")
        return v

    @model_validator(mode="after")
    def _controls_valid(self):
        """The controls are valid where they are defined (Controls), checked at config load."""
        from macs.core.errors import MacsError

        try:
            self.controls()
        except MacsError as e:
            raise ValueError(str(e)) from None
        return self

    def controls(self):
        """The console's operator and stability controls (macs.select.console.controls.Controls)."""
        from macs.select.console.controls import Controls

        return Controls(
            operator=self.operator,
            temperature=self.temperature,
            epsilon=self.epsilon,
            max_repeats=self.max_repeats,
            min_share=dict(self.min_share),
            max_share=dict(self.max_share),
        )

    def actor_specs(self) -> list[ActorSpec]:
        """The actors as ActorSpec objects (plain names expanded)."""
        return [ActorSpec(name=a) if isinstance(a, str) else a for a in self.actors]
