"""Budgeted selection by a per-document priority, and seeded Gumbel-top-k sampling (pure numpy).

`top_by_priority` takes eligible documents in decreasing priority until a token budget is met.
`gumbel_keys` perturbs log-weights with seeded Gumbel noise: taking the top of
`log w(x) + G(x)` in order is sampling without replacement with probability proportional to
`w(x)` among the documents not yet drawn (the Gumbel-top-k trick), so with a token budget the
result is exactly "draw documents one by one, proportionally to w, until the budget is met".
The noise of a document depends only on (key, doc index), never on chunking or order.
"""

from __future__ import annotations

import numpy as np

from macs.core.errors import MacsError
from macs.select.console.budget import CHUNK, budget_select, doc_hash, hash_bits


def uniform01(idx: np.ndarray, key: int, n_docs: int | None = None) -> np.ndarray:
    """A seeded uniform number in (0, 1) per doc index (float64); depends only on (key, index)."""
    idx = np.asarray(idx, dtype=np.int64)
    bits = hash_bits(int(n_docs if n_docs is not None else (idx.max() + 1 if idx.size else 1)))
    h = doc_hash(idx, key, bits).astype(np.float64)
    return (h + 0.5) / float(2**bits)


def gumbel_keys(
    log_w: np.ndarray, idx: np.ndarray, key: int, n_docs: int | None = None
) -> np.ndarray:
    """log_w + Gumbel(0, 1) noise seeded by (key, doc index): sort descending to sample w/o replacement."""
    u = uniform01(idx, key, n_docs)
    return np.asarray(log_w, dtype=np.float64) - np.log(-np.log(u))


def top_by_priority(
    priority: np.ndarray,
    n_tokens: np.ndarray,
    eligible: np.ndarray,
    budget: float,
    tie_key: int = 0,
) -> np.ndarray:
    """Sorted indices of eligible docs with tokens, by priority (higher first, ties by a seeded hash),
    until `budget` tokens are reached (the last doc crosses it; all of them if the pool is smaller)."""
    priority = np.asarray(priority, dtype=np.float64)
    n = len(priority)
    if np.asarray(n_tokens).shape != (n,) or np.asarray(eligible).shape != (n,):
        raise MacsError("priority, n_tokens and eligible must have one entry per document")
    cand = np.flatnonzero(np.asarray(eligible, bool) & (np.asarray(n_tokens) > 0))
    if budget <= 0 or cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    p = priority[cand]
    if not np.isfinite(p).all():
        raise MacsError("document priorities must be finite numbers")
    ties = doc_hash(cand, tie_key, hash_bits(n))
    order = cand[np.lexsort((cand, ties, -p))]
    cum = np.cumsum(np.asarray(n_tokens, dtype=np.int64)[order])
    k = min(int(np.searchsorted(cum, np.ceil(budget), side="left")) + 1, order.size)
    return np.sort(order[:k]).astype(np.int64)


def uniform_key(seed: int, stage: int) -> int:
    """The hash key of stage `stage`'s uniform draw under selection seed `seed` (63 bits).

    Common random numbers: every selector's uniform part of a stage (random's whole stage,
    MATES' first stage, the method's stage 0 at uniform initial weights, the epsilon share)
    follows this key's document order, so methods of one seed differ only where they choose.
    """
    import hashlib

    h = hashlib.blake2b(f"macs-uniform/{int(seed)}/{int(stage)}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big") >> 1


def least_selected_first(
    counts: np.ndarray,
    n_tokens: np.ndarray,
    eligible: np.ndarray,
    budget: float,
    hash_key: int,
    max_level: int = 255,
) -> tuple[np.ndarray, dict]:
    """Eligible docs by (times selected asc, seeded hash) until `budget` tokens: (sorted indices, info)."""
    n = len(counts)
    levels = min(int(counts.max()) + 1 if n else 1, max_level + 1)
    sentinel = levels

    def keys(s: int, e: int) -> np.ndarray:
        k = np.minimum(counts[s:e], levels - 1).astype(np.intp)
        k[~eligible[s:e] | (n_tokens[s:e] == 0)] = sentinel
        return k

    key_score = -np.arange(levels, dtype=np.float64)  # fewer selections = higher score
    res = budget_select(keys, n, key_score, n_tokens, budget, hash_key, chunk=CHUNK)
    return res.indices, res.info()
