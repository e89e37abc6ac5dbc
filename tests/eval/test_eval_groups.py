"""Group means are over every task of the group, at the renderings the suite scores."""

from __future__ import annotations

import pytest

from macs.app.report.load import eval_metrics, group_labels
from macs.eval.groups import group_label, group_summary

# the suite's reference rendering: LAMBADA 0-shot, SQuAD and Jeopardy 5-shot
TASKS = {
    "lambada": {"title": "LAMBADA", "group": "reference", "0shot": {"bpb": 4.0}},
    "squad": {"title": "SQuAD", "group": "reference", "5shot": {"bpb": 3.0}},
    "jeopardy": {"title": "Jeopardy", "group": "reference", "5shot": {"bpb": 5.5}},
    "piqa": {
        "title": "PIQA",
        "group": "downstream",
        "0shot": {"acc_per_char": 0.6, "bpb": 2.0},
        "5shot": {"acc_per_char": 0.7, "bpb": 1.0},
    },
    "sciq": {"title": "SciQ", "group": "downstream", "0shot": {"acc_per_char": 0.4, "bpb": 3.0}},
}


def test_reference_group_mean_is_the_mean_of_its_three_tasks():
    g = group_summary(TASKS)
    ref = g["reference"]
    assert set(ref) == {"scored"}  # no "0shot" mean of LAMBADA alone, no "5shot" of two tasks
    assert ref["scored"]["bpb"] == pytest.approx((4.0 + 3.0 + 5.5) / 3)
    assert ref["scored"]["n_tasks"] == 3
    assert group_label(ref["scored"]) == "LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot"
    # downstream: PIQA has 0- and 5-shot, SciQ 0-shot only: a mean only where both are
    assert set(g["downstream"]) == {"0shot"}
    assert g["downstream"]["0shot"]["acc_per_char"] == pytest.approx(0.5)
    assert group_label(g["downstream"]["0shot"]) == "2 tasks, 0-shot"


def test_report_recomputes_group_means_from_the_tasks_not_the_file():
    # eval.json files written before the fix carry a "reference 0shot" mean of LAMBADA alone
    ev = {"tasks": TASKS, "groups": {"reference": {"0shot": {"bpb": 4.0, "n_tasks": 1}}}}
    m = eval_metrics(ev)
    members = [m[f"reference/{t} {k} bpb"][0] for t, k in TASKS_REF]
    assert m["reference mean scored bpb"][0] == pytest.approx(sum(members) / 3)
    assert "reference mean 0shot bpb" not in m and "downstream mean 5shot bpb" not in m
    labels = group_labels(ev)
    assert labels["reference mean scored bpb"] == "LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot"


TASKS_REF = [("lambada", "0shot"), ("squad", "5shot"), ("jeopardy", "5shot")]
