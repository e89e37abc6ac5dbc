"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

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
