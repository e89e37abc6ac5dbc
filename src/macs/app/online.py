"""`macs.OnlineSelection`: the selection object of `macs.select.online` plus `from_objects`, which
builds the root config (this layer's) from a few settings."""

from __future__ import annotations

import sys
from collections.abc import Callable

from macs.select.online import OnlineSelection as _Selection

__all__ = ["OnlineSelection"]


class OnlineSelection(_Selection):
    """`macs.select.online.OnlineSelection` with `from_objects` (see there for the rest)."""

    @classmethod
    def from_objects(
        cls,
        pool,
        actors: list | None = None,
        estimator=None,
        method: str = "multi_actor",
        stage_budgets: list[int] | None = None,
        seed: int = 0,
        selection: dict | None = None,
        log: Callable[[str], None] | None = None,
    ) -> OnlineSelection:
        """Build from objects: a macs.data.pool.Pool, macs.select.actors.Actor objects (default: from the pool's
        labels), a reward estimator (macs.select.rewards.make_estimator(...); default: cfg.influence on
        the pool's tokenizer) and `selection` settings as a dict (SelectionConfig fields)."""
        from macs.app.config import Config
        from macs.select.online import _lazy, pool_rewards, reward_function
        from macs.select.selectors.base import SelectorContext
        from macs.select.selectors.registry import build_selector

        cfg = Config.model_validate(
            {"run": {"seed": seed}, "selection": {**(selection or {}), "method": method}}
        )
        say = log or (lambda m: print(m, file=sys.stderr, flush=True))
        ctx = SelectorContext(
            pool=pool,
            cfg=cfg,
            seed=seed,
            stage_budgets=list(stage_budgets or []),
            log=say,
            actor_objects=actors,
        )
        selector = build_selector(method, ctx)
        reward_fn = None
        if estimator is not None:
            reward_fn = pool_rewards(pool, estimator)
        elif selector.online:
            reward_fn = _lazy(lambda: reward_function(cfg, pool))
        return cls(selector, stage_budgets, reward_fn, log=say)
