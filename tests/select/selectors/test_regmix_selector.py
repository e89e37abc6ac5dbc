"""The `regmix` selector and `regmix_weights` (init: regmix) on the real mini pool with tiny proxies."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from regmix_fixtures import regmix_config, regmix_ctx

from macs.core.errors import MacsError
from macs.select.online import OnlineSelection
from macs.select.selectors.registry import available_selectors, build_selector
from macs.select.selectors.regmix import regmix_result, regmix_weights

BUDGETS = [40_000, 40_000, 40_000]


@pytest.fixture(scope="module")
def empty_group_pool(mini_pool):
    """The mini pool whose topic label set has a fifth group without any document."""
    pool, _ = mini_pool
    lab = pool.labels["topic"]
    topic = replace(lab, group_names=[*lab.group_names, "t04 (no documents)"])
    return replace(pool, labels={**pool.labels, "topic": topic})


@pytest.fixture(scope="module")
def swept(empty_group_pool, mini_data, tmp_path_factory):
    """(pool, cfg, cache dir, log) after one tiny RegMix sweep over the topic groups."""
    cfg = regmix_config(mini_data)
    cache = tmp_path_factory.mktemp("regmix-cache")
    log: list[str] = []
    regmix_result(regmix_ctx(empty_group_pool, cfg, cache, log=log), progress=False)
    return empty_group_pool, cfg, cache, log


def test_weights_are_cached_mean_one_and_zero_for_an_empty_group(swept):
    pool, cfg, cache, log = swept
    assert any("group 't04 (no documents)' has no eligible tokens" in m for m in log)
    assert any("held-out Spearman" in m for m in log)
    t0 = time.perf_counter()
    w = regmix_weights(regmix_ctx(pool, cfg, cache), "topic")
    assert time.perf_counter() - t0 < 1.0  # the second call reads the cached result
    res = regmix_result(regmix_ctx(pool, cfg, cache))
    assert w.shape == (5,) and w.mean() == pytest.approx(1.0) and w[4] == 0.0 and (w[:4] > 0).all()
    assert res.mixture[4] == 0.0 and res.mixture.sum() == pytest.approx(1.0)
    ratio = res.mixture[:4] / res.pool_share[:4]
    np.testing.assert_allclose(w[:4], ratio * 5 / ratio.sum())
    assert any("no eligible tokens" in n for n in res.notes)
    assert res.plot is not None and res.plot.stat().st_size > 10_000
    assert (res.path / "result.json").exists() and (res.path / "model.txt").exists()
    assert res.info["fit"]["heldout"] == "4-fold out-of-fold predictions"
    as_mix = with_regmix(cfg, weights_as="mixture")
    np.testing.assert_allclose(
        regmix_weights(regmix_ctx(pool, as_mix, cache), "topic"), res.mixture * 5
    )


def test_selector_meets_each_stage_budget_and_follows_the_mixture(swept):
    pool, cfg, cache, _ = swept
    assert "regmix" in available_selectors()
    log: list[str] = []
    picks = []
    for _ in range(2):
        sel = OnlineSelection.from_config(
            cfg, BUDGETS, pool=pool, method="regmix", cache_dir=cache, log=log.append
        )
        stages = [sel.initial(), sel.refresh(), sel.refresh()]
        picks.append([s.idx.tolist() for s in stages])
    assert picks[0] == picks[1]  # seeded
    groups = pool.labels["topic"].groups
    info = stages[0].log["select_info"]["regmix"]
    mix = np.asarray(info["mixture"])
    assert mix[4] == 0.0
    realised = np.asarray(info["share"])  # the chosen set's token share per group
    # per-group quotas: mixture x total, an exhausted group taken whole and its rest shared
    elig = pool.eligible
    cap = np.bincount(groups[elig], weights=pool.n_tokens[elig], minlength=5)
    assert sum(info["quota_tokens"]) == pytest.approx(sum(BUDGETS), abs=5)
    names = info["group_names"]
    for k, (q, got) in enumerate(zip(info["quota_tokens"], info["tokens"], strict=True)):
        if names[k] in info["exhausted"]:
            assert got == cap[k] and q == pytest.approx(cap[k], abs=1)
        elif q > 0:
            assert q <= got < q + pool.n_tokens[groups == k].max()
    if not info["exhausted"]:
        np.testing.assert_allclose(realised, mix, atol=0.06)  # one document is ~5% of the run
    seen = set()
    for st in stages:
        tok = pool.n_tokens[st.idx]
        assert st.budget <= tok.sum() < st.budget + tok.max()
        assert pool.eligible[st.idx].all()
        assert not seen & set(st.idx.tolist())  # the set is large enough: no repeats
        seen |= set(st.idx.tolist())
        share = np.bincount(groups[st.idx], weights=tok, minlength=5) / tok.sum()
        # stratified dealing: each stage holds the set's shares up to about one document
        assert np.abs(share - realised).max() < 0.06, (share, realised)
    # a group that ran out is said so in the log and its remainder went to the others
    for g in info["exhausted"]:
        assert any(f"group {g!r} has" in m and "all taken, the remainder shared" in m for m in log)


def test_selector_checks_labels_and_lightgbm(swept, monkeypatch, tmp_path):
    pool, cfg, cache, _ = swept
    ctx = regmix_ctx(pool, with_regmix(cfg, labels="colour"), cache)
    with pytest.raises(MacsError, match="method regmix: RegMix needs the 'colour' labels"):
        build_selector("regmix", ctx)
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    build_selector("regmix", regmix_ctx(pool, cfg, cache))  # cached: LightGBM is not needed
    with pytest.raises(MacsError, match=r"run `bash scripts/setup.sh regmix`"):
        build_selector("regmix", regmix_ctx(pool, cfg, tmp_path))  # not cached: it is
    with pytest.raises(MacsError, match=r"bash scripts/setup.sh regmix"):
        regmix_weights(regmix_ctx(pool, cfg, tmp_path), "quality")


def with_regmix(cfg, **update):
    """cfg with baselines.regmix fields replaced (search and sweep fields untouched keep the cache)."""
    rc = cfg.baselines.regmix.model_copy(update=update)
    return cfg.model_copy(update={"baselines": cfg.baselines.model_copy(update={"regmix": rc})})


def test_the_sweep_cost_is_in_stage_0s_record(swept, tmp_path):
    """The sweep's proxy seconds and training tokens (forward and backward) are the run's
    one-off compute, also when the result is read from the cache, and for a result saved
    before costs were kept (costed from its proxy records)."""
    import json

    from macs.core.io import read_json
    from macs.select.selectors.regmix_run import BUILT_HERE, result_compute

    pool, cfg, cache, _ = swept
    sel = OnlineSelection.from_config(cfg, BUDGETS, pool=pool, method="regmix", cache_dir=cache)
    stages = [sel.initial(), sel.refresh()]
    c = stages[0].log["compute"]
    assert "compute" not in stages[1].log
    res = sel.selector.result
    runs = [read_json(p) for p in sorted(Path(res.info["sweep"]["dir"]).glob("proxy-*.json"))]
    assert len(runs) == c["proxies"] == 8
    tok = sum(r["tokens"] for r in runs)
    assert tok >= 8 * 4096 and c["forward_tokens"] == c["backward_tokens"] == tok
    assert c["seconds"] == pytest.approx(sum(r["seconds"] for r in runs))
    assert c["seconds"] > 0 and c["what"] == "regmix sweep + fit"
    assert c["cached"] is (str(res.path) not in BUILT_HERE)  # the fixture swept in-process
    assert c["cached"] is False
    old = replace(res, info={k: v for k, v in res.info.items() if k != "cost"})
    assert result_compute(old)["forward_tokens"] == tok
    json.dumps(c)  # the record is JSON
