"""selection.seed_offset: the selection's own draws move, the model init and data order stay (the A/A arm)."""

from __future__ import annotations

from macs.online import OnlineSelection

BUDGETS = [3000, 3000]


def _stages(pool, cfg, seed: int, offset: int) -> list[list[int]]:
    sub = cfg.model_copy(deep=True)
    sub.run.seed, sub.selection.seed_offset = seed, offset
    sel = OnlineSelection.from_config(sub, BUDGETS, pool=pool, method="random", log=lambda m: None)
    return [sel.initial().idx.tolist(), sel.refresh().idx.tolist()]


def test_seed_offset_moves_the_selection_draw_only(mini_pool):
    from macs.config import load_config
    from macs.pipeline import method_config

    pool, cfg = mini_pool
    base = _stages(pool, cfg, 0, 0)
    assert _stages(pool, cfg, 0, 0) == base  # seeded
    aa = _stages(pool, cfg, 0, 1000)
    assert aa != base and aa == _stages(pool, cfg, 1000, 0)  # the draw of seed 0 + 1000
    # an A/A variant keeps the run seed (model init, data order, evaluation) of every seed
    c = load_config(
        None, ["compare.variants={random_aa: {method: random, set: {selection.seed_offset: 1000}}}"]
    )
    for seed in (0, 3):
        a, b = method_config(c, "random_aa", seed), method_config(c, "random", seed)
        assert a.run.seed == b.run.seed == seed and a.selection.seed_offset == 1000
