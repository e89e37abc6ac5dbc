"""What the trainer is given: a Selection (built per run by a SelectionFactory) and an Evaluator.

`macs.train` imports nothing from `macs.select` or `macs.eval`: `macs.select.online.OnlineSelection`
implements `Selection`, and `macs.app.training.RunEvaluator` implements `Evaluator`. The trainer
calls only what is listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Selection(Protocol):
    """The data of every stage. `initial()` is stage 0; `refresh(...)` chooses the next stage on
    the current model. Built on every rank (all score rewards with the same function); only rank
    0 selects, writes and checkpoints it."""

    online: (
        bool  # refreshes score rewards on the model (split over DDP ranks when there are several)
    )
    inrun: Any  # influence.source=train: the accumulator the training passes add to, else None
    stage_budgets: list[int]

    def initial(self) -> Any: ...

    def refresh(self, model, step: int, optimizer=None, rewards_via=None) -> Any: ...

    @property
    def counts(self) -> np.ndarray: ...

    def group_columns(self) -> dict: ...

    def labels_used(self) -> list[str]: ...

    def reward_fn(self) -> Callable[..., np.ndarray]: ...

    def inrun_scorer(self, model) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, sd: dict[str, Any]) -> None: ...


class SelectionFactory(Protocol):
    def __call__(self, stage_budgets: list[int]) -> Selection: ...


class Evaluator(Protocol):
    """`evaluator(model, run_dir)` -> the run's evaluation (eval.json) at the end of training;
    `evaluator.boundary(model)` -> the fixed cheap evaluation of the data-efficiency curve at a
    stage boundary (eval.boundary_limit)."""

    def __call__(self, model, run_dir: Path) -> dict: ...

    def boundary(self, model) -> dict: ...
