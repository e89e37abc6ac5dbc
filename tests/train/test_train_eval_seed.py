"""Every run of a comparison is evaluated on the same examples, whatever its run seed."""

from __future__ import annotations

from types import SimpleNamespace

from macs.app.config import Config


def test_evaluation_examples_do_not_depend_on_the_run_seed(monkeypatch):
    import macs.eval.heldout
    import macs.eval.suite
    import macs.train.model
    from macs.app.training import evaluator_for

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


def test_training_evaluates_like_macs_eval(monkeypatch):
    """The trainer's evaluator is the eval suite's evaluate_config (it once re-implemented it and
    scored held-out bpb at twice the suite's batch size), plus the n-gram gate."""
    import macs.eval.gate
    import macs.eval.heldout
    import macs.eval.suite
    import macs.train.model
    from macs.app.training import evaluator_for
    from macs.eval.suite import evaluate_config

    calls = []
    monkeypatch.setattr(macs.train.model, "hf_tokenizer", lambda path: "tok")
    monkeypatch.setattr(macs.eval.suite, "evaluate", lambda *a, **kw: calls.append(kw) or {})
    monkeypatch.setattr(macs.eval.heldout, "heldout_bpb", lambda *a, **kw: calls.append(kw) or {})
    monkeypatch.setattr(macs.eval.gate, "run_gate", lambda pool, run_dir, e, held: {"g": 1})
    store = object()
    pool = SimpleNamespace(tokenizer_path="t", store=store, tokens=object())
    cfg = Config.model_validate({"eval": {"seed": 7, "limit": 20, "batch_size": 8}})
    out = evaluator_for(cfg, pool)(model=None, run_dir=None)
    trainer_calls, calls[:] = list(calls), []
    evaluate_config(None, "tok", cfg.eval, seed=7, store=store)
    assert trainer_calls == calls
    assert calls[1]["batch_size"] == 4  # held-out bpb at the suite's batch size
    assert out == {"heldout": {}, "gate": {"g": 1}}
