"""Budgeted top-k selection in O(N) over score levels (method.md sections 2 and 7).

Scores only vary by a small integer *key* per document (the (group x group x group) cell
and the repetition count), so instead of sorting N scores we:

1. sum tokens per key with `np.bincount` (chunked, so memmaps stay on disk),
2. sort the few distinct score levels (highest first) and cut the cumulative tokens at the
   budget: every level above the cut is taken whole,
3. inside the one threshold level, order documents by a seeded 64-bit hash of their doc
   index (a uniform random permutation that does not depend on the chunking) and take them
   in that order until the budget is met: the last document taken is the one that crosses
   the budget, so the selection exceeds it by less than one document.

The result equals "sort by (score desc, hash asc), take the shortest prefix whose tokens
reach the budget", without ever sorting N values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 20  # documents per chunk (keeps temporaries to a few MB)
_N_BUCKETS = 1 << 16  # hash buckets of the exact fallback inside the threshold level
# Window kept around the predicted cut inside the threshold level (share of the hash range).
WINDOW_MARGIN = 1e-3
WINDOW_SCALE = 10.0

_U32 = [np.uint32(x) for x in (0x9E3779B1, 0x85EBCA6B, 0xC2B2AE35)]
_U64 = [np.uint64(x) for x in (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)]


def _key_words(key: int) -> tuple[int, int]:
    """Two 64-bit words derived from a seed key (splitmix64 steps)."""
    out, x = [], int(key) & (2**64 - 1)
    for _ in range(2):
        x = (x + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        out.append(z ^ (z >> 31))
    return out[0], out[1]


def hash_bits(n_docs: int) -> int:
    """Width of the priority hash: 32 bits while doc indices fit in 32 bits, else 64."""
    return 32 if n_docs <= 2**32 else 64


def doc_hash(idx: np.ndarray, key: int, bits: int = 32) -> np.ndarray:
    """Seeded pseudo-random priority of doc indices (lower = drawn first); uint32 or uint64.

    32-bit: x = idx * odd(key) + c(key), then the murmur3 finaliser: a bijection of the
    32-bit index space, so distinct docs never tie. 64-bit: the splitmix64 finaliser.
    """
    k1, k2 = _key_words(key)
    if bits == 32:
        z = idx.astype(np.uint32)
        z *= np.uint32((k1 & 0xFFFFFFFF) | 1)
        z += np.uint32(k2 & 0xFFFFFFFF)
        z ^= z >> np.uint32(16)
        z *= _U32[1]
        z ^= z >> np.uint32(13)
        z *= _U32[2]
        z ^= z >> np.uint32(16)
        return z
    z = idx.astype(np.uint64)
    z *= np.uint64(k1 | 1)
    z += np.uint64(k2)
    z ^= z >> np.uint64(30)
    z *= _U64[0]
    z ^= z >> np.uint64(27)
    z *= _U64[1]
    z ^= z >> np.uint64(31)
    return z


@dataclass
class BudgetResult:
    """What `budget_select` chose: sorted doc indices and how the cut fell."""

    indices: np.ndarray  # int64, sorted ascending
    tokens: int  # tokens selected
    budget: int  # tokens asked for
    pool_tokens: int  # tokens of all eligible docs
    pool_docs: int  # eligible docs
    threshold_score: float | None  # score of the level that was cut (None: nothing cut)
    threshold_docs: int  # docs in that level
    threshold_picked: int  # docs taken from it by seeded random order
    n_levels: int  # distinct score levels among eligible docs
    exhausted: bool  # the pool had no more than `budget` tokens: everything was taken

    def info(self) -> dict:
        """A JSON-able summary (no arrays)."""
        return {
            "n_selected": int(len(self.indices)),
            "tokens": self.tokens,
            "budget": self.budget,
            "pool_tokens": self.pool_tokens,
            "pool_docs": self.pool_docs,
            "threshold_score": self.threshold_score,
            "threshold_docs": self.threshold_docs,
            "threshold_picked": self.threshold_picked,
            "n_levels": self.n_levels,
            "exhausted": self.exhausted,
        }


def round_rel(x: np.ndarray, digits: int = 12) -> np.ndarray:
    """Round to `digits` significant digits so float noise does not split equal scores."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    nz = np.isfinite(x) & (x != 0)
    mag = np.floor(np.log10(np.abs(x[nz])))
    scale = 10.0 ** (digits - 1 - mag)
    out[nz] = np.round(x[nz] * scale) / scale
    return out


def merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge two sorted, disjoint int64 arrays in O(len(a) + len(b) log len(a))."""
    if len(b) == 0:
        return a
    if len(a) == 0:
        return b
    out = np.empty(len(a) + len(b), dtype=np.int64)
    pos_b = np.searchsorted(a, b) + np.arange(len(b))
    mask = np.ones(len(out), dtype=bool)
    mask[pos_b] = False
    out[pos_b] = b
    out[mask] = a
    return out


def budget_select(
    keys: Callable[[int, int], np.ndarray],
    n_docs: int,
    key_score: np.ndarray,
    n_tokens: np.ndarray,
    budget: float,
    hash_key: int,
    chunk: int | None = None,
) -> BudgetResult:
    """Choose docs by score (higher first) until `budget` tokens are met; O(N), seeded ties.

    `keys(s, e)` returns the intp key of docs s..e-1 (0..K-1, or K for "not eligible");
    `key_score[k]` is the score of key k (higher = selected first). `n_tokens` are tokens
    per doc in canonical order. Ties inside the threshold level are broken by the seeded
    priority `doc_hash(doc, hash_key)` (lower = first); a key that holds no tokens is
    never selected.
    """
    chunk = chunk or CHUNK
    K = len(key_score)
    budget = int(np.ceil(budget))
    bits = hash_bits(n_docs)
    tok = np.zeros(K + 1, dtype=np.float64)
    pool_docs = 0
    for s in range(0, n_docs, chunk):
        e = min(s + chunk, n_docs)
        k = keys(s, e)
        if K <= 3:  # few keys (random mode): masked sums avoid bincount's serial dependency
            t = n_tokens[s:e]
            for v in range(K):
                m = k == v
                tok[v] += float(np.sum(t, where=m, dtype=np.float64))
                pool_docs += int(np.count_nonzero(m))
        else:
            tok += np.bincount(k, weights=n_tokens[s:e].astype(np.float64), minlength=K + 1)
            pool_docs += (e - s) - int(np.count_nonzero(k == K))
    tok = tok[:K]
    pool_tokens = int(tok.sum())
    present = np.flatnonzero(tok > 0)
    empty = np.zeros(0, dtype=np.int64)
    if budget <= 0 or len(present) == 0:
        return BudgetResult(empty, 0, budget, pool_tokens, pool_docs, None, 0, 0, 0, False)

    # Distinct score levels, highest first, and the level where the budget is crossed.
    level_vals, level_of = np.unique(-round_rel(key_score[present]), return_inverse=True)
    n_levels = len(level_vals)
    level_tok = np.bincount(level_of, weights=tok[present], minlength=n_levels)
    cum = np.cumsum(level_tok)
    cut = int(np.searchsorted(cum, budget, side="left"))
    status = np.zeros(K + 1, dtype=np.int8)  # 2 = take whole, 1 = threshold level, 0 = no
    status[present[level_of < cut]] = 2
    has_thr, est_docs, remaining, level_tokens = cut < n_levels, 0.0, 0.0, 0.0
    if has_thr:
        status[present[level_of == cut]] = 1
        remaining = budget - (float(cum[cut - 1]) if cut > 0 else 0.0)
        level_tokens = float(level_tok[cut])
        # docs in the level, estimated from its tokens (counted exactly in the next pass)
        est_docs = max(level_tokens * pool_docs / max(pool_tokens, 1), 1.0)

    # Inside the threshold level the token-weighted share of docs with priority below t is
    # ~ t / 2^bits, so predict the cut and keep only docs in a window around it; if the
    # prediction misses (rare), fall back to an exact bucketed pass.
    top = 2**bits - 1
    t_lo, t_hi = 0, top
    if has_thr:
        f = remaining / level_tokens
        # a quarter of the estimated docs: a wider window when the level holds long docs
        margin = WINDOW_MARGIN + WINDOW_SCALE / np.sqrt(max(est_docs / 4.0, 1.0))
        if f - margin > 0:
            t_lo = min(int((f - margin) * 2.0**bits), top)
        if f + margin < 1:
            t_hi = min(int((f + margin) * 2.0**bits), top)
    ptype = np.uint32 if bits == 32 else np.uint64
    lo_t, hi_t = ptype(t_lo), ptype(t_hi)
    # A huge threshold level (e.g. random mode): hash whole chunks and fold the docs below the
    # window into the taken set with one nonzero; otherwise hash only the level's docs.
    dense = est_docs > n_docs / 8
    thr_docs = 0
    take: list[np.ndarray] = []
    direct: list[np.ndarray] = []
    direct_tok, n_dense_direct = 0.0, 0
    win_idx: list[np.ndarray] = []
    win_p: list[np.ndarray] = []
    for s in range(0, n_docs, chunk):
        e = min(s + chunk, n_docs)
        st = status.take(keys(s, e))
        if not has_thr:
            take.append(np.flatnonzero(st == 2) + s)  # bool masks: numpy's fast nonzero path
            continue
        if dense:
            p = doc_hash(np.arange(s, e, dtype=np.int64), hash_key, bits)
            in_thr = st == 1
            thr_docs += int(np.count_nonzero(in_thr))
            sel = st == 2
            if t_lo > 0:
                lo_m = in_thr & (p < lo_t)
                direct_tok += float(np.sum(n_tokens[s:e], where=lo_m, dtype=np.float64))
                n_dense_direct += int(np.count_nonzero(lo_m))
                sel |= lo_m
                in_thr &= p >= lo_t
            if t_hi < top:
                in_thr &= p <= hi_t
            take.append(np.flatnonzero(sel) + s)
            wi = np.flatnonzero(in_thr)
            win_idx.append(wi + s)
            win_p.append(p[wi])
            continue
        take.append(np.flatnonzero(st == 2) + s)
        gi = np.flatnonzero(st == 1) + s
        thr_docs += len(gi)
        if len(gi):
            p = doc_hash(gi, hash_key, bits)
            w = p <= hi_t
            if t_lo > 0:
                d = gi[p < lo_t]
                direct.append(d)
                direct_tok += float(np.asarray(n_tokens[d], dtype=np.float64).sum())
                w &= p >= lo_t
            win_idx.append(gi[w])
            win_p.append(p[w])
    taken = np.concatenate(take) if take else empty

    picked, picked_tok = empty, 0.0
    if has_thr:
        lo = np.concatenate(direct) if direct else empty
        need = remaining - direct_tok
        ok = False
        if need > 0:
            cidx = np.concatenate(win_idx) if win_idx else empty
            cp = np.concatenate(win_p) if win_p else np.zeros(0, ptype)
            order = np.lexsort((cidx, cp))
            cidx = cidx[order]
            ctok = np.cumsum(np.asarray(n_tokens[cidx], dtype=np.float64))
            if len(ctok) and ctok[-1] >= need:
                n_take = int(np.searchsorted(ctok, need, side="left")) + 1
                picked = merge_sorted(lo, np.sort(cidx[:n_take]))
                picked_tok = direct_tok + float(ctok[n_take - 1])
                ok = True
        if not ok:  # the predicted window missed: exact passes (rebuild the taken set too)
            if dense:
                taken = np.concatenate(
                    [
                        np.flatnonzero(status.take(keys(s, min(s + chunk, n_docs))) == 2) + s
                        for s in range(0, n_docs, chunk)
                    ]
                )
            picked = _exact_threshold(
                keys, n_docs, status, n_tokens, remaining, hash_key, bits, chunk
            )
            picked_tok = float(np.asarray(n_tokens[picked], dtype=np.float64).sum())
            n_dense_direct = 0
    indices = merge_sorted(taken, picked)
    taken_tok = float(cum[min(cut, n_levels) - 1]) if cut > 0 else 0.0
    n_sel_tokens = int(round(taken_tok + picked_tok))
    thr_score = float(-level_vals[cut]) if cut < n_levels else None
    return BudgetResult(
        indices=indices,
        tokens=n_sel_tokens,
        budget=budget,
        pool_tokens=pool_tokens,
        pool_docs=pool_docs,
        threshold_score=thr_score,
        threshold_docs=thr_docs,
        threshold_picked=len(picked) + n_dense_direct,
        n_levels=n_levels,
        exhausted=cut >= n_levels,
    )


def _exact_threshold(
    keys: Callable[[int, int], np.ndarray],
    n_docs: int,
    status: np.ndarray,
    n_tokens: np.ndarray,
    remaining: float,
    hash_key: int,
    bits: int,
    chunk: int,
) -> np.ndarray:
    """Threshold-level docs in priority order until `remaining` tokens: exact, two passes."""
    shift = np.uint32(bits - 16) if bits == 32 else np.uint64(bits - 16)

    def level_docs():
        for s in range(0, n_docs, chunk):
            e = min(s + chunk, n_docs)
            gi = np.flatnonzero(status.take(keys(s, e)) == 1) + s
            if len(gi):
                p = doc_hash(gi, hash_key, bits)
                yield gi, p, (p >> shift).astype(np.intp)

    hist = np.zeros(_N_BUCKETS, dtype=np.float64)
    for gi, _, b in level_docs():
        hist += np.bincount(b, weights=n_tokens[gi], minlength=_N_BUCKETS)
    bcum = np.cumsum(hist)
    b_cut = min(int(np.searchsorted(bcum, remaining, side="left")), _N_BUCKETS - 1)
    rem_b = remaining - (float(bcum[b_cut - 1]) if b_cut > 0 else 0.0)
    lows, cis, cps = [], [], []
    for gi, p, b in level_docs():
        lows.append(gi[b < b_cut])
        at = b == b_cut
        cis.append(gi[at])
        cps.append(p[at])
    empty = np.zeros(0, dtype=np.int64)
    low = np.concatenate(lows) if lows else empty
    cidx = np.concatenate(cis) if cis else empty
    cp = np.concatenate(cps) if cps else np.zeros(0, np.uint64)
    cidx = cidx[np.lexsort((cidx, cp))]
    ctok = np.cumsum(np.asarray(n_tokens[cidx], dtype=np.float64))
    n_take = min(int(np.searchsorted(ctok, rem_b, side="left")) + 1, len(cidx))
    return merge_sorted(low, np.sort(cidx[:n_take]))
