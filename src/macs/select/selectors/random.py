"""`random`: uniformly random documents at the stage's token budget (the paper's main baseline).

Across stages it samples without replacement: documents chosen fewer times before come first
(every never-chosen document before any repeat), in a seeded uniform random order, so a run
that needs less than the pool sees each document at most once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from macs.core.timing import Stopwatch
from macs.select.console.sampling import least_selected_first, uniform_key
from macs.select.selectors.base import Choice, Online, Selector, SelectorContext
from macs.select.selectors.registry import register_selector


@register_selector("random")
class RandomSelector(Selector):
    """Seeded uniform random documents to each stage's budget (no model, no labels)."""

    description: ClassVar[str] = "uniform random documents at equal tokens"

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        self.rng = np.random.Generator(np.random.PCG64([ctx.seed, 0x52A4D]))

    def _pick(self, stage: int, budget: int) -> Choice:
        clock = Stopwatch()
        self.rng.integers(0, 2**63 - 1)  # drawn as before, so resumed states stay in step
        key = uniform_key(self.ctx.seed, stage)  # the draw every method shares at this stage
        idx, info = least_selected_first(
            self.counts, self.pool.n_tokens, self.pool.eligible, budget, key
        )
        return self._choice(stage, budget, idx, clock, select_info=info)

    def initial(self, budget: int) -> Choice:
        """Stage 0: a uniform random sample of the eligible pool reaching the budget."""
        return self._pick(0, budget)

    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """The next uniform sample, preferring documents not chosen before."""
        return self._pick(stage, budget)

    def state_dict(self) -> dict[str, Any]:
        """Counts and the RNG state."""
        return {**super().state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore counts and the RNG."""
        super().load_state_dict(sd)
        self.rng.bit_generator.state = sd["rng"]
