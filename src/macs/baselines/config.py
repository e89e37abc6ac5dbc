"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from macs.labels.config import MiniLMConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityTopkConfig(_Section):
    """`quality_topk`: the documents with the highest quality score, to the run's token budget."""

    labels: str = Field(
        "quality", description="label sidecar whose continuous score ranks documents"
    )


class MatesConfig(_Section):
    """`mates` (Yu et al. 2024): a probe oracle on the current model, a learned influence model, Gumbel-top-k."""

    oracle_samples: int = Field(
        256, ge=4, description="docs probed per refresh (one optimiser step each, seeded sample)"
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="share of the oracle sample held out to report Spearman"
    )
    features: Literal["auto", "minilm", "hashing"] = Field(
        "auto",
        description="auto: MiniLM embeddings when the embed extra is installed, else hashing",
    )
    hash_buckets: int = Field(2**15, ge=16, description="hashed n-gram buckets (features)")
    hash_ngrams: int = Field(2, ge=1, le=4, description="word n-grams 1..n hashed (features)")
    max_chars: int = Field(4000, ge=16, description="characters of each doc read for features")
    minilm: MiniLMConfig = Field(default_factory=MiniLMConfig)
    model: Literal["ridge", "mlp"] = Field(
        "ridge",
        description="ridge (alpha by leave-one-out) or a one-hidden-layer MLP (for MiniLM "
        "features: on hashed n-grams its first layer is hash_buckets x mlp_hidden, slow on CPU)",
    )
    alphas: list[float] = Field(
        default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0],
        min_length=1,
        description="ridge penalties tried (leave-one-out on the fit part picks one)",
    )
    mlp_hidden: int = Field(64, ge=1, description="hidden units of the MLP influence model")
    mlp_alpha: float = Field(1.0, ge=0, description="L2 penalty of the MLP (scikit-learn alpha)")
    mlp_epochs: int = Field(200, ge=1, description="training epochs of the MLP (Adam)")
    candidate_ratio: float = Field(
        5.0, ge=1.0, description="candidate slice tokens / stage budget (MATES: 5, keeps 1/5)"
    )
    tau: float = Field(
        1.0, gt=0, description="Gumbel-top-k temperature on predicted influence (z units)"
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
    mates: MatesConfig = Field(default_factory=MatesConfig)

    qurating: QuRatingConfig = Field(default_factory=QuRatingConfig)
    dsir: DSIRConfig = Field(default_factory=DSIRConfig)
    perplexity: PerplexityConfig = Field(default_factory=PerplexityConfig)


class MethodVariant(_Section):
    """A method run with other settings, under its own name (e.g. ablation rows of a comparison)."""

    method: str = Field(description="the selector (method spec) this variant runs")
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="config overrides as {dotted.key: value}, e.g. {selection.operator: sample}",
    )


class CompareConfig(_Section):
    """`macs run` / `macs compare`: which methods and seeds train at equal tokens, against which baseline."""

    methods: list[str] = Field(
        default_factory=lambda: ["multi_actor", "random"],
        description="method specs (selector names; actor subsets as multi_actor:quality+domain)",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0], description="seeds; differences are paired by seed"
    )
    baseline: str = Field("random", description="the method every other is compared against")
    jobs: int = Field(1, ge=1, description="runs trained at once, each in its own process")
    variants: dict[str, MethodVariant] = Field(
        default_factory=dict,
        description="named settings of a method (e.g. the sample operator), usable in methods",
    )
