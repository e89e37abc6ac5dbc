"""Through `macs train`: a document longer than one reward window gets the mean of its windows' rewards."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from macs.app.config import load_config
from macs.core.io import read_json, read_jsonl


@pytest.mark.slow
def test_long_documents_get_the_mean_of_their_windows_rewards(tmp_path, mini_data):
    from macs.app.cli import main
    from macs.data.corpus.tokenizer import load_tokenizer
    from macs.data.pool import open_pool
    from macs.select.rewards import make_estimator, reference_for_config
    from macs.select.rewards.batching import spread, windows
    from macs.train.model import build_model

    _, sets = mini_data
    run_sets = [
        *sets,
        f"run.runs_dir={tmp_path}",
        "run.name=win",
        "train.eval_at_end=false",
        "train.keep_stage_checkpoints=true",
        "influence.window=48",
        "influence.overlap=8",
        "influence.max_windows=3",
    ]
    main(["train", *[x for kv in run_sets for x in ("--set", kv)]])
    cfg = load_config(None, run_sets)
    d = tmp_path / "win"
    refresh_step = read_jsonl(d / "selection.jsonl")[1]["step"]
    rw = pq.read_table(d / "rewards" / "stage-1.parquet").to_pydict()
    pool = open_pool(cfg)
    lengths = pool.n_tokens[np.asarray(rw["doc"])] - 1
    long_docs = [i for i, n in zip(rw["doc"], lengths, strict=True) if n > 48 * 4][:3]
    assert len(long_docs) == 3  # documents with more than max_windows windows exist
    # the model as it was at the refresh: the checkpoint kept at the stage's first step
    model = build_model(cfg.model, pool.tokens.vocab_size, cfg.train.seq_len, pool.tokens.eos_id, 0)
    ck = d / "checkpoints" / f"step-{refresh_step:07d}" / "model.pt"
    model.load_state_dict(torch.load(ck, weights_only=True))
    tok = load_tokenizer(pool.tokenizer_path)
    est = make_estimator(cfg.influence, reference_for_config(tok, cfg.influence))
    recorded = dict(zip(rw["doc"], rw["reward"], strict=True))
    for i in long_docs:
        doc = np.asarray(pool.doc(i), dtype=np.int64)
        wins = spread(windows(doc, 48, 8), 3)
        assert len(wins) == 3 and wins[0][0] == doc[0] and wins[-1][-1] == doc[-1]
        each = [float(est.rewards(model, [w])[0]) for w in wins]  # every window on its own
        assert recorded[i] == pytest.approx(np.mean(each), rel=1e-4, abs=1e-6)
        assert np.ptp(each) > 0  # the windows differ, so the first window alone would not do
    assert read_json(d / "summary.json")["steps"] > refresh_step
