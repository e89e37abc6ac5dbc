"""Data efficiency from the stage-boundary evaluations (macs.train.boundary): each method's curve
of the reference mean bits/byte over training tokens, and the tokens it needs to reach the
baseline's final value on the same subset, per seed (paired with the baseline's run of that
seed), as a ratio to the baseline's tokens with a 95% t-interval over the seeds that reach it.

Tokens to reach a target: the first boundary at or below it, linearly interpolated from the one
before (a method already there at its first boundary gets that boundary's tokens, an upper
bound: `at_first`); None when no boundary reaches it.
"""

from __future__ import annotations

import math

import numpy as np

from macs.app.report.load import Run, eval_metrics
from macs.app.report.stats import t_interval

METRIC = "reference mean scored bpb"  # lower = better


def curve(run: Run, metric: str = METRIC) -> list[tuple[int, float]]:
    """(tokens, value) at each stage boundary of a run (empty without boundary evaluations)."""
    out = []
    for rec in run.extra.get("boundary") or []:
        v = eval_metrics({"tasks": rec.get("tasks") or {}}).get(metric)
        if v is not None:
            out.append((int(rec["tokens"]), float(v[0])))
    return out


def tokens_to_reach(points: list[tuple[int, float]], target: float) -> tuple[float | None, bool]:
    """(tokens at which a lower-is-better curve first reaches `target`, reached at the first point)."""
    for i, (t, v) in enumerate(points):
        if v <= target:
            if i == 0:
                return float(t), True
            t0, v0 = points[i - 1]
            return float(t0 + (t - t0) * (v0 - target) / (v0 - v)), False
    return None, False


def efficiency(by: dict[str, dict[int, Run]], baseline: str) -> dict:
    """Curves (mean over seeds per boundary) and tokens-to-reach the baseline's final value."""
    curves = {m: {s: curve(r) for s, r in seeds.items()} for m, seeds in by.items()}
    curves = {m: {s: c for s, c in per.items() if c} for m, per in curves.items()}
    curves = {m: per for m, per in curves.items() if per}
    if baseline not in curves:
        return {}
    out: dict = {"metric": METRIC, "baseline": baseline, "curves": {}, "to_reach": {}}
    for m, per in curves.items():
        n = min(len(c) for c in per.values())
        out["curves"][m] = {
            "tokens": [float(np.mean([c[k][0] for c in per.values()])) for k in range(n)],
            "value": [float(np.mean([c[k][1] for c in per.values()])) for k in range(n)],
            "per_seed": {str(s): c for s, c in per.items()},
        }
        ratios, first = [], 0
        seeds = sorted(set(per) & set(curves[baseline]))
        for s in seeds:
            t_base, target = curves[baseline][s][-1]
            need, at_first = tokens_to_reach(per[s], target)
            if need is not None:
                ratios.append(need / t_base)
                first += int(at_first)
        mean, lo, hi = t_interval(np.array(ratios)) if ratios else (math.nan,) * 3
        out["to_reach"][m] = {
            "seeds": len(seeds),
            "reached": len(ratios),
            "at_first_boundary": first,
            "ratio_mean": None if not ratios else mean,
            "lo": None if not math.isfinite(lo) else lo,
            "hi": None if not math.isfinite(hi) else hi,
            "ratios": ratios,
        }
    return out


def efficiency_md(eff: dict) -> list[str]:
    """The data-efficiency table (empty without boundary evaluations)."""
    if not eff:
        return []
    base = eff["baseline"]
    out = [
        f"### Data efficiency ({eff['metric']} on the stage-boundary subset, lower = better)",
        "",
        f"Tokens each method needs to reach `{base}`'s final value of the same seed, as a share of "
        f"`{base}`'s tokens (below 1: more efficient), 95% t-interval over the seeds that reach "
        "it; '<=' marks seeds already there at the first boundary (an upper bound).",
        "",
        "| method | value at each boundary (mean over seeds) | tokens needed / baseline's | "
        "95% interval | seeds reaching it |",
        "|---|---|---:|---|---:|",
    ]
    for m, c in eff["curves"].items():
        r = eff["to_reach"][m]
        vals = ", ".join(f"{v:.3f}" for v in c["value"])
        ratio = "-" if r["ratio_mean"] is None else f"{r['ratio_mean']:.3f}"
        iv = "-" if r["lo"] is None else f"[{r['lo']:.3f}, {r['hi']:.3f}]"
        le = f" ({r['at_first_boundary']} <=)" if r["at_first_boundary"] else ""
        out.append(f"| {m} | {vals} | {ratio} | {iv} | {r['reached']} of {r['seeds']}{le} |")
    return out + [""]


def plot_efficiency(eff: dict, out) -> object | None:
    """Each method's mean curve over training tokens, with the baseline's final value as a line."""
    if not eff:
        return None
    from macs.app.report.plotting import pyplot as _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (m, c) in enumerate(eff["curves"].items()):
        ax.plot(c["tokens"], c["value"], marker="o", color=f"C{i % 10}", label=m)
    ax.axhline(
        eff["curves"][eff["baseline"]]["value"][-1],
        color="grey",
        ls=":",
        lw=0.8,
        label=f"{eff['baseline']} final",
    )
    ax.set_xlabel("training tokens")
    ax.set_ylabel(f"{eff['metric']} (lower = better)")
    ax.set_title("Data efficiency: the reference subset at every stage boundary", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
