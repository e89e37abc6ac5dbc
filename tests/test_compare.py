"""`macs compare` end to end at tiny size: equal tokens for every method, paired intervals, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from macs.core.io import read_json, read_jsonl
from procs import wait_until

METHODS = "multi_actor,random,quality_topk,fixed_theta,multi_actor:quality+domain"


def _argv(sets: list[str], runs: Path, name: str) -> list[str]:
    flat = [x for kv in [*sets, f"run.runs_dir={runs}", f"run.name={name}"] for x in ("--set", kv)]
    return ["compare", *flat, "--methods", METHODS, "--seeds", "0,1"]


@pytest.mark.slow
def test_compare_end_to_end_and_resume_after_kill(tmp_path, mini_data, capsys):
    from macs.app.cli import main

    _, sets = mini_data
    sets = [*sets, "eval.tasks=[reference, arc_easy]", "train.tokens=3000", "train.stages=2"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "macs", *_argv(sets, tmp_path, "cmp")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = tmp_path / "cmp"
    try:  # kill it once the first run has finished and the second has started
        wait_until(
            proc,
            lambda: (root / "multi_actor-s0" / "DONE").exists() and (root / "random-s0").exists(),
            300,
        )
        assert proc.poll() is None, "the compare ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = (root / "multi_actor-s0" / "DONE").stat().st_mtime_ns
    main([*_argv(sets, tmp_path, "cmp"), "--jobs", "2"])  # the rest in 2 worker processes
    assert (root / "multi_actor-s0" / "DONE").stat().st_mtime_ns == done  # reused, not retrained
    capsys.readouterr()
    methods = METHODS.split(",")
    labels = [m.replace(":", "-") for m in methods]
    runs = [root / f"{m}-s{s}" for m in labels for s in (0, 1)]
    assert all((r / "DONE").exists() for r in runs)
    # equal tokens: every method trained the same tokens, and selected its budget per stage
    assert len({read_json(r / "summary.json")["tokens"] for r in runs}) == 1
    for r in runs:
        for rec in read_jsonl(r / "selection.jsonl"):
            assert rec["budget"] <= rec["n_tokens"] < rec["budget"] + 5000, r
    table = read_json(root / "report" / "compare" / "table.json")
    assert table["baseline"] == "random" and sorted(table["methods"]) == sorted(methods)
    d = table["diffs"]["quality_topk"]["reference mean scored bpb"]
    assert d["n"] == 2 and d["lo"] <= d["mean"] <= d["hi"]
    assert d["verdict"] in ("better", "worse", "no measurable difference")
    assert [m for m, _ in table["ranking"]["order"]] and table["costs"]["multi_actor"]["labels"]
    assert set(table["diversity"]) == set(methods)
    assert table["reliability"]["multi_actor"]["domain"]["n"] == 2  # one refresh x 2 seeds
    md = (root / "report" / "compare" / "table.md").read_text()
    assert "95% Student t" in md and "Stage diversity" in md and "Reward reliability" in md


def test_bad_method_names_fail_before_training(tmp_path, mini_data, capsys):
    from macs.app.cli import main

    _, sets = mini_data
    flat = [x for kv in [*sets, f"run.runs_dir={tmp_path}"] for x in ("--set", kv)]
    with pytest.raises(SystemExit) as e:
        main(["compare", *flat, "--methods", "multi_actor,best_data", "--seeds", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown method 'best_data'" in err and "Traceback" not in err
    trained = [p for p in tmp_path.rglob("*") if p.is_dir() and (p / "config.yaml").exists()]
    assert not trained  # nothing trained
    with pytest.raises(SystemExit):
        main(["compare", *flat, "--methods", "random", "--seeds", "0,x"])
    assert "--seeds '0,x'" in capsys.readouterr().err


def test_named_variants_carry_their_overrides_and_label():
    from macs.app.config import load_config
    from macs.app.pipeline import method_config
    from macs.core.errors import MacsError

    cfg = load_config(
        None,
        [
            "compare.variants={ma_sample: {method: multi_actor, set: {selection.operator: sample, "
            "selection.temperature: 0.5}}, bad: {method: random, set: {train.stages: 0}}}",
        ],
    )
    sub = method_config(cfg, "ma_sample", 2)
    assert sub.selection.method == "multi_actor" and sub.selection.label == "ma_sample"
    assert sub.selection.operator == "sample" and sub.selection.temperature == 0.5
    assert sub.run.seed == 2 and sub.run.name.endswith("/ma_sample-s2")
    plain = method_config(cfg, "random", 0)
    assert plain.selection.method == "random" and plain.selection.label is None
    assert plain.selection.operator == "topk"
    with pytest.raises(MacsError, match=r"compare.variants.bad: invalid overrides \(train.stages"):
        method_config(cfg, "bad", 0)
