"""`mates`: model-aware data selection with a data influence model (Yu et al., arXiv 2406.06046).

At every refresh, on the current model:
1. **Oracle.** The one-step probe (`influence.estimator=probe`, built here from
   cfg.influence whatever the configured reward estimator is) scores a seeded uniform sample
   of `baselines.mates.oracle_samples` eligible documents: r(x) = L_ref(M) - L_ref(M after one
   step on x), in nats, higher = more helpful. Each probe starts from a copy of the *training*
   optimiser's state (AdamW moments, step count, learning rate) as MATES does; the training
   model and optimiser are left bit for bit as they were.
2. **Data influence model.** A ridge regression (or small MLP) from document features
   (MiniLM embeddings or hashed n-grams, `mates_features`) to the z-scored oracle, refit from
   scratch at each refresh: first on a seeded part of the oracle sample to report its held-out
   Spearman correlation with the oracle (`influence_model.heldout_spearman` in the selection
   log), then on the whole sample.
3. **Selection.** A fresh candidate slice of about `candidate_ratio` (5) x the stage's tokens is
   drawn from the eligible pool, documents chosen fewer times before first (in a seeded random
   order), so documents already trained on enter the slice only once fresh ones run out: MATES
   walks through a candidate pool it does not revisit, and keeps 1/5 of each slice. The model
   predicts every candidate's influence, and Gumbel-top-k at temperature `tau` on the
   predictions (z units) takes candidates until the stage's token budget is met (sampling
   without replacement proportionally to exp(pred / tau)).
Stage 0, with no trained model yet, is a uniform random sample at the budget, as in MATES.

Costs per refresh (`seconds` in the selection log): oracle, features, fit, predict, select;
the oracle's work as a compute record (`compute`: seconds, forward and backward tokens: one
forward and backward pass per probed window, one forward pass of the reference set per probe
and per refresh). A refresh whose held-out Spearman is below `spearman_floor` (or has none)
says so (`influence_model.near_random` and a note in the log): its draw is near-random.
State for an exact resume: the selection counts, the RNG state and the refresh count. The
influence model is refit from the oracle at every refresh (on the restored model and
optimiser), so it is not saved; features are recomputed (or read from the disk cache).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch, timed
from macs.select.console.sampling import gumbel_keys, top_by_priority, uniform_key
from macs.select.selectors.base import Choice, Online, Selector, SelectorContext
from macs.select.selectors.costs import compute_record
from macs.select.selectors.mates_features import FeatureCache, make_featurizer
from macs.select.selectors.mates_model import fit_with_holdout
from macs.select.selectors.random import least_selected_first
from macs.select.selectors.registry import register_selector


def probe_oracle(cfg, pool):
    """fn(model, doc indices, step, optimizer) -> one-step probe influence per doc (nats; higher = more helpful; nan = too short).

    The probe estimator is built from cfg.influence with estimator forced to "probe" and the
    reference set tokenized with the pool's tokenizer; documents are cut to
    train.reward_max_tokens when it is set (else windowed as the influence config says).
    """
    from macs.data.corpus.tokenizer import load_tokenizer
    from macs.select.rewards import make_estimator, reference_for_config

    icfg = cfg.influence.model_copy(update={"estimator": "probe"})
    est = make_estimator(icfg, reference_for_config(load_tokenizer(pool.tokenizer_path), icfg))
    cut = int(getattr(cfg.train, "reward_max_tokens", 0) or 0)

    def oracle(model, idx, step: int | None, optimizer=None) -> np.ndarray:
        docs = [np.asarray(pool.doc(int(i)), dtype=np.int64) for i in np.asarray(idx)]
        docs = [d[:cut] for d in docs] if cut else docs
        return est.rewards(model, docs, step=step, optimizer=optimizer)

    oracle.estimator = est
    return oracle


@register_selector("mates")
class MatesSelector(Selector):
    """MATES: probe oracle on the current model -> learned influence model -> Gumbel-top-k of a fresh slice."""

    online: ClassVar[bool] = True
    description: ClassVar[str] = "MATES: probe oracle + data influence model, Gumbel-top-k"

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The pool needs its corpus store (texts for features) and tokenizer (the probe's reference set)."""
        if ctx.pool.store is None:
            raise MacsError("mates reads document texts for its features; the pool has no store")
        if ctx.pool.tokenizer_path is None:
            raise MacsError(
                "mates probes the model on reference tasks, which needs the pool's tokenizer; "
                "tokenize the corpus first (`macs corpus tokenize`)"
            )

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        self.mcfg = ctx.cfg.baselines.mates
        self.rng = np.random.Generator(np.random.PCG64([ctx.seed, 0x3A7E5]))
        self.refreshes = 0
        self._oracle = None
        self._features: FeatureCache | None = None

    # ------------------------------------------------------------------ lazily built parts
    def oracle(self):
        """The probe oracle fn(model, idx, step, optimizer) (built on first use: it tokenizes the reference set)."""
        if self._oracle is None:
            self._oracle = probe_oracle(self.ctx.cfg, self.pool)
        return self._oracle

    @property
    def features(self) -> FeatureCache:
        """The per-document feature cache (featuriser chosen on first use)."""
        if self._features is None:
            fz = make_featurizer(self.mcfg, self.ctx.log)
            self._features = FeatureCache(self.pool, fz, self.ctx.cache_dir, self.ctx.log)
        return self._features

    # ------------------------------------------------------------------ stages
    def initial(self, budget: int) -> Choice:
        """Stage 0: a uniform random sample of the eligible pool reaching the budget (no model yet)."""
        clock = Stopwatch()
        self.rng.integers(0, 2**63 - 1)  # drawn as before: the oracle's stream stays put
        key = uniform_key(self.ctx.seed, 0)  # random's stage-0 draw (common random numbers)
        idx, info = least_selected_first(
            self.counts, self.pool.n_tokens, self.pool.eligible, budget, key
        )
        return self._choice(
            0, budget, idx, clock, select_info=info, note="uniform random (no model)"
        )

    def oracle_sample(self, key: int) -> np.ndarray:
        """A seeded uniform sample (sorted doc indices) of eligible docs long enough to probe."""
        min_tokens = int(self.ctx.cfg.influence.min_tokens)
        cand = np.flatnonzero(self.pool.eligible & (self.pool.n_tokens - 1 >= min_tokens))
        n = min(int(self.mcfg.oracle_samples), cand.size)
        rng = np.random.Generator(np.random.PCG64(key))
        return np.sort(rng.choice(cand, size=n, replace=False)).astype(np.int64)

    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """Probe a sample on the current model, refit the influence model, Gumbel-top-k a fresh slice."""
        if online is None:
            raise MacsError(f"{self.name} needs the current model at every refresh")
        clock = Stopwatch()
        k_oracle, k_split, k_cand, k_gumbel = (int(v) for v in self.rng.integers(0, 2**63 - 1, 4))
        self.refreshes += 1
        secs: dict[str, float] = {}
        o_idx = self.oracle_sample(k_oracle)
        est = self.oracle().estimator
        tok0 = (est.forward_tokens, est.backward_tokens)
        with timed(secs, "oracle"):
            r = np.asarray(self.oracle()(online.model, o_idx, online.step, online.optimizer), float)
        oracle_cost = compute_record(
            "mates oracle",
            secs["oracle"],
            est.forward_tokens - tok0[0],
            est.backward_tokens - tok0[1],
            probes=int(o_idx.size),
        )
        feat0 = self.features.stats["seconds"]
        model, report = self._fit(stage, o_idx, r, k_split, secs)
        with timed(secs, "candidates"):
            want = float(self.mcfg.candidate_ratio) * budget
            cand, _ = least_selected_first(
                self.counts, self.pool.n_tokens, self.pool.eligible, want, k_cand
            )
        x_c = self.features.rows(cand) if model is not None else None
        secs["features"] = self.features.stats["seconds"] - feat0
        with timed(secs, "predict"):
            pred = model.predict(x_c) if model is not None else np.zeros(cand.size)
        with timed(secs, "select"):
            idx = self._gumbel_top(cand, pred, budget, k_gumbel)
        choice = self._choice(
            stage,
            budget,
            idx,
            clock,
            scores=pred[np.searchsorted(cand, idx)],
            seconds=secs,
            compute=oracle_cost,
            **self._refresh_log(
                o_idx, r, report, cand, pred, idx, secs, online.optimizer is not None
            ),
        )
        choice.rewards = (o_idx, r)
        self._say(stage, choice.log)
        return choice

    def _fit(self, stage: int, o_idx: np.ndarray, r: np.ndarray, key: int, secs: dict):
        """The influence model refit on the finite oracle values (None, with a logged note, if < 2 distinct)."""
        ok = np.isfinite(r)
        if ok.sum() < 2 or np.ptp(r[ok]) == 0:
            note = (
                f"{int(ok.sum())} finite oracle values, too few to fit: uniform sample of the slice"
            )
            self.ctx.log(f"[mates] stage {stage}: note: {note}")
            secs["fit"] = 0.0
            return None, {"heldout_spearman": None, "note": note}
        x_o = self.features.rows(o_idx[ok])
        with timed(secs, "fit"):
            model, report = fit_with_holdout(self.mcfg, x_o, r[ok], key)
        return model, report

    def _gumbel_top(self, cand: np.ndarray, pred: np.ndarray, budget: int, key: int) -> np.ndarray:
        """Candidates by pred / tau + seeded Gumbel noise, highest first, until `budget` tokens (sorted)."""
        n = self.pool.n_docs
        prio = np.zeros(n, dtype=np.float64)
        mask = np.zeros(n, dtype=bool)
        prio[cand] = gumbel_keys(pred / float(self.mcfg.tau), cand, key, n)
        mask[cand] = True
        return top_by_priority(prio, self.pool.n_tokens, mask, budget, key)

    def _refresh_log(
        self, o_idx, r, report, cand, pred, idx, secs, had_optimizer
    ) -> dict[str, Any]:
        """The selection-log fields of a refresh (oracle, influence model, candidates, prediction)."""
        ok = np.isfinite(r)
        fc = self.features
        chosen = np.isin(cand, idx)
        return {
            "refresh": self.refreshes,
            "oracle": {
                "n_docs": int(o_idx.size),
                "n_scored": int(ok.sum()),
                "n_nan": int((~ok).sum()),
                "mean": float(r[ok].mean()) if ok.any() else None,
                "std": float(r[ok].std()) if ok.any() else None,
                "positive_share": float((r[ok] > 0).mean()) if ok.any() else None,
                "docs_per_s": o_idx.size / max(secs["oracle"], 1e-9),
                "with_training_optimizer": had_optimizer,
            },
            "influence_model": {
                **report,
                "features": fc.featurizer.kind,
                "dim": int(fc.mat.shape[1]) if fc.mat is not None else 0,
                **self._near_random(report.get("heldout_spearman")),
            },
            "candidates": {
                "n_docs": int(cand.size),
                "n_tokens": int(self.pool.n_tokens[cand].sum()),
                "fresh_docs": int((self.counts[cand] == 0).sum()),
                "ratio": float(self.mcfg.candidate_ratio),
            },
            "prediction": {
                "mean": float(pred.mean()) if pred.size else None,
                "std": float(pred.std()) if pred.size else None,
                "chosen_mean": float(pred[chosen].mean()) if chosen.any() else None,
                "tau": float(self.mcfg.tau),
            },
            "features": {
                "computed": fc.stats["computed"],
                "from_disk": fc.stats["from_disk"],
                "cached_docs": int((fc.pos >= 0).sum()),
            },
        }

    def _near_random(self, rho: float | None) -> dict[str, Any]:
        """Whether this refresh's influence model predicts its oracle no better than the floor
        (`spearman_floor`, held-out Spearman; none measured counts as below): then Gumbel-top-k
        on its predictions is close to a uniform sample of the candidate slice."""
        floor = float(self.mcfg.spearman_floor)
        near = rho is None or rho < floor
        out: dict[str, Any] = {"spearman_floor": floor, "near_random": near}
        if near:
            got = "none measured" if rho is None else f"{rho:.3f}"
            out["near_random_note"] = (
                f"held-out Spearman {got} is below the floor {floor:g}: this refresh samples "
                "its candidate slice near-randomly"
            )
        return out

    def _say(self, stage: int, log: dict[str, Any]) -> None:
        o, m, s = log["oracle"], log["influence_model"], log["seconds"]
        rho = m.get("heldout_spearman")
        self.ctx.log(
            f"[mates] stage {stage}: oracle {o['n_scored']}/{o['n_docs']} docs in "
            f"{s['oracle']:.1f}s ({o['docs_per_s']:.1f} docs/s), influence model "
            f"({m['features']}) held-out Spearman {'n/a' if rho is None else f'{rho:.3f}'}, "
            f"{log['n_docs']} of {log['candidates']['n_docs']} candidates, {log['n_tokens']} "
            f"tokens (budget {log['budget']}) in {s['total']:.1f}s"
        )
        if m["near_random"]:
            self.ctx.log(f"[mates] stage {stage}: note: {m['near_random_note']}")

    def state_dict(self) -> dict[str, Any]:
        """Counts, the RNG state and the refresh count (the influence model is refit every refresh)."""
        return {
            **super().state_dict(),
            "rng": self.rng.bit_generator.state,
            "refreshes": self.refreshes,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore counts, RNG and refresh count."""
        super().load_state_dict(sd)
        self.rng.bit_generator.state = sd["rng"]
        self.refreshes = int(sd["refreshes"])
