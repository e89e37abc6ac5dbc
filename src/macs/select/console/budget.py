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
from dataclasses import dataclass, field

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
    docs = _Docs(keys, n_docs, n_tokens, chunk or CHUNK)
    budget = int(np.ceil(budget))
    tok, pool_docs = _tally_tokens(docs, len(key_score))
    pool_tokens = int(tok.sum())
    present = np.flatnonzero(tok > 0)
    empty = np.zeros(0, dtype=np.int64)
    if budget <= 0 or len(present) == 0:
        return BudgetResult(empty, 0, budget, pool_tokens, pool_docs, None, 0, 0, 0, False)

    lv = _cut_levels(tok, present, key_score, budget, pool_docs, pool_tokens)
    picked, picked_tok, thr_docs, n_dense_direct = empty, 0.0, 0, 0
    if lv.has_thr:
        win = _predict_window(lv, hash_bits(n_docs), hash_key, n_docs)
        scan = _scan_threshold(docs, lv.status, win)
        taken, picked, picked_tok, n_dense_direct = _resolve_cut(docs, lv, win, scan)
        thr_docs = scan.thr_docs
    else:
        taken = _whole_levels(docs, lv.status)
    cut = lv.cut
    taken_tok = float(lv.cum[min(cut, lv.n_levels) - 1]) if cut > 0 else 0.0
    return BudgetResult(
        indices=merge_sorted(taken, picked),
        tokens=int(round(taken_tok + picked_tok)),
        budget=budget,
        pool_tokens=pool_tokens,
        pool_docs=pool_docs,
        threshold_score=float(-lv.level_vals[cut]) if lv.has_thr else None,
        threshold_docs=thr_docs,
        threshold_picked=len(picked) + n_dense_direct,
        n_levels=lv.n_levels,
        exhausted=not lv.has_thr,
    )


@dataclass
class _Docs:
    """The per-document inputs that every chunked pass reads."""

    keys: Callable[[int, int], np.ndarray]  # keys(s, e): intp key of docs s..e-1
    n_docs: int
    n_tokens: np.ndarray  # tokens per doc, canonical order
    chunk: int  # docs per chunk


def _tally_tokens(docs: _Docs, K: int) -> tuple[np.ndarray, int]:
    """Tokens per key (float64, length K) and the number of eligible docs, in one chunked pass."""
    keys, n_docs, n_tokens, chunk = docs.keys, docs.n_docs, docs.n_tokens, docs.chunk
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
    return tok[:K], pool_docs


@dataclass
class _Levels:
    """The distinct score levels of the eligible docs (highest first) and where the budget cuts."""

    level_vals: np.ndarray  # negated rounded scores, ascending (= scores descending)
    cum: np.ndarray  # cumulative tokens of the levels, highest score first
    cut: int  # index of the threshold level; n_levels when the budget covers the pool
    status: np.ndarray  # int8 per key (K + 1): 2 = take whole, 1 = threshold level, 0 = no
    remaining: float = 0.0  # tokens still wanted from the threshold level
    level_tokens: float = 0.0  # tokens of the threshold level
    est_docs: float = 0.0  # docs in the threshold level, estimated from its tokens

    def __post_init__(self) -> None:
        self.n_levels = len(self.level_vals)  # distinct score levels
        self.has_thr = self.cut < self.n_levels  # False: every level is taken whole


def _cut_levels(
    tok: np.ndarray,
    present: np.ndarray,
    key_score: np.ndarray,
    budget: int,
    pool_docs: int,
    pool_tokens: int,
) -> _Levels:
    """Sort the score levels of the keys holding tokens and find the level the budget crosses."""
    level_vals, level_of = np.unique(-round_rel(key_score[present]), return_inverse=True)
    n_levels = len(level_vals)
    level_tok = np.bincount(level_of, weights=tok[present], minlength=n_levels)
    cum = np.cumsum(level_tok)
    cut = int(np.searchsorted(cum, budget, side="left"))
    status = np.zeros(len(key_score) + 1, dtype=np.int8)
    status[present[level_of < cut]] = 2
    lv = _Levels(level_vals, cum, cut, status)
    if lv.has_thr:
        status[present[level_of == cut]] = 1
        lv.remaining = budget - (float(cum[cut - 1]) if cut > 0 else 0.0)
        lv.level_tokens = float(level_tok[cut])
        # docs in the level, estimated from its tokens (counted exactly in the next pass)
        lv.est_docs = max(lv.level_tokens * pool_docs / max(pool_tokens, 1), 1.0)
    return lv


