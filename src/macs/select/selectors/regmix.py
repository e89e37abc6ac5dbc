"""`regmix`: the run's documents sampled to RegMix's mixture at equal tokens; and `init: regmix`.

RegMix (Liu et al., arXiv 2407.01492) finds a static mixture over one actor's groups by a
proxy sweep, a LightGBM regression and a search (`regmix_run`). Used two ways:

- **selector `regmix`** (`baselines.regmix.labels`, default domain): per-group token quotas =
  mixture x the run's total budget; inside each group documents are taken in a seeded uniform
  order until the quota is met (the last one crosses it). A group that runs out is taken whole,
  reported in the log, and its remainder is shared among the other groups in proportion to
  their mixture. The set is then dealt to the stages *stratified*: each group's documents are
  spread evenly over the dealing order, so every stage's group shares follow the mixture.
- **initial weights** `regmix_weights(ctx, labels)` for `selection.init: regmix`: mean-1 per
  group, `mixture / pool token share` by default (see `baselines.regmix.weights_as`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from macs.select.console.budget import doc_hash, hash_bits
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.registry import register_selector
from macs.select.selectors.regmix_run import (
    RegMixResult,
    label_groups,
    regmix_result,
    result_compute,
)
from macs.select.selectors.static import StaticSelector

__all__ = [
    "RegMixResult",
    "RegMixSelector",
    "mixture_sample",
    "regmix_check",
    "regmix_result",
    "regmix_weights",
]


def regmix_weights(ctx: SelectorContext, labels_name: str) -> np.ndarray:
    """Initial actor weights from RegMix for label set `labels_name` (float64 per group, mean 1; higher = preferred).

    `baselines.regmix.weights_as` = ratio (default): chosen mixture / pool token share, so that
    drawing documents with probability proportional to their group's weight reproduces the
    mixture; groups without eligible tokens get 0. `mixture`: the mixture itself (rescaled).
    Cached beside the labels: a second call with the same config is instant.
    """
    return regmix_result(ctx, labels_name).weights(ctx.cfg.baselines.regmix.weights_as)


def regmix_check(ctx: SelectorContext, labels_name: str) -> None:
    """Raise MacsError before any training if RegMix cannot run for `labels_name` (labels, groups,
    n_proxies, target, token shards; LightGBM unless the result is already cached)."""
    from macs.select.selectors.regmix_fit import lightgbm
    from macs.select.selectors.regmix_run import cached_result, plan_for

    if cached_result(plan_for(ctx, labels_name), labels_name) is None:
        lightgbm()


def _quotas(mixture: np.ndarray, cap: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Token quota per group (mixture x total; a group short of its quota is capped and its
    remainder shared in proportion to the others' mixture) and the mask of exhausted groups."""
    quota = np.asarray(mixture, np.float64) * float(total)
    out = np.zeros(quota.size, dtype=bool)
    while True:
        over = ~out & (quota > 0) & (quota >= cap)
        if not over.any():
            return quota, out
        excess = float((quota[over] - cap[over]).sum())
        quota[over] = cap[over]
        out |= over
        rest = ~out & (mixture > 0)
        if not rest.any():
            return quota, out  # every mixed group is used up: the pool is smaller than the budget
        quota[rest] += excess * mixture[rest] / mixture[rest].sum()


