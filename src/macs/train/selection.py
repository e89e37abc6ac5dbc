"""Online selection inside the training loop: rewards for sampled groups -> actor/console update -> next stage.

One `StageSelector` interface, three modes on the same loop:
- `multi_actor`: the method (console with collaborative theta updates).
- `fixed_theta`: the same, but theta stays at its initial value (the paper's ablation).
- `random`: uniformly random documents at the same token budget (no rewards, no actors).
Any subset of actors works for the first two (`selection.actors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from macs.errors import MacsError

RewardFn = Callable[[list[int]], np.ndarray]
"""Rewards (float64, higher = more helpful, nan = skipped) for a list of doc indices under the current model."""


@dataclass
class ActorLabels:
    """One actor's offline labels aligned to the canonical doc order."""

    name: str
    groups: np.ndarray  # int32 group id per doc
    group_names: list[str]


@dataclass
class RefreshLog:
    """What one refresh did (a selection.jsonl line)."""

    stage: int
    step: int
    n_docs: int
    n_tokens: int
    budget: int
    seconds: dict[str, float] = field(default_factory=dict)
    actors: dict[str, dict] = field(default_factory=dict)
    theta: dict[str, float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The JSON record: R_A[j] (raw group-mean rewards), w_A, R_A, theta and seconds per part."""
        return {
            "stage": self.stage,
            "step": self.step,
            "n_docs": self.n_docs,
            "n_tokens": self.n_tokens,
            "budget": self.budget,
            "theta": self.theta,
            "actors": self.actors,
            "seconds": self.seconds,
            **self.extra,
        }


class Selector(Protocol):
    """What the loop needs from a selection strategy (baselines plug in here with their own class)."""

    counts: np.ndarray  # times each doc has been selected (for the stage manifest)

    def initial(self, budget: int, step: int) -> tuple[np.ndarray, RefreshLog]:
        """Stage 0's sorted doc indices reaching `budget` tokens, and its log."""
        ...

    def refresh(
        self, stage: int, step: int, budget: int, reward_fn: RewardFn
    ) -> tuple[np.ndarray, RefreshLog]:
        """The next stage's sorted doc indices (rewards from the current model via reward_fn), and its log."""
        ...

    def state_dict(self) -> dict:
        """Everything needed to continue identically after a restart."""
        ...

    def load_state_dict(self, sd: dict) -> None:
        """Restore from state_dict."""
        ...


class ConsoleSelector:
    """Every mode through macs.console.Console: the method, fixed theta, or random (no rewards)."""

    def __init__(self, console, n_tokens: np.ndarray, eligible: np.ndarray, samples_per_group: int):
        self.console = console
        self.n_tokens = np.asarray(n_tokens, dtype=np.int64)
        self.eligible = np.asarray(eligible, dtype=bool)
        self.m = int(samples_per_group)

    @property
    def mode(self) -> str:
        """multi_actor | fixed_theta | random."""
        return self.console.mode

    @property
    def counts(self) -> np.ndarray:
        """Times each document has been selected (the console's repetition-decay counts)."""
        return np.asarray(self.console.counts)

    def _select(self, budget: int) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        idx = np.asarray(self.console.select(self.n_tokens, budget, self.eligible), dtype=np.int64)
        return idx, time.perf_counter() - t0

    def _log(
        self,
        stage: int,
        step: int,
        budget: int,
        idx: np.ndarray,
        secs: dict,
        actors: dict,
        extra: dict | None = None,
    ) -> RefreshLog:
        for a in self.console.actors:
            actors.setdefault(a.name, {})
            actors[a.name]["w"] = np.asarray(a.weights, dtype=float).tolist()
            actors[a.name]["group_names"] = list(a.group_names)
        theta = self.console.theta_dict() if self.mode != "random" else {}
        info = {
            k: v
            for k, v in dict(self.console.last_select).items()
            if k not in ("theta", "seconds", "stage")
        }
        return RefreshLog(
            stage,
            step,
            int(idx.size),
            int(self.n_tokens[idx].sum()),
            int(budget),
            secs,
            actors,
            theta,
            {"mode": self.mode, "select_info": info, **(extra or {})},
        )

    def initial(self, budget: int, step: int) -> tuple[np.ndarray, RefreshLog]:
        """Stage 0: top-k of the initial scores (ties, e.g. all-uniform weights, broken by the console's seed)."""
        idx, dt = self._select(budget)
        secs = {"sample": 0.0, "reward": 0.0, "update": 0.0, "select": dt, "total": dt}
        return idx, self._log(0, step, budget, idx, secs, {})

    def refresh(
        self, stage: int, step: int, budget: int, reward_fn: RewardFn
    ) -> tuple[np.ndarray, RefreshLog]:
        """Sample m docs per group per actor, reward them with the current model, update, select.

        In random mode no rewards are computed: the next stage is drawn at the same budget.
        """
        if self.mode == "random":
            idx, dt = self._select(budget)
            secs = {"sample": 0.0, "reward": 0.0, "update": 0.0, "select": dt, "total": dt}
            return idx, self._log(stage, step, budget, idx, secs, {})
        t0 = time.perf_counter()
        samples = self.console.sample_groups(self.m, self.eligible)
        union = np.unique(
            np.concatenate([g for per_group in samples.values() for g in per_group] or [[]])
        )
        union = union.astype(np.int64)
        t1 = time.perf_counter()
        r = np.asarray(reward_fn(union.tolist()), dtype=np.float64) if union.size else np.zeros(0)
        t2 = time.perf_counter()
        R: dict[str, np.ndarray] = {}
        n_scored: dict[str, list[int]] = {}
        for name, per_group in samples.items():
            vals, ns = [], []
            for g in per_group:
                x = (
                    r[np.searchsorted(union, np.asarray(g, dtype=np.int64))]
                    if len(g)
                    else np.zeros(0)
                )
                ok = x[np.isfinite(x)]
                vals.append(float(ok.mean()) if ok.size else float("nan"))
                ns.append(int(ok.size))
            R[name] = np.array(vals)
            n_scored[name] = ns
        ulog = self.console.update(R)
        t3 = time.perf_counter()
        idx, dt = self._select(budget)
        secs = {
            "sample": t1 - t0,
            "reward": t2 - t1,
            "update": t3 - t2,
            "select": dt,
            "total": t3 - t0 + dt,
        }
        actors = {}
        for name in R:
            actors[name] = {
                "R_j": [float(v) if np.isfinite(v) else None for v in R[name]],
                "n_j": n_scored[name],
                "z": ulog["z"][name],
                "R": ulog["R_actor"][name],
            }
        extra = {
            "R_bar": ulog["R_bar"],
            "n_reward_docs": int(union.size),
            "n_reward_nan": int((~np.isfinite(r)).sum()),
            "reward_docs_per_s": union.size / max(t2 - t1, 1e-9),
        }
        return idx, self._log(stage, step, budget, idx, secs, actors, extra)

    def state_dict(self) -> dict:
        """The console's state (actors' weights, theta, counts, its RNG)."""
        return {"console": self.console.state_dict()}

    def load_state_dict(self, sd: dict) -> None:
        """Restore from state_dict."""
        self.console.load_state_dict(sd["console"])


def make_selector(pool, cfg, seed: int, actors: list | None = None) -> ConsoleSelector:
    """The console for cfg.selection (mode, actors, step sizes, decay) over the pool.

    `actors` are prebuilt macs.actors objects (from the console layer's build_actors); without
    them each configured actor is a plain Actor over the pool's labels of the same name.
    """
    from macs.actors.base import Actor
    from macs.console.pool import console_for

    sel = cfg.selection
    if actors is None:
        specs = sel.actor_specs()
        missing = [s.name for s in specs if (s.labels or s.name) not in pool.actors]
        if missing and sel.mode != "random":
            raise MacsError(
                f"selection.actors names {missing}, which have no labels; labelled: {sorted(pool.actors)} "
                "(run `macs label` for them or drop them from selection.actors)"
            )
        actors = []
        for s in specs:
            lab = pool.actors.get(s.labels or s.name)
            if lab is None:
                continue
            init = s.init if s.init is not None else sel.init
            actors.append(
                Actor(
                    s.name,
                    lab.groups,
                    lab.group_names,
                    init=init,
                    update=sel.update,
                    eta=sel.eta_w,
                    n_tokens=pool.doc_tokens,
                )
            )
    console = console_for(sel, actors, seed, pool.n_docs)
    return ConsoleSelector(console, pool.doc_tokens, pool.eligible, sel.samples_per_group)
