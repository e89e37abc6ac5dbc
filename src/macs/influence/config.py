"""Config section(s) for macs.influence (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class InfluenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
