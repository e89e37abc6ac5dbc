"""The quality actor: a 0-5 score per document (higher = better quality) binned into groups.

Scorers (labels.quality.method):
- classifier: DCLM-style linear classifier (fastText or hashed n-grams) trained here on
  curated-domain positives vs spam and a random pool sample; score = 5 * P(positive).
- perplexity: a causal LM (SmolLM2-135M by default); log-linear map of perplexity,
  ppl_best -> 5, ppl_worst -> 0 (lower perplexity = higher score).
- field: a precomputed score (a store column or an (id, value) file), used as is.
- hf_classifier: a local HF sequence-classification checkpoint (1 output: the logit
  clipped to 0-5, FineWeb-Edu style; k outputs: expected class index scaled to 0-5).
Empty documents score 0 with every scorer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError, require
from macs.data.labels.base import (
    Batch,
    Labeller,
    bin_names,
    bin_scores,
    id_unit,
    read_text_file_docs,
    stratified_sample,
)
from macs.data.labels.config import ClassifierQualityConfig, QualityConfig
from macs.data.labels.qmodel import (
    MODEL_FILE,
    QualityModel,
    featuriser_meta,
    load_quality_model,
    save_quality_model,
)
from macs.data.labels.scorers import (
    FieldScorer,
    HFClassifierScorer,
    PerplexityScorer,
    _default_smollm2,
    _no_checkpoint,
)
from macs.data.labels.textclf import FEATURISER_VERSION, TextClassifier

__all__ = [
    "FieldScorer",
    "HFClassifierScorer",
    "PerplexityScorer",
    "QualityLabeller",
    "classifier_sample",
]
VAL_SALT = "quality-val"  # salt of the id hash that keeps the validation split out of training


def shuffle_words(text: str, rng: np.random.Generator) -> str:
    """`text` with its words (whitespace-separated) in a random order: the same words, no syntax."""
    words = text.split()
    return " ".join(words[i] for i in rng.permutation(len(words)))


def classifier_sample(
    domains: np.ndarray,
    c: ClassifierQualityConfig,
    rng: np.random.Generator,
    allowed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positive, negative, pool) doc indices for the classifier (seeded; only where `allowed`)."""
    present = sorted(set(domains.tolist()))
    pos = stratified_sample(domains, c.positive_domains, c.max_per_class, rng, allowed)
    neg = stratified_sample(domains, c.negative_domains, c.max_per_class, rng, allowed)
    pool_ok = allowed & ~np.isin(domains, list(c.positive_domains) + list(c.negative_domains))
    pool_idx = np.flatnonzero(pool_ok)
    pool = np.sort(rng.choice(pool_idx, size=min(c.pool_negatives, len(pool_idx)), replace=False))
    if not len(pos) and not c.positive_files:
        raise MacsError(
            f"quality classifier: no positives - none of labels.quality.classifier.positive_domains "
            f"{c.positive_domains} is in the store (domains present: {present}); set them or "
            "positive_files"
        )
    if not len(neg) and not len(pool) and not c.negative_files and not c.corrupted_negatives:
        raise MacsError(
            f"quality classifier: no negatives - negative_domains {c.negative_domains} are not in "
            f"the store (domains present: {present}) and pool_negatives is 0"
        )
    return pos, neg, pool


