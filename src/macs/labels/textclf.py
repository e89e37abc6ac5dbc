"""A linear text classifier on word n-grams: fastText, or hashed n-grams + logistic regression.

Used by the DCLM-style quality classifier and by the domain classifier. Training is
seeded and single-threaded (deterministic); the trained model travels to workers as bytes
(fastText) or arrays (hashing) and is loaded lazily once per worker.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from macs.errors import MacsError, require
from macs.labels.config import TextClassifierConfig


def _ft_clean(text: str) -> str:
    # fastText reads one document per line; newlines inside a text would split it.
    return text.replace("\n", " ").replace("\r", " ")


class TextClassifier:
    """Linear classifier over word n-grams; `predict_proba` gives P(class) per doc, columns = classes."""

    def __init__(self, cfg: TextClassifierConfig, seed: int = 0):
        self.cfg = cfg
        self.seed = int(seed)
        self.classes: list[str] = []
        self._ft_bytes: bytes | None = None
        self._coef: np.ndarray | None = None
        self._intercept: np.ndarray | None = None
        self._loaded: dict[str, Any] = {}
        self.lr_used: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_loaded"] = {}
        return state

    # --- training ------------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str]) -> TextClassifier:
        """Train on (text, label) pairs; labels are class names (at least two distinct)."""
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise ValueError(f"need at least two classes to train, got {self.classes}")
        if self.cfg.backend == "fasttext":
            self._fit_fasttext(texts, labels)
        else:
            self._fit_hashing(texts, labels)
        self._loaded = {}
        return self

    def _fit_fasttext(self, texts: list[str], labels: list[str]) -> None:
        fasttext = require(
            "fasttext", "fasttext-numpy2", "fasttext", why="the fastText text classifier"
        )
        order = np.random.default_rng(self.seed).permutation(len(texts))
        with tempfile.TemporaryDirectory(prefix="macs-ft-") as tmp:
            train = os.path.join(tmp, "train.txt")
            with open(train, "w", encoding="utf-8") as f:
                for i in order:
                    f.write(f"__label__{self.classes.index(labels[i])} {_ft_clean(texts[i])}\n")
            lr = self.cfg.lr
            for _ in range(4):  # fastText diverges (NaN) when lr is too high for the data: halve it
                try:
                    model = fasttext.train_supervised(
                        train,
                        wordNgrams=self.cfg.ngrams,
                        dim=self.cfg.dim,
                        epoch=self.cfg.epochs,
                        lr=lr,
                        bucket=self.cfg.buckets,
                        minCount=self.cfg.min_count,
                        thread=1,
                        seed=self.seed,
                        verbose=0,
                        loss="softmax",
                    )
                    break
                except RuntimeError as e:
                    if "NaN" not in str(e):
                        raise
                    lr /= 2
            else:
                raise MacsError(
                    f"fastText training diverged even at lr={lr * 2:g}; lower the classifier lr"
                )
            self.lr_used = lr
            path = os.path.join(tmp, "model.bin")
            model.save_model(path)
            with open(path, "rb") as f:
                self._ft_bytes = f.read()

    def _vectorizer(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            n_features=self.cfg.buckets,
            ngram_range=(1, self.cfg.ngrams),
            alternate_sign=False,
            norm="l2",
            dtype=np.float32,
        )

    def _fit_hashing(self, texts: list[str], labels: list[str]) -> None:
        from sklearn.linear_model import SGDClassifier

        x = self._vectorizer().transform(texts)
        y = np.array([self.classes.index(s) for s in labels])
        clf = SGDClassifier(
            loss="log_loss",
            alpha=self.cfg.alpha,
            max_iter=max(5, self.cfg.epochs),
            tol=None,
            random_state=self.seed,
            average=True,
        ).fit(x, y)
        # binary: one row -> P(class 1) = sigmoid(z); multi-class: one-vs-rest rows, normalised
        self._coef = clf.coef_.astype(np.float32)
        self._intercept = clf.intercept_.astype(np.float32)

    # --- inference -----------------------------------------------------------------------
    def setup(self) -> None:
        """Load the fastText model from bytes (once per process)."""
        if self.cfg.backend == "fasttext" and "ft" not in self._loaded:
            if self._ft_bytes is None:
                raise RuntimeError("the text classifier is not trained (call fit first)")
            fasttext = require(
                "fasttext", "fasttext-numpy2", "fasttext", why="the fastText text classifier"
            )
            fd, path = tempfile.mkstemp(prefix="macs-ft-", suffix=".bin")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(self._ft_bytes)
                self._loaded["ft"] = fasttext.load_model(path)
            finally:
                os.unlink(path)
        if self.cfg.backend == "hashing" and "vec" not in self._loaded:
            if self._coef is None:
                raise RuntimeError("the text classifier is not trained (call fit first)")
            self._loaded["vec"] = self._vectorizer()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(class | text), shape (n, n_classes), float32, columns in `classes` order."""
        self.setup()
        k = len(self.classes)
        if not texts:
            return np.zeros((0, k), dtype=np.float32)
        if self.cfg.backend == "fasttext":
            model = self._loaded["ft"]
            labels, probs = model.predict([_ft_clean(t) for t in texts], k=k, threshold=0.0)
            out = np.zeros((len(texts), k), dtype=np.float32)
            for i, (ls, ps) in enumerate(zip(labels, probs, strict=True)):
                for lab, p in zip(ls, ps, strict=True):
                    out[i, int(lab[9:])] = p  # "__label__3" -> 3
            return out
        x = self._loaded["vec"].transform(texts)
        z = np.asarray(x @ self._coef.T, dtype=np.float64) + self._intercept
        if k == 2:  # P(class 1) = sigmoid(z)
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
        p = 1.0 / (1.0 + np.exp(-z))  # one-vs-rest probabilities, normalised
        return (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of `scores` for the boolean `positive` labels (nan when one class is absent)."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, scores))
