"""`OnlineSelection`: the public face of online data selection, for macs's loop and any trainer.

```python
sel = OnlineSelection.from_config(cfg, stage_budgets=[2_000_000] * 5)   # or from objects
stage = sel.initial()              # stage 0: doc indices (stage.idx) reaching the budget
...train on stage.idx...
stage = sel.refresh(model, step)   # rewards on the current model -> actors, console -> stage 1
sd = sel.state_dict(); sel.load_state_dict(sd)   # restores it exactly
```
With `influence.source: train`, `sel.inrun` collects the stage's in-run rewards (the trainer
scores its own batches with `sel.inrun_scorer(model)`, macs.select.rewards.inrun) and refresh() uses
them, topped up by a small separate sample for groups the stage did not train on.
`model` is any `torch.nn.Module` causal LM called as `model(input_ids=ids)` or `model(ids)`
(its forward's signature decides, macs.select.rewards.batching.takes_input_ids) that returns logits,
a tuple led by them or an object with `.logits` (a Hugging Face `PreTrainedModel` included). The selector (multi-actor method or a baseline) is
chosen by name through `macs.select.selectors.registry`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.select.selectors.base import Choice, Online, Selector, SelectorContext


@dataclass
class Stage:
    """One stage's selection: sorted doc indices, scores, the selection.jsonl record, rewards scored."""

    stage: int
    idx: np.ndarray
    budget: int
    scores: np.ndarray | None = None
    log: dict[str, Any] = field(default_factory=dict)
    rewards: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_tokens(self) -> int:
        """Training tokens selected (from the log)."""
        return int(self.log.get("n_tokens", 0))


def reward_function(cfg, pool, log: Callable[[str], None] | None = None):
    """fn(model, doc indices, step, optimizer=None) -> rewards (float64, higher = more helpful, nan = skipped).

    The reference set is tokenized once with the pool's tokenizer; documents are cut to
    train.reward_max_tokens when it is set (else windowed by the influence config).
    """
    from macs.data.corpus.tokenizer import load_tokenizer
    from macs.select.rewards import make_estimator, reference_for_config

    if pool.tokenizer_path is None:
        raise MacsError("rewards need the pool's tokenizer; tokenize the corpus first")
    tok = load_tokenizer(pool.tokenizer_path)
    est = make_estimator(cfg.influence, reference_for_config(tok, cfg.influence))
    return pool_rewards(pool, est, cut=int(getattr(cfg.train, "reward_max_tokens", 0) or 0))


def pool_rewards(pool, est, cut: int = 0):
    """fn(model, doc indices, step, optimizer=None) -> the estimator's rewards of those pool
    documents (cut to `cut` tokens when > 0; the probe estimator also gets the optimizer)."""

    def rewards(model, idx, step: int | None = None, optimizer=None) -> np.ndarray:
        docs = [np.asarray(pool.doc(int(i)), dtype=np.int64) for i in np.asarray(idx)]
        if cut:
            docs = [d[:cut] for d in docs]
        kw = {"optimizer": optimizer} if getattr(est, "name", "") == "probe" else {}
        return est.rewards(model, docs, step=step, **kw)

    rewards.estimator = est
    return rewards


