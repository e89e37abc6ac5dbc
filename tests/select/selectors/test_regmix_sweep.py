"""RegMix's proxy sweep on the real mini pool: tiny proxies, resumable, parallel, seeded; its targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from regmix_fixtures import regmix_config, regmix_ctx

from macs.core.errors import MacsError
from macs.select.selectors.regmix_run import plan_for, regmix_result
from macs.select.selectors.regmix_sweep import SweepJob, run_sweep
from macs.select.selectors.regmix_target import build_target, target_spec


def _runs(res) -> list[dict]:
    d = res.path.parent / "runs"
    return [json.loads(p.read_text()) for p in sorted(d.glob("proxy-*.json"))]


def test_sweep_resumes_after_an_interruption_with_identical_results(mini_pool, mini_data, tmp_path):
    pool, _ = mini_pool
    cfg = regmix_config(mini_data, "baselines.regmix.n_proxies=6")

    def boom(i, rec):
        if len(list(rec_dir.glob("proxy-*.json"))) >= 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C after two runs

    log: list[str] = []
    ctx = regmix_ctx(pool, cfg, tmp_path / "a", log=log)
    rec_dir = plan_for(ctx, "topic").sweep_dir / "runs"
    with pytest.raises(KeyboardInterrupt):
        regmix_result(ctx, on_result=boom, progress=False)
    assert len(list(rec_dir.glob("proxy-*.json"))) == 2
    log.clear()
    resumed = regmix_result(ctx, progress=False)
    assert any("4 proxy runs trained, 0 failed, 2 reused" in m for m in log)
    fresh = regmix_result(regmix_ctx(pool, cfg, tmp_path / "b"), progress=False)
    a, b = _runs(resumed), _runs(fresh)
    assert [r["target_loss"] for r in a] == [r["target_loss"] for r in b]
    assert [r["mixture"] for r in a] == [r["mixture"] for r in b]
    np.testing.assert_array_equal(resumed.mixture, fresh.mixture)
    assert resumed.spearman == fresh.spearman or np.isnan(resumed.spearman)
    # the proxies learned something, and different mixtures gave different target losses
    assert all(r["train_loss"] < np.log(pool.tokens.vocab_size) for r in a)
    assert len({round(r["target_loss"], 6) for r in a}) == len(a)
    # another seed draws other mixtures
    other = regmix_result(regmix_ctx(pool, cfg, tmp_path / "a", seed=1), progress=False)
    assert other.path.parent != resumed.path.parent


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_parallel_runs_give_the_serial_results(mini_pool, mini_data, tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    pool, _ = mini_pool
    cfg = regmix_config(mini_data)
    plan = plan_for(regmix_ctx(pool, cfg, tmp_path), "topic")
    rc = cfg.baselines.regmix
    from macs.select.selectors.regmix_run import _SWEEP_FIELDS

    def job():
        return SweepJob(
            str(pool.tokens.path),
            plan.docs,
            plan.share[plan.active],
            {f: getattr(rc, f) for f in _SWEEP_FIELDS},
            int(pool.tokens.vocab_size),
            int(pool.tokens.eos_id),
            seed=3,
        )

    spec = target_spec(pool, rc, cfg.influence)

    def target():
        return build_target(pool, spec, 3)[0]

    log: list[str] = []
    serial = run_sweep(job(), tmp_path / "s", 3, target, workers=1, log=log.append, progress=False)
    par = run_sweep(job(), tmp_path / "p", 3, target, 2, executor, log=log.append, progress=False)
    assert [r["target_loss"] for r in serial] == [r["target_loss"] for r in par]
    assert f"{executor} x2" in log[-1]


def test_failed_proxies_are_counted_and_too_few_successes_is_an_error(
    mini_pool, mini_data, tmp_path
):
    pool, _ = mini_pool
    cfg = regmix_config(
        mini_data, "baselines.regmix.device=cuda:99", "baselines.regmix.n_proxies=5"
    )
    log: list[str] = []
    with pytest.raises(MacsError, match="0 successful proxy runs for 4 groups"):
        regmix_result(regmix_ctx(pool, cfg, tmp_path, log=log), progress=False)
    assert any("0 proxy runs trained, 5 failed" in m for m in log)
    assert any("proxy 0 failed: MacsError" in m or "proxy 0 failed:" in m for m in log)


def test_too_few_proxies_or_groups_are_clear_errors(mini_pool, mini_data, tmp_path):
    pool, _ = mini_pool
    cfg = regmix_config(mini_data, "baselines.regmix.n_proxies=4")
    with pytest.raises(MacsError, match="n_proxies 4 must exceed the 4 groups"):
        regmix_result(regmix_ctx(pool, cfg, tmp_path), progress=False)
    with pytest.raises(MacsError, match="needs the 'colour' labels"):
        regmix_result(regmix_ctx(pool, cfg, tmp_path), "colour", progress=False)


def test_targets_reference_heldout_and_jsonl(mini_pool, mini_data, tmp_path):
    pool, _ = mini_pool
    cfg = regmix_config(mini_data)
    rc = cfg.baselines.regmix
    ref, skipped = build_target(pool, target_spec(pool, rc, cfg.influence), 0)
    assert set(ref) == {"lambada", "squad", "jeopardy"} and sum(skipped.values()) == 0
    assert all(
        len(u.ids) <= rc.seq_len and 1 <= u.start < len(u.ids) for t in ref.values() for u in t
    )
    held_cfg = regmix_config(mini_data, "baselines.regmix.target=heldout")
    held, _ = build_target(pool, target_spec(pool, held_cfg.baselines.regmix, cfg.influence), 0)
    assert len(held["heldout"]) == 4 and all(u.start == 1 for u in held["heldout"])
    path = tmp_path / "val.jsonl"
    rows = [
        {"text": "The court held that the contract was void."},
        {"context": "2+2=", "continuation": "4"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    js_cfg = regmix_config(mini_data, f"baselines.regmix.target={path}")
    spec = target_spec(pool, js_cfg.baselines.regmix, cfg.influence)
    units, _ = build_target(pool, spec, 0)
    assert [u.start for u in units["val"]] == [1, len(units["val"][1].ids) - 1]
    path.write_text('{"text": "fine"}\n{"title": "no text"}\n')
    bad = target_spec(pool, js_cfg.baselines.regmix, cfg.influence)
    with pytest.raises(MacsError, match=r"val.jsonl:2: expected an object with a string 'text'"):
        build_target(pool, bad, 0)
    nope = regmix_config(mini_data, f"baselines.regmix.target={tmp_path / 'missing.jsonl'}")
    with pytest.raises(MacsError, match="use reference, heldout, or the path"):
        target_spec(pool, nope.baselines.regmix, cfg.influence)
