"""What a run's selection cost, in seconds and in training-token equivalents of forward/backward work.

A training token costs one forward and one backward pass (backward ~ 2x forward), so work
counted in tokens converts as (forward_tokens + 2 * backward_tokens) / 3 training tokens. Work
known only by its wall time converts at the run's own training throughput (training tokens
per training second): the tokens the same seconds would have trained.

- online: the refreshes and in-run reward work during training (summary.json), by time;
- one-off: stage 0's `compute` records (a RegMix sweep, a perplexity reference model: paid
  before training; counted in full even when cached by an earlier run, `cached` says so), by
  their tokens when known, else by time;
- labelling: the offline label sets the method reads (summary labels_seconds), by time; shared
  by every run that reads them.

The compute-matched arm of a comparison (`random@METHOD`) trains random on train.tokens plus the
METHOD's mean `extra_tokens` over its seeds (see macs.app.pipeline).
"""

from __future__ import annotations

from macs.app.report.load import Run


def token_equivalent(rec: dict, throughput: float) -> float:
    """Training tokens of a compute record: by its tokens when known, else its seconds x throughput."""
    fwd, bwd = int(rec.get("forward_tokens") or 0), int(rec.get("backward_tokens") or 0)
    if fwd or bwd:
        return (fwd + 2 * bwd) / 3.0
    return float(rec.get("seconds") or 0.0) * throughput


def run_costs(run: Run) -> dict | None:
    """Seconds and training-token equivalents of a finished run's training, online, one-off and labelling work."""
    s = run.summary
    if not s or not s.get("tokens"):
        return None
    c = s.get("costs") or {}
    train_s = float(c.get("train_seconds") or s.get("train_seconds") or 0.0)
    tokens = int(s["tokens"])
    throughput = tokens / train_s if train_s > 0 else 0.0
    online_s = float(s.get("refresh_seconds") or 0.0) + float(c.get("reward_inrun_seconds") or 0.0)
    oneoff = [rec["compute"] for rec in run.selection[:1] if isinstance(rec.get("compute"), dict)]
    oneoff_s = sum(float(r.get("seconds") or 0.0) for r in oneoff)
    oneoff_tok = sum(token_equivalent(r, throughput) for r in oneoff)
    label_s = float(sum((s.get("labels_seconds") or {}).values()))
    out = {
        "train_tokens": tokens,
        "train_seconds": train_s,
        "throughput": throughput,
        "online_seconds": online_s,
        "online_tokens": online_s * throughput,
        "oneoff_seconds": oneoff_s,
        "oneoff_tokens": oneoff_tok,
        "oneoff": [r.get("what", "?") + (" (cached)" if r.get("cached") else "") for r in oneoff],
        "labelling_seconds": label_s,
        "labelling_tokens": label_s * throughput,
    }
    out["extra_tokens"] = out["online_tokens"] + out["oneoff_tokens"] + out["labelling_tokens"]
    out["extra_fraction"] = out["extra_tokens"] / tokens
    return out


def mean_costs(runs: list[Run]) -> dict | None:
    """The mean over runs (seeds) of every number of run_costs; the union of one-off names."""
    per = [c for c in (run_costs(r) for r in runs) if c is not None]
    if not per:
        return None
    out = {
        k: sum(c[k] for c in per) / len(per)
        for k, v in per[0].items()
        if isinstance(v, float | int)
    }
    out["oneoff"] = sorted({x for c in per for x in c["oneoff"]})
    out["n_runs"] = len(per)
    return out
