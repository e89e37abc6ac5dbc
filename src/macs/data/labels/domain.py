"""The domain actor: the document's source domain, from metadata or from a trained classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.data.labels.base import Batch, Labeller, id_unit, stratified_sample
from macs.data.labels.config import DomainConfig
from macs.data.labels.textclf import TextClassifier


class DomainLabeller(Labeller):
    """Group = domain. Score = 1 for a metadata label, else the classifier's P(predicted domain)."""

    kind = "domain"
    version = "1"
    needs_fit = True

    def __init__(self, cfg: DomainConfig, seed: int = 0):
        super().__init__(cfg, seed, cfg.max_chars)
        self.names: list[str] = []
        self.clf: TextClassifier | None = None
        self._role: dict[str, str] = {}

    @property
    def group_names(self) -> list[str]:
        return self.names

    def _labelled(self, domains: np.ndarray) -> np.ndarray:
        return ~np.isin(domains, list(self.cfg.unlabelled))

    def select_fit_sample(self, ids: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """Metadata: nothing (names from the domain column). Classifier: train + held-out docs per domain."""
        domains = np.asarray(domains, dtype=object)
        ids = np.asarray(ids, dtype=object)
        labelled = self._labelled(domains)
        self.names = sorted(set(domains[labelled].tolist()))
        if self.cfg.method == "metadata":
            unl = sorted(set(domains[~labelled].tolist()))
            self.names = sorted(set(domains.tolist()))
            if unl:
                self.fit_report = {"unlabelled_values_present": unl}
            return np.zeros(0, dtype=np.int64)
        if len(self.names) < 2:
            raise MacsError(
                f"domain classifier: needs at least 2 labelled domains, found {self.names} "
                f"(values treated as unlabelled: {self.cfg.unlabelled})"
            )
        c = self.cfg.classifier
        rng = np.random.default_rng([self.seed, 2])
        val = id_unit(ids, self.seed, "domain-val") < c.val_fraction
        tr = stratified_sample(
            domains, self.names, c.max_per_class * len(self.names), rng, labelled & ~val
        )
        ho = stratified_sample(
            domains,
            self.names,
            max(50, c.max_per_class // 4) * len(self.names),
            rng,
            labelled & val,
        )
        self._role = {ids[i]: "train" for i in tr} | {ids[i]: "heldout" for i in ho}
        return np.unique(np.concatenate([tr, ho])).astype(np.int64)

    def fit(self, texts: list[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Metadata: record the names. Classifier: train, then report held-out accuracy."""
        domains = [str(d) for d in meta.get("domain", [])]
        ids = [str(x) for x in meta.get("id", range(len(texts)))]
        if not self.names:
            self.names = sorted({d for d in domains if d not in self.cfg.unlabelled})
            if self.cfg.method == "metadata":
                self.names = sorted(set(domains))
        if self.cfg.method == "metadata":
            return self.fit_report
        texts = [t[: self.max_chars] for t in texts]
        role = self._role or {i: "train" for i in ids}
        tr = [k for k, i in enumerate(ids) if role.get(i) == "train" and domains[k] in self.names]
        ho = [k for k, i in enumerate(ids) if role.get(i) == "heldout" and domains[k] in self.names]
        self.clf = TextClassifier(self.cfg.classifier, self.seed)
        self.clf.fit([texts[k] for k in tr], [domains[k] for k in tr])
        if self.clf.classes != self.names:
            missing = sorted(set(self.names) - set(self.clf.classes))
            raise MacsError(f"domain classifier: no training docs for domains {missing}")
        report: dict[str, Any] = {
            "n_train": len(tr),
            "n_heldout": len(ho),
            "backend": self.cfg.classifier.backend,
        }
        if ho:
            pred = self.clf.predict_proba([texts[k] for k in ho]).argmax(1)
            true = np.array([self.names.index(domains[k]) for k in ho])
            report["heldout_accuracy"] = float((pred == true).mean())
            report["heldout_accuracy_per_domain"] = {
                n: float((pred[true == j] == j).mean())
                for j, n in enumerate(self.names)
                if (true == j).any()
            }
        self.fit_report = report
        return report

    def degenerate_reason(self, counts: np.ndarray) -> str | None:
        """One domain value in the store (or every doc classified into one): one group."""
        if len(self.names) == 1 and self.cfg.method == "metadata":
            value = self.names[0]
            why = f"the store has a single domain value {value!r}"
            if value in ("default", *self.cfg.unlabelled):
                why += " (what records without a domain field get)"
            return why + ", so the domain actor has one group"
        return super().degenerate_reason(counts)

    def setup(self) -> None:
        if self.clf is not None and "clf" not in self._loaded:
            self.clf.setup()
            self._loaded["clf"] = True

    def score_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """(score: 1 for metadata, else P(predicted domain), higher = surer; group = domain index)."""
        index = {n: j for j, n in enumerate(self.names)}
        n = len(batch)
        if self.cfg.method == "metadata":
            try:
                group = np.fromiter((index[d] for d in batch.domains), dtype=np.int32, count=n)
            except KeyError as e:
                raise MacsError(
                    f"domain {e.args[0]!r} was not seen when the domain names were fixed; "
                    "rerun `macs label` from scratch (--force)"
                ) from e
            return np.ones(n, dtype=np.float32), group
        p = self.clf.predict_proba(batch.texts)
        group = p.argmax(1).astype(np.int32)
        score = p.max(1).astype(np.float32)
        if self.cfg.keep_known:
            for k, d in enumerate(batch.domains):
                j = index.get(d)
                if j is not None:
                    group[k], score[k] = j, 1.0
        return score, group
