"""The method (multi-actor collaborative selection) and its ablations as selectors.

- `multi_actor`: actors update their group weights from rewards of the current model, the
  console updates theta and selects (method.md section 2).
- `fixed_theta`: the same, theta stays at 1/|actors| (the paper's ablation).
- Either with an actor subset: `multi_actor:quality+domain`, `fixed_theta:topic`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch, timed
from macs.data.labels.registry import ACTOR_KINDS, unknown_actor
from macs.select.actors.base import Actor
from macs.select.console.console import Console
from macs.select.console.sampling import uniform_key
from macs.select.selectors.base import Choice, Online, Selector, SelectorContext
from macs.select.selectors.registry import register_selector


def actor_specs(ctx: SelectorContext) -> list:
    """The configured actor specs, restricted to the method's subset (ctx.actors) when given."""
    specs = ctx.cfg.selection.actor_specs()
    if ctx.actors is None:
        return specs
    by_name = {s.name: s for s in specs}
    from macs.select.console.config import ActorSpec

    return [by_name.get(a, ActorSpec(name=a)) for a in ctx.actors]


def _init_compute(ctx: SelectorContext, specs: list) -> dict | None:
    """The one-off compute of the RegMix sweeps behind `init: regmix` actors (cached results)."""
    from macs.select.selectors.costs import add_compute

    out = None
    for s in specs:
        init = s.init if s.init is not None else ctx.cfg.selection.init
        if init == "regmix" and not _degenerate(ctx, s):
            from macs.select.selectors.regmix import regmix_result
            from macs.select.selectors.regmix_run import result_compute

            out = add_compute(out, result_compute(regmix_result(ctx, s.labels or s.name)))
    return out


