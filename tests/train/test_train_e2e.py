"""End to end: the `macs run` path at the smallest size on the committed mini corpus (no network)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from macs.app.config import load_config
from macs.core.io import read_json, read_jsonl
from procs import wait_until


@pytest.mark.slow
def test_macs_run_path_end_to_end(tmp_path, mini_data):
    from macs.app.pipeline import run_pipeline

    _, sets = mini_data
    cfg = load_config(None, [f"run.runs_dir={tmp_path / 'runs'}", "run.name=e2e", *sets])
    report = run_pipeline(cfg)
    root = tmp_path / "runs" / "e2e"
    assert report == root / "report" / "report.md"
    for mode in ("multi_actor", "random"):
        d = root / f"{mode}-s0"
        for f in (
            "config.yaml",
            "metrics.jsonl",
            "selection.jsonl",
            "pool.json",
            "eval.json",
            "summary.json",
            "DONE",
            "model/config.json",
            "model/tokenizer.json",
            "checkpoints/latest.json",
        ):
            assert (d / f).exists(), (mode, f)
        assert sorted(p.name for p in (d / "stages").iterdir()) == [
            f"stage-{k}.parquet" for k in range(3)
        ]
        ev = read_json(d / "eval.json")
        assert {"lambada", "squad", "jeopardy", "arc_easy"} <= set(ev["tasks"])
        assert len(ev["heldout"]["domains"]) == 10
    # equal tokens: the same budgets and steps for the method and the baseline
    sm, sr = (read_json(root / f"{m}-s0" / "summary.json") for m in ("multi_actor", "random"))
    assert sm["tokens"] == sr["tokens"] == 24 * 256
    for m in ("multi_actor", "random"):  # tokens actually selected: the budget, < one doc over
        for rec in read_jsonl(root / f"{m}-s0" / "selection.jsonl"):
            assert rec["budget"] <= rec["n_tokens"] < rec["budget"] + 3000
    assert [s["budget"] for s in read_jsonl(root / "multi_actor-s0" / "selection.jsonl")] == [
        s["budget"] for s in read_jsonl(root / "random-s0" / "selection.jsonl")
    ]
    # selection changed the weights: theta and every actor's group weights are not all equal
    sel = read_jsonl(root / "multi_actor-s0" / "selection.jsonl")
    assert [s["stage"] for s in sel] == [0, 1, 2]
    theta = np.array(list(sel[-1]["theta"].values()))
    assert set(sel[-1]["theta"]) == {"quality", "domain", "topic"} and np.ptp(theta) > 0
    for name, a in sel[-1]["actors"].items():
        assert np.ptp(a["w"]) > 0.05, name
        assert sum(a["n_j"]) > 0 and a["R"] is not None
    assert sel[-1]["seconds"]["reward"] > 0
    # the report: markdown, html, plots and the eval table with differences
    text = report.read_text()
    assert "multi_actor - random" in text and "heldout overall bpb" in text
    assert "no interval (1 seed)" in text  # one seed: no difference is called a gain
    for png in ("theta.png", "weights-multi_actor-s0.png", "mix.png", "loss.png"):
        assert (root / "report" / "plots" / png).stat().st_size > 5000
    for png in ("forest.png", "diversity.png", "mix.png"):
        assert (root / "report" / "compare" / "plots" / png).stat().st_size > 5000
    assert (root / "report" / "report.html").read_text().count("<img") == 7
    # the saved model loads with transformers as is (weights + tokenizer)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(root / "multi_actor-s0" / "model")
    lm = AutoModelForCausalLM.from_pretrained(root / "multi_actor-s0" / "model")
    ids = tok("The quick brown fox", return_tensors="pt").input_ids
    assert lm(input_ids=ids).logits.shape[-1] == len(tok) and tok.eos_token == "<|endoftext|>"
    # a rerun reuses every finished step
    done = (root / "multi_actor-s0" / "DONE").stat().st_mtime_ns
    assert run_pipeline(cfg) == report
    assert (root / "multi_actor-s0" / "DONE").stat().st_mtime_ns == done


def test_demo_yaml_matches_builtin_demo():
    from macs.app.pipeline import demo_config

    repo = Path(__file__).resolve().parents[2]
    assert load_config(repo / "configs" / "demo.yaml") == demo_config()


@pytest.mark.slow
def test_train_cli_killed_run_resumes_to_the_same_result(tmp_path, mini_data, capsys):
    """SIGKILL a `macs train` process mid-stage; `macs train --resume` ends where an uninterrupted run ends."""
    import os
    import signal
    import subprocess
    import sys

    import pyarrow.parquet as pq
    import torch

    from macs.app.cli import main

    _, sets = mini_data
    base = [
        f"run.runs_dir={tmp_path}",
        *sets,
        "train.eval_at_end=false",
        "train.checkpoint_every=3",
        "train.log_every=1",
    ]

    def argv(name: str) -> list[str]:
        return ["train"] + [x for kv in [*base, f"run.name={name}"] for x in ("--set", kv)]

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "macs", *argv("killed")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def reached(n: int):
        metrics = killed / "metrics.jsonl"
        return lambda: metrics.exists() and any(r["step"] >= n for r in read_jsonl(metrics))

    try:
        wait_until(proc, reached(1), 200)  # training, so the run directory's lock is held
        assert proc.poll() is None, "the run ended before it could be checked"
        with pytest.raises(SystemExit) as busy:  # a second `macs train` on the same run dir
            main(argv("killed"))
        assert busy.value.code == 2 and "is in use by pid" in capsys.readouterr().err
        wait_until(proc, reached(10), 200)  # past the checkpoint at step 9
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (killed / "DONE").exists()
    main(["train", "--resume", str(killed)])
    err = capsys.readouterr().err
    at = re.search(r"resuming \S+ at step (\d+)/24", err)
    assert at and 9 <= int(at.group(1)) < 24, err[-2000:]  # from a checkpoint, not from scratch
    main(argv("clean"))
    clean = tmp_path / "clean"
    capsys.readouterr()
    sk, sc = read_json(killed / "summary.json"), read_json(clean / "summary.json")
    assert sk["steps"] == sc["steps"] == 24 and sk["final_loss"] == sc["final_loss"]
    wk = torch.load(
        killed / "checkpoints" / read_json(killed / "checkpoints/latest.json")["dir"] / "model.pt"
    )
    wc = torch.load(
        clean / "checkpoints" / read_json(clean / "checkpoints/latest.json")["dir"] / "model.pt"
    )
    assert all(torch.equal(wk[k], wc[k]) for k in wc)
    lk, lc = read_jsonl(killed / "selection.jsonl"), read_jsonl(clean / "selection.jsonl")
    assert [r["theta"] for r in lk] == [r["theta"] for r in lc] and len(lk) == 3
    assert [r["actors"] for r in lk] == [r["actors"] for r in lc]
    for k in range(3):
        ik = pq.read_table(killed / f"stages/stage-{k}.parquet")
        assert ik.equals(pq.read_table(clean / f"stages/stage-{k}.parquet"))
    assert [r["step"] for r in read_jsonl(killed / "metrics.jsonl")] == list(range(1, 25))
    # guards: a finished run is reused; a changed config in the same run dir is refused
    main(["train", "--resume", str(clean)])
    assert "finished already" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([*argv("clean"), "--set", "train.lr=0.01"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "different config" in err and "train.lr" in err
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", str(tmp_path / "nope")])
    assert e.value.code == 2 and "not a macs run directory" in capsys.readouterr().err


def test_run_overrides_apply_on_top_of_the_demo():
    from macs.app.pipeline import demo_config
    from macs.core.errors import MacsError

    cfg = demo_config(["train.tokens=1e5", "selection.samples_per_group=3"])
    assert cfg.train.tokens == 1e5 and cfg.selection.samples_per_group == 3
    assert cfg.model.size == "llama-1m" and cfg.train.stages == 3  # the rest stays the demo's
    with pytest.raises(MacsError, match="train.stages"):
        demo_config(["train.stages=0"])
