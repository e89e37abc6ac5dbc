"""`quality_topk`: the FineWeb-Edu / DCLM way: the top documents by a quality classifier's score."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.select.console.sampling import top_by_priority
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.registry import register_selector
from macs.select.selectors.static import StaticSelector


def quality_scores(ctx: SelectorContext, labels: str) -> np.ndarray:
    """The continuous score of label set `labels` per doc (float64, higher = better quality)."""
    lab = ctx.pool.label(labels, what=f"method {ctx.cfg.selection.method}")
    if lab.scores is None or not np.isfinite(lab.scores[ctx.pool.eligible]).any():
        raise MacsError(
            f"label set {labels!r} has no continuous scores; relabel it with a scoring labeller"
        )
    s = np.asarray(lab.scores, dtype=np.float64)
    return np.where(np.isfinite(s), s, -np.inf)


@register_selector("quality_topk")
class QualityTopkSelector(StaticSelector):
    """Top documents by quality score until the run's token budget (ties broken by the seeded hash)."""

    description: ClassVar[str] = "top documents by the quality classifier's score (FineWeb-Edu way)"

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The quality labels (with scores) must exist."""
        quality_scores(ctx, ctx.cfg.baselines.quality_topk.labels)

    def labels_used(self) -> list[str]:
        """The quality labels."""
        return [self.ctx.cfg.baselines.quality_topk.labels]

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """The highest-scoring eligible documents reaching the total budget."""
        s = quality_scores(self.ctx, self.ctx.cfg.baselines.quality_topk.labels)
        finite = np.where(np.isfinite(s), s, np.nanmin(s[np.isfinite(s)]) - 1.0)
        idx = top_by_priority(
            finite, self.pool.n_tokens, self.pool.eligible, total_budget, self.ctx.seed
        )
        return idx, s
