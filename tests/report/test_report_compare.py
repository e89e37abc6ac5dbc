"""The comparison from run records: group means, per-seed values, contrasts (known inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from macs.report.compare import comparison, table_markdown
from macs.report.load import Run


def _ev(lam: float, squad: float, jeo: float, acc: float) -> dict:
    return {
        "tasks": {
            "lambada": {"title": "LAMBADA", "group": "reference", "0shot": {"bpb": lam}},
            "squad": {"title": "SQuAD", "group": "reference", "5shot": {"bpb": squad}},
            "jeopardy": {"title": "Jeopardy", "group": "reference", "5shot": {"bpb": jeo}},
            "arc_easy": {
                "title": "ARC-Easy",
                "group": "downstream",
                "0shot": {"acc_per_char": acc, "bpb": 3.0},
            },
        },
        "heldout": {"overall": {"bpb": 3.0 + lam / 10}},
    }


def fake_run(mode: str, seed: int, ev: dict, **summary) -> Run:
    """A loaded run with only the records the comparison reads."""
    cfg = {"run": {"seed": seed}, "selection": {"method": mode}}
    summ = {"train_seconds": 10.0, "tokens": 1000, **summary}
    return Run(Path(f"/runs/{mode}-s{seed}"), cfg, [], [], {}, [], ev, summ)


@pytest.fixture
def runs() -> list[Run]:
    out = []
    for s, (a, b) in enumerate([(0.0, 0.3), (0.1, 0.1), (0.2, 0.5)]):
        out.append(fake_run("random", s, _ev(4.0 + a, 3.8, 4.2, 0.30)))
        out.append(fake_run("multi_actor", s, _ev(4.0 + a - b, 3.6, 4.4, 0.32)))
    return out


def test_reference_primary_metric_is_the_three_task_mean(runs):
    cmp = comparison(runs)
    k = "reference mean scored bpb"
    assert cmp["means"]["random"][k] == pytest.approx((4.1 + 3.8 + 4.2) / 3)
    d = cmp["diffs"]["multi_actor"][k]
    # the member differences: LAMBADA -0.3 on average, SQuAD -0.2, Jeopardy +0.2
    assert d["mean"] == pytest.approx((-0.3 - 0.2 + 0.2) / 3)
    assert cmp["labels"][k] == "LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot"
    md = table_markdown(cmp)
    assert "reference tasks, mean bits/byte (LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot)" in md
