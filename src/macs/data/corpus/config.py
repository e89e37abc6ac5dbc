"""Config section(s) for macs.data.corpus (owned by that layer; fields documented one line each)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _safe(v: str | None, what: str) -> str | None:
    from macs.core.names import name_problem

    problem = None if v is None else name_problem(v)
    if problem:
        raise ValueError(f"not a safe {what} name: {problem}")
    return v


class CorpusConfig(BaseModel):
    """The corpus store: which one, how it is imported or built, and the held-out split."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("demo", description="store name: the store is run.data_dir/corpus/<name>")
    text_field: str = Field("text", description="input field (JSONL key / column) holding the text")
    id_field: str | None = Field(
        "id", description="input field with the document id (generated when missing)"
    )
    domain_field: str | None = Field(
        "domain",
        description="input field with the domain label (a dotted path such as meta.kind names a "
        "nested field; when set explicitly, every record must have it)",
    )
    default_domain: str = Field("default", description="domain of records without a domain field")
    max_chunk_bytes: int = Field(
        8192, ge=0, description="cut longer docs at paragraph boundaries (bytes; 0 = never)"
    )
    max_record_mb: float = Field(
        64.0, gt=0, description="largest record (a JSONL line) in MB; a larger one is a bad record"
    )
    meta_field: str | None = Field(
        "meta", description="JSONL field kept per record as JSON in the store's meta.parquet"
    )
    dedup_texts: bool = Field(
        True, description="drop records whose text equals an earlier one's (counted; first kept)"
    )
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="bad records: raise (name file/line) or skip and count"
    )
    heldout_fraction: float = Field(
        0.05, ge=0.0, lt=1.0, description="fraction of docs per domain held out for evaluation"
    )
    heldout_seed: int = Field(
        0, description="seed of the held-out split (hash of seed and parent id)"
    )
    shard_mb: float = Field(128.0, gt=0, description="text MB per Parquet shard")
    demo_max_mb_per_domain: float | None = Field(
        2.0, description="demo corpus: MB of text per domain (None = full, about 212 MB)"
    )
    demo_strict: bool = Field(
        False, description="demo corpus: a source that cannot be fetched is an error"
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return _safe(v, "store")


class TokenizerConfig(BaseModel):
    """Which tokenizer the corpus is tokenized with (and how a BPE one is trained)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["bpe", "byte", "gpt2", "neox"] = Field(
        "bpe", description="bpe (trained here), byte (256), gpt2, neox"
    )
    vocab_size: int = Field(
        4096, ge=300, description="BPE vocabulary size (tokens, incl. 256 bytes and specials)"
    )
    min_frequency: int = Field(2, ge=1, description="BPE: minimum pair count to merge")
    train_mb: float = Field(
        20.0, gt=0, description="BPE: MB of corpus text sampled for training (seeded)"
    )
    name: str | None = Field(
        None, description="tokenizer folder name (default: derived from kind and vocab)"
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        return _safe(v, "tokenizer")
