"""The console: collaborative weights theta, aggregation, repetition decay, selection (method.md 2).

`S(x) = sum_A theta_A * S_A(x) * decay(x)` with `decay(x) = 1 / (1 + decay_factor *
times_selected(x))`; higher score = selected first. After each reward refresh the console
updates every actor's weights, then `theta_A += eta_theta * (R_A - Rbar)` with
`R_A = mean_j w_A[j] R_A[j]` (clipped at 0 and renormalised to sum 1).
Modes: `multi_actor` (the method) and `fixed_theta` (actors update, theta stays equal: the
ablation). Baselines that ignore the actors (random, quality top-k, ...) are selectors in
`macs.select.selectors`, not console modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch
from macs.select.actors.base import Actor
from macs.select.console.budget import CHUNK, BudgetResult, budget_select, doc_hash, hash_bits
from macs.select.console.controls import Bound, Controls, controlled_select

MODES = ("multi_actor", "fixed_theta")
THETA_REWARDS = ("standardized", "raw")
_MAX_COUNT = np.iinfo(np.uint16).max
_KEY_LIMIT = 1 << 22  # above this many (cell x count) keys, fall back to per-doc score levels
_KEY_CACHE_BYTES = 1 << 29  # keep per-doc keys between selection passes up to 512 MB


class Console:
    """Holds actors, theta and per-document selection counts; selects each stage's documents."""

    def __init__(
        self,
        actors: list[Actor],
        eta_theta: float = 0.1,
        mode: str = "multi_actor",
        seed: int = 0,
        decay_factor: float = 0.1,
        n_docs: int | None = None,
        theta_reward: str = "standardized",
        controls: Controls | None = None,
    ):
        if mode not in MODES:
            raise MacsError(f"selection mode must be one of {MODES}, not {mode!r}")
        if not actors:
            raise MacsError(f"mode {mode!r} needs at least one actor")
        names = [a.name for a in actors]
        if len(set(names)) != len(names):
            raise MacsError(f"duplicate actor names {names}")
        sizes = {a.n_docs for a in actors}
        if n_docs is None:
            n_docs = sizes.pop() if len(sizes) == 1 else -1
        if n_docs < 0 or any(s != n_docs for s in sizes):
            raise MacsError(
                "actors disagree on the number of documents "
                f"({ {a.name: a.n_docs for a in actors} }, n_docs={n_docs}): relabel the corpus"
            )
        if decay_factor < 0:
            raise MacsError(f"decay_factor must be >= 0, not {decay_factor}")
        if theta_reward not in THETA_REWARDS:
            raise MacsError(f"theta_reward must be one of {THETA_REWARDS}, not {theta_reward!r}")
        self.theta_reward = theta_reward
        self.controls = controls or Controls()
        for what, d in (
            ("min_share", self.controls.min_share),
            ("max_share", self.controls.max_share),
        ):
            unknown = sorted(set(d) - set(names))
            if unknown:
                raise MacsError(f"selection.{what} names {unknown}, which are not actors ({names})")
        self.actors = list(actors)
        self.eta_theta = float(eta_theta)
        self.mode = mode
        self.decay_factor = float(decay_factor)
        self.n_docs = int(n_docs)
        self.seed = int(seed)
        self.theta = np.full(len(actors), 1.0 / max(len(actors), 1))
        self.counts = np.zeros(self.n_docs, dtype=np.uint16)
        self._max_count = 0
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.n_selects = 0
        self.n_updates = 0
        self.last_select: dict[str, Any] = {}

    # ------------------------------------------------------------------ lookup
    def actor(self, name: str) -> Actor:
        """The actor called `name`."""
        for a in self.actors:
            if a.name == name:
                return a
        raise MacsError(f"no actor named {name!r}; actors are {[a.name for a in self.actors]}")

    @property
    def actor_names(self) -> list[str]:
        """Names of the console's actors, in order."""
        return [a.name for a in self.actors]

    # ------------------------------------------------------------------ scores
    def decay(self, counts: np.ndarray) -> np.ndarray:
        """Repetition decay 1 / (1 + decay_factor * times_selected), in (0, 1]; 1 = never selected."""
        return 1.0 / (1.0 + self.decay_factor * np.asarray(counts, dtype=np.float64))

    def cell_scores(self) -> np.ndarray:
        """sum_A theta_A w_A[g_A] for every (group x group x ...) cell, first actor most significant."""
        cs = np.zeros(1)
        for th, a in zip(self.theta, self.actors, strict=True):
            cs = (cs[:, None] + th * a.weights[None, :]).ravel()
        return cs

    def _strides(self) -> list[int]:
        strides, s = [], 1
        for a in reversed(self.actors):
            strides.append(s)
            s *= a.n_groups
        return list(reversed(strides))

    def _n_cells(self) -> int:
        n = 1
        for a in self.actors:
            n *= a.n_groups
        return n

    def _cell_chunk(self, s: int, e: int, dtype=np.int32) -> np.ndarray:
        """Cell id (first actor most significant) of docs s..e-1."""
        cell = None
        for a, st in zip(self.actors, self._strides(), strict=True):
            g = a.groups[s:e]
            if cell is None:
                cell = np.multiply(g, dtype(st), dtype=dtype)
            elif st == 1:
                cell += g
            else:
                cell += np.multiply(g, dtype(st), dtype=dtype)
        return cell

    def _key_plan(self, eligible: np.ndarray | None, n_tokens: np.ndarray):
        """(keys(s, e) -> intp array, key_score) for the current theta, weights and counts.

        Key K (one past the last) marks docs that cannot be selected: held out or empty.
        """
        n_cells, n_c = self._n_cells(), self._max_count + 1
        n_keys = n_cells * n_c
        if n_keys + 1 > _KEY_LIMIT:
            return self._key_plan_dense(eligible, n_tokens)
        key_score = (self.cell_scores()[:, None] * self.decay(np.arange(n_c))[None, :]).ravel()
        # Small integer dtypes keep the per-chunk arithmetic cheap (int8 groups -> int16 keys).
        kd = np.int16 if n_keys < 2**15 else np.int32
        sentinel = kd(n_keys)
        counts = self.counts
        # The selection reads every chunk's keys two or more times: keep them (2 or 4 bytes a
        # doc, freed after the call) unless that would exceed _KEY_CACHE_BYTES.
        cache = None
        if self.n_docs * np.dtype(kd).itemsize <= _KEY_CACHE_BYTES:
            cache = np.empty(self.n_docs, dtype=kd)
        done: set[tuple[int, int]] = set()

        def keys(s: int, e: int) -> np.ndarray:
            if (s, e) in done:
                return cache[s:e].astype(np.intp)
            k = self._cell_chunk(s, e, kd)
            if n_c > 1:
                k *= kd(n_c)
                np.add(k, counts[s:e], out=k, casting="unsafe")
            skip = n_tokens[s:e] == 0  # empty docs are never selected
            if eligible is not None:
                skip |= ~eligible[s:e]
            np.copyto(k, sentinel, where=skip)
            if cache is not None:
                cache[s:e] = k
                done.add((s, e))
            return k.astype(np.intp)

        return keys, key_score

    def _key_plan_dense(self, eligible: np.ndarray | None, n_tokens: np.ndarray):
        """Fallback for huge cell spaces: distinct per-doc scores via np.unique (O(N log N))."""
        scores = self.scores(dtype=np.float64)
        levels, inv = np.unique(scores, return_inverse=True)
        inv = inv.astype(np.int64)
        inv[np.asarray(n_tokens) == 0] = len(levels)
        if eligible is not None:
            inv[~eligible] = len(levels)
        return (lambda s, e: inv[s:e]), levels

    def scores(self, idx: np.ndarray | None = None, dtype=np.float32) -> np.ndarray:
        """S(x) = sum_A theta_A S_A(x) decay(x) for all docs (or `idx`); higher = selected first."""
        if idx is not None:
            idx = np.asarray(idx, dtype=np.int64)
            s = np.zeros(len(idx), dtype=np.float64)
            for th, a in zip(self.theta, self.actors, strict=True):
                s += th * a.weights[a.groups[idx]]
            return (s * self.decay(self.counts[idx])).astype(dtype)
        out = np.empty(self.n_docs, dtype=dtype)
        cs = self.cell_scores()
        n_c = self._max_count + 1
        dec = self.decay(np.arange(n_c))
        for s in range(0, self.n_docs, CHUNK):
            e = min(s + CHUNK, self.n_docs)
            v = cs[self._cell_chunk(s, e, np.intp)]
            if n_c > 1:
                v = v * dec[self.counts[s:e]]
            out[s:e] = v
        return out

    # ------------------------------------------------------------------ selection
    def _check_mask(self, eligible: np.ndarray | None, what: str = "eligible") -> np.ndarray | None:
        if eligible is None:
            return None
        eligible = np.asarray(eligible)
        if eligible.dtype != np.bool_ or eligible.shape != (self.n_docs,):
            raise MacsError(
                f"{what} must be a bool array of {self.n_docs} docs, got {eligible.dtype} {eligible.shape}"
            )
        return eligible

    def select(
        self,
        n_tokens: np.ndarray,
        budget: float,
        eligible: np.ndarray | None = None,
        return_scores: bool = False,
        uniform_key: int | None = None,
    ):
        """Sorted doc indices (int64) of the highest-scoring eligible docs until `budget` tokens are met.

        `uniform_key` (macs.select.console.sampling.uniform_key) orders the stage's uniform parts: the
        ties of the plain top-k (all of stage 0 at uniform weights) and the epsilon share; the
        operator's own noise keeps the console's generator.

        Ties (e.g. a whole (quality, domain, topic) cell at the cut) are broken by a seeded
        uniform random order. Held-out (not `eligible`) and empty (0-token) docs are never chosen. The selected docs' counts are bumped, so the next stage's
        decay prefers docs not chosen before. With `return_scores`, also returns their
        scores (float32, at selection time; higher = preferred).
        """
        n_tokens = np.asarray(n_tokens) if not isinstance(n_tokens, np.ndarray) else n_tokens
        if n_tokens.shape != (self.n_docs,) or n_tokens.dtype.kind not in "iu":
            raise MacsError(
                f"n_tokens must be an integer array of {self.n_docs} docs, got "
                f"{n_tokens.dtype} {n_tokens.shape}"
            )
        eligible = self._check_mask(eligible)
        if not np.isfinite(budget) or budget < 0:
            raise MacsError(f"token budget must be a finite number >= 0, not {budget}")
        clock = Stopwatch()
        hash_key = int(self.rng.integers(0, 2**63 - 1))  # drawn always: the stream stays put
        if self.controls.plain_topk:
            keys, key_score = self._key_plan(eligible, n_tokens)
            tie_key = hash_key if uniform_key is None else uniform_key
            res: BudgetResult = budget_select(
                keys, self.n_docs, key_score, n_tokens, budget, tie_key
            )
            idx, info = res.indices, res.info()
        else:
            elig = eligible if eligible is not None else np.ones(self.n_docs, dtype=bool)
            idx, info = controlled_select(
                lambda ix: self.scores(ix, dtype=np.float64),
                n_tokens,
                budget,
                elig,
                self.counts,
                self.controls,
                hash_key,
                self._bounds(),
                uniform_key,
            )
        scores = self.scores(idx) if return_scores else None
        if len(idx):
            c = self.counts[idx]
            self.counts[idx] = np.where(c < _MAX_COUNT, c + 1, c).astype(np.uint16)
            self._max_count = max(self._max_count, int(self.counts[idx].max()))
        self.n_selects += 1
        self.last_select = {
            **info,
            "stage": self.n_selects,
            "mode": self.mode,
            "theta": self.theta_dict(),
            "seconds": round(clock.seconds, 4),
        }
        return (idx, scores) if return_scores else idx

    def _bounds(self) -> list[Bound]:
        """Share bounds per bounded actor (shares of the stage budget; scaled by the caller)."""
        c = self.controls
        out = []
        for a in self.actors:
            lo, hi = c.min_share.get(a.name, 0.0), c.max_share.get(a.name, 1.0)
            if lo > 0 or hi < 1:
                out.append(Bound(a.name, a.groups, a.n_groups, lo, hi if hi < 1 else np.inf))
        return out

    def sample_groups(
        self, m: int, eligible: np.ndarray | None = None
    ) -> dict[str, list[np.ndarray]]:
        """Up to `m` docs per group per actor, uniform inside the group, seeded; sorted doc indices.

        A group with fewer than `m` eligible docs gives all of them. Held-out docs are
        excluded by passing `eligible` (True = may be sampled).
        """
        if m < 1:
            raise MacsError(f"samples per group must be >= 1, not {m}")
        eligible = self._check_mask(eligible)
        out: dict[str, list[np.ndarray]] = {}
        for a in self.actors:
            key = int(self.rng.integers(0, 2**63 - 1))
            out[a.name] = _sample_groups(a.groups, a.n_groups, m, eligible, key)
        return out

    # ------------------------------------------------------------------ update
    def update(self, rewards: dict[str, np.ndarray]) -> dict[str, Any]:
        """Update each actor from its group-mean rewards (higher = more helpful), then theta.

        `rewards[name]` holds R_A[j] (raw group means, nan = no sample). Returns a JSON-able
        log: raw R_A[j], z-scores, new w_A, R_A = mean_j w_A[j] R_A[j], Rbar and theta.
        """
        unknown = sorted(set(rewards) - set(self.actor_names))
        if unknown:
            raise MacsError(f"rewards for unknown actors {unknown}; actors are {self.actor_names}")
        missing = [n for n in self.actor_names if n not in rewards]
        if missing:
            raise MacsError(f"rewards missing for actors {missing}")
        log: dict[str, Any] = {"update": self.n_updates + 1, "mode": self.mode}
        actor_logs, R_actor = {}, np.full(len(self.actors), np.nan)
        for i, a in enumerate(self.actors):
            R = np.asarray(rewards[a.name], dtype=np.float64)
            actor_logs[a.name] = a.update(R)
            valid = np.isfinite(R)
            if valid.any():
                R_actor[i] = float(np.mean(a.weights[valid] * R[valid]))
        theta_before = self.theta.copy()
        ok = np.isfinite(R_actor)
        R_bar = float(R_actor[ok].mean()) if ok.any() else float("nan")
        if self.mode == "multi_actor" and ok.any():
            th = self.theta.copy()
            th[ok] += self.eta_theta * self._theta_step(R_actor[ok], R_bar)
            th = np.clip(th, 0.0, None)
            self.theta = th / th.sum() if th.sum() > 0 else np.full(len(th), 1.0 / len(th))
        self.n_updates += 1
        log.update(
            {
                "R_group": {n: lg["R_group"] for n, lg in actor_logs.items()},
                "z": {n: lg["z"] for n, lg in actor_logs.items()},
                "weights": {n: lg["weights"] for n, lg in actor_logs.items()},
                "group_names": {a.name: list(a.group_names) for a in self.actors},
                "R_actor": {
                    a.name: (float(r) if np.isfinite(r) else None)
                    for a, r in zip(self.actors, R_actor, strict=True)
                },
                "R_bar": R_bar if np.isfinite(R_bar) else None,
                "theta_before": dict(zip(self.actor_names, theta_before.tolist(), strict=True)),
                "theta": self.theta_dict(),
            }
        )
        return log

    def _theta_step(self, R: np.ndarray, R_bar: float) -> np.ndarray:
        """R_A - Rbar (raw, as in the paper) or divided by the std over actors (standardized).

        Raw rewards are cosines of order 1e-2, so a raw step of eta * (R_A - Rbar) moves theta
        by ~1e-4 per refresh; standardising (as method.md section 4 does for group weights)
        makes eta_theta the step in units of the actors' spread. Constant rewards give 0.
        """
        d = R - R_bar
        if self.theta_reward == "raw":
            return d
        sd = float(d.std())
        return d / sd if sd > 0 else np.zeros_like(d)

    def theta_dict(self) -> dict[str, float]:
        """theta as {actor name: weight} (on the simplex: >= 0, sums to 1)."""
        return dict(zip(self.actor_names, self.theta.tolist(), strict=True))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """All state: actor weights, theta, selection counts (uint16 array), RNG state, counters."""
        return {
            "version": 1,
            "mode": self.mode,
            "eta_theta": self.eta_theta,
            "theta_reward": self.theta_reward,
            "decay_factor": self.decay_factor,
            "seed": self.seed,
            "n_docs": self.n_docs,
            "actor_names": self.actor_names,
            "actors": {a.name: a.state_dict() for a in self.actors},
            "theta": self.theta.tolist(),
            "rng": self.rng.bit_generator.state,
            "n_selects": self.n_selects,
            "n_updates": self.n_updates,
            "counts": self.counts.copy(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore exactly what `state_dict` saved (same actors and number of docs required)."""
        if int(sd["n_docs"]) != self.n_docs:
            raise MacsError(
                f"console state is for {sd['n_docs']} docs, this pool has {self.n_docs}: "
                "was the corpus rebuilt? start a fresh run"
            )
        if list(sd["actor_names"]) != self.actor_names:
            raise MacsError(
                f"console state has actors {sd['actor_names']}, config has {self.actor_names}"
            )
        for a in self.actors:
            a.load_state_dict(sd["actors"][a.name])
        self.mode = sd["mode"]
        self.eta_theta = float(sd["eta_theta"])
        self.theta_reward = sd.get("theta_reward", self.theta_reward)
        self.decay_factor = float(sd["decay_factor"])
        self.seed = int(sd.get("seed", self.seed))
        self.theta = np.asarray(sd["theta"], dtype=np.float64)
        counts = np.asarray(sd["counts"])
        if counts.shape != (self.n_docs,):
            raise MacsError(
                f"console state counts have shape {counts.shape}, expected ({self.n_docs},)"
            )
        self.counts = counts.astype(np.uint16, copy=True)
        self._max_count = int(self.counts.max()) if self.n_docs else 0
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = sd["rng"]
        self.n_selects = int(sd["n_selects"])
        self.n_updates = int(sd["n_updates"])


def _sample_groups(
    groups: np.ndarray,
    n_groups: int,
    m: int,
    eligible: np.ndarray | None,
    key: int,
    chunk: int = CHUNK,
) -> list[np.ndarray]:
    """m docs per group with the smallest seeded hash (a uniform sample without replacement)."""
    n = len(groups)
    bits = hash_bits(n)
    ptype = np.uint32 if bits == 32 else np.uint64
    sizes = np.zeros(n_groups, dtype=np.int64)
    for s in range(0, n, chunk):
        g = groups[s : s + chunk]
        if eligible is not None:
            g = g[eligible[s : s + chunk]]
        sizes += np.bincount(g, minlength=n_groups)[:n_groups]
    want = np.minimum(sizes, m)
    # Keep docs whose hash is below a per-group threshold that expects a few more than m hits.
    frac = np.minimum(1.0, (m + 6.0 * np.sqrt(m) + 16.0) / np.maximum(sizes, 1))
    result: list[np.ndarray | None] = [None] * n_groups
    todo = np.ones(n_groups, dtype=bool)
    while todo.any():
        top = 2**bits - 1
        thr = np.array([min(int(f * 2.0**bits), top) for f in frac], dtype=ptype)
        idx_parts, g_parts, p_parts = [], [], []
        all_todo = bool(todo.all())
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            g = groups[s:e]
            p = doc_hash(np.arange(s, e, dtype=np.int64), key, bits)  # depends on the doc only
            hit = p <= thr[g]
            if not all_todo:
                hit &= todo[g]
            if eligible is not None:
                hit &= eligible[s:e]
            li = np.flatnonzero(hit)
            idx_parts.append(li + s)
            g_parts.append(g[li])
            p_parts.append(p[li])
        gi = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        gg = np.concatenate(g_parts) if g_parts else np.zeros(0, np.int64)
        pp = np.concatenate(p_parts) if p_parts else np.zeros(0, ptype)
        order = np.lexsort((gi, pp, gg))
        gi, gg = gi[order], gg[order]
        starts = np.searchsorted(gg, np.arange(n_groups), side="left")
        ends = np.searchsorted(gg, np.arange(n_groups), side="right")
        for j in np.flatnonzero(todo):
            have = ends[j] - starts[j]
            if have >= want[j]:
                result[j] = np.sort(gi[starts[j] : starts[j] + want[j]])
                todo[j] = False
            else:  # unlucky draw: widen this group's threshold and scan again
                frac[j] = min(1.0, frac[j] * 4.0)
    return [r if r is not None else np.zeros(0, np.int64) for r in result]
