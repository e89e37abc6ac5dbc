"""selection.seed_offset: the selection's own draws move, the model init and data order stay (the A/A arm)."""

from __future__ import annotations

from macs.select.online import OnlineSelection

BUDGETS = [3000, 3000]


def _stages(pool, cfg, seed: int, offset: int) -> list[list[int]]:
    sub = cfg.model_copy(deep=True)
    sub.run.seed, sub.selection.seed_offset = seed, offset
    sel = OnlineSelection.from_config(sub, BUDGETS, pool=pool, method="random", log=lambda m: None)
    return [sel.initial().idx.tolist(), sel.refresh().idx.tolist()]


def test_seed_offset_moves_the_selection_draw_only(mini_pool):
    from macs.app.config import load_config
    from macs.app.pipeline import method_config

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


def test_compute_matched_arm_config():
    import pytest

    from macs.app.config import load_config
    from macs.app.pipeline import check_methods, matched_arm, matched_config
    from macs.core.errors import MacsError

    cfg = load_config(None, ["train.tokens=3000", "run.name=cmp"])
    assert matched_arm(cfg, "random@multi_actor") == ("random", "multi_actor")
    assert matched_arm(cfg, "multi_actor") is None
    sub = matched_config(cfg, "random@multi_actor", 2, 1234.4)
    assert sub.train.tokens == 4234 and sub.selection.method == "random" and sub.run.seed == 2
    assert (
        sub.selection.label == "random@multi_actor" and sub.run.name == "cmp/random@multi_actor-s2"
    )
    with pytest.raises(MacsError, match="its target 'dsir' must be one of the compared methods"):
        check_methods(cfg, ["random@dsir", "random"], None)
    with pytest.raises(MacsError, match="BASE@TARGET"):
        matched_arm(cfg, "random@")
