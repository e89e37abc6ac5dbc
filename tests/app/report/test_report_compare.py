"""The comparison from run records: group means, per-seed values, contrasts (known inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from macs.app.report.compare import comparison, table_markdown
from macs.app.report.load import Run


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


def test_table_json_and_csv_hold_every_per_seed_value(runs, tmp_path):
    import csv

    import numpy as np

    from macs.app.report.compare import write_comparison
    from macs.app.report.stats import t_interval
    from macs.core.io import read_json

    write_comparison(runs, tmp_path)
    table = read_json(tmp_path / "table.json")
    for k, by_method in table["values"].items():  # every interval from the file alone
        a, b = by_method["multi_actor"], by_method["random"]
        m, lo, hi = t_interval(np.array([a[s] - b[s] for s in sorted(a)]))
        d = table["diffs"]["multi_actor"][k]
        assert (m, lo, hi) == pytest.approx((d["mean"], d["lo"], d["hi"]))
    assert table["values"]["reference/lambada 0shot bpb"]["random"] == {
        "0": 4.0,
        "1": 4.1,
        "2": 4.2,
    }
    rows = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"random", "multi_actor"}
    row = next(r for r in rows if r["method"] == "multi_actor" and r["seed"] == "2")
    assert float(row["reference/lambada 0shot bpb"]) == pytest.approx(3.7)
    assert float(row["reference mean scored bpb"]) == pytest.approx((3.7 + 3.6 + 4.4) / 3)


def test_report_says_how_many_contexts_were_cut(runs):
    cmp = comparison(runs)
    assert cmp["truncation"]["tasks"] == {}
    assert "none was cut" in table_markdown(cmp)
    for r in runs:
        r.eval["settings"] = {"max_length": 128}
        r.eval["tasks"]["squad"]["5shot"].update(n_truncated=40 + r.seed, n_requests=50)
    cmp = comparison(runs)
    assert cmp["truncation"] == {
        "window": 128,
        "tasks": {"SQuAD 5-shot": {"n_truncated": 42, "n_requests": 50, "share": 0.84}},
    }
    md = table_markdown(cmp)
    assert "Contexts cut to fit the 128-token window (cut from the left" in md
    assert "| SQuAD 5-shot | 42 | 50 | 84.0% |" in md


def test_declared_contrasts_are_holm_adjusted_and_the_rest_exploratory(runs):
    import numpy as np
    from scipy import stats

    from macs.app.report.stats import holm

    extra = []
    for s, shift in enumerate([0.05, -0.02, 0.04]):  # a third method, close to random
        ev = _ev(4.0 + 0.1 * s + shift, 3.8, 4.2, 0.30)
        extra.append(fake_run("fixed_theta", s, ev))
    contrasts = ["multi_actor - random", "multi_actor - fixed_theta"]
    for r in runs + extra:
        r.config["compare"] = {"contrasts": contrasts}
    cmp = comparison(runs + extra)
    rows = cmp["contrasts"]["rows"]
    assert [(r["contrast"], r["metric"]) for r in rows] == [
        (c, "reference mean scored bpb") for c in contrasts
    ]
    vals = cmp["values"]["reference mean scored bpb"]
    raw = []
    for c in contrasts:
        a, b = c.split(" - ")
        d = np.array([vals[a][s] - vals[b][s] for s in ("0", "1", "2")])
        raw.append(stats.ttest_1samp(d, 0.0).pvalue)
    assert [r["p"] for r in rows] == pytest.approx(raw)
    assert [r["p_holm"] for r in rows] == pytest.approx(holm(raw))
    for r in rows:
        assert r["verdict"] == ("no measurable difference" if r["p_holm"] >= 0.05 else r["verdict"])
    md = table_markdown(cmp)
    assert "### Primary contrasts (declared in compare.contrasts before the run; 2 tests" in md
    assert "| fixed_theta | 3 |" in md and "exploratory: " in md
    assert "primary, unadjusted: " in md  # multi_actor - random on the reference mean


def test_undeclared_contrast_names_fail_before_training():
    from macs.app.pipeline import check_contrasts
    from macs.core.errors import MacsError

    check_contrasts(["multi_actor - random"], ["multi_actor", "random"])
    with pytest.raises(MacsError, match="'dsir', which is not among the methods"):
        check_contrasts(["dsir - random"], ["multi_actor", "random"])
    with pytest.raises(MacsError, match="is not 'A - B'"):
        check_contrasts(["multi_actor-random"], ["multi_actor", "random"])


def test_reliability_reports_raw_and_spearman_brown(runs):
    ma = [r for r in runs if r.mode == "multi_actor"]
    ma[0].selection = [{"actors": {"quality": {"split_half_r": 0.5}}}]  # old logs: computed here
    ma[1].selection = [{"actors": {"quality": {"split_half_r": 0.2, "split_half_sb": 1 / 3}}}]
    ma[2].selection = [{"actors": {"quality": {"split_half_r": -0.1}}}]  # negative: kept as is
    rel = comparison(runs)["reliability"]["multi_actor"]["quality"]
    assert rel["n"] == 3 and rel["mean"] == pytest.approx((0.5 + 0.2 - 0.1) / 3)
    assert rel["spearman_brown"] == pytest.approx((2 * 0.5 / 1.5 + 1 / 3 - 0.1) / 3)
    md = table_markdown(comparison(runs))
    assert "| multi_actor | quality | 0.20 | 0.30 | 3 |" in md


def test_aa_arm_is_shown_as_the_noise_floor(runs, tmp_path):
    from macs.app.report.compare import plot_forest

    aa = []
    for s in range(3):
        r = fake_run("random_aa", s, _ev(4.0 + 0.1 * s + 0.01 * (-1) ** s, 3.8, 4.2, 0.30))
        r.config["selection"] = {"method": "random", "label": "random_aa", "seed_offset": 1000}
        aa.append(r)
    cmp = comparison(runs + aa)
    assert cmp["aa"] == ["random_aa"]  # multi_actor is another selector: not an A/A arm
    md = table_markdown(cmp)
    assert "A/A arm `random_aa`" in md and "| random_aa | 3 |" in md
    assert "A/A noise floor: no measurable difference" in md
    assert plot_forest(cmp, tmp_path / "forest.png").stat().st_size > 0
    # the same selector without a seed offset is an ordinary row
    for r in aa:
        r.config["selection"]["seed_offset"] = 0
    assert comparison(runs + aa)["aa"] == []


def test_gate_prints_unigram_and_bigram_beside_every_method(runs):
    for r in runs:
        r.eval["gate"] = {"unigram_bpb": 3.4, "bigram_bpb": 3.2 + 0.01 * r.seed}
    g = comparison(runs)["gate"]
    # held-out bpb of the model is 3.0 + LAMBADA / 10: random 3.40, 3.41, 3.42
    assert g["random"]["model_bpb"] == pytest.approx(3.41)
    assert g["random"]["margin"]["mean"] == pytest.approx(3.21 - 3.41)
    assert g["random"]["clears"] is False
    for r in runs:
        r.eval["gate"]["bigram_bpb"] = 3.9 + 0.01 * r.seed
    g = comparison(runs)["gate"]
    assert g["multi_actor"]["clears"] is True and g["multi_actor"]["unigram_bpb"] == 3.4
    md = table_markdown(comparison(runs))
    assert "### Gate: the model against count n-gram models" in md
    assert "| random | 3.4100 | 3.4000 | 3.9100 | +0.5000 [+0.5000, +0.5000] | yes |" in md


def test_a_declared_contrast_without_runs_is_left_out_of_the_family(runs):
    for r in runs:
        r.config["compare"] = {"contrasts": ["multi_actor - random", "multi_actor - regmix"]}
    rows = comparison(runs)["contrasts"]["rows"]
    assert rows[1]["verdict"] == "no test (0 paired seeds)" and rows[1]["p_holm"] is None
    assert rows[0]["p_holm"] == pytest.approx(rows[0]["p"])  # a family of one


def test_reliability_and_costs_show_the_per_refresh_fields(runs):
    """se_j, the reward source and the in-run document counts per actor (selection.jsonl), and
    summary.json's online cost split in seconds and fractions of training time (issue 23)."""
    ma = [r for r in runs if r.mode == "multi_actor"]
    q = {"split_half_r": 0.5, "split_half_sb": 2 / 3, "n_j": [40, 60]}
    ma[0].selection = [
        {
            "reward_source": "train",
            "actors": {"quality": {**q, "se_j": [0.1, 0.3], "n_inrun_j": [30, 50]}},
        },
        {
            "reward_source": "train",
            "actors": {"quality": {**q, "se_j": [0.2, None], "n_inrun_j": [10, 10]}},
        },
    ]
    ma[1].selection = ma[2].selection = []
    costs = {
        "train_seconds": 100.0,
        "reward_inrun_seconds": 20.0,
        "reward_separate_seconds": 10.0,
        "update_seconds": 0.03,  # small parts keep two significant digits
        "select_seconds": 4.0,
        "other_seconds": 0.0,
        "online_fraction": 0.35,
    }
    for i, r in enumerate(ma):
        c = {**costs, "reward_inrun_seconds": 20.0 + 10 * i}  # 20, 30, 40: mean 30
        c |= {
            k.replace("_seconds", "_fraction"): v / 100
            for k, v in c.items()
            if k.endswith("_seconds")
        }
        r.summary["costs"] = c
    cmp = comparison(runs)
    rel = cmp["reliability"]["multi_actor"]["quality"]
    assert rel["se_j"] == pytest.approx(
        (0.2 + 0.2) / 2
    )  # per refresh over finite groups, then mean
    assert rel["source"] == "train" and rel["docs_per_refresh"] == 100
    assert rel["inrun_docs_per_refresh"] == pytest.approx((80 + 20) / 2)
    parts = cmp["costs"]["multi_actor"]["parts"]
    assert parts["reward_inrun_seconds"] == pytest.approx(30.0) and parts["n_runs"] == 3
    assert cmp["costs"]["random"]["parts"] is None  # no split in its summaries
    md = table_markdown(cmp)
    assert "| multi_actor | quality | 0.50 | 0.67 | 2 | 0.2000 | train | 100 | 50 |" in md
    assert "| multi_actor | 30.0 s (30.0%) | 10.0 s (10.0%) | 0.03 s (0.03%) | 4.0 s (4.0%) " in md
    assert "Online cost by part" in md and "| random | " not in md.split("Online cost by part")[1]