@dataclass
class _Window:
    """The priority range [t_lo, t_hi] kept around the predicted cut inside the threshold level."""

    bits: int  # width of the priority hash
    hash_key: int  # seed of the priority hash
    t_lo: int  # threshold docs with priority below t_lo are taken without sorting
    t_hi: int  # threshold docs with priority above t_hi are left
    top: int  # largest priority (2**bits - 1)
    dense: bool  # the level is huge: hash whole chunks rather than only the level's docs

    def __post_init__(self) -> None:
        self.ptype = np.uint32 if self.bits == 32 else np.uint64
        self.lo_t, self.hi_t = self.ptype(self.t_lo), self.ptype(self.t_hi)


def _predict_window(lv: _Levels, bits: int, hash_key: int, n_docs: int) -> _Window:
    """Predict the priority at which the threshold level is cut and the window kept around it."""
    # Inside the threshold level the token-weighted share of docs with priority below t is
    # ~ t / 2^bits, so predict the cut and keep only docs in a window around it; if the
    # prediction misses (rare), fall back to an exact bucketed pass.
    top = 2**bits - 1
    t_lo, t_hi = 0, top
    f = lv.remaining / lv.level_tokens
    # a quarter of the estimated docs: a wider window when the level holds long docs
    margin = WINDOW_MARGIN + WINDOW_SCALE / np.sqrt(max(lv.est_docs / 4.0, 1.0))
    if f - margin > 0:
        t_lo = min(int((f - margin) * 2.0**bits), top)
    if f + margin < 1:
        t_hi = min(int((f + margin) * 2.0**bits), top)
    # A huge threshold level (e.g. random mode): hash whole chunks and fold the docs below the
    # window into the taken set with one nonzero; otherwise hash only the level's docs.
    return _Window(bits, hash_key, t_lo, t_hi, top, dense=lv.est_docs > n_docs / 8)


@dataclass
class _Scan:
    """What the pass over the docs gathered: docs taken, docs below the window, the window."""

    take: list[np.ndarray] = field(default_factory=list)  # whole levels (+ below window if dense)
    direct: list[np.ndarray] = field(default_factory=list)  # below the window (sparse scan)
    win_idx: list[np.ndarray] = field(default_factory=list)  # threshold docs in the window
    win_p: list[np.ndarray] = field(default_factory=list)  # their priorities
    thr_docs: int = 0  # docs in the threshold level
    direct_tok: float = 0.0  # tokens of the docs below the window
    n_dense_direct: int = 0  # docs below the window folded into `take` (dense scan)

    def add_dense(self, st: np.ndarray, s: int, e: int, n_tokens: np.ndarray, win: _Window) -> None:
        """Gather chunk s..e-1 by hashing every doc in it (the threshold level is huge)."""
        p = doc_hash(np.arange(s, e, dtype=np.int64), win.hash_key, win.bits)
        in_thr = st == 1
        self.thr_docs += int(np.count_nonzero(in_thr))
        sel = st == 2
        if win.t_lo > 0:
            lo_m = in_thr & (p < win.lo_t)
            self.direct_tok += float(np.sum(n_tokens[s:e], where=lo_m, dtype=np.float64))
            self.n_dense_direct += int(np.count_nonzero(lo_m))
            sel |= lo_m
            in_thr &= p >= win.lo_t
        if win.t_hi < win.top:
            in_thr &= p <= win.hi_t
        self.take.append(np.flatnonzero(sel) + s)
        wi = np.flatnonzero(in_thr)
        self.win_idx.append(wi + s)
        self.win_p.append(p[wi])

    def add_sparse(self, st: np.ndarray, s: int, n_tokens: np.ndarray, win: _Window) -> None:
        """Gather the chunk starting at s by hashing only its threshold-level docs."""
        self.take.append(np.flatnonzero(st == 2) + s)  # bool masks: numpy's fast nonzero path
        gi = np.flatnonzero(st == 1) + s
        self.thr_docs += len(gi)
        if len(gi):
            p = doc_hash(gi, win.hash_key, win.bits)
            w = p <= win.hi_t
            if win.t_lo > 0:
                d = gi[p < win.lo_t]
                self.direct.append(d)
                self.direct_tok += float(np.asarray(n_tokens[d], dtype=np.float64).sum())
                w &= p >= win.lo_t
            self.win_idx.append(gi[w])
            self.win_p.append(p[w])


