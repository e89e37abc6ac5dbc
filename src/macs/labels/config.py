"""Config section(s) for macs.labels (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class LabelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
