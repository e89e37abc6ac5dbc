"""The method (multi-actor collaborative selection) and its ablations as selectors.

- `multi_actor`: actors update their group weights from rewards of the current model, the
  console updates theta and selects (method.md section 2).
- `fixed_theta`: the same, theta stays at 1/|actors| (the paper's ablation).
- Either with an actor subset: `multi_actor:quality+domain`, `fixed_theta:topic`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from macs.actors.base import Actor
from macs.baselines.base import Choice, Online, Selector, SelectorContext
from macs.baselines.registry import register_selector
from macs.console.console import Console
from macs.errors import MacsError


def actor_specs(ctx: SelectorContext) -> list:
    """The configured actor specs, restricted to the method's subset (ctx.actors) when given."""
    specs = ctx.cfg.selection.actor_specs()
    if ctx.actors is None:
        return specs
    by_name = {s.name: s for s in specs}
    from macs.console.config import ActorSpec

    return [by_name.get(a, ActorSpec(name=a)) for a in ctx.actors]


def build_actors(ctx: SelectorContext, specs: list | None = None) -> list[Actor]:
    """Actors over the pool: a custom class (spec.cls) builds itself from the store, the built-ins read the pool's labels."""
    from macs.actors.registry import build_actor

    pool, sel = ctx.pool, ctx.cfg.selection
    out = []
    for s in specs if specs is not None else actor_specs(ctx):
        init = s.init if s.init is not None else sel.init
        if init == "regmix":  # RegMix over this actor's groups (cached beside the labels)
            from macs.baselines.regmix import regmix_weights

            init = regmix_weights(ctx, s.labels or s.name).tolist()
        kw = {"init": init, "update": sel.update, "eta": sel.eta_w, "n_tokens": pool.n_tokens}
        lab = pool.labels.get(s.labels or s.name)
        if s.cls is None and lab is not None:
            out.append(Actor(s.name, lab.groups, lab.group_names, **kw))
        elif s.cls is None and s.name == "domain" and pool.domain_names:
            out.append(Actor(s.name, pool.domain_codes, pool.domain_names, **kw))
        elif pool.store is not None:
            out.append(build_actor(s.name, pool.store, cls=s.cls, labels=s.labels, **kw))
        else:
            raise MacsError(f"actor {s.name!r} has no labels in this pool; run `macs label`")
    return out


def _has_labels(ctx: SelectorContext, spec) -> bool:
    pool = ctx.pool
    return (
        spec.cls is not None
        or (spec.labels or spec.name) in pool.labels
        or (spec.name == "domain" and bool(pool.domain_names))
    )


