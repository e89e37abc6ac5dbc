"""In-run rewards (`influence.source: train`): score the training batches inside their own backward pass.

A training step's loss is the mean over its sequences, so the output gradients its backward
pass sends through every layer carry each sequence's share of the gradient. With the hook
engine of ghost.py on the training forward and backward, each sequence's squared gradient
norm and its dot products with the reference directions come out of that same pass (the
"ghost" dot product of In-Run Data Shapley, Wang et al., ICLR 2025: for a linear layer,
<D_i^T A_i, V> = sum over positions of D_i^T V A_i, without forming D_i^T A_i; embeddings by
gathering direction rows at the tokens; norm layers by per-example gradients of that module
alone). The reward of sequence i is the alignment estimator's: the mean over reference tasks
of cos(g_i, v_task), with v_task computed at the stage's start (its last refresh).

The training example is a packed sequence of `seq_len` tokens, and attention crosses document
boundaries inside it, so one document's own gradient cannot be separated from one backward
pass. A document's in-run reward is therefore the token-weighted mean of the rewards of the
training sequences that hold its tokens (weights: its tokens in each). The selector then treats
documents as in the refresh pass: group means over documents.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch


class InRunAccumulator:
    """Per-document sums of one stage's in-run rewards: sum of w * r and of w (w = the doc's tokens in a row)."""

    def __init__(self, n_docs: int):
        self.n_docs = int(n_docs)
        self.reset()

    def reset(self) -> None:
        """Empty sums (a new stage)."""
        self.wr = np.zeros(self.n_docs, dtype=np.float64)
        self.w = np.zeros(self.n_docs, dtype=np.float64)
        self.rows = 0  # sequences scored
        self.steps = 0  # optimiser steps scored
        self.seconds = 0.0  # time spent in the hooks (reward work inside the training step)

    def add(self, docs: np.ndarray, weights: np.ndarray, rewards: np.ndarray) -> None:
        """Add rows: docs[i], weights[i] (tokens) and rewards[i] of each (doc, row) pair; nan rewards skipped."""
        r = np.asarray(rewards, dtype=np.float64)
        ok = np.isfinite(r)
        d = np.asarray(docs, dtype=np.int64)[ok]
        w = np.asarray(weights, dtype=np.float64)[ok]
        np.add.at(self.wr, d, w * r[ok])
        np.add.at(self.w, d, w)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(doc indices, their in-run rewards): the docs with any scored tokens, sorted."""
        idx = np.flatnonzero(self.w > 0)
        return idx.astype(np.int64), self.wr[idx] / self.w[idx]

    def info(self) -> dict[str, Any]:
        """What selection.jsonl records about the stage's in-run scoring."""
        return {
            "rows": int(self.rows),
            "steps": int(self.steps),
            "docs": int((self.w > 0).sum()),
            "seconds": float(self.seconds),
        }

    def state_dict(self) -> dict[str, Any]:
        """Sparse sums (docs with tokens scored) and the counters."""
        idx = np.flatnonzero(self.w > 0).astype(np.int64)
        return {
            "n_docs": self.n_docs,
            "idx": idx,
            "wr": self.wr[idx].copy(),
            "w": self.w[idx].copy(),
            "rows": self.rows,
            "steps": self.steps,
            "seconds": self.seconds,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore state_dict's sums exactly."""
        if int(sd["n_docs"]) != self.n_docs:
            raise MacsError(
                f"in-run reward state covers {sd['n_docs']} docs, the pool has {self.n_docs}; "
                "the corpus changed: start a fresh run"
            )
        self.reset()
        idx = np.asarray(sd["idx"], dtype=np.int64)
        self.wr[idx] = np.asarray(sd["wr"], dtype=np.float64)
        self.w[idx] = np.asarray(sd["w"], dtype=np.float64)
        self.rows, self.steps = int(sd["rows"]), int(sd["steps"])
        self.seconds = float(sd["seconds"])

    def reduce(self, all_reduce) -> None:
        """Sum the sums over processes: `all_reduce(array) -> summed array` (every rank ends with the total)."""
        packed = np.concatenate([self.wr, self.w, [self.rows, self.steps, self.seconds]])
        tot = np.asarray(all_reduce(packed), dtype=np.float64)
        n = self.n_docs
        self.wr, self.w = tot[:n].copy(), tot[n : 2 * n].copy()
        self.rows, self.steps, self.seconds = int(tot[2 * n]), int(tot[2 * n + 1]), float(tot[-1])


class InRunScorer:
    """Per-sequence alignment rewards of training batches from the hooks on the training backward pass."""

    def __init__(self, model, estimator):
        from macs.core.device import unwrap
        from macs.select.rewards.ghost import HookEngine, Unsupported

        if getattr(estimator, "name", "") != "alignment":
            raise MacsError("influence.source=train needs the alignment estimator")
        self.model = unwrap(model)
        self.est = estimator
        try:
            self.engine = HookEngine(self.model)
        except Unsupported as e:
            raise MacsError(
                f"influence.source=train cannot hook this model ({e}); use influence.source=refresh"
            ) from e

    def begin(self, step: int) -> None:
        """Reference directions at the current weights (kept when the refresh at `step` made them)."""
        if self.est.dirs is None or self.est._step != step:
            self.est.refresh(self.model, step)

    @contextlib.contextmanager
    def capture(self, c: int):
        """Around one micro-batch's forward and backward of `c` sequences; yields a dict whose
        'rewards' (float64, c) and 'seconds' (hook time) are set on exit."""
        from macs.select.rewards.base import compute_dtype, model_device
        from macs.select.rewards.ghost import NormDotSink, Unsupported

        if self.est.dirs is None:
            raise MacsError("in-run rewards: no reference directions; call begin(step) first")
        sink = NormDotSink(
            c,
            self.est.dirs,
            self.est.cfg.max_chunk_elems,
            model_device(self.model),
            compute_dtype(self.model),
        )
        out: dict[str, Any] = {}
        t_hooks = self.engine.seconds
        try:
            with self.engine.capture(c, sink):
                yield out
        except Unsupported as e:
            raise MacsError(
                f"influence.source=train cannot hook this model's training pass ({e}); "
                "use influence.source=refresh"
            ) from e
        clock = Stopwatch()
        r = (sink.dots / sink.sq.sqrt()[:, None]).mean(1).double().cpu().numpy()
        r[~np.isfinite(r)] = np.nan
        out["rewards"] = r
        out["seconds"] = self.engine.seconds - t_hooks + clock.seconds
