"""Initial actor weights (method.md section 5): a registry of named initialisers.

Every initialiser returns a float64 vector with one weight per group, rescaled to mean 1
over the groups so that actors with different numbers of groups stand on an equal footing
in the console's aggregate score. Higher weight = the actor prefers that group more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from macs.core.errors import MacsError

# name -> fn(groups, n_groups, n_tokens, actor_name) -> raw weights (any positive scale)
InitFn = Callable[[np.ndarray, int, "np.ndarray | None", str], np.ndarray]

_INITS: dict[str, InitFn] = {}


def register_init(name: str) -> Callable[[InitFn], InitFn]:
    """Decorator: make an initialiser available as `init: <name>` in the config."""

    def deco(fn: InitFn) -> InitFn:
        _INITS[name] = fn
        return fn

    return deco


def available_inits() -> list[str]:
    """Names accepted by `init:` (besides an explicit list of weights)."""
    return sorted(_INITS)


def group_totals(
    groups: np.ndarray, n_groups: int, n_tokens: np.ndarray | None = None, chunk: int = 1 << 22
) -> np.ndarray:
    """Documents (or tokens, when `n_tokens` is given) per group, float64, chunked over memmaps."""
    out = np.zeros(n_groups, dtype=np.float64)
    for s in range(0, len(groups), chunk):
        g = groups[s : s + chunk]
        w = None if n_tokens is None else n_tokens[s : s + chunk]
        out += np.bincount(g, weights=w, minlength=n_groups)[:n_groups]
    return out


@register_init("uniform")
def _uniform(groups: np.ndarray, n_groups: int, n_tokens, name: str) -> np.ndarray:
    return np.ones(n_groups, dtype=np.float64)


@register_init("natural")
def _natural(groups: np.ndarray, n_groups: int, n_tokens, name: str) -> np.ndarray:
    totals = group_totals(groups, n_groups, n_tokens)
    if totals.sum() <= 0:
        raise MacsError(
            f"actor {name!r}: init 'natural' needs at least one document (with tokens) in some "
            "group; the pool is empty"
        )
    return totals


@register_init("regmix")
def _regmix(groups: np.ndarray, n_groups: int, n_tokens, name: str) -> np.ndarray:
    raise MacsError(
        f"actor {name!r}: init 'regmix' needs the pool and a proxy sweep, so it is resolved when "
        "the selector builds its actors (macs.select.selectors.multi_actor.build_actors via "
        "selection.init: regmix); an Actor built by hand takes explicit weights instead"
    )


def initial_weights(
    init: str | list[float] | dict[str, float],
    groups: np.ndarray,
    group_names: list[str],
    n_tokens: np.ndarray | None = None,
    name: str = "actor",
) -> np.ndarray:
    """Initial weights (float64, one per group, mean 1; higher = preferred) from a name or explicit values."""
    n = len(group_names)
    if isinstance(init, str):
        fn = _INITS.get(init)
        if fn is None:
            raise MacsError(
                f"actor {name!r}: unknown init {init!r}; choose one of {available_inits()} or "
                "give explicit weights"
            )
        w = np.asarray(fn(groups, n, n_tokens, name), dtype=np.float64)
    elif isinstance(init, dict):
        unknown = sorted(set(init) - set(group_names))
        if unknown:
            raise MacsError(
                f"actor {name!r}: init weights name unknown groups {unknown}; groups are {group_names}"
            )
        missing = [g for g in group_names if g not in init]
        if missing:
            raise MacsError(f"actor {name!r}: init weights miss groups {missing}")
        w = np.array([float(init[g]) for g in group_names], dtype=np.float64)
    else:
        w = np.asarray(list(init), dtype=np.float64)
    if w.shape != (n,):
        raise MacsError(f"actor {name!r}: init gives {w.size} weights for {n} groups {group_names}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise MacsError(
            f"actor {name!r}: initial weights must be finite, >= 0 and not all 0 (got {w.tolist()})"
        )
    return w * (n / w.sum())
