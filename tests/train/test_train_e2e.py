"""End to end: the `macs run` path at the smallest size on the committed mini corpus (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from macs.config import load_config
from macs.io import read_json, read_jsonl

SMALL = [
    "run.name=e2e",
    "run.device=cpu",
    "corpus.name=mini",
    "tokenizer.vocab_size=512",
    "tokenizer.train_mb=1",
    "labels.topic.n_groups=4",
    "labels.topic.sample_size=100",
    "labels.topic.svd_dims=16",
    "labels.workers=1",
    "labels.quality.classifier.backend=hashing",
    "model.size=llama-tiny",
    "train.tokens=6000",
    "train.seq_len=64",
    "train.batch_size=4",
    "train.stages=3",
    "train.threads=1",
    "train.log_every=2",
    "train.reward_max_tokens=64",
    "selection.samples_per_group=4",
    "influence.n_per_task=4",
    "influence.window=64",
    "influence.overlap=0",
    "eval.tasks=[reference, arc_easy]",
    "eval.limit=4",
    "eval.heldout_docs_per_domain=2",
    "eval.batch_size=8",
]


@pytest.mark.slow
def test_macs_run_path_end_to_end(tmp_path, mini_corpus_path):
    from macs.corpus.importer import import_corpus
    from macs.train.pipeline import run_pipeline

    data = tmp_path / "data"
    import_corpus(
        [mini_corpus_path],
        data / "corpus" / "mini",
        name="mini",
        max_chunk_bytes=8192,
        heldout_fraction=0.1,
        heldout_seed=0,
        progress=False,
    )
    cfg = load_config(None, [f"run.runs_dir={tmp_path / 'runs'}", f"run.data_dir={data}", *SMALL])
    report = run_pipeline(cfg)
    root = tmp_path / "runs" / "e2e"
    assert report == root / "report" / "report.md"
    for mode in ("multi_actor", "random"):
        d = root / mode
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
    sm, sr = (read_json(root / m / "summary.json") for m in ("multi_actor", "random"))
    assert sm["tokens"] == sr["tokens"] == 24 * 256
    assert [s["budget"] for s in read_jsonl(root / "multi_actor" / "selection.jsonl")] == [
        s["budget"] for s in read_jsonl(root / "random" / "selection.jsonl")
    ]
    # selection changed the weights: theta and every actor's group weights are not all equal
    sel = read_jsonl(root / "multi_actor" / "selection.jsonl")
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
    for png in ("theta.png", "weights-multi_actor-s0.png", "mix.png", "loss.png"):
        assert (root / "report" / "plots" / png).stat().st_size > 5000
    assert (root / "report" / "report.html").read_text().count("<img") == 4
    # a rerun reuses every finished step
    done = (root / "multi_actor" / "DONE").stat().st_mtime_ns
    assert run_pipeline(cfg) == report
    assert (root / "multi_actor" / "DONE").stat().st_mtime_ns == done


def test_demo_yaml_matches_builtin_demo():
    from macs.train.pipeline import demo_config

    repo = Path(__file__).resolve().parents[2]
    assert load_config(repo / "configs" / "demo.yaml") == demo_config()
