"""`dsir` on the real mini pool with the real data-selection package: a one-domain target pulls
that domain in, the reference tasks as the default target, seeding, the weight cache, bad targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.online import OnlineSelection
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.registry import build_selector

TOTAL = 20_000


def _cfg(cfg, **dsir):
    cfg = cfg.model_copy(deep=True)
    for k, v in dsir.items():
        setattr(cfg.baselines.dsir, k, v)
    return cfg


def _selector(pool, cfg, cache, seed=0):
    ctx = SelectorContext(
        pool=pool, cfg=cfg, seed=seed, stage_budgets=[TOTAL], cache_dir=cache, log=print
    )
    return build_selector("dsir", ctx)


@pytest.fixture(scope="module")
def code_target(mini_pool, tmp_path_factory):
    """A target JSONL of the held-out (never selectable) 'code' documents of the pool."""
    pool, _ = mini_pool
    d = pool.domain_names.index("code")
    idx = np.flatnonzero(~pool.eligible & (pool.domain_codes == d))
    assert idx.size >= 1
    path = tmp_path_factory.mktemp("dsir") / "code.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in pool.texts(idx)))
    return path, d


def test_a_one_domain_target_pulls_that_domain(mini_pool, code_target, tmp_path):
    pool, cfg = mini_pool
    path, d = code_target
    share = {}
    for chunk in (128, None):  # rescaled to 128-word chunks (default), and the raw per-doc weight
        sel = _selector(pool, _cfg(cfg, target_jsonl=path, chunk_words=chunk), tmp_path)
        idx, lw = sel.choose(TOTAL)
        assert pool.n_tokens[idx].sum() >= TOTAL and pool.eligible[idx].all()
        share[chunk] = pool.group_shares(pool.domain_codes, len(pool.domain_names), idx)[d]
        assert sel.info["cache_hit"] is (chunk is None)  # the raw weights are shared by both
    base = pool.group_shares(pool.domain_codes, len(pool.domain_names))[d]
    print(
        f"code share: pool {base:.3f}, dsir {share[128]:.3f}, raw per-doc weights {share[None]:.3f}"
    )
    assert share[128] > 0.5 > 4 * base


def test_same_seed_same_draw_and_the_cache_is_reused(mini_pool, code_target, tmp_path):
    pool, cfg = mini_pool
    c = _cfg(cfg, target_jsonl=code_target[0])
    a = _selector(pool, c, tmp_path)
    ia, lwa = a.choose(TOTAL)
    assert a.info["cache_hit"] is False
    side = tmp_path / "dsir"
    (folder,) = [p for p in side.iterdir() if not p.name.startswith(".")]
    mtime = (folder / "scores.parquet").stat().st_mtime_ns
    b = _selector(pool, c, tmp_path)
    ib, lwb = b.choose(TOTAL)
    assert b.info["cache_hit"] is True and b.info["cache"] == str(folder)
    assert (folder / "scores.parquet").stat().st_mtime_ns == mtime  # read, not rewritten
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(lwa, lwb)
    # other n-gram settings are another cache entry
    _selector(pool, _cfg(c, num_buckets=2048), tmp_path).choose(TOTAL)
    assert len([p for p in side.iterdir() if not p.name.startswith(".")]) == 2
    # through the staged path: every stage meets its budget, same seed -> same stages
    runs = []
    for _ in range(2):
        sel = OnlineSelection.from_config(
            c, [TOTAL // 2] * 2, pool=pool, method="dsir", cache_dir=tmp_path, log=print
        )
        stages = [sel.initial(), sel.refresh()]
        assert all(pool.n_tokens[s.idx].sum() >= s.budget for s in stages)
        runs.append([s.idx.tolist() for s in stages])
    assert runs[0] == runs[1]


def test_default_target_is_the_reference_tasks(mini_pool, tmp_path):
    pool, cfg = mini_pool
    sel = _selector(pool, _cfg(cfg, target_per_task=60), tmp_path)
    idx, lw = sel.choose(TOTAL)
    assert sel.info["target"]["tasks"] == ["lambada", "squad", "jeopardy"]
    assert sel.info["target_texts"] == 180
    elig = np.flatnonzero(pool.eligible)
    assert lw[idx].mean() > lw[elig].mean()  # the chosen docs look more like the target
    names = pool.domain_names
    shift = pool.group_shares(pool.domain_codes, len(names), idx) - pool.group_shares(
        pool.domain_codes, len(names)
    )
    print("share change toward the reference tasks:", dict(zip(names, shift.round(3), strict=True)))
    # SQuAD is Wikipedia text: the encyclopedic share rises; code is no reference task's text
    assert shift[names.index("encyclopedic")] > 0.05 and shift[names.index("code")] < 0


def test_bad_targets_fail_before_selection(mini_pool, tmp_path):
    pool, cfg = mini_pool
    cases = {
        "missing.jsonl": (None, "target file .*missing.jsonl does not exist"),
        "empty.jsonl": ("", "has no text"),
        "blank.jsonl": ('{"text": "  "}\n', "has no text"),
        "notjson.jsonl": ('{"text": "a"}\nnope\n', "notjson.jsonl:2: not valid JSON"),
        "notext.jsonl": ('{"body": "a"}\n', "notext.jsonl:1: expected an object with a string 'text'"),
    }  # fmt: skip
    for name, (content, msg) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(MacsError, match=msg) as e:
            _selector(pool, _cfg(cfg, target_jsonl=path), tmp_path)
        assert str(e.value).startswith("method dsir") and "\n" not in str(e.value)
    assert not (tmp_path / "dsir").exists()  # nothing was computed
