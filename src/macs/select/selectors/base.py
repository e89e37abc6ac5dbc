"""The selector interface: every way of choosing a stage's documents, the method and the baselines.

A selector chooses, for each stage, documents from the pool until the stage's token budget is
met (equal tokens for every method). `initial(budget)` gives stage 0; `refresh(stage, budget,
online)` gives every later stage, where `online` carries the current model (for the methods
that read it: the multi-actor method, MATES) or is None for static selectors. State that a
restart must restore goes in `state_dict()`.

Selectors are registered by name (`macs.select.selectors.registry`) and built from a
`SelectorContext` (pool, config, seed, stage budgets, cache folder).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch

RewardFn = Callable[[np.ndarray], np.ndarray]
"""Rewards (float64, higher = more helpful, nan = skipped) of doc indices under the current model."""


@dataclass
class Choice:
    """One stage's selection: sorted doc indices, their scores and the selection.jsonl record."""

    idx: np.ndarray  # int64 doc indices, sorted ascending (a doc appears at most once per stage)
    scores: np.ndarray | None = None  # float32 per selected doc, higher = preferred (or None)
    log: dict[str, Any] = field(default_factory=dict)  # JSON-able: seconds, actors, theta, ...
    rewards: tuple[np.ndarray, np.ndarray] | None = (
        None  # (doc indices, rewards) scored this refresh
    )


@dataclass
class Online:
    """What a model-aware selector may read at a refresh: the current model and its optimiser."""

    model: Any  # the training model (torch.nn.Module; a causal LM returning logits)
    step: int  # optimiser steps taken so far (keys every per-model cache)
    rewards: RewardFn  # the configured reward estimator on the current model
    optimizer: Any = None  # the training optimiser (for MATES's probe with its state)
    device: str = "cpu"
    # in-run rewards of the stage (influence.source=train): (doc indices, rewards) of the documents
    # the stage trained on and scored in its backward passes; None = the refresh pass only
    inrun: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class SelectorContext:
    """Everything a selector is built from."""

    pool: Any  # macs.data.pool.Pool
    cfg: Any  # macs.app.config.Config (selection, baselines, influence sections)
    seed: int
    stage_budgets: list[int]  # training tokens of each stage (equal for every method)
    cache_dir: Path | None = None  # where a selector may cache per-pool work (scores, sweeps)
    actors: list[str] | None = None  # actor subset named in the method spec (multi-actor)
    actor_objects: list | None = (
        None  # prebuilt macs.select.actors.Actor objects (instead of labels)
    )
    log: Callable[[str], None] = print

    @property
    def total_budget(self) -> int:
        """Training tokens of the whole run."""
        return int(sum(self.stage_budgets))


class Selector(ABC):
    """Chooses each stage's documents at the stage's token budget (higher score = chosen first)."""

    name: ClassVar[str] = "base"
    online: ClassVar[bool] = False  # refresh() needs the current model
    description: ClassVar[str] = ""

    def __init__(self, ctx: SelectorContext):
        self.ctx = ctx
        self.pool = ctx.pool
        self.counts = np.zeros(ctx.pool.n_docs, dtype=np.uint16)  # stages that chose each doc

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """Raise MacsError (naming the method and the fix) if this selector cannot run on ctx."""
        return None

    @classmethod
    def prepare(cls, ctx: SelectorContext) -> None:
        """Offline work that runs once before training (e.g. a proxy sweep) and is cached: a
        comparison calls it in the parent process so parallel runs reuse the cache."""
        return None

    @abstractmethod
    def initial(self, budget: int) -> Choice:
        """Stage 0's documents reaching `budget` training tokens."""

    @abstractmethod
    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """Stage `stage`'s documents reaching `budget` tokens (online: the current model, or None)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically after a restart."""
        return {"counts": self.counts.copy()}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore from state_dict."""
        counts = np.asarray(sd["counts"])
        if counts.shape != self.counts.shape:
            raise MacsError(
                f"selector {self.name}: saved state covers {counts.shape[0]} docs, the pool has "
                f"{self.counts.shape[0]}; the corpus changed: start a fresh run"
            )
        self.counts = counts.astype(np.uint16, copy=True)

    def group_columns(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Extra per-doc groups to record in manifests (e.g. custom actors): name -> (codes, names)."""
        return {}

    def weights(self) -> dict[str, np.ndarray]:
        """Current per-group weights by actor (empty for selectors without actors)."""
        return {}

    def labels_used(self) -> list[str]:
        """Label sidecars this selector reads (their offline cost is part of the method's cost)."""
        return []

    # ------------------------------------------------------------------ helpers
    def _bump(self, idx: np.ndarray) -> None:
        c = self.counts[idx]
        self.counts[idx] = np.where(c < np.iinfo(np.uint16).max, c + 1, c)

    def _choice(
        self,
        stage: int,
        budget: int,
        idx: np.ndarray,
        clock: Stopwatch,
        scores: np.ndarray | None = None,
        **extra: Any,
    ) -> Choice:
        """A Choice with the standard log fields (seconds.total: `clock`, started when the stage's
        selection began, unless `seconds` has one); bumps the selection counts of idx."""
        idx = np.unique(np.asarray(idx, dtype=np.int64))
        self._bump(idx)
        tok = int(self.pool.n_tokens[idx].sum())
        secs = extra.pop("seconds", None) or {}
        secs.setdefault("total", clock.seconds)
        log = {
            "stage": int(stage),
            "method": self.name,
            "n_docs": int(idx.size),
            "n_tokens": tok,
            "budget": int(budget),
            "seconds": secs,
            **extra,
        }
        return Choice(idx, None if scores is None else np.asarray(scores, np.float32), log)
