"""How much the actors' label sets say the same thing about the pool: for every pair of actors,
the mutual information of their groupings (bits, and normalised: NMI, 0 = independent, 1 = the
same partition), the Spearman correlation of their continuous scores where both have one, and,
for every actor with a continuous score, the share of its variance that another actor's groups
explain (eta squared, the correlation ratio: 1 = the score is a function of the other's
grouping, e.g. a quality score that is a domain classifier) and the composition of its top
20% by the other actor's largest group. Actors that disagree usefully have low values: each
then gives the console a separate axis to arbitrate.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np


def eta_squared(score: np.ndarray, groups: np.ndarray) -> float | None:
    """Between-group share of the variance of `score` (finite values only; None if constant)."""
    s, g = np.asarray(score, np.float64), np.asarray(groups)
    ok = np.isfinite(s)
    s, g = s[ok], g[ok]
    if s.size < 2 or np.ptp(s) == 0:
        return None
    _, inv = np.unique(g, return_inverse=True)
    n = np.bincount(inv)
    means = np.bincount(inv, weights=s) / n
    between = float((n * (means - s.mean()) ** 2).sum())
    return between / float(((s - s.mean()) ** 2).sum())


def _has_score(score: np.ndarray) -> bool:
    s = np.asarray(score, np.float64)
    ok = np.isfinite(s)
    return ok.sum() >= 3 and np.ptp(s[ok]) > 0


def top_share(score: np.ndarray, groups: np.ndarray, names: list[str], top: float = 0.2) -> dict:
    """The largest group's share of the top `top` fraction of docs by score (ties by order)."""
    s = np.asarray(score, np.float64)
    ok = np.flatnonzero(np.isfinite(s))
    k = max(1, int(round(top * ok.size)))
    best = ok[np.argsort(-s[ok], kind="stable")[:k]]
    counts = np.bincount(np.asarray(groups)[best], minlength=len(names))
    j = int(np.argmax(counts))
    return {"group": names[j], "share": float(counts[j] / k), "n_top": int(k)}


def agreement_report(labels: dict[str, Any]) -> dict[str, Any]:
    """Pairwise agreement of label sets {actor: object with group, score, group_names}."""
    from scipy.stats import spearmanr
    from sklearn.metrics import mutual_info_score, normalized_mutual_info_score

    names = sorted(labels)
    pairs = []
    for a, b in combinations(names, 2):
        la, lb = labels[a], labels[b]
        row: dict[str, Any] = {
            "actors": [a, b],
            "mi_bits": float(mutual_info_score(la.group, lb.group) / np.log(2)),
            "nmi": float(normalized_mutual_info_score(la.group, lb.group)),
            "score_spearman": None,
        }
        if _has_score(la.score) and _has_score(lb.score):
            ok = np.isfinite(la.score) & np.isfinite(lb.score)
            row["score_spearman"] = float(spearmanr(la.score[ok], lb.score[ok]).statistic)
        pairs.append(row)
    explained = []
    for a in names:
        if not _has_score(labels[a].score):
            continue
        for b in names:
            if b != a:
                lb = labels[b]
                explained.append(
                    {
                        "score_of": a,
                        "groups_of": b,
                        "eta_squared": eta_squared(labels[a].score, lb.group),
                        "top20": top_share(labels[a].score, lb.group, list(lb.group_names)),
                    }
                )
    return {"pairs": pairs, "explained": explained}


def format_agreement(rep: dict[str, Any]) -> list[str]:
    """The agreement report as markdown lines."""

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    out = [
        "## actor agreement (low = the actors measure different things)",
        "",
        "| actors | MI (bits) | NMI | Spearman of scores |",
        "|---|---:|---:|---:|",
    ]
    for p in rep["pairs"]:
        a, b = p["actors"]
        out.append(f"| {a} x {b} | {f(p['mi_bits'])} | {f(p['nmi'])} | {f(p['score_spearman'])} |")
    if rep["explained"]:
        out += [
            "",
            "| score of | explained by the groups of | eta squared | top 20% by score: largest group |",
            "|---|---|---:|---|",
        ]
        for e in rep["explained"]:
            t = e["top20"]
            out.append(
                f"| {e['score_of']} | {e['groups_of']} | {f(e['eta_squared'])} | "
                f"{t['group']} {t['share']:.0%} of {t['n_top']} |"
            )
    return out