def build_actors(ctx: SelectorContext, specs: list | None = None) -> list[Actor]:
    """Actors over the pool: a custom class (spec.cls) builds itself from the store, the built-ins read the pool's labels."""
    from macs.select.actors.registry import build_actor

    pool, sel = ctx.pool, ctx.cfg.selection
    out = []
    for s in specs if specs is not None else actor_specs(ctx):
        init = s.init if s.init is not None else sel.init
        if init == "regmix":  # RegMix over this actor's groups (cached beside the labels)
            from macs.select.selectors.regmix import regmix_weights

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
    takes_inrun: ClassVar[bool] = True  # group rewards may come from the training passes
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
        known = sorted({*ACTOR_KINDS, *ctx.pool.labels})
        for name in missing:
            if name not in known:  # a typo, not a missing labelling run
                raise MacsError(unknown_actor(name, "selection.actors", known))
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
                from macs.select.selectors.regmix import regmix_check

                regmix_check(ctx, s.labels or s.name)

    @classmethod
    def prepare(cls, ctx: SelectorContext) -> None:
        """The RegMix sweeps of actors with `init: regmix` (cached), before any training."""
        if ctx.actor_objects is not None:
            return
        for s in actor_specs(ctx):
            init = s.init if s.init is not None else ctx.cfg.selection.init
            if init == "regmix" and not _degenerate(ctx, s):
                from macs.select.selectors.regmix import regmix_weights

                regmix_weights(ctx, s.labels or s.name)

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        if ctx.actor_objects is not None:
            actors = list(ctx.actor_objects)
        else:
            specs = actor_specs(ctx)
            for s in specs:
                lab = ctx.pool.labels.get(s.labels or s.name)
                noted = lab is not None and bool((lab.manifest or {}).get("degenerate"))
                if _degenerate(ctx, s) and not noted:  # the pool's note already said it
                    ctx.log(f"[select] note: actor {s.name!r} has a single group; left out")
            actors = build_actors(ctx, [s for s in specs if not _degenerate(ctx, s)])
        self.init_compute = None if ctx.actor_objects is not None else _init_compute(ctx, specs)
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

    def _select(
        self, stage: int, budget: int, clock: Stopwatch, secs: dict, **extra: Any
    ) -> Choice:
        pool = self.pool
        with timed(secs, "select"):
            idx, scores = self.console.select(
                pool.n_tokens,
                budget,
                pool.eligible,
                return_scores=True,
                uniform_key=uniform_key(self.ctx.seed, stage),  # common random numbers with random
            )
        secs["total"] = clock.seconds
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
        """Stage 0: top of the initial scores (ties, e.g. uniform weights, broken by the seeded hash);
        its record carries the one-off cost of `init: regmix` sweeps (`compute`)."""
        extra = {} if self.init_compute is None else {"compute": self.init_compute}
        return self._select(0, budget, Stopwatch(), {"sample": 0.0, "reward": 0.0}, **extra)

    def refresh(self, stage: int, budget: int, online: Online | None) -> Choice:
        """Group-mean rewards on the current model (a sample of m docs per group, or the stage's
        in-run rewards topped up by a small sample), update actors and theta, select."""
        if online is None:
            raise MacsError(f"{self.name} needs the current model at every refresh")
        clock = Stopwatch()  # laps: sample, reward, update
        pool_mask = self.pool.eligible
        if self.ctx.cfg.selection.reward_pool == "unselected":
            pool_mask = pool_mask & (self.console.counts == 0)
        if online.inrun is None:
            samples = self.console.sample_groups(self.m, pool_mask)
            in_idx, in_r = np.zeros(0, np.int64), np.zeros(0)
        else:
            in_idx, in_r = (np.asarray(a) for a in online.inrun)
            samples = self._cover(stage, in_idx, pool_mask)
        parts = [g for per_group in samples.values() for g in per_group]
        union = (
            np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)
        )
        secs = {"sample": clock.lap()}
        r = np.asarray(online.rewards(union), dtype=np.float64) if union.size else np.zeros(0)
        secs["reward"] = clock.lap()
        all_idx = np.concatenate([in_idx.astype(np.int64), union])
        all_r = np.concatenate([in_r.astype(np.float64), r])
        order = np.argsort(all_idx, kind="stable")
        all_idx, all_r = all_idx[order], all_r[order]
        per_group = {
            a.name: [
                np.union1d(samples[a.name][j], in_idx[a.groups[in_idx] == j])
                if in_idx.size
                else samples[a.name][j]
                for j in range(a.n_groups)
            ]
            for a in self.console.actors
        }
        stats = group_rewards(per_group, all_idx, all_r)
        shrink = bool(getattr(self.ctx.cfg.selection, "shrink", False))
        R = {n: (st.shrunk if shrink else st.mean) for n, st in stats.items()}
        ulog = self.console.update(R)
        secs["update"] = clock.lap()
        actors = {}
        for name, st in stats.items():
            actors[name] = {
                "R_j": _floats(st.mean),
                "n_j": st.n.tolist(),
                "z": ulog["z"][name],
                "R": ulog["R_actor"][name],
                **st.log(),
            }
            if shrink:
                actors[name]["R_j_shrunk"] = _floats(st.shrunk)
            if online.inrun is not None:
                a = self.console.actor(name)
                actors[name]["n_inrun_j"] = np.bincount(
                    a.groups[in_idx], minlength=a.n_groups
                ).tolist()
        extra = {}
        if online.inrun is not None:
            extra = {"reward_source": "train", "n_inrun_docs": int(in_idx.size)}
            if bool(getattr(self.ctx.cfg.influence, "train_check", False)):
                with timed(secs, "check"):
                    extra["inrun_vs_refresh"] = self._check(stage, in_idx, in_r, pool_mask, online)
        choice = self._select(
            stage,
            budget,
            clock,
            secs,
            actors=actors,
            R_bar=ulog["R_bar"],
            n_reward_docs=int(union.size),
            n_reward_nan=int((~np.isfinite(r)).sum()),
            reward_docs_per_s=union.size / max(secs["reward"], 1e-9),
            **extra,
        )
        choice.rewards = (all_idx, all_r)
        return choice

    def _check(self, stage, in_idx, in_r, pool_mask, online) -> dict[str, Any]:
        """Per actor: Pearson r over groups of the in-run group means (groups with >= 2 in-run docs)
        and the separate pass's means of m fresh docs per group on the current model."""
        from macs.select.console.console import _sample_groups

        rng = np.random.default_rng([self.ctx.seed, 0xC4EC, stage])
        samples = {
            a.name: _sample_groups(
                a.groups, a.n_groups, self.m, pool_mask, int(rng.integers(0, 2**63 - 1))
            )
            for a in self.console.actors
        }
        union = np.unique(np.concatenate([g for v in samples.values() for g in v]))
        ref = group_rewards(samples, union, np.asarray(online.rewards(union), dtype=np.float64))
        inr = {
            a.name: [in_idx[a.groups[in_idx] == j] for j in range(a.n_groups)]
            for a in self.console.actors
        }
        mine = group_rewards(inr, in_idx, in_r)
        out = {}
        for name in ref:
            a, b = mine[name].mean, ref[name].mean
            use = (mine[name].n >= 2) & np.isfinite(b)
            ok = use.sum() >= 3 and a[use].std() > 0 and b[use].std() > 0
            out[name] = {
                "r": float(np.corrcoef(a[use], b[use])[0, 1]) if ok else None,
                "groups": int(use.sum()),
            }
        return out

    def _cover(
        self, stage: int, in_idx: np.ndarray, pool_mask: np.ndarray
    ) -> dict[str, list[np.ndarray]]:
        """Per actor and group, the separate-pass docs that bring the group to influence.train_cover
        documents with a reward (in-run docs count; a seeded choice from the group's uniform sample)."""
        cover = int(self.ctx.cfg.influence.train_cover)
        out: dict[str, list[np.ndarray]] = {}
        if cover == 0:
            return {a.name: [np.zeros(0, np.int64)] * a.n_groups for a in self.console.actors}
        drawn = self.console.sample_groups(cover, pool_mask)
        rng = np.random.default_rng([self.ctx.seed, 0xC0FE, stage])
        have = np.zeros(self.pool.n_docs, dtype=bool)
        have[in_idx] = True
        for a in self.console.actors:
            n_in = np.bincount(a.groups[in_idx], minlength=a.n_groups)
            groups = []
            for j, g in enumerate(drawn[a.name]):
                need = max(0, cover - int(n_in[j]))
                g = g[~have[g]]
                pick = np.sort(rng.permutation(g)[:need]) if need else g[:0]
                groups.append(pick.astype(np.int64))
            out[a.name] = groups
        return out

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


def _floats(x: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in x]


def group_rewards(samples: dict[str, list[np.ndarray]], union: np.ndarray, r: np.ndarray) -> dict:
    """Per actor, macs.core.stats.group_stats of each group's rewards (docs in index order): group means
    R_A[j] (nan = no finite sample), counts, standard errors, split-half reliability with and
    without Spearman-Brown, and `shrunk` (empirical-Bayes means, macs.core.stats.shrink)."""
    from macs.core.stats import group_stats, shrink

    out = {}
    for name, per_group in samples.items():
        vals = [
            r[np.searchsorted(union, np.asarray(g, dtype=np.int64))] if len(g) else np.zeros(0)
            for g in per_group
        ]
        st = group_stats(vals)
        st.shrunk = shrink(st.mean, st.se)
        out[name] = st
    return out
