"""Costs in seconds and training-token equivalents, and the compute-matched arm (known inputs)."""

from __future__ import annotations

import pytest
from test_report_compare import _ev, fake_run

from macs.app.report.compare import comparison, table_markdown
from macs.app.report.costs import run_costs


def _costly(mode: str, seed: int, ev: dict, tokens: int = 1000) -> object:
    r = fake_run(
        mode,
        seed,
        ev,
        tokens=tokens,
        train_seconds=10.0,
        refresh_seconds=7.0,
        labels_seconds={"quality": 2.0},
    )
    r.selection = [
        {
            "stage": 0,
            "compute": {
                "what": "sweep",
                "seconds": 3.0,
                "forward_tokens": 3000,
                "backward_tokens": 0,
                "cached": True,
            },
        },
        {
            "stage": 1,
            "compute": {
                "what": "oracle",
                "seconds": 1.0,
                "forward_tokens": 9,
                "backward_tokens": 9,
            },
        },  # online: inside refresh_seconds
    ]
    return r


def test_run_costs_in_seconds_and_token_equivalents():
    c = run_costs(_costly("multi_actor", 0, _ev(4.0, 3.8, 4.2, 0.3)))
    assert c["throughput"] == pytest.approx(100.0)  # 1000 tokens in 10 training seconds
    assert c["online_seconds"] == 7.0 and c["online_tokens"] == pytest.approx(700.0)
    # one-off: 3000 forward tokens = 1000 training tokens ((fwd + 2 bwd) / 3), not its 3 s x 100
    assert c["oneoff_tokens"] == pytest.approx(1000.0) and c["oneoff"] == ["sweep (cached)"]
    assert c["labelling_tokens"] == pytest.approx(200.0)
    assert c["extra_tokens"] == pytest.approx(1900.0) and c["extra_fraction"] == pytest.approx(1.9)


def test_compute_matched_arm_is_reported_beside_the_equal_token_result():
    runs = []
    for s in range(3):
        runs.append(_costly("random", s, _ev(4.2 + 0.1 * s, 3.8, 4.2, 0.3)))
        runs.append(_costly("multi_actor", s, _ev(4.0 + 0.1 * s, 3.8, 4.2, 0.3)))
        arm = _costly(
            "random@multi_actor", s, _ev(3.9 + 0.1 * s + 0.01 * s * s, 3.8, 4.2, 0.3), 2900
        )
        arm.config["selection"]["label"] = "random@multi_actor"
        runs.append(arm)
    cmp = comparison(runs)
    (row,) = cmp["compute_matched"]
    assert row["arm"] == "random@multi_actor" and row["target"] == "multi_actor"
    assert row["train_tokens"] == 2900
    d = row["diffs"]["reference mean scored bpb"]
    assert d["mean"] == pytest.approx((0.1 - 0.01 * (0 + 1 + 4) / 3) / 3)  # LAMBADA only moves
    md = table_markdown(cmp)
    assert "### Compute-matched arms" in md and "| random@multi_actor | 2,900 |" in md
    assert "| multi_actor | 10.0 | 1,000 | 7.0 |" in md and "sweep (cached)" in md