def _scan_threshold(docs: _Docs, status: np.ndarray, win: _Window) -> _Scan:
    """One chunked pass: the docs taken whole, and the threshold level's docs below and in the window."""
    keys, n_docs, n_tokens, chunk = docs.keys, docs.n_docs, docs.n_tokens, docs.chunk
    scan = _Scan()
    for s in range(0, n_docs, chunk):
        e = min(s + chunk, n_docs)
        st = status.take(keys(s, e))
        if win.dense:
            scan.add_dense(st, s, e, n_tokens, win)
        else:
            scan.add_sparse(st, s, n_tokens, win)
    return scan


def _whole_levels(docs: _Docs, status: np.ndarray) -> np.ndarray:
    """Sorted docs whose key is taken whole (status 2), in one chunked pass."""
    keys, n_docs, chunk = docs.keys, docs.n_docs, docs.chunk
    take = [
        np.flatnonzero(status.take(keys(s, min(s + chunk, n_docs))) == 2) + s
        for s in range(0, n_docs, chunk)
    ]
    return np.concatenate(take) if take else np.zeros(0, dtype=np.int64)


def _resolve_cut(
    docs: _Docs, lv: _Levels, win: _Window, scan: _Scan
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(docs taken, docs picked from the threshold level, picked tokens, dense below-window docs).

    The window's docs go in (priority, index) order until the budget is met; when the
    predicted window holds too few tokens, exact passes replace it.
    """
    n_tokens, empty = docs.n_tokens, np.zeros(0, dtype=np.int64)
    taken = np.concatenate(scan.take) if scan.take else empty
    lo = np.concatenate(scan.direct) if scan.direct else empty
    need = lv.remaining - scan.direct_tok
    if need > 0:
        cidx = np.concatenate(scan.win_idx) if scan.win_idx else empty
        cp = np.concatenate(scan.win_p) if scan.win_p else np.zeros(0, win.ptype)
        order = np.lexsort((cidx, cp))
        cidx = cidx[order]
        ctok = np.cumsum(np.asarray(n_tokens[cidx], dtype=np.float64))
        if len(ctok) and ctok[-1] >= need:
            n_take = int(np.searchsorted(ctok, need, side="left")) + 1
            picked = merge_sorted(lo, np.sort(cidx[:n_take]))
            return taken, picked, scan.direct_tok + float(ctok[n_take - 1]), scan.n_dense_direct
    # the predicted window missed: exact passes (rebuild the taken set too)
    if win.dense:
        taken = _whole_levels(docs, lv.status)
    picked = _exact_threshold(docs, lv.status, lv.remaining, win.hash_key, win.bits)
    return taken, picked, float(np.asarray(n_tokens[picked], dtype=np.float64).sum()), 0


def _exact_threshold(
    docs: _Docs, status: np.ndarray, remaining: float, hash_key: int, bits: int
) -> np.ndarray:
    """Threshold-level docs in priority order until `remaining` tokens: exact, two passes."""
    keys, n_docs, n_tokens, chunk = docs.keys, docs.n_docs, docs.n_tokens, docs.chunk
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
