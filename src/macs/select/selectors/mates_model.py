"""MATES's data influence model: a small learned map from document features to oracle influence.

MATES fine-tunes a BERT-base regressor on z-scored oracle influences; here the learner is
scikit-learn's ridge regression (the penalty picked by efficient leave-one-out over
`alphas`) or a one-hidden-layer MLP, on MiniLM embeddings or hashed n-grams
(`macs.select.selectors.mates_features`). Targets are z-scored with the fit sample's mean and
standard deviation, so predictions are in the oracle's standard units (higher = more
helpful), the scale MATES's Gumbel-top-k temperature applies to.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from macs.core.errors import MacsError


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two score vectors (-1..1; None with < 3 values or a constant one)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


class InfluenceModel:
    """Predicts oracle influence in z units (higher = more helpful) from feature rows."""

    def __init__(self, mcfg, seed: int):
        self.cfg, self.seed = mcfg, int(seed) % 2**32  # scikit-learn takes 32-bit seeds
        self.mean = 0.0
        self.std = 1.0
        self.est = None
        self.info: dict[str, Any] = {}

    def fit(self, x, y: np.ndarray) -> InfluenceModel:
        """Fit on features x (n rows) and oracle influences y (nats, higher = more helpful; all finite)."""
        y = np.asarray(y, dtype=np.float64)
        if y.size < 2 or not np.isfinite(y).all() or np.ptp(y) == 0:
            raise MacsError(
                f"influence model: needs >= 2 finite, non-constant oracle values, got {y.size}"
            )
        self.mean, self.std = float(y.mean()), float(y.std())
        z = (y - self.mean) / self.std
        if self.cfg.model == "ridge":
            from sklearn.linear_model import RidgeCV

            self.est = RidgeCV(alphas=np.asarray(self.cfg.alphas, dtype=np.float64)).fit(x, z)
            self.info = {"model": "ridge", "alpha": float(self.est.alpha_)}
        else:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPRegressor

            self.est = MLPRegressor(
                hidden_layer_sizes=(self.cfg.mlp_hidden,),
                alpha=self.cfg.mlp_alpha,
                max_iter=self.cfg.mlp_epochs,
                batch_size=min(64, y.size),
                random_state=self.seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.est.fit(x, z)
            self.info = {"model": "mlp", "hidden": self.cfg.mlp_hidden, "epochs": self.est.n_iter_}
        self.info.update(n_train=int(y.size), oracle_mean=self.mean, oracle_std=self.std)
        return self

    def predict(self, x) -> np.ndarray:
        """Predicted influence per row, float64, in z units of the fit sample (higher = more helpful)."""
        if self.est is None:
            raise RuntimeError("the influence model is not fitted")
        return np.asarray(self.est.predict(x), dtype=np.float64).ravel()


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of range(n) into (fit positions, held-out positions), each sorted; >= 3 held out when n allows."""
    n_out = int(round(n * fraction))
    n_out = min(max(n_out, 3), n - 3) if n >= 6 else 0
    perm = np.random.Generator(np.random.PCG64([int(seed), 0x5B117])).permutation(n)
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def fit_with_holdout(mcfg, x, y: np.ndarray, seed: int) -> tuple[InfluenceModel, dict[str, Any]]:
    """Fit on a seeded part, report held-out Spearman with the oracle, then refit on all of (x, y).

    Returns the model fitted on everything and a report: heldout_spearman (-1..1, None when the
    held-out part is too small), train_spearman (on the fit part), n_fit, n_heldout, and the
    final model's settings (alpha or epochs, oracle mean/std in nats).
    """
    y = np.asarray(y, dtype=np.float64)
    fit_pos, out_pos = split_holdout(y.size, mcfg.holdout_fraction, seed)
    held, train_r = None, None
    if out_pos.size and np.ptp(y[fit_pos]) > 0:
        part = InfluenceModel(mcfg, seed).fit(x[fit_pos], y[fit_pos])
        held = spearman(part.predict(x[out_pos]), y[out_pos])
        train_r = spearman(part.predict(x[fit_pos]), y[fit_pos])
    model = InfluenceModel(mcfg, seed).fit(x, y)
    report = {
        "heldout_spearman": held,
        "train_spearman": train_r,
        "n_fit": int(fit_pos.size),
        "n_heldout": int(out_pos.size),
        **model.info,
    }
    return model, report
