"""RegMix steps 2 and 3: a LightGBM regression from mixture to proxy loss, and the mixture search.

- `fit_regression`: LightGBM (deterministic, one thread, seeded) on (mixture -> target loss).
  Its quality is the **k-fold out-of-fold Spearman correlation**: every proxy run is predicted
  by a model fitted on the other folds (it never saw that run), and the predictions are
  rank-correlated with the actual losses (higher = the regression ranks mixtures better).
- `search_mixture`: predict the loss of many Dirichlet mixtures drawn like the sweep's and
  average the `top_k` with the lowest predicted loss (RegMix's procedure).
- `plot_regmix`: predicted vs actual proxy loss (out-of-fold) and chosen mixture vs the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.select.selectors.regmix_sweep import dirichlet_mixtures


def lightgbm():
    """The lightgbm module, or MacsError naming the extra that installs it."""
    try:
        import lightgbm as lgb
    except ImportError as e:
        raise MacsError(
            "RegMix needs LightGBM, which is not installed; run `bash scripts/setup.sh regmix`"
        ) from e
    return lgb


@dataclass
class RegressionFit:
    """A fitted mixture -> loss regression and its held-out quality."""

    model: Any  # lightgbm.LGBMRegressor fitted on every run
    oof: np.ndarray  # out-of-fold predicted loss of each run (nats; lower = better)
    spearman: float  # Spearman(oof, actual): higher = better ranking of unseen mixtures
    pearson: float
    mae: float  # mean absolute error of oof (nats)
    folds: int

    def info(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "heldout": f"{self.folds}-fold out-of-fold predictions",
            "spearman": self.spearman,
            "pearson": self.pearson,
            "mae": self.mae,
            "folds": self.folds,
            "n_runs": int(self.oof.size),
        }


def _regressor(rcfg, seed: int):
    lgb = lightgbm()
    return lgb.LGBMRegressor(
        objective="regression",
        n_estimators=int(rcfg.lgbm_rounds),
        learning_rate=float(rcfg.lgbm_lr),
        num_leaves=int(rcfg.lgbm_leaves),
        min_child_samples=int(rcfg.lgbm_min_child),
        min_data_in_bin=1,
        random_state=int(seed),
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        verbose=-1,
    )


def fit_regression(X: np.ndarray, y: np.ndarray, rcfg, seed: int) -> RegressionFit:
    """LightGBM from mixtures X (runs x groups, token shares) to losses y (nats), with k-fold Spearman."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.model_selection import KFold

    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if X.ndim != 2 or X.shape[0] != y.size:
        raise MacsError(f"RegMix fit: {X.shape[0]} mixtures but {y.size} losses")
    ok = np.isfinite(y)
    if ok.sum() <= X.shape[1]:
        raise MacsError(
            f"RegMix: {int(ok.sum())} successful proxy runs for {X.shape[1]} groups; the "
            "regression needs more runs than groups: raise baselines.regmix.n_proxies (or fix the "
            "failing runs, see the sweep log)"
        )
    X, y = X[ok], y[ok]
    folds = int(min(rcfg.folds, y.size))
    oof = np.empty_like(y)
    for tr, te in KFold(folds, shuffle=True, random_state=int(seed)).split(X):
        oof[te] = _regressor(rcfg, seed).fit(X[tr], y[tr]).predict(X[te])
    const = np.ptp(oof) == 0 or np.ptp(y) == 0
    return RegressionFit(
        model=_regressor(rcfg, seed).fit(X, y),
        oof=oof,
        spearman=float("nan") if const else float(spearmanr(oof, y).statistic),
        pearson=float("nan") if const else float(pearsonr(oof, y).statistic),
        mae=float(np.abs(oof - y).mean()),
        folds=folds,
    )


def search_mixture(
    model, share: np.ndarray, rcfg, seed: int, chunk: int = 1 << 16
) -> tuple[np.ndarray, dict[str, Any]]:
    """The mean of the top_k of search_samples Dirichlet mixtures by lowest predicted loss, and stats."""
    rng = np.random.default_rng([int(seed), 0x5EA])
    n, k = int(rcfg.search_samples), int(rcfg.top_k)
    best_x = np.zeros((0, len(share)))
    best_y = np.zeros(0)
    for s in range(0, n, chunk):  # keep only the running top_k: memory stays O(chunk)
        x = dirichlet_mixtures(
            share, min(chunk, n - s), rng, rcfg.prior_power, rcfg.strength_min, rcfg.strength_max
        )
        best_x = np.concatenate([best_x, x])
        best_y = np.concatenate([best_y, model.predict(x)])
        keep = np.argsort(best_y, kind="stable")[:k]
        best_x, best_y = best_x[keep], best_y[keep]
    mix = best_x.mean(axis=0)
    mix /= mix.sum()
    info = {
        "samples": n,
        "top_k": int(best_y.size),
        "predicted_top_k": [float(best_y[0]), float(best_y[-1])],  # best, k-th best (nats)
        "predicted_chosen": float(model.predict(mix[None, :])[0]),
        "top_k_std": best_x.std(axis=0).tolist(),  # spread of the averaged mixtures per group
    }
    return mix, info


def plot_regmix(
    out: Path,
    y: np.ndarray,
    oof: np.ndarray,
    spearman: float,
    group_names: list[str],
    share: np.ndarray,
    mixture: np.ndarray,
    title: str,
) -> Path:
    """PNG: out-of-fold predicted vs actual proxy loss, and chosen mixture vs pool token share."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from macs.core.io import atomic_path

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.6])
    ax1.scatter(y, oof, s=14, alpha=0.7)
    lo, hi = float(min(y.min(), oof.min())), float(max(y.max(), oof.max()))
    ax1.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax1.set_xlabel("actual proxy target loss (nats/token)")
    ax1.set_ylabel("predicted, held out (nats/token)")
    ax1.set_title(f"held-out Spearman {spearman:.3f} ({y.size} runs)")
    pos = np.arange(len(group_names))
    ax2.bar(pos - 0.2, share, 0.4, label="pool token share")
    ax2.bar(pos + 0.2, mixture, 0.4, label="RegMix mixture")
    ax2.set_xticks(pos, [g[:18] for g in group_names], rotation=45, ha="right", fontsize=8)
    ax2.set_ylabel("token share")
    ax2.legend(fontsize=8)
    ax2.set_title(title)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(out)