def mixture_sample(
    groups: np.ndarray,
    n_tokens: np.ndarray,
    eligible: np.ndarray,
    mixture: np.ndarray,
    total: float,
    key: int,
    names: list[str] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Sorted doc indices reaching `total` tokens whose group token shares follow `mixture`, and info.

    Per group: a quota of tokens (see `_quotas`), filled with its eligible docs in a seeded
    uniform order (the hash of (key, doc index)); the last doc taken crosses the quota.
    """
    mixture = np.asarray(mixture, np.float64)
    k = mixture.size
    names = names or [str(g) for g in range(k)]
    ok = np.asarray(eligible, bool) & (np.asarray(n_tokens) > 0)
    tok = np.asarray(n_tokens, np.int64)
    cap = np.bincount(groups[ok], weights=tok[ok], minlength=k)[:k]
    quota, exhausted = _quotas(mixture, cap, total)
    picks, got = [], np.zeros(k)
    bits = hash_bits(len(tok))
    for g in np.flatnonzero(quota > 0):
        docs = np.flatnonzero(ok & (groups == g))
        order = docs[np.argsort(doc_hash(docs, key, bits), kind="stable")]
        cum = np.cumsum(tok[order])
        n = order.size if exhausted[g] else int(np.searchsorted(cum, np.ceil(quota[g]))) + 1
        picks.append(order[:n])
        got[g] = cum[min(n, order.size) - 1]
    idx = np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)
    info = {
        "mixture": mixture.tolist(),
        "wanted_tokens": np.round(mixture * float(total)).astype(np.int64).tolist(),
        "quota_tokens": np.round(quota).astype(np.int64).tolist(),  # after redistribution
        "tokens": got.astype(np.int64).tolist(),
        "share": (got / max(got.sum(), 1.0)).tolist(),
        "exhausted": [names[g] for g in np.flatnonzero(exhausted)],
        "pool_too_small": bool(exhausted[mixture > 0].all()),
    }
    return idx.astype(np.int64), info


def stratified_order(
    idx: np.ndarray, groups: np.ndarray, n_tokens: np.ndarray, key: int
) -> np.ndarray:
    """idx in an order whose every prefix holds each group's docs in proportion to its tokens in idx.

    Inside a group the order is a seeded shuffle; a doc's position key is the middle of its token
    span within its group divided by the group's tokens, and all docs are merged by that key.
    """
    idx = np.asarray(idx, np.int64)
    shuf = idx[np.argsort(doc_hash(idx, key, hash_bits(int(idx.max()) + 1 if idx.size else 1)))]
    g = np.asarray(groups)[shuf]
    t = np.asarray(n_tokens, np.float64)[shuf]
    pos = np.empty(idx.size)
    for grp in np.unique(g):
        m = g == grp
        cum = np.cumsum(t[m])
        pos[m] = (cum - t[m] / 2) / cum[-1]
    return shuf[np.lexsort((g, pos))]


@register_selector("regmix")
class RegMixSelector(StaticSelector):
    """Documents sampled to the RegMix mixture over `baselines.regmix.labels` at the run's token budget."""

    description: ClassVar[str] = (
        "static mixture over one actor's groups found by RegMix (proxy sweep, LightGBM, search)"
    )

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The label set must exist with two or more groups; LightGBM must be installed unless cached."""
        regmix_check(ctx, ctx.cfg.baselines.regmix.labels)

    @classmethod
    def prepare(cls, ctx: SelectorContext) -> None:
        """Run (or reuse) the sweep, fit and search, cached beside the labels."""
        regmix_result(ctx, ctx.cfg.baselines.regmix.labels)

    def __init__(self, ctx: SelectorContext):
        super().__init__(ctx)
        self.labels = ctx.cfg.baselines.regmix.labels
        self.groups, self.group_names = label_groups(ctx.pool, self.labels)
        self.result: RegMixResult | None = None
        self._key = int(np.random.SeedSequence([ctx.seed, 0x4E9]).generate_state(1)[0])

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """Docs reaching the total budget with group shares = the RegMix mixture; score = the group's ratio weight."""
        res = self.result = regmix_result(self.ctx, self.labels)
        self.compute = result_compute(res)
        pool = self.pool
        idx, info = mixture_sample(
            self.groups,
            pool.n_tokens,
            pool.eligible,
            res.mixture,
            total_budget,
            self._key,
            self.group_names,
        )
        for g in info["exhausted"]:
            k = self.group_names.index(g)
            self.ctx.log(
                f"[regmix] group {g!r} has {info['tokens'][k]:,} eligible tokens, fewer than its "
                f"quota of {info['wanted_tokens'][k]:,}: all taken, the remainder shared among the "
                "other groups in proportion to their mixture"
            )
        self.info["regmix"] = {
            "labels": self.labels,
            "group_names": self.group_names,
            "heldout_spearman": res.spearman,
            "result": str(res.path),
            "plot": None if res.plot is None else str(res.plot),
            "notes": res.notes,
            "sweep": res.info.get("sweep"),
            "fit": res.info.get("fit"),
            "sweep_fit_search_seconds": res.info.get("seconds"),
            **info,
        }
        return idx, res.weights("ratio")[self.groups]

    def deal_order(self, idx: np.ndarray) -> np.ndarray:
        """Stratified by group: every stage's group shares follow the chosen set's (the mixture)."""
        return stratified_order(idx, self.groups, self.pool.n_tokens, self._key ^ 0x57A7)

    def weights(self) -> dict[str, np.ndarray]:
        """The chosen mixture's per-group weights (mixture / pool share, mean 1) once chosen."""
        if self.result is None:
            return {}
        return {self.labels: self.result.weights(self.ctx.cfg.baselines.regmix.weights_as)}

    def group_columns(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """The mixed groups, when they are the store's domain column rather than a label set."""
        if self.labels in self.pool.labels:
            return {}
        return {self.labels: (np.asarray(self.groups), list(self.group_names))}
