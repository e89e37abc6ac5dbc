"""Config section(s) for macs.train (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
