"""Statistics of a comparison: per metric, the mean over seeds and each method's difference to a
baseline paired by seed, with a 95% t-interval (Student's t over the per-seed differences).

A difference whose interval includes zero is "no measurable difference", never a gain; with one
seed there is no interval and the verdict says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from macs.core.errors import MacsError

ALPHA = 0.05  # family-wise error rate of the primary contrasts
# (metric, title); a group mean's title gets the tasks and renderings it averages appended
# (the comparison's "labels"), e.g. "(LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot)".
PRIMARY = (
    ("reference mean scored bpb", "reference tasks, mean bits/byte"),
    ("downstream mean 0shot bpb", "downstream tasks, mean gold bits/byte"),
    ("downstream mean 0shot acc_per_char", "downstream tasks, mean accuracy"),
    ("heldout overall bpb", "held-out pool documents, bits/byte"),
)


@dataclass
class Diff:
    """A method's difference to the baseline on one metric, paired by seed."""

    metric: str
    method: str
    baseline: str
    higher_is_better: bool
    n: int  # seeds present in both
    mean: float  # mean of (method - baseline)
    lo: float  # 95% interval (nan with one seed)
    hi: float
    p: float = float("nan")  # two-sided paired t-test of a zero mean difference (nan with one seed)

    @property
    def verdict(self) -> str:
        """'better' | 'worse' (the interval excludes zero) | 'no measurable difference' | 'no interval (1 seed)'."""
        if self.n < 2 or not math.isfinite(self.lo):
            return f"no interval ({self.n} seed{'s' if self.n != 1 else ''})"
        if self.lo <= 0 <= self.hi:
            return "no measurable difference"
        up = self.lo > 0
        return "better" if up == self.higher_is_better else "worse"

    def as_dict(self) -> dict:
        """JSON-able fields plus the verdict."""
        return {
            "n": self.n,
            "mean": self.mean,
            "lo": None if not math.isfinite(self.lo) else self.lo,
            "hi": None if not math.isfinite(self.hi) else self.hi,
            "p": None if not math.isfinite(self.p) else self.p,
            "verdict": self.verdict,
        }


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi) of a Student t interval for the mean of x; lo = hi = nan with fewer than 2 values."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean()) if x.size else float("nan")
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def paired_diff(
    metric: str,
    method: str,
    baseline: str,
    by_seed: dict[str, dict[int, float]],
    higher_is_better: bool,
) -> Diff | None:
    """method - baseline per seed present in both, with its t-interval; None if no seed is shared."""
    a, b = by_seed.get(method, {}), by_seed.get(baseline, {})
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = np.array([a[s] - b[s] for s in seeds])
    m, lo, hi = t_interval(d)
    return Diff(metric, method, baseline, higher_is_better, len(seeds), m, lo, hi, t_pvalue(d))


def t_pvalue(x: np.ndarray) -> float:
    """Two-sided p-value of Student's t-test that the mean of x is zero (nan with fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return float("nan")
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return 1.0 if float(x.mean()) == 0.0 else 0.0
    t = float(x.mean()) / (sd / math.sqrt(x.size))
    return float(2 * stats.t.sf(abs(t), x.size - 1))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order (nan stays nan, outside the family).

    Sorted ascending, p_(i) becomes max over j <= i of min(1, (m - j + 1) p_(j)), m the number
    of finite p-values: rejecting where the adjusted value is below alpha keeps the family-wise
    error rate at alpha.
    """
    finite = sorted((p, i) for i, p in enumerate(pvalues) if math.isfinite(p))
    out = [float("nan")] * len(pvalues)
    m, running = len(finite), 0.0
    for j, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - j) * p))
        out[i] = running
    return out


def rank_methods(
    means: dict[str, dict[str, float]], metrics: list[tuple[str, bool]]
) -> list[tuple[str, float]]:
    """Methods by their mean rank over `metrics` (rank 1 = best on that metric); best first."""
    methods = sorted(means)
    ranks = {m: [] for m in methods}
    for metric, hib in metrics:
        have = [m for m in methods if metric in means[m]]
        if len(have) < 2:
            continue
        order = sorted(have, key=lambda m: -means[m][metric] if hib else means[m][metric])
        for r, m in enumerate(order, start=1):
            ranks[m].append(r)
    out = [(m, float(np.mean(r))) for m, r in ranks.items() if r]
    return sorted(out, key=lambda x: (x[1], x[0]))


def parse_contrast(text: str) -> tuple[str, str]:
    """'A - B' -> (A, B); MacsError naming the entry otherwise."""
    parts = [p.strip() for p in str(text).split(" - ")]
    if len(parts) != 2 or not all(parts):
        raise MacsError(
            f"compare.contrasts: {text!r} is not 'A - B' (two method names around ' - ', "
            "e.g. 'multi_actor - random')"
        )
    return parts[0], parts[1]


def primary_contrasts(
    values: dict[str, dict[str, dict[int, float]]],
    higher_is_better: dict[str, bool],
    contrasts: list[str],
    metrics: list[str],
) -> dict:
    """The declared contrasts on the primary metrics, paired by seed, Holm-adjusted as one family.

    values: metric -> method -> seed -> value. Each row: contrast, metric, n, mean, lo, hi (the
    unadjusted 95% interval), p, p_holm and a verdict from p_holm < ALPHA.
    """
    rows = []
    for c in contrasts:
        a, b = parse_contrast(c)
        for k in metrics:
            d = paired_diff(k, a, b, values.get(k, {}), higher_is_better.get(k, False))
            row = {"contrast": c, "metric": k}
            row |= d.as_dict() if d is not None else {"n": 0, "mean": None, "lo": None, "hi": None}
            row["p"] = row.get("p")
            rows.append(row)
    adj = holm([float("nan") if r["p"] is None else r["p"] for r in rows])
    for r, q in zip(rows, adj, strict=True):
        r["p_holm"] = q if math.isfinite(q) else None
        if r["p_holm"] is None:
            r["verdict"] = f"no test ({r['n']} paired seed{'s' if r['n'] != 1 else ''})"
        elif r["p_holm"] >= ALPHA:
            r["verdict"] = "no measurable difference"
        else:
            up = r["mean"] > 0
            r["verdict"] = "better" if up == higher_is_better.get(r["metric"], False) else "worse"
    return {"declared": list(contrasts), "metrics": list(metrics), "alpha": ALPHA, "rows": rows}
