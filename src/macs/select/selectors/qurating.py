"""`qurating`: QuRating's sampling: documents drawn without replacement with probability
proportional to exp(z / tau) until the run's token budget is met (Wettig et al., 2024), where
z is the quality score standardized over the pool: z = (score - mean) / std, mean and std over
the eligible documents with a finite score. QuRating standardizes its ratings the same way
before its temperature (tau = 2 on z-scores), so tau means "standard deviations of quality per
factor e of odds" whatever the scale of the quality labeller (a bimodal 0-5 classifier score or
a log-odds). `standardize: false` applies tau to the raw score (the pre-2026-12 behaviour).

The draw is the Gumbel-top-k trick: priority(x) = z(x) / tau + G(x) with G seeded Gumbel
noise (`macs.select.console.sampling.gumbel_keys`), taken in decreasing priority until the budget
is reached; that is exactly successive sampling without replacement with p(x) proportional
to exp(z(x) / tau) among the documents not drawn yet. tau -> 0 approaches the top-k by
score (`quality_topk`), a large tau approaches uniform sampling. Documents without a finite
score count as scoring one (standard deviation) below the lowest finite score; a pool whose
scores are all equal is sampled uniformly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from macs.select.console.sampling import gumbel_keys, top_by_priority
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.cache import seed_key
from macs.select.selectors.quality import quality_scores
from macs.select.selectors.registry import register_selector
from macs.select.selectors.static import StaticSelector


def standardize(scores: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(z-scores, mean, std): `scores` standardized by the mean and (population) std of the
    eligible docs' finite scores; non-finite scores stay non-finite; std 0 -> all z 0."""
    s = np.asarray(scores, dtype=np.float64)
    ref = s[np.asarray(eligible, bool) & np.isfinite(s)]
    if ref.size == 0:
        return s.copy(), 0.0, 1.0
    mean, std = float(ref.mean()), float(ref.std())
    if not std > 0:
        return np.where(np.isfinite(s), 0.0, s), mean, 0.0
    return (s - mean) / std, mean, std


def qurating_sample(
    scores: np.ndarray,
    n_tokens: np.ndarray,
    eligible: np.ndarray,
    budget: float,
    tau: float,
    key: int,
) -> np.ndarray:
    """Sorted doc indices drawn w/o replacement with p proportional to exp(score / tau) (higher score =
    likelier) until `budget` tokens are reached."""
    s = np.asarray(scores, dtype=np.float64)
    fin = np.isfinite(s)
    low = float(s[fin].min()) - 1.0 if fin.any() else 0.0
    s = np.where(fin, s, low)
    idx = np.arange(s.size, dtype=np.int64)
    priority = gumbel_keys(s / float(tau), idx, key, s.size)
    return top_by_priority(priority, n_tokens, eligible, budget, key)


@register_selector("qurating")
class QuRatingSelector(StaticSelector):
    """Seeded sampling w/o replacement with p proportional to exp(z-scored quality / tau), to the budget."""

    description: ClassVar[str] = (
        "QuRating: sample by exp(z-scored quality / tau) without replacement"
    )

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The quality labels (with scores) must exist."""
        labels = ctx.cfg.baselines.qurating.labels
        ctx.pool.label(labels, what=f"method {cls.name}")
        quality_scores(ctx, labels)

    def labels_used(self) -> list[str]:
        """The quality labels."""
        return [self.ctx.cfg.baselines.qurating.labels]

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded draw reaching the total budget, and the quality score of every doc."""
        c = self.ctx.cfg.baselines.qurating
        s = quality_scores(self.ctx, c.labels)
        z, mean, std = standardize(s, self.pool.eligible) if c.standardize else (s, 0.0, 1.0)
        key = seed_key(self.ctx.seed, 0x0A7146)
        idx = qurating_sample(z, self.pool.n_tokens, self.pool.eligible, total_budget, c.tau, key)
        self.info.update(
            tau=float(c.tau), labels=c.labels, standardize=bool(c.standardize), mean=mean, std=std
        )
        return idx, s
