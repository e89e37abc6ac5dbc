"""A linear text classifier on word n-grams: fastText, or hashed n-grams + logistic regression.

Used by the DCLM-style quality classifier and by the domain classifier. The hashing
backend featurises a whole batch at once in numpy (`hashed_ngrams`: bytes -> tokens ->
fixed tabulation hash -> buckets, no per-token Python) and scores a binary model as one
gather + bincount, without building a sparse matrix. Training is
seeded and single-threaded (deterministic); the trained model travels to workers as bytes
(fastText) or arrays (hashing) and is loaded lazily once per worker.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from macs.core.errors import MacsError, require
from macs.data.labels.config import TextClassifierConfig


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
            # fastText reports NaN when lr is too high for the data, and (fasttext-numpy2) now
            # and then at random: retry each lr once, then halve it
            for attempt in range(8):
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
                    if attempt % 2:
                        lr /= 2
            else:
                raise MacsError(
                    f"fastText training diverged even at lr={lr * 2:g}; lower the classifier lr "
                    "or use classifier.backend: hashing (the default)"
                )
            self.lr_used = lr
            path = os.path.join(tmp, "model.bin")
            model.save_model(path)
            with open(path, "rb") as f:
                self._ft_bytes = f.read()

    def _features(self, texts: list[str]):
        """Hashed word n-gram matrix (n docs x buckets, float32, rows normalised by `cfg.norm`)."""
        return hashed_matrix(texts, self.cfg.ngrams, self.cfg.buckets, self.cfg.norm)

    def _fit_hashing(self, texts: list[str], labels: list[str]) -> None:
        from sklearn.linear_model import SGDClassifier

        x = self._features(texts)
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

    def decision(self, texts: list[str]) -> np.ndarray:
        """Linear scores z, shape (n, rows of coef), float64 (hashing backend; higher = class 1)."""
        self.setup()
        if self._coef.shape[0] == 1:  # binary: a gather + bincount, no sparse matrix
            c = self.cfg
            z = linear_decision(texts, self._coef[0], float(self._intercept[0]), c.ngrams, c.norm)
            return z[:, None]
        x = self._features(texts)
        return np.asarray(x @ self._coef.T, dtype=np.float64) + self._intercept

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
        if self.cfg.backend == "hashing" and self._coef is None:
            raise RuntimeError("the text classifier is not trained (call fit first)")

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
        z = self.decision(texts)
        if k == 2:  # P(class 1) = sigmoid(z)
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
        p = 1.0 / (1.0 + np.exp(-z))  # one-vs-rest probabilities, normalised
        return (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)


# --- hashed word n-grams, vectorised over a whole batch (numpy; no per-token Python) ----------

_WORD = np.zeros(256, dtype=bool)  # token bytes: ASCII letters, digits, '_' and all non-ASCII
_WORD[
    np.frombuffer(b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)
] = True
_WORD[128:] = True  # UTF-8 bytes of non-ASCII characters (letters and punctuation alike)
FEATURISER_VERSION = 1  # bump when hashed_ngrams maps any text to different buckets
_SPAN = 64  # byte positions (mod 64) that the token hash tells apart
_TABLE = np.random.default_rng(20261127).integers(0, 2**63, size=(_SPAN, 256), dtype=np.uint64)
_TABLE = _TABLE * np.uint64(2) + np.uint64(1)
_TABLE[:, ~_WORD] = 0  # separators add nothing to a token's hash
_TABLE = _TABLE.ravel()
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (returned)."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def hashed_ngrams(texts: list[str], ngrams: int, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, bucket) of every word n-gram occurrence, n = 1..ngrams (int64 arrays).

    Tokens are runs of at least 2 bytes of [A-Za-z0-9_] or non-ASCII UTF-8 (ASCII lower-cased),
    like scikit-learn's default token pattern; n-grams never cross documents. The hash is a
    fixed tabulation hash (position mod 64, byte) mixed by splitmix64: the same text gives
    the same buckets in every process and on every machine.
    """
    enc = [t.encode("utf-8", "replace") for t in texts]
    ends = np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)) + 1)
    arr = np.frombuffer(b" " + b" ".join(enc) + b" ", dtype=np.uint8)
    n = len(arr)
    # word bytes, by byte arithmetic (much faster than a table lookup through intp indices)
    w = arr >= 128
    w |= (arr | np.uint8(32)) - np.uint8(97) < np.uint8(26)  # ASCII letters
    w |= arr - np.uint8(48) < np.uint8(10)  # digits
    w |= arr == np.uint8(95)  # '_'
    first = np.zeros(n, dtype=bool)
    np.greater(w[1:], w[:-1], out=first[1:])
    last = np.zeros(n, dtype=bool)
    np.greater(w[:-1], w[1:], out=last[:-1])
    starts, stops = np.flatnonzero(first), np.flatnonzero(last)
    if not len(starts):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = np.arange(n, dtype=np.int64)
    run = np.where(first, key, 0)
    np.maximum.accumulate(run, out=run)
    key -= run  # byte position inside its token
    key &= _SPAN - 1
    key <<= 8
    low = arr - np.uint8(65) < np.uint8(26)  # ASCII capitals -> lower case
    low = arr + (low.view(np.uint8) << np.uint8(5))
    key |= low
    h = np.add.reduceat(_TABLE.take(key), starts)
    keep = stops > starts  # tokens of 2+ bytes
    h = h[keep]
    doc = np.searchsorted(ends, starts[keep] - 1, side="right")
    hs, docs = [_mix(h.copy())], [doc]
    for k in range(2, ngrams + 1):
        m = len(h) - k + 1
        if m <= 0:
            break
        g = h[:m].copy()
        for j in range(1, k):
            _mix(g)
            g *= _GOLD
            g += h[j : j + m]
        g += np.uint64(k)
        same = doc[k - 1 :] == doc[:m]
        hs.append(_mix(g)[same])
        docs.append(doc[:m][same])
    hh = np.concatenate(hs)
    hh >>= np.uint64(32)  # multiply-shift onto [0, n_buckets)
    hh *= np.uint64(n_buckets)
    hh >>= np.uint64(32)
    return np.concatenate(docs), hh.astype(np.int64)


