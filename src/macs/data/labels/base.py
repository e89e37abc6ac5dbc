"""The labeller interface: fit on a sample (optional), then score batches into (score, group).

A labeller is built in the driver, fitted there on a seeded sample of the store, then
pickled to each worker. Heavy models (fastText, torch) are loaded lazily by `setup()`,
once per worker, and never pickled (`_loaded` is dropped by `__getstate__`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError


@dataclass
class Batch:
    """A batch of documents: ids, texts (already truncated), domains and any extra store columns."""

    ids: list[str]
    texts: list[str]
    domains: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


class Labeller(ABC):
    """Puts each document into one of `n_groups` groups and gives it a float score.

    Subclasses set `kind`, `version`, `method`; implement `group_names` and `score_batch`;
    optionally `select_fit_sample` + `fit` (when `needs_fit`) and `setup` (lazy loading).
    """

    kind: ClassVar[str] = "labeller"
    version: ClassVar[str] = "1"
    output_columns: ClassVar[tuple[str, ...]] = ("id", "score", "group")
    needs_fit: bool = False
    input_columns: tuple[str, ...] = ("id", "text", "domain")

    def __init__(self, cfg: Any, seed: int = 0, max_chars: int = 4000):
        self.cfg = cfg
        self.seed = int(seed)
        self.max_chars = int(max_chars)
        self.fit_report: dict[str, Any] = {}
        self.notes: list[str] = []  # one-line notes for the user (printed by the job)
        self._loaded: dict[str, Any] = {}

    # --- description -------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The scorer's name inside its kind (e.g. 'classifier', 'metadata', 'tfidf')."""
        return getattr(self.cfg, "method", self.kind)

    @property
    @abstractmethod
    def group_names(self) -> list[str]:
        """Readable names of the groups, index = group id (available after fit)."""

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.group_names)

    def config_dict(self) -> dict[str, Any]:
        """The labeller's config as JSON-able data (recorded in the sidecar manifest)."""
        cfg = (
            self.cfg.model_dump(mode="json") if hasattr(self.cfg, "model_dump") else dict(self.cfg)
        )
        return {
            "kind": self.kind,
            "method": self.method,
            "version": self.version,
            "seed": self.seed,
            "max_chars": self.max_chars,
            "config": cfg,
        }

    # --- fitting -------------------------------------------------------------------------
    def bind(self, store, cache_root: Path | None = None) -> None:
        """Called by the job before the sidecar key: resolve store-dependent choices (no-op here).

        `cache_root` is a folder in the store where a labeller may keep fitted models.
        """
        return None

    def select_fit_sample(self, ids: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """Doc indices (into `ids`) whose texts `fit` needs; seeded; empty when no fit is needed."""
        return np.zeros(0, dtype=np.int64)

    def fit(self, texts: list[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Fit on sample texts with per-text `meta` lists ('id', 'domain', ...); returns a report."""
        return {}

    # --- scoring -------------------------------------------------------------------------
    def check(self) -> None:
        """Fail early (MacsError) when a model file or package is missing; loads nothing heavy."""
        return None

    def setup(self) -> None:
        """Load heavy models (once per worker; idempotent). Override in subclasses."""
        return None

    @abstractmethod
    def score_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Return (score float32, group int32) for every document of the batch."""

    def score(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Score a batch and check the output: (score float32, group int32 in [0, n_groups))."""
        self.setup()
        score, group = self.score_batch(batch)
        score = np.asarray(score, dtype=np.float32)
        group = np.asarray(group, dtype=np.int32)
        n = len(batch)
        if score.shape != (n,) or group.shape != (n,):
            raise RuntimeError(
                f"{self.kind}/{self.method} returned shapes {score.shape}, {group.shape} for {n} docs"
            )
        if n and (group.min() < 0 or group.max() >= self.n_groups):
            raise RuntimeError(
                f"{self.kind}/{self.method} returned group ids outside [0, {self.n_groups})"
            )
        return score, group

    def score_texts(
        self, texts: list[str], domains: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Convenience: score a list of texts (truncated to max_chars); ids are positions."""
        ids = [str(i) for i in range(len(texts))]
        doms = list(domains) if domains is not None else [""] * len(texts)
        return self.score(Batch(ids, [t[: self.max_chars] for t in texts], doms))

    def degenerate_reason(self, counts: np.ndarray) -> str | None:
        """Why this actor cannot tell documents apart (one group, or every doc in one group); None if it can.

        `counts` are docs per group (length n_groups) over the whole store.
        """
        names = self.group_names
        if len(names) < 2:
            return f"it has a single group {names[0]!r}" if names else "it has no groups"
        used = np.flatnonzero(np.asarray(counts) > 0)
        if len(used) == 1:
            return f"all {int(np.sum(counts)):,} docs are in one group {names[used[0]]!r}"
        return None

    # --- pickling: never ship loaded models to workers -----------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_loaded"] = {}
        return state


# --- helpers shared by the labellers ---------------------------------------------------


def id_unit(ids: Sequence[str], seed: int, salt: str = "") -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per id (blake2b of seed, salt and id)."""
    out = np.empty(len(ids), dtype=np.float64)
    key = f"{seed}:{salt}:".encode()
    for i, s in enumerate(ids):
        h = hashlib.blake2b(key + s.encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


def bin_scores(score: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """Group id per score: number of cut points <= score (a score equal to a cut goes up)."""
    s = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    return np.searchsorted(np.asarray(cuts, dtype=np.float64), s, side="right").astype(np.int32)


def bin_names(cuts: Sequence[float], lo: float | None = 0.0, hi: float | None = 5.0) -> list[str]:
    """Readable names of the bins cut at `cuts`, e.g. 'q0 [0,1)', ..., 'q4 [4,5]'."""
    edges = [lo, *cuts, hi]

    def fmt(x: float | None) -> str:
        return "-inf" if x is None else ("inf" if x == float("inf") else f"{x:.3g}")

    names = []
    for j in range(len(cuts) + 1):
        right = "]" if j == len(cuts) else ")"
        names.append(f"q{j} [{fmt(edges[j])},{fmt(edges[j + 1])}{right}")
    return names


def stratified_sample(
    domains: np.ndarray,
    wanted: Sequence[str],
    cap: int,
    rng: np.random.Generator,
    allowed: np.ndarray,
) -> np.ndarray:
    """Up to `cap` indices spread evenly over the `wanted` domains (seeded, only where `allowed`)."""
    pools = [np.flatnonzero((domains == d) & allowed) for d in wanted]
    pools = [p for p in pools if len(p)]
    if not pools:
        return np.zeros(0, dtype=np.int64)
    share = max(1, cap // len(pools))
    out = []
    for p in pools:
        take = min(len(p), share)
        out.append(rng.choice(p, size=take, replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def read_text_file_docs(path) -> list[str]:
    """Docs from a file: JSONL with a 'text' field, or one document per non-empty line.

    A missing file, a file with no documents or a bad JSONL line is a one-line MacsError.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise MacsError(f"training file {path} does not exist (or is not a file)")
    docs = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if path.suffix in (".jsonl", ".json"):
                try:
                    docs.append(str(json.loads(line)["text"]))
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise MacsError(
                        f"{path}:{lineno}: expected a JSON object with 'text' ({e})"
                    ) from e
            else:
                docs.append(line)
    if not docs:
        raise MacsError(
            f"training file {path} has no documents (empty); give one document per line, or "
            "JSONL with a 'text' field"
        )
    return docs
