"""`qurating`: QuRating's sampling: documents drawn without replacement with probability
proportional to exp(score / tau) until the run's token budget is met (Wettig et al., 2024).

The draw is the Gumbel-top-k trick: priority(x) = score(x) / tau + G(x) with G seeded Gumbel
noise (`macs.console.sampling.gumbel_keys`), taken in decreasing priority until the budget
is reached; that is exactly successive sampling without replacement with p(x) proportional
to exp(score(x) / tau) among the documents not drawn yet. tau -> 0 approaches the top-k by
score (`quality_topk`), a large tau approaches uniform sampling. Documents without a finite
score count as scoring one below the lowest finite score.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from macs.baselines.base import SelectorContext
from macs.baselines.cache import seed_key
from macs.baselines.quality import quality_scores
from macs.baselines.registry import register_selector
from macs.baselines.static import StaticSelector
from macs.console.sampling import gumbel_keys, top_by_priority


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
    """Seeded sampling w/o replacement with p proportional to exp(quality score / tau), to the budget."""

    description: ClassVar[str] = "QuRating: sample by exp(quality score / tau) without replacement"

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
        key = seed_key(self.ctx.seed, 0x0A7146)
        idx = qurating_sample(s, self.pool.n_tokens, self.pool.eligible, total_budget, c.tau, key)
        self.info.update(tau=float(c.tau), labels=c.labels)
        return idx, s
