"""Reliability of group-mean rewards: standard errors, split-half reliability, Spearman-Brown, shrinkage.

One place for these formulas (the selectors log them per refresh in selection.jsonl; the report
reads them from there):

- standard error of a group mean: sd (ddof 1) / sqrt(n); nan with fewer than 2 values.
- split-half reliability: the Pearson correlation, over groups, of the group means of two
  disjoint halves of each group's values (alternate values in the given order); None with fewer
  than 3 groups usable in both halves or a constant half.
- Spearman-Brown: the reliability of the full-size means from the half-size correlation r,
  2r / (1 + r) (negative r kept as is: a correction is meaningless there).
- empirical-Bayes shrinkage: each group mean moves toward the precision-weighted mean over
  groups by B_j = se_j^2 / (se_j^2 + tau^2), tau^2 the between-group variance beyond noise
  (method of moments, >= 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroupStats:
    """Per group: mean, count of finite values, standard error; over groups: split-half reliability."""

    mean: np.ndarray  # nan = no finite value
    n: np.ndarray  # int
    se: np.ndarray  # nan with fewer than 2 values
    split_half: float | None
    spearman_brown: float | None

    def log(self) -> dict:
        """JSON-able per-group standard errors and the two reliabilities."""
        return {
            "se_j": [float(v) if np.isfinite(v) else None for v in self.se],
            "split_half_r": self.split_half,
            "split_half_sb": self.spearman_brown,
        }


def spearman_brown(r: float | None) -> float | None:
    """Reliability of the full-size means from the split-half correlation r: 2r / (1 + r)."""
    if r is None or not np.isfinite(r):
        return None
    return float(2 * r / (1 + r)) if r > 0 else float(r)


def split_half(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation over groups of two halves' group means (None: < 3 usable groups or constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    use = np.isfinite(a) & np.isfinite(b)
    if use.sum() < 3 or a[use].std() == 0 or b[use].std() == 0:
        return None
    return float(np.corrcoef(a[use], b[use])[0, 1])


def group_stats(values: list[np.ndarray]) -> GroupStats:
    """Statistics of each group's values (non-finite values dropped); halves alternate in the given order."""
    k = len(values)
    mean, se = np.full(k, np.nan), np.full(k, np.nan)
    n = np.zeros(k, dtype=np.int64)
    h0, h1 = np.full(k, np.nan), np.full(k, np.nan)
    for j, v in enumerate(values):
        x = np.asarray(v, dtype=np.float64)
        x = x[np.isfinite(x)]
        n[j] = x.size
        if x.size:
            mean[j] = x.mean()
        if x.size >= 2:
            se[j] = x.std(ddof=1) / np.sqrt(x.size)
            h0[j], h1[j] = x[0::2].mean(), x[1::2].mean()
    r = split_half(h0, h1)
    return GroupStats(mean, n, se, r, spearman_brown(r))


def shrink(mean: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Empirical-Bayes group means: each moves toward the groups' pooled mean by se^2 / (se^2 + tau^2).

    Groups without a mean stay nan; groups without a standard error (one value) are shrunk as
    the noisiest group with one. With fewer than 2 groups with both, the means are returned as is.
    """
    m, s = np.asarray(mean, dtype=np.float64), np.asarray(se, dtype=np.float64)
    out = m.copy()
    ok = np.isfinite(m) & np.isfinite(s)
    if ok.sum() < 2:
        return out
    s = np.where(np.isfinite(m) & ~np.isfinite(s), s[ok].max(), s)
    var = s**2
    has = np.isfinite(m)
    tau2 = max(0.0, float(m[ok].var(ddof=1) - var[ok].mean()))
    w = 1.0 / (var[has] + tau2) if tau2 > 0 else 1.0 / np.maximum(var[has], 1e-300)
    center = float((w * m[has]).sum() / w.sum())
    B = var[has] / (var[has] + tau2) if tau2 > 0 else np.ones(int(has.sum()))
    out[has] = m[has] - B * (m[has] - center)
    return out
