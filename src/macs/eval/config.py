"""Config section(s) for macs.eval (owned by that layer; fields documented one line each)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EvalConfig(BaseModel):
    """The offline evaluation suite: which tasks, how many shots, how many examples."""

    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(
        default_factory=lambda: ["reference", "downstream"],
        description="task names or groups: reference (LAMBADA, SQuAD, Jeopardy), downstream (11 ranked-choice tasks), all",
    )
    shots: list[int] = Field(
        default_factory=lambda: [0], description="in-context examples: 0 and/or 5"
    )
    limit: int | None = Field(
        200, ge=1, description="seeded subset of documents per task (None = all)"
    )
    batch_size: int = Field(32, ge=1, description="pairs per forward pass (sorted by length)")
    max_length: int | None = Field(
        None, ge=2, description="context window in tokens (default: the model's)"
    )
    seed: int = Field(
        0,
        description="seed of the --limit subsets and held-out documents, shared by every run "
        "(not run.seed): every seed and method of a comparison is scored on the same examples",
    )
    boundary_limit: int | None = Field(
        None,
        ge=1,
        description="documents per reference task scored at every stage boundary of a run (from "
        "eval.seed; the data-efficiency curve, boundary/stage-k.json); None = off",
    )
    split_seed: int = Field(
        0, description="seed of the reference tasks' reward/eval split (keep it fixed)"
    )
    heldout: bool = Field(
        True, description="also report per-domain held-out bits-per-byte on the corpus store"
    )
    heldout_docs_per_domain: int | None = Field(
        100, ge=1, description="held-out documents scored per domain (seeded sample; None = all)"
    )

    @field_validator("shots")
    @classmethod
    def _shots(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if s not in (0, 5)]
        if bad or not v:
            raise ValueError(f"shots must be a non-empty list of 0 and/or 5, got {v}")
        return sorted(set(v))
