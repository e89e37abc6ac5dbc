"""Data efficiency from stage-boundary evaluations (known curves)."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_compare import fake_run

from macs.app.report.compare import comparison, table_markdown
from macs.app.report.efficiency import tokens_to_reach
from macs.app.report.stats import t_interval


def test_tokens_to_reach_interpolates_between_boundaries():
    pts = [(100, 5.0), (200, 4.0), (300, 3.0)]
    assert tokens_to_reach(pts, 3.5) == (250.0, False)
    assert tokens_to_reach(pts, 3.0) == (300.0, False)
    assert tokens_to_reach(pts, 6.0) == (100.0, True)  # already there: an upper bound
    assert tokens_to_reach(pts, 2.0) == (None, False)


def _boundary(values: list[float]) -> list[dict]:
    tasks = lambda v: {  # noqa: E731
        "lambada": {"title": "LAMBADA", "group": "reference", "0shot": {"bpb": v}},
        "squad": {"title": "SQuAD", "group": "reference", "5shot": {"bpb": v}},
        "jeopardy": {"title": "Jeopardy", "group": "reference", "5shot": {"bpb": v}},
    }
    return [
        {"stage": k + 1, "tokens": 100 * (k + 1), "tasks": tasks(v)} for k, v in enumerate(values)
    ]


def test_efficiency_ratio_to_the_baselines_final_value_per_seed(tmp_path):
    runs = []
    method = {0: [5.0, 4.0, 3.0], 1: [4.8, 3.9, 3.1], 2: [5.0, 4.4, 3.4]}
    for s in range(3):
        r = fake_run("random", s, None)
        r.extra["boundary"] = _boundary([5.0, 4.2, 3.5 + 0.1 * s])
        m = fake_run("multi_actor", s, None)
        m.extra["boundary"] = _boundary(method[s])
        runs += [r, m]
    eff = comparison(runs)["efficiency"]
    # seed 0: 3.5 reached between 200 (4.0) and 300 (3.0): 250 tokens of random's 300
    # seed 1: 3.6 between 200 (3.9) and 300 (3.1): 200 + 100 * 0.3 / 0.8; seed 2: 3.7 -> 200 + 100 * 0.7 / 1.0
    ratios = [250 / 300, (200 + 100 * 0.3 / 0.8) / 300, (200 + 100 * 0.7 / 1.0) / 300]
    r = eff["to_reach"]["multi_actor"]
    assert r["ratios"] == pytest.approx(ratios) and r["reached"] == 3
    m, lo, hi = t_interval(np.array(ratios))
    assert (r["ratio_mean"], r["lo"], r["hi"]) == pytest.approx((m, lo, hi))
    assert eff["to_reach"]["random"]["ratios"] == pytest.approx([1.0, 1.0, 1.0])
    assert eff["curves"]["multi_actor"]["value"] == pytest.approx([4.9333333, 4.1, 3.1666667])
    md = table_markdown(comparison(runs))
    assert "### Data efficiency (reference mean scored bpb" in md and "| 3 of 3 |" in md
