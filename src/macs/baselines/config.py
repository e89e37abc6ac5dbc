"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityTopkConfig(_Section):
    """`quality_topk`: the documents with the highest quality score, to the run's token budget."""

    labels: str = Field(
        "quality", description="label sidecar whose continuous score ranks documents"
    )


class BaselinesConfig(_Section):
    """Settings of the baseline selectors (chosen by name in selection.method / macs compare)."""

    quality_topk: QualityTopkConfig = Field(default_factory=QualityTopkConfig)


class MethodVariant(_Section):
    """A method run with other settings, under its own name (e.g. ablation rows of a comparison)."""

    method: str = Field(description="the selector (method spec) this variant runs")
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="config overrides as {dotted.key: value}, e.g. {selection.operator: sample}",
    )


class CompareConfig(_Section):
    """`macs run` / `macs compare`: which methods and seeds train at equal tokens, against which baseline."""

    methods: list[str] = Field(
        default_factory=lambda: ["multi_actor", "random"],
        description="method specs (selector names; actor subsets as multi_actor:quality+domain)",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0], description="seeds; differences are paired by seed"
    )
    baseline: str = Field("random", description="the method every other is compared against")
    variants: dict[str, MethodVariant] = Field(
        default_factory=dict,
        description="named settings of a method (e.g. the sample operator), usable in methods",
    )
