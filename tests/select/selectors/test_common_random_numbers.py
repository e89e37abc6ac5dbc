"""Common random numbers: the uniform part of a stage is random's draw of that stage, for every method."""

from __future__ import annotations

import numpy as np

from macs.select.online import OnlineSelection

BUDGETS = [3000, 3000]


def _stage0(pool, cfg, method: str, seed: int = 0, **selection) -> np.ndarray:
    sub = cfg.model_copy(deep=True)
    sub.run.seed = seed
    for k, v in selection.items():
        setattr(sub.selection, k, v)
    sel = OnlineSelection.from_config(sub, BUDGETS, pool=pool, method=method, log=lambda m: None)
    return sel.initial().idx


def test_uniform_first_stages_are_randoms_draw(mini_pool):
    pool, cfg = mini_pool
    for seed in (0, 1):
        rnd = _stage0(pool, cfg, "random", seed)
        # the method and its fixed-theta ablation at uniform initial weights, and MATES (no model yet)
        for method in ("multi_actor", "fixed_theta", "multi_actor:quality+domain", "mates"):
            assert np.array_equal(_stage0(pool, cfg, method, seed), rnd), (method, seed)
        # with an epsilon share: the top-k part and the uniform share together are the same draw
        assert np.array_equal(_stage0(pool, cfg, "multi_actor", seed, epsilon=0.2), rnd)
    assert not np.array_equal(_stage0(pool, cfg, "random", 0), _stage0(pool, cfg, "random", 1))
