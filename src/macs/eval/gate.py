"""A run's count n-gram gate (macs.eval.ngram): unigram and bigram bits/byte of its training tokens
on the held-out documents its model's held-out bits/byte was measured on."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_gate(pool, run_dir: Path, eval_cfg, heldout: dict) -> dict:
    """The gate of the run in `run_dir` (every stage manifest's docs) on eval_cfg's held-out sample."""
    from macs.data.rundir import RunDir
    from macs.eval.heldout import _sample_heldout
    from macs.eval.ngram import ngram_gate

    stages = RunDir(run_dir).all_stage_docs()
    picked, _ = _sample_heldout(pool.store, eval_cfg.heldout_docs_per_domain, eval_cfg.seed)
    idx = np.concatenate([i for _, i in picked]) if picked else np.zeros(0, np.int64)
    return ngram_gate(pool, stages, idx, int(heldout["overall"]["n_bytes"]))
