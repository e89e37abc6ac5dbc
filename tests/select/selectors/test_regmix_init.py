"""`selection.init: regmix`: the multi-actor method starts from RegMix weights (cached, shared with the selector)."""

from __future__ import annotations

import numpy as np
from regmix_fixtures import regmix_config, regmix_ctx

from macs.select.selectors.multi_actor import MultiActorSelector
from macs.select.selectors.regmix import regmix_weights


def test_init_regmix_gives_the_topic_actor_regmix_weights(mini_pool, mini_data, tmp_path):
    pool, _ = mini_pool
    cfg = regmix_config(mini_data, "selection.actors=[{name: topic, init: regmix}, domain]")
    said: list[str] = []
    ctx = regmix_ctx(pool, cfg, tmp_path, log=said)
    MultiActorSelector.check(ctx)
    sel = MultiActorSelector(ctx)
    topic = sel.console.actor("topic")
    want = regmix_weights(ctx, "topic")  # the cached result: no second sweep
    np.testing.assert_allclose(topic.weights, want / want.mean(), rtol=1e-9)
    assert np.ptp(topic.weights) > 0  # not uniform
    np.testing.assert_allclose(sel.console.actor("domain").weights, 1.0)  # the others: uniform
    # the sweep behind the init is stage 0's one-off compute (built in this process: not cached)
    comp = sel.initial(40_000).log["compute"]
    assert comp["what"] == "regmix sweep + fit" and comp["proxies"] == 8
    assert comp["forward_tokens"] == comp["backward_tokens"] >= 8 * 4096
    assert comp["seconds"] > 0 and comp["cached"] is False
    plain = MultiActorSelector(regmix_ctx(pool, regmix_config(mini_data), tmp_path))
    assert "compute" not in plain.initial(40_000).log  # no regmix init: no one-off cost


def test_prepare_runs_each_regmix_sweep_once_before_training(mini_pool, mini_data, tmp_path):
    """macs compare prepares RegMix in the parent: both the selector and init: regmix find it cached."""
    from macs.app.pipeline import prepare_methods
    from macs.select.selectors.regmix_run import cached_result, plan_for

    pool, _ = mini_pool
    cfg = regmix_config(
        mini_data,
        f"run.data_dir={tmp_path}",  # a fresh cache folder (store_path is set by labels.store)
        f"labels.store={pool.store.path}",
        "baselines.regmix.seed=0",
        "compare.variants={ma_regmix: {method: multi_actor, set: {selection.init: regmix}}}",
        "selection.actors=[topic]",
    )
    ctx = regmix_ctx(pool, cfg, pool.store.path / "selectors")
    prepare_methods(cfg, ["regmix", "ma_regmix"], [0, 1], pool)
    assert cached_result(plan_for(ctx, "topic"), "topic") is not None
