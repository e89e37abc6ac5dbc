"""Config section(s) for macs.corpus (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict


class CorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
