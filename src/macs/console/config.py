"""Config section(s) for macs.console (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class SelectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
