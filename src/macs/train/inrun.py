"""The training loop's side of `influence.source: train`: score scheduled steps' batches in their backward pass.

`InRunHook.capture(step, data, ks)` wraps one micro-batch's forward and backward; on a scored
step (influence.train_every / train_fraction, seeded) the per-sequence rewards go to the
selection's accumulator, attributed to the documents each sequence holds by token count. The
reference directions are computed at each stage's start (`begin`), saved in the checkpoint and
restored on resume, so a resumed stage scores against the same directions. Under DDP every rank
scores its own rows; `reduce()` sums the ranks' accumulators into rank 0 (the others restart
from zero), before every checkpoint and every selection.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import timed


def scored_step(step: int, every: int, fraction: float, seed: int) -> bool:
    """Whether training step `step` is scored: every `every`-th step, a seeded `fraction` of those."""
    if step % every:
        return False
    if fraction >= 1.0:
        return True
    return bool(np.random.default_rng([int(seed), 0x1A7E, int(step)]).random() < fraction)


class InRunHook:
    """Schedules, captures and attributes the in-run rewards of a training run."""

    def __init__(self, tr):
        i = tr.job.inrun  # macs.train.job.InRunSchedule
        if i is None:
            raise MacsError(
                "the selection takes in-run rewards but the run has no in-run schedule "
                "(influence.source is not train)"
            )
        self.acc = tr.selection.inrun
        self.scorer = tr.selection.inrun_scorer(tr.model)
        self.every, self.fraction, self.seed = i.every, i.fraction, tr.job.seed
        self.dirs_every = i.dirs_every
        self.dist, self.device = tr.dist, tr.device
        self.local_seconds = 0.0  # this process's hook time (not checkpointed: cost accounting)
        self._counted = -1

    def begin(self, step: int) -> None:
        """Reference directions at the stage start (kept if restored from the checkpoint at `step`);
        the time counts as in-run reward work."""
        with timed() as sw:
            self.scorer.begin(step)
        dt = sw.seconds
        self.acc.seconds += dt if self.dist.main else 0.0
        self.local_seconds += dt

    def resume(self, stage_start: int) -> None:
        """After a restart: the checkpoint's directions if it had them, else the stage start's step."""
        if self.scorer.est.dirs is None:
            self.begin(stage_start)

    def capture(self, step: int, data, ks: np.ndarray):
        """Context for one micro-batch with sequence numbers `ks` (a no-op on unscored steps);
        with influence.train_dirs_every, directions older than that many steps are recomputed."""
        if not scored_step(step, self.every, self.fraction, self.seed):
            return contextlib.nullcontext()
        est = self.scorer.est
        if self.dirs_every and est._step is not None and step - est._step >= self.dirs_every:
            self.begin(step)
        return self._capture(step, data, ks)

    @contextlib.contextmanager
    def _capture(self, step: int, data, ks: np.ndarray):
        with self.scorer.capture(len(ks)) as got:
            yield
        docs, weights, rows = [], [], []
        for i, k in enumerate(ks):
            d, n = data.docs_of(int(k))
            docs.append(d)
            weights.append(n)
            rows.append(np.full(d.size, i))
        r = got["rewards"][np.concatenate(rows)]
        self.acc.add(np.concatenate(docs), np.concatenate(weights), r)
        self.acc.rows += len(ks)
        self.acc.seconds += got["seconds"]
        self.local_seconds += got["seconds"]
        if self.dist.main and step != self._counted:
            self.acc.steps += 1
            self._counted = step

    def reduce(self) -> None:
        """Sum every rank's accumulator into rank 0's (the other ranks restart from zero)."""
        if self.dist.world == 1:
            return
        import torch

        def all_reduce(a: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(a, dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(t)
            return t.cpu().numpy()

        self.acc.reduce(all_reduce)
        if not self.dist.main:
            self.acc.reset()

    def state_dict(self) -> dict[str, Any]:
        """The reference directions and the step they were computed at (restored on resume)."""
        est = self.scorer.est
        if est.dirs is None:
            return {}
        return {"step": int(est._step), "dirs": [d.detach().cpu() for d in est.dirs]}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore state_dict's directions (none saved: begin() computes them)."""
        if sd:
            est = self.scorer.est
            est.dirs = [d.to(self.device) for d in sd["dirs"]]
            est._step = int(sd["step"])
