"""Config section(s) for macs.eval (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