class QualityLabeller(Labeller):
    """Quality score on 0-5 (higher = better), binned at fixed cut points or pool quantiles.

    With method classifier the score comes from a linear model on hashed word n-grams: a saved
    one (`labels.quality.model`), one trained on this store's positive domains (cached in
    `<store>/labels/.models/`), or, when the store has none of them, the packaged default.
    """

    kind = "quality"
    version = "1"

    def __init__(self, cfg: QualityConfig, seed: int = 0):
        super().__init__(cfg, seed, cfg.max_chars)
        self.cuts: list[float] = list(cfg.cuts) if cfg.bins == "fixed" else []
        self.clf: TextClassifier | None = None
        self.model: QualityModel | None = None
        self._cache: Path | None = None
        self._train_role: dict[str, int] = {}
        self._quant_ids: set[str] = set()
        if cfg.method == "field" and cfg.field.file is None:
            self.input_columns = ("id", "text", "domain", cfg.field.name)
        if cfg.method == "hf_classifier" and cfg.hf_classifier.path is None:
            raise MacsError(
                "labels.quality.method is hf_classifier: set labels.quality.hf_classifier.path "
                "to the checkpoint folder"
            )
        if cfg.model is not None:
            if cfg.method != "classifier":
                raise MacsError(
                    f"labels.quality.model is set but labels.quality.method is {cfg.method}; a "
                    "saved quality model needs method classifier (or unset model)"
                )
            self._use_model(load_quality_model(cfg.model))
        self._set_needs_fit()

    def _set_needs_fit(self) -> None:
        train = self.cfg.method == "classifier" and self.model is None
        self.needs_fit = train or self.cfg.bins == "quantile"

    def _use_model(self, model: QualityModel) -> None:
        self.model = model
        self.fit_report = {
            "model": model.identity(),
            "model_summary": model.summary(),
            **model.meta.get("training", {}).get("fit", {}),  # a store classifier's counts
        }

    @property
    def saved_model(self) -> bool:
        """True when scores come from a model trained elsewhere (packaged default or a folder)."""
        return self.model is not None and self.model.source in ("default", "file")

    @property
    def group_names(self) -> list[str]:
        if not self.cuts:
            return [f"q{j}" for j in range(self.cfg.n_groups)]
        if self.cfg.bins == "fixed":
            return bin_names(self.cuts, 0.0, 5.0)
        return bin_names(self.cuts, None, None)

    def config_dict(self) -> dict[str, Any]:
        """The config, plus name/version/sha256 of a saved model (so a new model relabels)."""
        d = super().config_dict()
        if self.saved_model:
            d["model"] = {k: self.model.identity()[k] for k in ("name", "version", "sha256")}
        return d

    @property
    def val_fraction(self) -> float:
        """Fraction of docs (by id hash) kept out of classifier training for validation."""
        if self.saved_model:
            h = self.model.meta.get("training", {}).get("heldout") or {}
            return float(h["fraction"]) if h.get("by") == "id" else 1.0
        return self.cfg.classifier.val_fraction if self.cfg.method == "classifier" else 0.0

    def validation_mask(self, ids: Sequence[str]) -> np.ndarray:
        """True for docs never used in training (a seeded id hash; a saved model's own split)."""
        if self.saved_model:
            mask = self.model.heldout_mask(list(ids))
            return np.ones(len(ids), dtype=bool) if mask is None else mask
        if self.val_fraction <= 0:
            return np.zeros(len(ids), dtype=bool)
        return id_unit(ids, self.seed, VAL_SALT) < self.val_fraction

    # --- choosing the model ------------------------------------------------------------
    def bind(self, store, cache_root: Path | None = None) -> None:
        """Before fitting: reuse a classifier cached for this store and config, or fall back to
        the packaged default when the store has none of the positive domains."""
        if self.cfg.method != "classifier" or self.model is not None:
            return
        if cache_root is not None and self.cfg.classifier.backend == "hashing":
            self._cache = Path(cache_root) / f"quality-{self._cache_key(store)}"
            if (self._cache / MODEL_FILE).exists():
                try:
                    self._use_model(load_quality_model(self._cache, source="cache"))
                    self.notes.append(f"quality: reusing the classifier cached in {self._cache}")
                except MacsError as e:
                    self.notes.append(f"quality: retraining, the cached classifier is bad: {e}")
        if self.model is None:
            self._fallback(store.domains()[1])
        self._set_needs_fit()

    def _cache_key(self, store) -> str:
        files = [
            hashlib.sha256(Path(p).read_bytes()).hexdigest() if Path(p).exists() else str(p)
            for p in self.cfg.classifier.positive_files + self.cfg.classifier.negative_files
        ]
        shards = [[Path(s).name, Path(s).stat().st_size] for s in store.shards]
        blob = {
            "classifier": self.cfg.classifier.model_dump(mode="json"),
            "max_chars": self.max_chars,
            "seed": self.seed,
            "files": files,
            "store": [int(store.n_docs), shards],
            "labeller": self.version,
            "featuriser": FEATURISER_VERSION,
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]

    def _fallback(self, present: Sequence[str]) -> None:
        """Use the packaged default when the store cannot give both training classes."""
        c = self.cfg.classifier
        present = set(present)
        classes = set(c.positive_domains) | set(c.negative_domains)
        if not (set(c.positive_domains) & present or c.positive_files):
            why = f"none of the positive domains {c.positive_domains}"
        elif not (
            set(c.negative_domains) & present
            or c.negative_files
            or c.corrupted_negatives > 0
            or (c.pool_negatives > 0 and present - classes)
        ):
            why = f"no negatives (none of {c.negative_domains}, and no other domain for the pool)"
        else:
            return
        if not self.cfg.fallback_default:
            return  # classifier_sample raises the clear "no positives/negatives" error
        self._use_model(load_quality_model("default"))
        self.notes.append(
            f"quality: the store has {why}; scoring with the packaged default model "
            f"{self.model.summary()}"
        )

    # --- fitting -------------------------------------------------------------------------
    def select_fit_sample(self, ids: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """Positives, negatives and pool docs for the classifier, plus a pool sample for quantiles."""
        ids = np.asarray(ids, dtype=object)
        domains = np.asarray(domains, dtype=object)
        rng = np.random.default_rng([self.seed, 1])
        chosen = [np.zeros(0, dtype=np.int64)]
        self._train_role, self._quant_ids = {}, set()
        if self.cfg.method == "classifier" and self.model is None:
            self._fallback(sorted(set(domains.tolist())))
            self._set_needs_fit()
        if self.cfg.method == "classifier" and self.model is None:
            allowed = ~self.validation_mask(ids)
            pos, neg, pool = classifier_sample(domains, self.cfg.classifier, rng, allowed)
            for i in pos:
                self._train_role[ids[i]] = 1
            for i in np.concatenate([neg, pool]).astype(np.int64):
                self._train_role[ids[i]] = 0
            chosen += [pos, neg, pool]
        if self.cfg.bins == "quantile":
            q = np.sort(
                rng.choice(len(ids), size=min(self.cfg.quantile_sample, len(ids)), replace=False)
            )
            self._quant_ids = set(ids[q].tolist())
            chosen.append(q)
        return np.unique(np.concatenate(chosen)).astype(np.int64)

    def fit(self, texts: list[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Train the classifier (unless a model is set) and set quantile cuts (if any)."""
        ids = [str(x) for x in meta.get("id", range(len(texts)))]
        domains = list(meta.get("domain", [""] * len(texts)))
        report: dict[str, Any] = dict(self.fit_report)
        texts = [t[: self.max_chars] for t in texts]
        if self.cfg.method == "classifier" and self.model is None:
            report.update(self._train(texts, ids, domains))
        if self.cfg.bins == "quantile":
            qt = [t for t, i in zip(texts, ids, strict=True) if i in self._quant_ids] or texts
            raw = self._raw_scores(Batch([""] * len(qt), qt, [""] * len(qt)))
            probs = np.linspace(0, 1, self.cfg.n_groups + 1)[1:-1]
            cuts = np.unique(np.quantile(raw, probs)).tolist()
            if len(cuts) < self.cfg.n_groups - 1:
                raise MacsError(
                    f"quality quantile bins: the pool sample's scores have only {len(cuts) + 1} "
                    f"distinct quantile levels for {self.cfg.n_groups} groups; use bins: fixed"
                )
            self.cuts = [float(x) for x in cuts]
            report.update(quantile_cuts=self.cuts, n_quantile_docs=len(qt))
        self.fit_report = report
        return report

    def _train(self, texts: list[str], ids: list[str], domains: list[str]) -> dict[str, Any]:
        """Train on the store sample (+ files); hashing models are cached for this store."""
        c = self.cfg.classifier
        if self._train_role:
            labels = [self._train_role.get(i) for i in ids]
        else:  # called on a plain list: roles from the domains
            pos_d = set(c.positive_domains)  # everything else: negatives (spam or pool)
            labels = [1 if d in pos_d else 0 for d in domains]
        tr_texts = [t for t, y in zip(texts, labels, strict=True) if y is not None]
        tr_y = [y for y in labels if y is not None]
        for files, y in ((c.positive_files, 1), (c.negative_files, 0)):
            for path in files:
                docs = read_text_file_docs(path)
                tr_texts += [d[: self.max_chars] for d in docs]
                tr_y += [y] * len(docs)
        n_corrupt = 0
        if c.corrupted_negatives > 0:  # the same positives, words shuffled: within-domain negatives
            rng = np.random.default_rng([self.seed, 0xC0AA])
            pos_i = [i for i, y in enumerate(tr_y) if y == 1]
            take = rng.permutation(len(pos_i))[: c.corrupted_negatives]
            bad = [shuffle_words(tr_texts[pos_i[k]], rng) for k in sorted(take.tolist())]
            tr_texts += bad
            tr_y += [0] * len(bad)
            n_corrupt = len(bad)
        n_pos = int(sum(tr_y))
        if n_pos == 0 or n_pos == len(tr_y):
            raise MacsError(
                f"quality classifier: training set has {n_pos} positives and "
                f"{len(tr_y) - n_pos} negatives; both classes are needed"
            )
        self.clf = TextClassifier(c, self.seed).fit(tr_texts, ["pos" if y else "neg" for y in tr_y])
        report = {
            "n_train_pos": n_pos,
            "n_train_neg": len(tr_y) - n_pos,
            "n_train_neg_corrupted": n_corrupt,
            "backend": c.backend,
            "fasttext_lr": self.clf.lr_used,
        }
        if c.backend == "hashing":
            self._keep_trained(report)
        return report

    def _keep_trained(self, report: dict[str, Any]) -> None:
        """Wrap the trained hashing classifier as a QualityModel; save it in the store's cache."""
        from macs import __version__

        c = self.cfg.classifier
        fit = {k: report[k] for k in ("n_train_pos", "n_train_neg", "backend", "fasttext_lr")}
        meta = {
            "name": "store-classifier",
            "version": "1",
            "macs_version": __version__,
            "featuriser": featuriser_meta(c, self.max_chars),
            "training": {
                "summary": f"this store: {report['n_train_pos']:,} positives vs "
                f"{report['n_train_neg']:,} negatives",
                "heldout": {
                    "by": "id",
                    "seed": self.seed,
                    "salt": VAL_SALT,
                    "fraction": c.val_fraction,
                },
                "fit": fit,  # so a run that reuses the cached model reports the same fit
            },
        }
        coef, b = self.clf._coef[0].copy(), float(self.clf._intercept[0])
        if self._cache is not None:
            self.model = save_quality_model(coef, b, meta, self._cache, "float32")
        else:
            self.model = QualityModel(coef, b, meta)
        self.model.source = "trained"
        report.update(model=self.model.identity(), model_summary=self.model.summary())

    # --- scoring -------------------------------------------------------------------------
    def check(self) -> None:
        """Missing model folder / package -> MacsError naming what to set or install."""
        m = self.cfg.method
        if m == "perplexity":
            require("transformers", "transformers", why="the perplexity scorer")
            p = self.cfg.perplexity
            if p.model is None:
                _default_smollm2()
                require("gguf", "gguf", "ppl", why="loading the SmolLM2 GGUF model")
            elif not Path(p.model).exists():
                raise MacsError(f"labels.quality.perplexity.model {p.model} does not exist")
        elif m == "hf_classifier":
            path = Path(self.cfg.hf_classifier.path)
            if not (path / "config.json").exists():
                raise MacsError(_no_checkpoint(path))
        elif (
            m == "field"
            and self.cfg.field.file is not None
            and not Path(self.cfg.field.file).exists()
        ):
            raise MacsError(f"labels.quality.field.file {self.cfg.field.file} does not exist")

    def setup(self) -> None:
        if "scorer" in self._loaded:
            return
        m = self.cfg.method
        if self.model is not None:
            self._loaded["scorer"] = self.model
        elif m == "classifier":
            if self.clf is None:
                raise RuntimeError("quality classifier is not trained (run fit first)")
            self.clf.setup()
            self._loaded["scorer"] = self.clf
        elif m == "perplexity":
            self._loaded["scorer"] = PerplexityScorer(self.cfg.perplexity)
        elif m == "hf_classifier":
            self._loaded["scorer"] = HFClassifierScorer(self.cfg.hf_classifier)
        else:
            self._loaded["scorer"] = FieldScorer(self.cfg.field)

    def _raw_scores(self, batch: Batch) -> np.ndarray:
        self.setup()
        s = self._loaded["scorer"]
        if self.model is not None:
            raw = self.model.score(batch.texts)
        elif self.cfg.method == "classifier":
            p = s.predict_proba(batch.texts)
            raw = 5.0 * p[:, s.classes.index("pos")]
        else:
            raw = s.scores(batch)
        raw = np.asarray(raw, dtype=np.float32)
        empty = np.fromiter(
            (not t or t.isspace() for t in batch.texts), dtype=bool, count=len(batch.texts)
        )
        raw[empty] = 0.0
        return raw

    def score_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """(score on 0-5, higher = better quality; group = bin of the score)."""
        raw = self._raw_scores(batch)
        return raw, bin_scores(raw, self.cuts)

    def degenerate_reason(self, counts: np.ndarray) -> str | None:
        """As the base rule, with a hint when fixed cuts put every doc in one bin."""
        reason = super().degenerate_reason(counts)
        if reason and self.cfg.bins == "fixed" and len(self.group_names) > 1:
            reason += " (fixed cuts; labels.quality.bins: quantile gives equal-sized groups)"
        return reason
