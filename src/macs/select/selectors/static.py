"""Static selectors: choose the whole run's documents once, then deal them to the stages.

A static method (quality top-k, QuRating sampling, DSIR, perplexity filtering, a fixed
mixture) decides which documents the run trains on without looking at the model. Trained the
paper's way, that set is shuffled and consumed in order; in macs's staged loop the set is chosen
once at the total token budget (the sum of the stage budgets) by `choose(total)`, put in a
seeded random order, and each stage takes the next documents of that order until its budget is
met (wrapping around for a second pass only when the set runs out). So every stage meets its
budget with less than one document over, and no stage is a "best first" curriculum.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from macs.core.timing import Stopwatch
from macs.select.selectors.base import Choice, Online, Selector, SelectorContext


class StaticSelector(Selector):
    """Subclasses implement `choose(total_budget) -> (doc indices, per-doc score or None)`."""

    online: ClassVar[bool] = False

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        self.pos = 0  # documents of the dealt order consumed so far
        self._order: np.ndarray | None = None
        self._score: np.ndarray | None = None
        self.info: dict[str, Any] = {}
        self.compute: dict[str, Any] | None = (
            None  # one-off cost (macs.select.selectors.costs), stage 0
        )

    @abstractmethod
    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The run's documents (doc indices, any order, no repeats) reaching `total_budget` tokens,
        and a per-pool-document score (higher = preferred; None if the method has none)."""

    def _ensure_order(self) -> np.ndarray:
        if self._order is None:
            clock = Stopwatch()
            idx, score = self.choose(self.ctx.total_budget)
            idx = np.unique(np.asarray(idx, dtype=np.int64))
            self._order = self.deal_order(idx)
            self._score = score
            self.info.setdefault("choose_seconds", clock.seconds)
            self.info["chosen_docs"] = int(idx.size)
            self.info["chosen_tokens"] = int(self.pool.n_tokens[idx].sum())
        return self._order

    def deal_order(self, idx: np.ndarray) -> np.ndarray:
        """The order in which the chosen docs (sorted indices) are dealt to stages: a seeded shuffle."""
        rng = np.random.Generator(np.random.PCG64([self.ctx.seed, 0x57A71C]))
        return idx[rng.permutation(idx.size)]

    def _deal(self, stage: int, budget: int) -> Choice:
        clock = Stopwatch()
        order = self._ensure_order()
        tok = self.pool.n_tokens
        taken: list[int] = []
        seen: set[int] = set()
        total, wrapped = 0, False
        while total < budget and order.size:
            i = int(order[self.pos % order.size])
            if i in seen:  # the whole set is smaller than this stage's budget
                wrapped = True
                break
            seen.add(i)
            taken.append(i)
            total += int(tok[i])
            self.pos += 1
        idx = np.asarray(sorted(taken), dtype=np.int64)
        scores = None if self._score is None else np.asarray(self._score, np.float64)[idx]
        extra = {"compute": self.compute} if stage == 0 and self.compute is not None else {}
        return self._choice(
            stage,
            budget,
            idx,
            clock,
            scores,
            select_info={**self.info, "dealt": int(self.pos), "set_smaller_than_stage": wrapped},
            **extra,
        )

    def initial(self, budget: int) -> Choice:
        """Stage 0: the first documents of the dealt order."""
        return self._deal(0, budget)

    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """The next documents of the dealt order (the model is not read)."""
        return self._deal(stage, budget)

    def state_dict(self) -> dict[str, Any]:
        """Counts and the position in the dealt order (the order is rebuilt from the seed)."""
        return {**super().state_dict(), "pos": int(self.pos)}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore counts and the position."""
        super().load_state_dict(sd)
        self.pos = int(sd["pos"])
