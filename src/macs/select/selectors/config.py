"""Config section `baselines`: the settings of each baseline selector (one sub-section per method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from macs.data.labels.config import MiniLMConfig


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
    spearman_floor: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="held-out Spearman below which a refresh is reported as sampling near-randomly",
    )


class QuRatingConfig(_Section):
    """`qurating`: sample without replacement with probability proportional to exp(z / tau),
    z the quality score standardized over the pool (QuRating: tau = 2 on z-scores)."""

    labels: str = Field("quality", description="label sidecar whose continuous score is the logit")
    tau: float = Field(
        2.0,
        gt=0.0,
        description="temperature on z-scores (QuRating's default 2; -> 0 top-k, large = uniform)",
    )
    standardize: bool = Field(
        True,
        description="z-score the quality score over the pool's eligible docs before tau "
        "(QuRating); false applies tau to the raw score",
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
    band: Literal["low", "middle", "high"] = Field(
        "middle",
        description="perplexity band taken first: low | middle (published default: Marion et al. "
        "2023, Ankner et al. 2024) | high; `lowest` is read as low",
    )
    band_width: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="share of the eligible docs (by perplexity percentile) in the band: its docs "
        "are sampled uniformly (seeded); past it the nearest percentiles first; 0 = strict order",
    )
    proxy: ProxyLMConfig = Field(default_factory=ProxyLMConfig)

    @field_validator("band", mode="before")
    @classmethod
    def _old_band_name(cls, v: Any) -> Any:
        return "low" if v == "lowest" else v


class RegMixConfig(_Section):
    """`regmix` and `selection.init: regmix`: proxy sweep over group mixtures, LightGBM, mixture search."""

    labels: str = Field(
        "domain",
        description="label set whose groups the `regmix` selector mixes (domain, topic, quality)",
    )
    n_proxies: int = Field(64, ge=2, description="proxy models trained (the paper used 512)")
    proxy_size: str = Field(
        "llama-1m", description="named model size of each proxy (macs.train.model.SIZES)"
    )
    proxy_tokens: int = Field(
        100_000, ge=1, description="training tokens per proxy (whole batches of seq_len tokens)"
    )
    seq_len: int = Field(128, ge=8, description="tokens per packed proxy training sequence")
    batch_size: int = Field(16, ge=1, description="sequences per proxy optimiser step")
    lr: float = Field(3e-3, gt=0, description="proxy AdamW peak learning rate (cosine to 10%)")
    weight_decay: float = Field(0.01, ge=0, description="proxy AdamW weight decay")
    warmup: float = Field(0.05, ge=0, lt=1, description="share of proxy steps with linear warmup")
    device: str = Field("cpu", description="proxy device: cpu | cuda | auto")
    prior_power: float = Field(
        0.5, gt=0, description="Dirichlet centre = pool token share ** this (tempered prior)"
    )
    strength_min: float = Field(0.1, gt=0, description="lowest Dirichlet strength (log-uniform)")
    strength_max: float = Field(5.0, gt=0, description="highest Dirichlet strength (log-uniform)")
    target: str = Field(
        "reference",
        description="proxy target loss: reference (influence tasks, continuation tokens) | "
        "heldout (the pool's held-out documents) | path to a JSONL of {text} or {context, continuation}",
    )
    target_examples: int = Field(
        64, ge=1, description="target examples per reference task / held-out docs / JSONL records"
    )
    folds: int = Field(
        5, ge=2, description="k-fold cross-validation over proxy runs for the held-out Spearman"
    )
    lgbm_rounds: int = Field(300, ge=1, description="LightGBM boosting rounds")
    lgbm_lr: float = Field(0.05, gt=0, description="LightGBM learning rate")
    lgbm_leaves: int = Field(15, ge=2, description="LightGBM leaves per tree")
    lgbm_min_child: int = Field(3, ge=1, description="LightGBM minimum proxy runs per leaf")
    search_samples: int = Field(
        100_000, ge=1, description="Dirichlet mixtures scored by the regression in the search"
    )
    top_k: int = Field(128, ge=1, description="the chosen mixture is the mean of this many best")
    weights_as: Literal["ratio", "mixture"] = Field(
        "ratio",
        description="init: regmix weights: ratio (mixture / pool share: sampling documents by "
        "weight reproduces the mixture) or mixture (the mixture itself, the paper's literal use)",
    )
    workers: int = Field(1, ge=1, description="parallel proxy processes (or Ray tasks)")
    threads: int = Field(
        1, ge=1, description="torch threads per proxy (tiny models: parallelise over workers)"
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="local (this process or spawned processes) or ray"
    )
    ray_address: str | None = Field(None, description="Ray cluster address; none = local Ray")
    seed: int | None = Field(
        None,
        description="seed of sweep and search; none = the run's seed (share one sweep across seeds)",
    )

    @model_validator(mode="after")
    def _check(self) -> RegMixConfig:
        if self.strength_min > self.strength_max:
            raise ValueError(
                f"strength_min ({self.strength_min}) must not exceed strength_max ({self.strength_max})"
            )
        if self.top_k > self.search_samples:
            raise ValueError(
                f"top_k ({self.top_k}) must not exceed search_samples ({self.search_samples})"
            )
        return self


class BaselinesConfig(_Section):
    """Settings of the baseline selectors (chosen by name in selection.method / macs compare)."""

    quality_topk: QualityTopkConfig = Field(default_factory=QualityTopkConfig)
    mates: MatesConfig = Field(default_factory=MatesConfig)
    qurating: QuRatingConfig = Field(default_factory=QuRatingConfig)
    dsir: DSIRConfig = Field(default_factory=DSIRConfig)
    perplexity: PerplexityConfig = Field(default_factory=PerplexityConfig)
    regmix: RegMixConfig = Field(default_factory=RegMixConfig)


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
    contrasts: list[str] = Field(
        default_factory=list,
        description="primary contrasts declared before the run, as 'A - B' (method or variant names); "
        "the report Holm-adjusts them together on primary_metrics, every other row is exploratory",
    )
    primary_metrics: list[str] = Field(
        default_factory=lambda: ["reference mean scored bpb"],
        description="the metrics of the primary contrasts (names as in the report's table.json)",
    )

    @field_validator("variants")
    @classmethod
    def _safe_variant_names(cls, v: dict[str, MethodVariant]) -> dict[str, MethodVariant]:
        from macs.core.names import name_problem

        for name in v:
            problem = name_problem(name)
            if problem:
                raise ValueError(
                    f"variant name {name!r} is not a safe name: {problem} (it names the "
                    "variant's run folders); use letters, digits, _ . + : = , @ -"
                )
        return v
