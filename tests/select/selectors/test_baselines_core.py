"""Selector registry, the static dealing rule, quality top-k and the random selector on the real mini pool."""

from __future__ import annotations

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.online import OnlineSelection
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.registry import available_selectors, build_selector, parse_method

BUDGETS = [20_000, 20_000, 20_000]


def _ctx(pool, cfg, seed=0, budgets=BUDGETS):
    return SelectorContext(pool=pool, cfg=cfg, seed=seed, stage_budgets=list(budgets))


def test_registry_names_and_bad_specs(mini_pool):
    pool, cfg = mini_pool
    assert {"multi_actor", "fixed_theta", "random", "quality_topk"} <= set(available_selectors())
    assert parse_method("multi_actor:quality+domain") == ("multi_actor", ["quality", "domain"])
    assert parse_method("random") == ("random", None)
    with pytest.raises(MacsError, match="unknown method 'nope'"):
        build_selector("nope", _ctx(pool, cfg))
    with pytest.raises(MacsError, match="takes no actor subset"):
        build_selector("random:quality", _ctx(pool, cfg))
    with pytest.raises(MacsError, match="method multi_actor:colour"):
        build_selector("multi_actor:colour", _ctx(pool, cfg))


@pytest.mark.parametrize("method", ["random", "quality_topk", "multi_actor", "fixed_theta:domain"])
def test_every_stage_meets_its_budget_and_is_seeded(mini_pool, method):
    pool, cfg = mini_pool
    picks = []
    for _ in range(2):
        sel = OnlineSelection.from_config(
            cfg, BUDGETS, pool=pool, method=method, log=lambda m: None
        )
        stages = [sel.initial()]
        if sel.selector.online:  # the model-free refresh path is what this test checks
            continue
        stages += [sel.refresh() for _ in range(2)]
        for st in stages:
            tok = int(pool.n_tokens[st.idx].sum())
            assert st.budget <= tok < st.budget + int(pool.n_tokens[st.idx].max())
            assert pool.eligible[st.idx].all() and (np.diff(st.idx) > 0).all()
        picks.append([s.idx.tolist() for s in stages])
    if len(picks) == 2:
        assert picks[0] == picks[1]  # same config and seed: the same selections


def test_quality_topk_takes_the_best_scored_documents(mini_pool):
    pool, cfg = mini_pool
    sel = OnlineSelection.from_config(cfg, BUDGETS, pool=pool, method="quality_topk", log=print)
    chosen = np.concatenate([sel.initial().idx] + [sel.refresh().idx for _ in range(2)])
    s = pool.labels["quality"].scores
    elig = np.flatnonzero(pool.eligible)
    # by hand: eligible docs sorted by score, the shortest prefix reaching the total budget
    order = elig[np.argsort(-s[elig], kind="stable")]
    k = int(np.searchsorted(np.cumsum(pool.n_tokens[order]), sum(BUDGETS))) + 1
    assert set(chosen.tolist()) == set(order[:k].tolist())
    # stages are a random deal of that set, not best-first: stage 0 is no better than the rest
    st0 = s[sel.selector._order[: len(chosen) // 3]]
    assert st0.mean() < s[order[: k // 3]].mean()


def test_static_dealing_resumes_and_wraps(mini_pool):
    pool, cfg = mini_pool
    a = OnlineSelection.from_config(cfg, BUDGETS, pool=pool, method="quality_topk", log=print)
    s0 = a.initial()
    sd = a.state_dict()
    b = OnlineSelection.from_config(cfg, BUDGETS, pool=pool, method="quality_topk", log=print)
    b.load_state_dict(sd)
    np.testing.assert_array_equal(a.refresh().idx, b.refresh().idx)
    assert not set(s0.idx.tolist()) & set(b.refresh().idx.tolist())
    # a budget larger than the eligible pool: every eligible document, once per stage
    big = [pool.eligible_tokens * 2] * 2
    c = OnlineSelection.from_config(cfg, big, pool=pool, method="random", log=print)
    st = c.initial()
    assert st.idx.size == int((pool.eligible & (pool.n_tokens > 0)).sum())
    assert st.log["select_info"]["exhausted"]


def test_quality_topk_without_quality_labels_is_a_clear_error(mini_pool):
    pool, cfg = mini_pool
    from dataclasses import replace

    bare = replace(pool, labels={k: v for k, v in pool.labels.items() if k != "quality"})
    with pytest.raises(MacsError, match="needs the 'quality' labels"):
        build_selector("quality_topk", _ctx(bare, cfg))


def test_a_degenerate_actor_is_left_out_with_a_note(mini_pool):
    from dataclasses import replace

    from macs.data.pool import LabelSet

    pool, cfg = mini_pool
    one = LabelSet("domain", np.zeros(pool.n_docs, np.int32), ["default"])
    flat = replace(pool, labels={**pool.labels, "domain": one}, domain_names=[], domain_codes=None)
    said = []
    sel = OnlineSelection.from_config(cfg, BUDGETS, pool=flat, log=said.append)
    assert [a.name for a in sel.selector.console.actors] == ["quality", "topic"]
    assert any("'domain' has a single group" in m for m in said)
    assert sel.initial().n_tokens >= BUDGETS[0]
    only = LabelSet("quality", np.zeros(pool.n_docs, np.int32), ["q"])
    with pytest.raises(MacsError, match="every actor puts all documents in one group"):
        OnlineSelection.from_config(
            cfg.model_copy(
                update={"selection": cfg.selection.model_copy(update={"actors": ["quality"]})}
            ),
            BUDGETS,
            pool=replace(pool, labels={"quality": only}),
            log=said.append,
        )


def test_reward_pool_unselected_never_scores_chosen_documents(mini_pool):
    import torch

    pool, cfg = mini_pool
    seen = []

    def length_reward(model, idx, step=None, optimizer=None):  # an injected reward: -log length
        seen.append(np.asarray(idx))
        return -np.log(pool.n_tokens[np.asarray(idx)].astype(float))

    sel_cfg = cfg.selection.model_copy(update={"reward_pool": "unselected", "samples_per_group": 8})
    c = cfg.model_copy(update={"selection": sel_cfg})
    sel = OnlineSelection.from_config(c, BUDGETS, pool=pool, reward_fn=length_reward, log=print)
    first = sel.initial()
    sel.refresh(torch.nn.Linear(2, 2), step=1)
    assert seen and not set(seen[0].tolist()) & set(first.idx.tolist())
    assert pool.eligible[seen[0]].all()
