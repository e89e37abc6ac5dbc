"""`macs label` and `macs label-report` end to end on the mini store (in-process, one worker)."""

from __future__ import annotations

import json

import pytest

from macs.app.cli import main


def _args(store, *extra):
    return [
        "--set",
        f"labels.store={store.path}",
        "--set",
        "labels.rows_per_part=100",
        "--set",
        "labels.topic.n_groups=5",
        "--set",
        "labels.topic.sample_size=200",
        "--set",
        "labels.quality.classifier.pool_negatives=60",
        *extra,
    ]


def test_label_then_report(store_copy, tmp_path, capsys):
    main(["label", *_args(store_copy), "--workers", "1", "--actors", "quality,topic"])
    out = capsys.readouterr().out
    assert "quality (quality/classifier): q0 [0,1)=" in out
    assert f"labelled {store_copy.n_docs} docs x 2 actor(s)" in out
    assert "agreement quality x topic: NMI " in out
    assert "agreement: topic groups explain " in out and "of the quality score's variance" in out
    assert sorted(
        p.name for p in (store_copy.path / "labels").iterdir() if not p.name.startswith(".")
    ) == ["quality", "topic"]
    main(["label", *_args(store_copy), "--workers", "1", "--actors", "quality,topic"])
    assert "all sidecars up to date" in capsys.readouterr().out
    report = tmp_path / "report.json"
    main(["label-report", *_args(store_copy), "--out", str(report)])
    out = capsys.readouterr().out
    assert "AUC ham vs spam (held out of training):" in out and "NMI(topic, domain)" in out
    rep = json.loads(report.read_text())
    assert rep["quality"]["n_ham_heldout"] > 0 and rep["topic"]["bbc"]["n_docs"] == 40
    assert 0.5 < rep["quality"]["auc_ham_vs_spam_heldout"] <= 1.0
    # the actors' agreement: one pair, quality's score against topic's groups and back
    assert "## actor agreement" in out and "| quality x topic |" in out
    (pair,) = rep["agreement"]["pairs"]
    assert pair["actors"] == ["quality", "topic"] and 0 <= pair["nmi"] <= 1
    assert {e["groups_of"] for e in rep["agreement"]["explained"]} >= {"topic"}


def test_user_errors_exit_2_without_traceback(store_copy, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            [
                "label",
                *_args(store_copy),
                "--actors",
                "quality",
                "--set",
                "labels.quality.method=perplexity",
                "--set",
                "labels.quality.perplexity.model=/no/such/model",
            ]
        )
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        "labels.quality.perplexity.model /no/such/model does not exist" in err
        and "Traceback" not in err
    )
