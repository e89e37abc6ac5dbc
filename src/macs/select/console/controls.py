"""The console's selection operator and stability controls (method.md section 8).

Operators, given the aggregate score S(x) (higher = preferred):
- `topk` (the paper's): documents by S(x), whole score cells at a time; the cell at the budget
  cut is filled in a seeded random order.
- `sample` (Gumbel-top-k): documents drawn without replacement with probability proportional
  to exp(S(x) / temperature), seeded, until the budget is met. Low temperatures approach topk,
  high ones uniform sampling.

Stability controls (the ones online mixers found necessary: DoReMi, ODM), all off by default
(= the paper):
- `epsilon`: this share of each stage's budget is drawn uniformly from the pool;
- `max_repeats`: a document already chosen this many times is not chosen again (relaxed, with a
  note, only when the rest of the pool cannot fill the budget);
- `min_share` / `max_share` per actor: every group of that actor gets at least / at most this
  share of the stage's tokens (a group exceeds its cap by less than one document).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from macs.core.errors import MacsError
from macs.select.console.budget import doc_hash, hash_bits, round_rel
from macs.select.console.sampling import gumbel_keys, least_selected_first

OPERATORS = ("topk", "sample")


@dataclass
class Controls:
    """How the console turns scores into a stage (see the module docstring)."""

    operator: str = "topk"
    temperature: float = 0.25
    epsilon: float = 0.0
    max_repeats: int = 0
    min_share: dict[str, float] = field(default_factory=dict)
    max_share: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise MacsError(f"selection.operator must be one of {OPERATORS}, not {self.operator!r}")
        if not self.temperature > 0:
            raise MacsError(f"selection.temperature must be > 0, not {self.temperature}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise MacsError(f"selection.epsilon must be in [0, 1], not {self.epsilon}")
        if self.max_repeats < 0:
            raise MacsError(f"selection.max_repeats must be >= 0, not {self.max_repeats}")
        for what, d in (("min_share", self.min_share), ("max_share", self.max_share)):
            bad = {k: v for k, v in d.items() if not 0.0 <= v <= 1.0}
            if bad:
                raise MacsError(f"selection.{what}: shares must be in [0, 1], got {bad}")

    @property
    def plain_topk(self) -> bool:
        """True when the paper's top-k runs without any control (the O(N) fast path)."""
        return (
            self.operator == "topk"
            and self.epsilon == 0
            and self.max_repeats == 0
            and not self.min_share
            and not self.max_share
        )


def priority_order(
    scores: np.ndarray, cand: np.ndarray, ctl: Controls, key: int, n_docs: int
) -> np.ndarray:
    """The candidates in the order the operator takes them (first = taken first)."""
    if ctl.operator == "topk":
        ties = doc_hash(cand, key, hash_bits(n_docs))
        return cand[np.lexsort((cand, ties, -round_rel(scores)))]
    keys = gumbel_keys(np.asarray(scores, np.float64) / ctl.temperature, cand, key, n_docs)
    return cand[np.lexsort((cand, -keys))]


@dataclass
class Bound:
    """Token bounds on the groups of one actor within a stage."""

    name: str
    groups: np.ndarray  # group id per doc
    n_groups: int
    lo: float  # tokens each group gets at least
    hi: float  # tokens each group gets at most (a group crosses it by less than one document)


def bounded_fill(
    order: np.ndarray, n_tokens: np.ndarray, budget: float, bounds: list[Bound]
) -> tuple[np.ndarray, dict]:
    """Docs of `order` (in that order) until `budget` tokens, honouring every Bound; (sorted indices, info).

    First each bounded group takes its best documents up to its minimum, then the order fills
    the rest, skipping a document whose group has reached its cap. If the caps leave the budget
    unmet, the skipped documents are taken after all (in order) and `caps_relaxed` says so.
    """
    used = [np.zeros(b.n_groups) for b in bounds]
    taken = np.zeros(0, dtype=np.int64)
    total = 0.0
    chosen: list[int] = []
    picked = set()

    def fits(i: int) -> bool:
        return all(u[b.groups[i]] < b.hi for u, b in zip(used, bounds, strict=True))

    def take(i: int) -> None:
        nonlocal total
        chosen.append(i)
        picked.add(i)
        total += float(n_tokens[i])
        for u, b in zip(used, bounds, strict=True):
            u[b.groups[i]] += float(n_tokens[i])

    for b in bounds:  # minimum shares first, best documents of each group
        if b.lo <= 0:
            continue
        g = b.groups[order]
        for j in range(b.n_groups):
            for i in order[g == j]:
                if used[bounds.index(b)][j] >= b.lo or total >= budget:
                    break
                if int(i) not in picked and fits(int(i)):
                    take(int(i))
    skipped = []
    for i in order:
        if total >= budget:
            break
        i = int(i)
        if i in picked:
            continue
        if fits(i):
            take(i)
        else:
            skipped.append(i)
    relaxed = False
    for i in skipped:
        if total >= budget:
            break
        relaxed = True
        take(i)
    taken = np.sort(np.asarray(chosen, dtype=np.int64))
    return taken, {"caps_relaxed": relaxed, "tokens": int(total)}


def controlled_select(
    scores_of,
    n_tokens: np.ndarray,
    budget: float,
    eligible: np.ndarray,
    counts: np.ndarray,
    ctl: Controls,
    key: int,
    bounds: list[Bound],
    uniform_key: int | None = None,
) -> tuple[np.ndarray, dict]:
    """One stage under the operator and controls: (sorted doc indices, info). `scores_of(idx)` gives S(x).

    `uniform_key` (macs.select.console.sampling.uniform_key), the stage's common uniform draw, orders
    the top-k operator's ties and the epsilon share (drawn least-selected-first); without it
    both derive from `key`. The sample operator's noise always comes from `key`."""
    n = len(n_tokens)
    elig = eligible & (n_tokens > 0)
    info: dict = {"operator": ctl.operator}
    if ctl.max_repeats > 0:
        capped = elig & (counts < ctl.max_repeats)
        if int(n_tokens[capped].sum()) >= budget:
            elig = capped
        else:
            info["repeat_cap_relaxed"] = True
    main_budget = budget * (1.0 - ctl.epsilon)
    cand = np.flatnonzero(elig)
    tie_key = key if uniform_key is None or ctl.operator != "topk" else uniform_key
    order = priority_order(scores_of(cand), cand, ctl, tie_key, n)
    budget_bounds = [
        Bound(b.name, b.groups, b.n_groups, b.lo * main_budget, b.hi * main_budget) for b in bounds
    ]
    main, fill_info = bounded_fill(order, n_tokens, main_budget, budget_bounds)
    info.update(fill_info)
    if ctl.epsilon > 0:
        rest = elig.copy()
        rest[main] = False
        extra = budget - float(n_tokens[main].sum())
        ukey = key ^ 0x5EED if uniform_key is None else uniform_key
        uni, _ = least_selected_first(counts, n_tokens, rest, max(extra, 0.0), ukey)
        info["uniform_docs"] = int(uni.size)
        info["uniform_tokens"] = int(n_tokens[uni].sum())
        main = np.union1d(main, uni)
    info["tokens"] = int(n_tokens[main].sum())
    info["budget"] = int(np.ceil(budget))
    info["n_selected"] = int(main.size)
    info["pool_tokens"] = int(n_tokens[eligible & (n_tokens > 0)].sum())
    info["exhausted"] = info["tokens"] < budget
    return main.astype(np.int64), info
