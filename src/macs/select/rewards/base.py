"""The reward interface: `RewardEstimator.rewards(model, docs)`; higher reward = more helpful."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from macs.core.device import unwrap
from macs.core.timing import Stopwatch
from macs.select.rewards.batching import Unit, chunks, collate, doc_units
from macs.select.rewards.config import InfluenceConfig
from macs.select.rewards.reference import ReferenceSet


@contextlib.contextmanager
def scoring_mode(model):
    """Eval mode (no dropout) and no gradient checkpointing while scoring; both restored after."""
    was_training = model.training
    attr = (
        "is_activation_checkpointing"
        if hasattr(model, "is_activation_checkpointing")
        else "is_gradient_checkpointing"
    )
    ckpt = bool(getattr(model, attr, False))
    if ckpt:
        model.gradient_checkpointing_disable()
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
        if ckpt:
            model.gradient_checkpointing_enable()


def model_device(model):
    """The device of the model's first parameter."""
    return next(model.parameters()).device


def compute_dtype(model):
    """float64 for a float64 model (checks), else float32: the dtype of all gradient algebra."""
    import torch

    return torch.float64 if next(model.parameters()).dtype == torch.float64 else torch.float32


def reference_units(reference: ReferenceSet) -> dict[str, list[Unit]]:
    """The reference examples as units whose loss covers the continuation tokens only."""
    return {t: [Unit(e.input_ids, e.n_context) for e in ex] for t, ex in reference.tasks.items()}


class RewardEstimator:
    """Scores documents by how much training on them helps the reference tasks (higher = more helpful)."""

    name = "base"

    def __init__(self, cfg: InfluenceConfig, reference: ReferenceSet):
        self.cfg = cfg
        self.reference = reference
        self.stats: dict[str, Any] = {
            "docs": 0,
            "skipped_short": 0,
            "windows": 0,
            "nan_windows": 0,
            "seconds": 0.0,
            "refreshes": 0,
            "refresh_seconds": 0.0,
        }
        self._step: int | None = None  # the training step the reference side was computed at

    def refresh(self, model, step: int | None = None) -> None:
        """Recompute the reference-side quantities for the current model weights (at training step `step`)."""
        clock = Stopwatch()
        model = unwrap(model)
        with scoring_mode(model):
            self._refresh(model)
        self._step = step
        self.stats["refreshes"] += 1
        self.stats["refresh_seconds"] += clock.seconds

    def rewards(
        self, model, docs: Sequence[np.ndarray], step: int | None = None, **kw
    ) -> np.ndarray:
        """Reward per document, float64 (higher = more helpful); nan for docs shorter than min_tokens.

        Long documents are cut into windows (cfg.window tokens, cfg.overlap shared; at most
        cfg.max_windows, evenly spaced) and their windows' rewards averaged. The reference side
        is recomputed on every call unless `step` (the training step, given by the caller) equals
        the step it was last computed at: a cache keyed on anything the optimiser might not
        bump (a fused step does not change tensor versions) could go stale silently.
        """
        cfg = self.cfg
        model = unwrap(model)
        units, owner, short = doc_units(
            docs, cfg.window, cfg.overlap, cfg.min_tokens, cfg.max_windows
        )
        if units and (step is None or step != self._step):
            self.refresh(model, step)
        clock = Stopwatch()
        with scoring_mode(model):
            r_units = self._unit_rewards(model, units, **kw) if units else np.zeros(0)
        out = np.full(len(docs), np.nan)
        ok = ~np.isnan(r_units)
        sums = np.bincount(owner[ok], weights=r_units[ok], minlength=len(docs))
        cnt = np.bincount(owner[ok], minlength=len(docs))
        has = cnt > 0
        out[has] = sums[has] / cnt[has]
        self.stats["docs"] += len(docs)
        self.stats["skipped_short"] += int(short.sum())
        self.stats["windows"] += len(units)
        self.stats["nan_windows"] += int((~ok).sum())
        self.stats["seconds"] += clock.seconds
        return out

    def _batches(self, units: Sequence[Unit], device, size: int | None = None):
        for idx in chunks(units, size or self.cfg.chunk_size):
            ids, mask = collate([units[i] for i in idx], device)
            yield idx, ids, mask

    def _refresh(self, model) -> None:
        raise NotImplementedError

    def _unit_rewards(self, model, units: list[Unit], **kw) -> np.ndarray:
        raise NotImplementedError