def linear_decision(
    texts: list[str], coef: np.ndarray, intercept: float, ngrams: int, norm: str
) -> np.ndarray:
    """Logit w . x / ||x|| + b per text (float64; higher = class 1), x = hashed n-gram counts.

    The bucket count is len(coef). A gather + bincount over the n-gram occurrences, no
    sparse matrix; a text without tokens gets the intercept.
    """
    n, n_buckets = len(texts), len(coef)
    doc, bucket = hashed_ngrams(texts, ngrams, n_buckets)
    tot = np.bincount(doc, weights=coef.take(bucket), minlength=n)
    z = tot / np.maximum(_row_norms(doc, bucket, n, n_buckets, norm), 1e-30)
    return z + float(intercept)


def _row_norms(doc: np.ndarray, bucket: np.ndarray, n: int, n_buckets: int, norm: str):
    """l1 or l2 norm of each doc's bucket-count vector (float64, length n)."""
    if norm == "l1":
        return np.bincount(doc, minlength=n).astype(np.float64)
    key = np.sort(doc * n_buckets + bucket)
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    at = np.flatnonzero(new)
    cnt = np.diff(np.append(at, len(key))).astype(np.float64)
    return np.sqrt(np.bincount(key[at] // n_buckets, weights=cnt * cnt, minlength=n))


def hashed_matrix(texts: list[str], ngrams: int, n_buckets: int, norm: str = "l1"):
    """CSR float32 (n docs x n_buckets) of n-gram counts, rows scaled to unit l1 or l2 norm."""
    from scipy import sparse

    doc, bucket = hashed_ngrams(texts, ngrams, n_buckets)
    x = sparse.csr_matrix(
        (np.ones(len(doc), dtype=np.float32), (doc, bucket)), shape=(len(texts), n_buckets)
    )
    x.sum_duplicates()
    if norm == "l1":
        scale = np.asarray(x.sum(axis=1)).ravel()
    else:
        scale = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.where(scale > 0, 1.0 / np.maximum(scale, 1e-30), 0.0).astype(np.float32)
    x.data *= np.repeat(scale, np.diff(x.indptr))
    return x


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of `scores` for the boolean `positive` labels (nan when one class is absent)."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, scores))