@register_selector("multi_actor")
class MultiActorSelector(Selector):
    """Actors + console; rewards from the current model every refresh (higher = more helpful)."""

    online: ClassVar[bool] = True
    takes_actors: ClassVar[bool] = True
    update_theta: ClassVar[bool] = True
    description: ClassVar[str] = "the method: actors and console updated from influence rewards"

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """Every actor must have labels (or a class that builds them); degenerate ones are dropped with a note."""
        if ctx.actor_objects is not None:
            if not ctx.actor_objects:
                raise MacsError("give at least one actor")
            return
        specs = actor_specs(ctx)
        missing = [s.name for s in specs if not _has_labels(ctx, s)]
        if missing:
            raise MacsError(
                f"actors {missing} have no labels (labelled: {sorted(ctx.pool.labels) or 'none'}); "
                "run `macs label` for them or drop them from selection.actors"
            )
        if not [s for s in specs if not _degenerate(ctx, s)]:
            raise MacsError(
                "every actor puts all documents in one group, so there is nothing to select by; "
                "label more than one domain, quality level or topic"
            )
        for s in specs:
            init = s.init if s.init is not None else ctx.cfg.selection.init
            if init == "regmix" and not _degenerate(ctx, s):
                from macs.baselines.regmix import regmix_check

                regmix_check(ctx, s.labels or s.name)

    @classmethod
    def prepare(cls, ctx: SelectorContext) -> None:
        """The RegMix sweeps of actors with `init: regmix` (cached), before any training."""
        if ctx.actor_objects is not None:
            return
        for s in actor_specs(ctx):
            init = s.init if s.init is not None else ctx.cfg.selection.init
            if init == "regmix" and not _degenerate(ctx, s):
                from macs.baselines.regmix import regmix_weights

                regmix_weights(ctx, s.labels or s.name)

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        if ctx.actor_objects is not None:
            actors = list(ctx.actor_objects)
        else:
            specs = actor_specs(ctx)
            for s in specs:
                if _degenerate(ctx, s):
                    ctx.log(f"[select] note: actor {s.name!r} has a single group; left out")
            actors = build_actors(ctx, [s for s in specs if not _degenerate(ctx, s)])
        sel = ctx.cfg.selection
        self.console = Console(
            actors,
            eta_theta=sel.eta_theta,
            mode="multi_actor" if self.update_theta else "fixed_theta",
            seed=ctx.seed,
            decay_factor=sel.decay_factor,
            theta_reward=sel.theta_reward,
            n_docs=ctx.pool.n_docs,
            controls=sel.controls(),
        )
        self.m = int(sel.samples_per_group)

    # the console owns the selection counts (they drive the repetition decay)
    @property
    def counts(self) -> np.ndarray:
        """Stages that chose each doc (the console's repetition-decay counts)."""
        return self.console.counts

    @counts.setter
    def counts(self, value: np.ndarray) -> None:
        if hasattr(self, "console"):
            self.console.counts = value

    def _select(self, stage: int, budget: int, t0: float, secs: dict, **extra: Any) -> Choice:
        t1 = time.perf_counter()
        pool = self.pool
        idx, scores = self.console.select(pool.n_tokens, budget, pool.eligible, return_scores=True)
        secs["select"] = time.perf_counter() - t1
        secs["total"] = time.perf_counter() - t0
        info = {k: v for k, v in self.console.last_select.items() if k not in ("theta", "seconds")}
        actors = extra.pop("actors", {})
        for a in self.console.actors:
            d = actors.setdefault(a.name, {})
            d["w"] = np.asarray(a.weights, dtype=float).tolist()
            d["group_names"] = list(a.group_names)
        log = {
            "stage": int(stage),
            "method": self.name,
            "n_docs": int(idx.size),
            "n_tokens": int(pool.n_tokens[idx].sum()),
            "budget": int(budget),
            "seconds": secs,
            "theta": self.console.theta_dict(),
            "actors": actors,
            "select_info": info,
            **extra,
        }
        return Choice(np.asarray(idx, dtype=np.int64), scores, log)

    def initial(self, budget: int) -> Choice:
        """Stage 0: top of the initial scores (ties, e.g. uniform weights, broken by the seeded hash)."""
        return self._select(0, budget, time.perf_counter(), {"sample": 0.0, "reward": 0.0})

    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """Sample m docs per group per actor, reward them on the current model, update actors and theta, select."""
        if online is None:
            raise MacsError(f"{self.name} needs the current model at every refresh")
        t0 = time.perf_counter()
        pool_mask = self.pool.eligible
        if self.ctx.cfg.selection.reward_pool == "unselected":
            pool_mask = pool_mask & (self.console.counts == 0)
        samples = self.console.sample_groups(self.m, pool_mask)
        parts = [g for per_group in samples.values() for g in per_group]
        union = (
            np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)
        )
        t1 = time.perf_counter()
        r = np.asarray(online.rewards(union), dtype=np.float64) if union.size else np.zeros(0)
        t2 = time.perf_counter()
        R, n_scored, halves = group_rewards(samples, union, r)
        ulog = self.console.update(R)
        t3 = time.perf_counter()
        actors = {
            name: {
                "R_j": [float(v) if np.isfinite(v) else None for v in R[name]],
                "n_j": n_scored[name],
                "z": ulog["z"][name],
                "R": ulog["R_actor"][name],
                "split_half_r": halves[name],
            }
            for name in R
        }
        secs = {"sample": t1 - t0, "reward": t2 - t1, "update": t3 - t2}
        choice = self._select(
            stage,
            budget,
            t0,
            secs,
            actors=actors,
            R_bar=ulog["R_bar"],
            n_reward_docs=int(union.size),
            n_reward_nan=int((~np.isfinite(r)).sum()),
            reward_docs_per_s=union.size / max(t2 - t1, 1e-9),
        )
        choice.rewards = (union, r)
        return choice

    def group_columns(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Groups of actors that are not label sets of the pool (custom actor classes)."""
        return {
            a.name: (a.groups, list(a.group_names))
            for a in self.console.actors
            if a.name not in self.pool.labels
        }

    def labels_used(self) -> list[str]:
        """The label sets of the console's actors."""
        return [a.name for a in self.console.actors if a.name in self.pool.labels]

    def weights(self) -> dict[str, np.ndarray]:
        """Each actor's current group weights."""
        return {a.name: np.asarray(a.weights, dtype=float) for a in self.console.actors}

    def state_dict(self) -> dict[str, Any]:
        """The console's state (actors' weights, theta, counts, its RNG)."""
        return {"console": self.console.state_dict()}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore from state_dict."""
        self.console.load_state_dict(sd["console"])


@register_selector("fixed_theta")
class FixedThetaSelector(MultiActorSelector):
    """The ablation: actors update, theta stays at 1/|actors| (no collaboration update)."""

    update_theta: ClassVar[bool] = False
    description: ClassVar[str] = "ablation: actors updated, theta fixed at 1/|actors|"


def _degenerate(ctx: SelectorContext, spec) -> bool:
    lab = ctx.pool.labels.get(spec.labels or spec.name)
    if lab is None or spec.cls is not None:
        return False
    g = lab.groups[ctx.pool.eligible]
    return g.size == 0 or int(g.min()) == int(g.max())


def group_rewards(
    samples: dict[str, list[np.ndarray]], union: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, list[int]], dict[str, float | None]]:
    """Per actor: group-mean rewards R_A[j] (nan = no finite sample), scored counts, split-half reliability.

    The split-half reliability is the Pearson correlation, over the groups, of the group means
    of two disjoint halves of each group's sample (alternate documents in index order): near 1
    when the group rewards are signal, near 0 when they are noise. None with < 3 usable groups.
    """
    R, n_scored, halves = {}, {}, {}
    for name, per_group in samples.items():
        vals, ns, h0, h1 = [], [], [], []
        for g in per_group:
            x = r[np.searchsorted(union, np.asarray(g, dtype=np.int64))] if len(g) else np.zeros(0)
            ok = x[np.isfinite(x)]
            vals.append(float(ok.mean()) if ok.size else float("nan"))
            ns.append(int(ok.size))
            h0.append(float(ok[0::2].mean()) if ok.size >= 2 else np.nan)
            h1.append(float(ok[1::2].mean()) if ok.size >= 2 else np.nan)
        R[name], n_scored[name] = np.array(vals), ns
        a, b = np.array(h0), np.array(h1)
        use = np.isfinite(a) & np.isfinite(b)
        halves[name] = None
        if use.sum() >= 3 and a[use].std() > 0 and b[use].std() > 0:
            halves[name] = float(np.corrcoef(a[use], b[use])[0, 1])
    return R, n_scored, halves
