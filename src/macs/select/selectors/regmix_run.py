"""RegMix (Liu et al., arXiv 2407.01492) over any actor's groups: sweep, fit, search, cache.

`regmix_result(ctx, labels)` runs (or reads back) the whole procedure for one label set:
1. proxy sweep over Dirichlet mixtures of the groups (`regmix_sweep`),
2. LightGBM from mixture to target loss, with its k-fold held-out Spearman (`regmix_fit`),
3. search: the mean of the top_k of search_samples mixtures by predicted loss.
Everything is cached under `<ctx.cache_dir>/regmix/` (else `<store>/selectors/regmix/`):
`<labels>-<sweep key>/runs/proxy-*.json` (one per proxy; keyed by what changes a run, so a
larger n_proxies reuses the runs already made) and `.../fit-<fit key>/result.json`,
`regmix.png`, `model.txt` (keyed by the sweep size, regression and search settings). A second
call with the same config and labels reads result.json and is instant.

A group without eligible tokens (or with fewer than one proxy sequence) is left out of the
sweep and gets mixture 0, with a note; never a silent uniform result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import read_json, write_json
from macs.core.timing import Stopwatch
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.cache import cache_root

_SWEEP_FIELDS = (
    "proxy_size",
    "proxy_tokens",
    "seq_len",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup",
    "device",
    "prior_power",
    "strength_min",
    "strength_max",
)
_FIT_FIELDS = ("n_proxies", "folds", "lgbm_rounds", "lgbm_lr", "lgbm_leaves", "lgbm_min_child")
_SEARCH_FIELDS = ("search_samples", "top_k")


@dataclass
class RegMixResult:
    """RegMix's chosen mixture over one label set's groups, and how it was found."""

    labels: str
    group_names: list[str]
    mixture: np.ndarray  # chosen token share per group (sums to 1; 0 = group left out)
    pool_share: np.ndarray  # eligible token share per group in the pool
    spearman: float  # held-out (k-fold out-of-fold) Spearman of predicted vs actual proxy loss
    path: Path  # folder of result.json and the plot
    plot: Path | None
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def weights(self, how: str = "ratio") -> np.ndarray:
        """Mean-1 per-group weights: mixture / pool share (ratio) or the mixture itself; higher = preferred."""
        if how == "mixture":
            w = self.mixture.copy()
        elif how == "ratio":
            w = np.divide(
                self.mixture,
                self.pool_share,
                out=np.zeros_like(self.mixture),
                where=self.pool_share > 0,
            )
        else:
            raise MacsError(f"RegMix weights: unknown kind {how!r}; use ratio or mixture")
        return w * (w.size / w.sum())


def label_groups(pool, name: str) -> tuple[np.ndarray, list[str]]:
    """(group per doc, group names) of label set `name` (the store's domain column for 'domain')."""
    if name not in pool.labels and name == "domain" and pool.domain_names:
        return np.asarray(pool.domain_codes), list(pool.domain_names)
    lab = pool.label(name, what="RegMix")  # MacsError naming how to label it when missing
    return np.asarray(lab.groups), list(lab.group_names)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _array_hash(*arrays: np.ndarray, chunk: int = 1 << 24) -> str:
    """sha256 of arrays' bytes, read in chunks (memmaps stay on disk)."""
    h = hashlib.sha256()
    for a in arrays:
        for s in range(0, len(a), chunk):
            h.update(np.ascontiguousarray(a[s : s + chunk]).tobytes())
    return h.hexdigest()[:16]


@dataclass
class _Plan:
    """The groups RegMix mixes for one label set, and where its sweep and fit live."""

    names: list[str]
    share: np.ndarray  # eligible token share, all groups
    active: np.ndarray  # bool: groups in the sweep
    docs: list[np.ndarray]  # eligible doc indices of each active group
    seed: int
    sweep_dir: Path
    fit_dir: Path
    sweep_key: dict[str, Any]
    notes: list[str]


def plan_for(ctx: SelectorContext, labels: str) -> _Plan:
    """The groups mixed for label set `labels` and the cache folders (MacsError on unusable input)."""
    from macs.select.selectors.regmix_target import target_spec

    pool, rcfg = ctx.pool, ctx.cfg.baselines.regmix
    groups, names = label_groups(pool, labels)
    elig = pool.eligible & (pool.n_tokens > 0)
    tok = np.bincount(groups[elig], weights=pool.n_tokens[elig], minlength=len(names))
    tok = tok[: len(names)]
    active = tok >= rcfg.seq_len
    notes = [
        f"RegMix {labels}: group {names[g]!r} has "
        + ("no eligible tokens" if tok[g] == 0 else f"{int(tok[g])} tokens (< one proxy sequence)")
        + ": left out of the sweep, mixture 0"
        for g in np.flatnonzero(~active)
    ]
    if active.sum() < 2:
        raise MacsError(
            f"RegMix {labels}: {int(active.sum())} group(s) hold at least {rcfg.seq_len} eligible "
            "tokens; a mixture needs two or more (label more groups or lower baselines.regmix.seq_len)"
        )
    if rcfg.n_proxies <= active.sum():
        raise MacsError(
            f"RegMix {labels}: n_proxies {rcfg.n_proxies} must exceed the {int(active.sum())} groups "
            "mixed (the regression needs more runs than features); raise baselines.regmix.n_proxies"
        )
    seed = int(ctx.seed if rcfg.seed is None else rcfg.seed)
    ts = pool.tokens
    if ts is None:
        raise MacsError("RegMix trains proxies on token shards; run `macs corpus tokenize` first")
    key = {
        "labels": labels,
        "groups": names,
        "group_tokens": tok.astype(np.int64).tolist(),
        "docs": _array_hash(np.asarray(groups, np.int32), elig),  # which doc is in which group
        "pool": [pool.n_docs, int(elig.sum()), int(ts.vocab_size), str(Path(ts.path).name)],
        "seed": seed,
        "target": target_spec(pool, rcfg, ctx.cfg.influence),
        **{f: getattr(rcfg, f) for f in _SWEEP_FIELDS},
    }
    sweep_dir = cache_root(ctx, "regmix") / f"{labels}-{_hash(key)}"
    fit_key = {f: getattr(rcfg, f) for f in _FIT_FIELDS + _SEARCH_FIELDS}
    docs = [np.flatnonzero(elig & (groups == g)) for g in np.flatnonzero(active)]
    return _Plan(
        names,
        tok / tok.sum(),
        active,
        docs,
        seed,
        sweep_dir,
        sweep_dir / f"fit-{_hash(fit_key)}",
        key,
        notes,
    )


def cached_result(plan: _Plan, labels: str) -> RegMixResult | None:
    """The saved result of this plan's sweep, fit and search, or None if not made yet."""
    p = plan.fit_dir / "result.json"
    if not p.exists():
        return None
    r = read_json(p)
    plot = plan.fit_dir / "regmix.png"
    return RegMixResult(
        labels,
        list(r["group_names"]),
        np.asarray(r["mixture"], np.float64),
        np.asarray(r["pool_share"], np.float64),
        float(r["fit"]["spearman"]),
        plan.fit_dir,
        plot if plot.exists() else None,
        list(r["notes"]),
        r,
    )


def regmix_result(
    ctx: SelectorContext, labels: str | None = None, on_result=None, progress: bool = True
) -> RegMixResult:
    """RegMix's mixture for label set `labels` (default baselines.regmix.labels): cached, else sweep + fit + search."""
    from macs.select.selectors.regmix_fit import fit_regression, lightgbm, search_mixture
    from macs.select.selectors.regmix_sweep import SweepJob, run_sweep

    rcfg = ctx.cfg.baselines.regmix
    labels = labels or rcfg.labels
    plan = plan_for(ctx, labels)
    cached = cached_result(plan, labels)
    if cached is not None:
        ctx.log(f"[regmix] {labels}: cached mixture from {cached.path}")
        return cached
    lightgbm()  # fail before the sweep, not after it
    clock = Stopwatch()
    write_json(plan.sweep_dir / "sweep.json", plan.sweep_key)
    ts = ctx.pool.tokens
    job = SweepJob(
        tokens_dir=str(ts.path),
        group_docs=plan.docs,
        share=plan.share[plan.active],
        settings={f: getattr(rcfg, f) for f in _SWEEP_FIELDS},
        vocab_size=int(ts.vocab_size),
        eos_id=int(ts.eos_id),
        seed=plan.seed,
        threads=rcfg.threads,
    )
    runs = run_sweep(
        job,
        plan.sweep_dir / "runs",
        rcfg.n_proxies,
        lambda: _target(ctx, plan),
        workers=rcfg.workers,
        executor=rcfg.executor,
        ray_address=rcfg.ray_address,
        log=ctx.log,
        on_result=on_result,
        progress=progress,
    )
    ok = [r for r in runs if r["ok"]]
    X = np.asarray([r["mixture"] for r in ok]).reshape(len(ok), int(plan.active.sum()))
    y = np.asarray([r["target_loss"] for r in ok], np.float64)
    fit = fit_regression(X, y, rcfg, plan.seed)
    mix_active, search = search_mixture(fit.model, plan.share[plan.active], rcfg, plan.seed)
    mixture = np.zeros(len(plan.names))
    mixture[plan.active] = mix_active
    BUILT_HERE.add(str(plan.fit_dir))
    return _save(ctx, plan, labels, runs, fit, mixture, search, clock.seconds)


def _target(ctx: SelectorContext, plan: _Plan) -> dict[str, list]:
    from macs.select.selectors.regmix_target import build_target

    target, skipped = build_target(ctx.pool, plan.sweep_key["target"], plan.seed)
    sizes = ", ".join(f"{t} {len(u)}" for t, u in target.items())
    skip = sum(skipped.values())
    ctx.log(f"[regmix] target {plan.sweep_key['target']['kind']}: {sizes} examples, {skip} skipped")
    return target


BUILT_HERE: set[str] = set()  # fit folders whose result this process computed (not cached)


def sweep_cost(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep's compute: proxy seconds summed (each proxy's training and target loss, however
    many ran at once) and training tokens (each one forward and backward)."""
    return {
        "proxy_seconds": float(sum(r.get("seconds") or 0.0 for r in runs)),
        "train_tokens": int(sum(r.get("tokens") or 0 for r in runs)),
        "proxies": len(runs),
    }


def result_compute(res: RegMixResult) -> dict[str, Any]:
    """The RegMix sweep + fit + search as a compute record (macs.select.selectors.costs); a result saved
    before costs were kept is costed from its sweep's proxy records."""
    from macs.select.selectors.costs import compute_record
    from macs.select.selectors.regmix_sweep import run_path

    cost = res.info.get("cost")
    if cost is None:
        runs_dir = Path(res.info["sweep"]["dir"])
        n = int(res.info["sweep"]["runs"])
        runs = [read_json(p) for p in (run_path(runs_dir, i) for i in range(n)) if p.exists()]
        cost = sweep_cost(runs)
    fit_search = max(0.0, float(res.info.get("seconds") or 0.0))
    tok = cost["train_tokens"]
    return compute_record(
        "regmix sweep + fit",
        cost["proxy_seconds"],
        tok,
        tok,
        str(res.path) not in BUILT_HERE,
        proxies=cost["proxies"],
        wall_seconds=fit_search,
    )


def _save(ctx, plan, labels, runs, fit, mixture, search, seconds) -> RegMixResult:
    from macs.select.selectors.regmix_fit import plot_regmix

    ok = [r for r in runs if r["ok"]]
    y = np.asarray([r["target_loss"] for r in ok], np.float64)
    trained = [r["seconds"] for r in ok]
    info = {
        "labels": labels,
        "group_names": plan.names,
        "mixture": mixture.tolist(),
        "pool_share": plan.share.tolist(),
        "active": plan.active.tolist(),
        "notes": plan.notes,
        "seed": plan.seed,
        "sweep": {
            "runs": len(runs),
            "ok": len(ok),
            "failed": len(runs) - len(ok),
            "seconds_per_proxy": float(np.mean(trained)) if trained else None,
            "target_loss": [float(y.min()), float(np.median(y)), float(y.max())],
            "dir": str(plan.sweep_dir / "runs"),
        },
        "fit": fit.info(),
        "search": search,
        "seconds": seconds,
        "cost": sweep_cost(runs),
    }
    plan.fit_dir.mkdir(parents=True, exist_ok=True)
    fit.model.booster_.save_model(str(plan.fit_dir / "model.txt"))
    names = [n for n, a in zip(plan.names, plan.active, strict=True) if a]
    plot = plot_regmix(
        plan.fit_dir / "regmix.png",
        y,
        fit.oof,
        fit.spearman,
        plan.names,
        plan.share,
        mixture,
        f"RegMix mixture over {labels} ({len(names)} groups mixed)",
    )
    write_json(plan.fit_dir / "result.json", info)
    for note in plan.notes:
        ctx.log(f"[regmix] note: {note}")
    top = ", ".join(
        f"{plan.names[g]} {mixture[g]:.3f} (pool {plan.share[g]:.3f})" for g in np.argsort(-mixture)
    )
    ctx.log(
        f"[regmix] {labels}: held-out Spearman {fit.spearman:.3f} ({fit.folds}-fold, {len(ok)} runs); "
        f"mixture: {top}; in {seconds:.1f}s -> {plan.fit_dir}"
    )
    return RegMixResult(
        labels, plan.names, mixture, plan.share, fit.spearman, plan.fit_dir, plot, plan.notes, info
    )
