"""The Actor: one categorisation of the pool with one weight per group (method.md sections 1, 4).

An actor puts every document (in canonical doc order) into exactly one group and keeps a
weight per group; its score of a document is the weight of the document's group,
`S_A(x) = w_A[j_A(x)]` (higher = the actor prefers the document more). After a reward
refresh the weights move toward the groups whose sampled documents earned more reward.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.select.actors.init import initial_weights

UPDATE_RULES = ("standardized", "eq5")
# Names an actor may not take: they are columns of the stage manifest.
RESERVED_NAMES = frozenset({"id", "doc", "tokens", "score", "times_selected", "stage"})


def _group_dtype(n_groups: int) -> np.dtype:
    if n_groups <= 127:
        return np.dtype(np.int8)
    if n_groups <= 32767:
        return np.dtype(np.int16)
    return np.dtype(np.int32)


class Actor:
    """Groups of every document plus one weight per group; higher weight = preferred group.

    `groups` is an integer array aligned to the canonical doc order (it may be a read-only
    memmap; it is never copied unless its dtype must change). `update` is the standardised
    sliding average of method.md section 4 by default, or the paper's plain Eq. 5 with
    `update="eq5"`.
    """

    kind: ClassVar[str] = "custom"

    def __init__(
        self,
        name: str,
        groups: np.ndarray,
        group_names: list[str],
        init: str | list[float] | dict[str, float] = "uniform",
        update: str = "standardized",
        eta: float = 0.1,
        n_tokens: np.ndarray | None = None,
        check: bool = True,
    ):
        if not name or not name.replace("_", "").isalnum():
            raise MacsError(f"actor name {name!r}: use letters, digits and '_' only")
        if name in RESERVED_NAMES:
            raise MacsError(f"actor name {name!r} is reserved (manifest column); rename the actor")
        if update not in UPDATE_RULES:
            raise MacsError(f"actor {name!r}: update must be one of {UPDATE_RULES}, not {update!r}")
        if not 0.0 <= eta <= 1.0:
            raise MacsError(f"actor {name!r}: eta must be in [0, 1], not {eta}")
        group_names = [str(g) for g in group_names]
        if len(group_names) == 0:
            raise MacsError(f"actor {name!r}: needs at least one group")
        if len(set(group_names)) != len(group_names):
            raise MacsError(f"actor {name!r}: duplicate group names in {group_names}")
        groups = np.asarray(groups) if not isinstance(groups, np.ndarray) else groups
        if groups.ndim != 1 or groups.dtype.kind not in "iu":
            raise MacsError(
                f"actor {name!r}: groups must be a 1-d integer array (got {groups.dtype}, ndim {groups.ndim})"
            )
        if check and len(groups):
            lo, hi = int(groups.min()), int(groups.max())
            if lo < 0 or hi >= len(group_names):
                raise MacsError(
                    f"actor {name!r}: group ids span {lo}..{hi} but there are "
                    f"{len(group_names)} group names"
                )
        want = _group_dtype(len(group_names))
        if groups.dtype.itemsize > want.itemsize or groups.dtype.kind == "u":
            groups = groups.astype(want)  # smaller dtype: less memory and faster selection
        self.name = name
        self.groups = groups
        self.group_names = group_names
        self.update_rule = update
        self.eta = float(eta)
        self.init = init
        self.weights = initial_weights(init, groups, group_names, n_tokens, name)
        self.n_updates = 0

    @classmethod
    def from_store(cls, name: str, store, labels: str | None = None, n_tokens=None, **kwargs):
        """Build the actor for a corpus store; subclasses that compute their own groups override this."""
        raise MacsError(
            f"actor class {cls.__name__} cannot build itself from a store: override "
            "from_store(name, store, labels=None, n_tokens=None, **kwargs), or subclass SidecarActor"
        )

    # ------------------------------------------------------------------ scoring
    @property
    def n_groups(self) -> int:
        """Number of groups n_A."""
        return len(self.group_names)

    @property
    def n_docs(self) -> int:
        """Number of documents in the pool (length of `groups`)."""
        return len(self.groups)

    def doc_scores(self, idx: np.ndarray | None = None, dtype=np.float64) -> np.ndarray:
        """S_A(x) = w_A[group(x)] for every doc (or the docs `idx`); higher = preferred."""
        g = self.groups if idx is None else self.groups[idx]
        return self.weights.astype(dtype)[g]

    # ------------------------------------------------------------------ update
    def update(self, group_rewards: np.ndarray) -> dict[str, Any]:
        """Move weights toward groups with higher mean reward (higher = more helpful); nan = no sample.

        standardized: z-score the group rewards over the groups with a sample, f = exp(z),
        w <- (1 - eta) w + eta f on those groups, then rescale them so their total is
        unchanged (weights keep mean 1; groups without a sample keep their weight).
        eq5: w <- (1 - eta) w + eta R on the groups with a sample (paper Eq. 5, raw rewards).
        Returns a log dict with the raw rewards, z-scores and new weights.
        """
        R = np.asarray(group_rewards, dtype=np.float64)
        if R.shape != (self.n_groups,):
            raise MacsError(
                f"actor {self.name!r}: update needs {self.n_groups} group rewards "
                f"({self.group_names}), got shape {R.shape}"
            )
        valid = np.isfinite(R)
        before = self.weights.copy()
        z = np.full(self.n_groups, np.nan)
        if valid.any():
            w = self.weights.copy()
            if self.update_rule == "standardized":
                rv = R[valid]
                sd = rv.std()
                z[valid] = (rv - rv.mean()) / sd if sd > 0 else 0.0
                f = np.exp(z[valid])
                w[valid] = (1.0 - self.eta) * w[valid] + self.eta * f
                old, new = before[valid].sum(), w[valid].sum()
                if new > 0:
                    w[valid] *= old / new
            else:
                w[valid] = (1.0 - self.eta) * w[valid] + self.eta * R[valid]
            self.weights = w
        self.n_updates += 1
        return {
            "R_group": _jsonable(R),
            "z": _jsonable(z),
            "weights_before": before.tolist(),
            "weights": self.weights.tolist(),
            "n_sampled_groups": int(valid.sum()),
        }

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: weights, rule, step size, group names, update count."""
        return {
            "name": self.name,
            "kind": self.kind,
            "group_names": list(self.group_names),
            "weights": self.weights.tolist(),
            "update": self.update_rule,
            "eta": self.eta,
            "n_updates": self.n_updates,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore weights and counters saved by `state_dict` (group names must match)."""
        if sd.get("name") != self.name:
            raise MacsError(f"actor state is for {sd.get('name')!r}, not {self.name!r}")
        if list(sd["group_names"]) != self.group_names:
            raise MacsError(
                f"actor {self.name!r}: saved groups {sd['group_names']} differ from the labels' "
                f"groups {self.group_names}; relabelled corpus? start a fresh run"
            )
        w = np.asarray(sd["weights"], dtype=np.float64)
        if w.shape != (self.n_groups,):
            raise MacsError(f"actor {self.name!r}: saved weights have shape {w.shape}")
        self.weights = w
        self.update_rule = sd.get("update", self.update_rule)
        self.eta = float(sd.get("eta", self.eta))
        self.n_updates = int(sd.get("n_updates", 0))

    def __repr__(self) -> str:
        w = ", ".join(f"{n}={x:.3g}" for n, x in zip(self.group_names, self.weights, strict=True))
        return f"{type(self).__name__}({self.name!r}, n_docs={self.n_docs}, weights: {w})"


def _jsonable(a: np.ndarray) -> list[float | None]:
    return [float(x) if np.isfinite(x) else None for x in a]