class OnlineSelection:
    """A selector over a pool with a reward function: initial(), refresh(model, step), state_dict()."""

    def __init__(
        self,
        selector: Selector,
        stage_budgets: list[int] | None,
        reward_fn=None,
        log: Callable[[str], None] | None = None,
    ):
        self.selector = selector
        self.pool = selector.pool
        self.stage = -1  # index of the last stage returned
        self.stage_budgets: list[int] = []
        if stage_budgets:
            self.set_budgets(stage_budgets)
        self._reward_fn = reward_fn
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        # influence.source=train: the stage's in-run reward sums (enable_inrun), else None
        self.inrun = None

    @classmethod
    def from_config(
        cls,
        cfg,
        stage_budgets: list[int] | None = None,
        pool=None,
        method: str | None = None,
        seed: int | None = None,
        cache_dir=None,
        log: Callable[[str], None] | None = None,
        reward_fn=None,
    ) -> OnlineSelection:
        """Build from a macs Config: pool (opened from the config unless given), selector `method`
        (default selection.method), rewards from cfg.influence unless `reward_fn(model, idx, step,
        optimizer)` is given."""
        from macs.data.pool import open_pool
        from macs.select.selectors.registry import build_selector

        say = log or (lambda m: print(m, file=sys.stderr, flush=True))
        pool = pool if pool is not None else open_pool(cfg)
        for note in pool.notes:
            say(f"[select] note: {note}")
        ctx = SelectorContext(
            pool=pool,
            cfg=cfg,
            seed=cfg.run.seed + cfg.selection.seed_offset if seed is None else seed,
            stage_budgets=list(stage_budgets or []),
            cache_dir=cache_dir,
            log=say,
        )
        selector = build_selector(method or cfg.selection.method, ctx)
        if selector.online and reward_fn is None:
            reward_fn = _lazy(lambda: reward_function(cfg, pool))
        sel = cls(selector, stage_budgets, reward_fn, log=say)
        if getattr(cfg.influence, "source", "refresh") == "train":
            sel.enable_inrun()
        return sel

    def enable_inrun(self) -> None:
        """Take the stage rewards from the training passes (influence.source=train): the trainer
        adds per-document sums to `self.inrun` (macs.select.rewards.inrun) and refresh() uses them."""
        from macs.select.rewards.inrun import InRunAccumulator

        if not getattr(self.selector, "takes_inrun", False):
            self.log(
                f"[select] note: influence.source=train has no effect on {self.selector.name} "
                "(it does not use group rewards)"
            )
            return
        self.inrun = InRunAccumulator(self.pool.n_docs)

    def inrun_scorer(self, model):
        """The InRunScorer of the training model with this selection's reward estimator."""
        from macs.select.rewards.inrun import InRunScorer

        est = getattr(self.reward_fn(), "estimator", None)
        if est is None:
            raise MacsError("influence.source=train needs the configured reward estimator")
        return InRunScorer(model, est)

    @property
    def online(self) -> bool:
        """Whether refreshes score rewards on the current model (the trainer then splits that work
        over DDP ranks)."""
        return bool(self.selector.online)

    def set_budgets(self, stage_budgets: list[int]) -> None:
        """The token budget of every stage (a trainer integration sets them from its own arguments)."""
        if not stage_budgets or min(stage_budgets) <= 0:
            raise MacsError(f"stage budgets must be positive token counts, got {stage_budgets}")
        if self.stage >= 0 and [int(b) for b in stage_budgets] != self.stage_budgets:
            raise MacsError("stage budgets cannot change after the first stage was selected")
        self.stage_budgets = [int(b) for b in stage_budgets]
        self.selector.ctx.stage_budgets = list(self.stage_budgets)

    @property
    def n_stages(self) -> int:
        """Number of stages."""
        return len(self.stage_budgets)

    def initial(self) -> Stage:
        """Stage 0's selection."""
        if not self.stage_budgets:
            raise MacsError(
                "set the stage budgets first (from_config(stage_budgets=...) or set_budgets)"
            )
        ch = self.selector.initial(self.stage_budgets[0])
        self.stage = 0
        return self._stage(0, ch)

    def refresh(
        self, model=None, step: int | None = None, optimizer=None, rewards_via=None
    ) -> Stage:
        """The next stage's selection; online selectors score samples on `model` (at training `step`).

        `rewards_via(fn, idx)` computes the rewards instead of calling fn(idx) here: macs's DDP
        loop passes one that splits the documents across the ranks and gathers the rewards.
        """
        k = self.stage + 1
        if self.stage < 0:
            raise MacsError("call initial() before refresh()")
        if k >= self.n_stages:
            raise MacsError(f"all {self.n_stages} stages were selected already")
        online = None
        if self.selector.online:
            if model is None:
                raise MacsError(f"method {self.selector.name} needs the current model to refresh")
            online = self._online(model, step, optimizer)
            if rewards_via is not None:
                local = online.rewards
                online.rewards = lambda idx: rewards_via(local, idx)
            if self.inrun is not None:
                online.inrun = self.inrun.result()
        ch = self.selector.refresh(k, self.stage_budgets[k], online)
        if online is not None and self.inrun is not None:
            ch.log["inrun"] = self.inrun.info()
            self.inrun.reset()
        self.stage = k
        return self._stage(k, ch)

    def reward_fn(self):
        """The reward function fn(model, idx, step, optimizer) (built on first use)."""
        if isinstance(self._reward_fn, _lazy):
            self._reward_fn = self._reward_fn()
        return self._reward_fn

    def _online(self, model, step, optimizer) -> Online:
        from macs.core.device import unwrap

        raw = unwrap(model)
        dev = str(next(raw.parameters()).device)
        was_training = raw.training
        step_key = step if step is not None else -1 - self.stage  # unique per refresh

        def rewards(idx: np.ndarray) -> np.ndarray:
            fn = self.reward_fn()  # built on first use (selectors such as mates never call it)
            raw.eval()
            try:
                return fn(raw, idx, step_key, optimizer)
            finally:
                raw.train(was_training)

        return Online(model=raw, step=step_key, rewards=rewards, optimizer=optimizer, device=dev)

    def _stage(self, k: int, ch: Choice) -> Stage:
        return Stage(k, ch.idx, self.stage_budgets[k], ch.scores, ch.log, ch.rewards)

    @property
    def counts(self) -> np.ndarray:
        """Stages that chose each document so far."""
        return self.selector.counts

    def group_columns(self) -> dict:
        """Extra group columns of the stage manifest (each actor's group of every document)."""
        return self.selector.group_columns()

    def labels_used(self) -> list[str]:
        """The label sidecars this selection reads (their labelling cost is charged to the run)."""
        return self.selector.labels_used()

    def state_dict(self) -> dict[str, Any]:
        """The selector's state and the stage counter."""
        sd = {"stage": self.stage, "selector": self.selector.state_dict()}
        if self.inrun is not None:
            sd["inrun"] = self.inrun.state_dict()
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore exactly what state_dict saved."""
        self.selector.load_state_dict(sd["selector"])
        self.stage = int(sd["stage"])
        if self.inrun is not None:
            if "inrun" in sd:
                self.inrun.load_state_dict(sd["inrun"])
            else:
                self.inrun.reset()


class _lazy:
    """A deferred factory (the reward function tokenizes reference sets: built on first use)."""

    def __init__(self, make):
        self.make = make

    def __call__(self):
        return self.make()
