"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityTopkConfig(_Section):
    """`quality_topk`: the documents with the highest quality score, to the run's token budget."""

    labels: str = Field(
        "quality", description="label sidecar whose continuous score ranks documents"
    )


class RegMixConfig(_Section):
    """`regmix` and `selection.init: regmix`: proxy sweep over group mixtures, LightGBM, mixture search."""

    labels: str = Field(
        "domain",
        description="label set whose groups the `regmix` selector mixes (domain, topic, quality)",
    )
    n_proxies: int = Field(64, ge=2, description="proxy models trained (the paper used 512)")
    proxy_size: str = Field(
        "llama-1m", description="named model size of each proxy (macs.train.model.SIZES)"
    )
    proxy_tokens: int = Field(
        100_000, ge=1, description="training tokens per proxy (whole batches of seq_len tokens)"
    )
    seq_len: int = Field(128, ge=8, description="tokens per packed proxy training sequence")
    batch_size: int = Field(16, ge=1, description="sequences per proxy optimiser step")
    lr: float = Field(3e-3, gt=0, description="proxy AdamW peak learning rate (cosine to 10%)")
    weight_decay: float = Field(0.01, ge=0, description="proxy AdamW weight decay")
    warmup: float = Field(0.05, ge=0, lt=1, description="share of proxy steps with linear warmup")
    device: str = Field("cpu", description="proxy device: cpu | cuda | auto")
    prior_power: float = Field(
        0.5, gt=0, description="Dirichlet centre = pool token share ** this (tempered prior)"
    )
    strength_min: float = Field(0.1, gt=0, description="lowest Dirichlet strength (log-uniform)")
    strength_max: float = Field(5.0, gt=0, description="highest Dirichlet strength (log-uniform)")
    target: str = Field(
        "reference",
        description="proxy target loss: reference (influence tasks, continuation tokens) | "
        "heldout (the pool's held-out documents) | path to a JSONL of {text} or {context, continuation}",
    )
    target_examples: int = Field(
        64, ge=1, description="target examples per reference task / held-out docs / JSONL records"
    )
    folds: int = Field(
        5, ge=2, description="k-fold cross-validation over proxy runs for the held-out Spearman"
    )
    lgbm_rounds: int = Field(300, ge=1, description="LightGBM boosting rounds")
    lgbm_lr: float = Field(0.05, gt=0, description="LightGBM learning rate")
    lgbm_leaves: int = Field(15, ge=2, description="LightGBM leaves per tree")
    lgbm_min_child: int = Field(3, ge=1, description="LightGBM minimum proxy runs per leaf")
    search_samples: int = Field(
        100_000, ge=1, description="Dirichlet mixtures scored by the regression in the search"
    )
    top_k: int = Field(128, ge=1, description="the chosen mixture is the mean of this many best")
    weights_as: Literal["ratio", "mixture"] = Field(
        "ratio",
        description="init: regmix weights: ratio (mixture / pool share: sampling documents by "
        "weight reproduces the mixture) or mixture (the mixture itself, the paper's literal use)",
    )
    workers: int = Field(1, ge=1, description="parallel proxy processes (or Ray tasks)")
    threads: int = Field(
        1, ge=1, description="torch threads per proxy (tiny models: parallelise over workers)"
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="local (this process or spawned processes) or ray"
    )
    ray_address: str | None = Field(None, description="Ray cluster address; none = local Ray")
    seed: int | None = Field(
        None,
        description="seed of sweep and search; none = the run's seed (share one sweep across seeds)",
    )

    @model_validator(mode="after")
    def _check(self) -> RegMixConfig:
        if self.strength_min > self.strength_max:
            raise ValueError(
                f"strength_min ({self.strength_min}) must not exceed strength_max ({self.strength_max})"
            )
        if self.top_k > self.search_samples:
            raise ValueError(
                f"top_k ({self.top_k}) must not exceed search_samples ({self.search_samples})"
            )
        return self


class BaselinesConfig(_Section):
    """Settings of the baseline selectors (chosen by name in selection.method / macs compare)."""

    quality_topk: QualityTopkConfig = Field(default_factory=QualityTopkConfig)
    regmix: RegMixConfig = Field(default_factory=RegMixConfig)
