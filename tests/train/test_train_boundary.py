"""The data-efficiency curve (the same cheap reference subset at every stage boundary) and the n-gram gate."""

from __future__ import annotations

import pytest

from macs.app.config import load_config
from macs.core.io import read_json


@pytest.mark.slow
def test_every_stage_boundary_is_evaluated_on_the_same_examples(tmp_path, mini_data):
    from macs.app.training import train_from_config

    _, sets = mini_data
    extra = [f"run.runs_dir={tmp_path}", "run.name=b", "selection.method=random"]
    extra += ["eval.tasks=[reference]", "eval.boundary_limit=2", "train.tokens=3000"]
    cfg = load_config(None, [*sets, *extra])
    train_from_config(cfg)
    run = tmp_path / "b"
    recs = [read_json(run / "boundary" / f"stage-{k}.json") for k in (1, 2, 3)]
    assert [r["stage"] for r in recs] == [1, 2, 3]
    assert (
        recs[0]["tokens"]
        < recs[1]["tokens"]
        < recs[2]["tokens"]
        == read_json(run / "summary.json")["tokens"]
    )
    for r in recs:  # two documents per reference task, the same at every boundary
        assert {t: r["tasks"][t][k]["n_docs"] for t, k in TASKS} == dict.fromkeys(
            [t for t, _ in TASKS], 2
        )
        assert r["groups"]["reference"]["scored"]["n_tasks"] == 3
    # the count n-gram gate on the held-out sample the model's held-out bpb used
    ev = read_json(run / "eval.json")
    gate = ev["gate"]
    assert gate["heldout_bytes"] == ev["heldout"]["overall"]["n_bytes"] > 0
    assert gate["train_tokens"] >= read_json(run / "summary.json")["tokens"] * 0.5
    assert 0 < gate["bigram_bpb"] < gate["unigram_bpb"] < 20


TASKS = [("lambada", "0shot"), ("squad", "5shot"), ("jeopardy", "5shot")]
