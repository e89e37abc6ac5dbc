"""Every run of a comparison is evaluated on the same examples, whatever its run seed."""

from __future__ import annotations

from types import SimpleNamespace

from macs.config import Config


def test_evaluation_examples_do_not_depend_on_the_run_seed(monkeypatch):
    import macs.eval.heldout
    import macs.eval.suite
    import macs.train.model
    from macs.train.run import evaluator_for

    calls = []
    monkeypatch.setattr(macs.train.model, "hf_tokenizer", lambda path: "tok")
    monkeypatch.setattr(macs.eval.suite, "evaluate", lambda *a, **kw: calls.append(kw) or {})
    monkeypatch.setattr(macs.eval.heldout, "heldout_bpb", lambda *a, **kw: calls.append(kw) or {})
    pool = SimpleNamespace(tokenizer_path="t", store=object(), tokens=None)  # no n-gram gate
    for seed in (0, 3):
        cfg = Config.model_validate({"run": {"seed": seed}, "eval": {"seed": 7, "limit": 20}})
        evaluator_for(cfg, pool)(model=None, run_dir=None)
    assert len(calls) == 4  # the suite and held-out bpb, for each run seed
    assert {c["seed"] for c in calls} == {7}  # the eval seed, never the run seed
