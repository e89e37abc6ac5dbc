"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityTopkConfig(_Section):
    """`quality_topk`: the documents with the highest quality score, to the run's token budget."""

    labels: str = Field(
        "quality", description="label sidecar whose continuous score ranks documents"
    )


class QuRatingConfig(_Section):
    """`qurating`: sample without replacement with probability proportional to exp(score / tau)."""

    labels: str = Field("quality", description="label sidecar whose continuous score is the logit")
    tau: float = Field(
        2.0, gt=0.0, description="temperature (QuRating's default 2; -> 0 top-k, large = uniform)"
    )


class DSIRConfig(_Section):
    """`dsir`: importance resampling toward a target text distribution (hashed n-gram DSIR)."""

    target_jsonl: Path | None = Field(
        None, description='JSONL of {"text": ...} as the target (default: the reference tasks)'
    )
    target_tasks: list[str] | None = Field(
        None, description="reference tasks whose reward split is the target (default: influence's)"
    )
    target_per_task: int | None = Field(
        None, ge=1, description="seeded sample of each task's reward split (None = all examples)"
    )
    ngrams: int = Field(2, ge=1, description="n of the hashed n-gram features (2 = uni+bigrams)")
    num_buckets: int = Field(10_000, ge=16, description="hash buckets of the n-gram features")
    min_example_length: int = Field(
        100, ge=0, description="docs with fewer words are taken only after all longer ones"
    )
    chunk_words: int | None = Field(
        128, ge=1, description="log weight rescaled to a chunk of this many words (None = per doc)"
    )
    fit_tokens: int | None = Field(
        None, ge=1, description="pool n-grams fitted for the raw distribution (None = package auto)"
    )
    batch_docs: int = Field(1024, ge=1, description="pool documents read per batch")


class ProxyLMConfig(_Section):
    """The default perplexity model on CPU: a small macs model trained on a uniform pool sample."""

    size: str | None = Field(None, description="named model size (None = the run's model.size)")
    tokens: int = Field(200_000, ge=1, description="training tokens (seeded uniform pool sample)")
    seq_len: int = Field(128, ge=8, description="tokens per training sequence")
    batch_size: int = Field(8, ge=1, description="sequences per optimiser step")
    lr: float = Field(3e-3, gt=0.0, description="peak AdamW learning rate (linear decay)")
    seed: int = Field(0, description="seed of the pool sample, the init and the data order")


class PerplexityConfig(_Section):
    """`perplexity`: the documents with the lowest (or middle) perplexity under a reference LM."""

    model: str = Field(
        "auto",
        description="auto (SmolLM2-135M if the ppl extra is installed, else proxy) | smollm2 | "
        "proxy | a local HF causal-LM folder",
    )
    gguf_file: str | None = Field(None, description="GGUF file name inside `model` (if it is GGUF)")
    max_tokens: int = Field(256, ge=8, description="tokens scored per document (the first ones)")
    batch_size: int = Field(16, ge=1, description="documents per forward pass")
    part_docs: int = Field(4096, ge=1, description="documents per resumable part of the scoring")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    band: Literal["lowest", "middle"] = Field(
        "lowest", description="lowest perplexity first, or the band around the median first"
    )
    proxy: ProxyLMConfig = Field(default_factory=ProxyLMConfig)


class BaselinesConfig(_Section):
    """Settings of the baseline selectors (chosen by name in selection.method / macs compare)."""

    quality_topk: QualityTopkConfig = Field(default_factory=QualityTopkConfig)
    qurating: QuRatingConfig = Field(default_factory=QuRatingConfig)
    dsir: DSIRConfig = Field(default_factory=DSIRConfig)
    perplexity: PerplexityConfig = Field(default_factory=PerplexityConfig)
