"""Learning-rate schedules as pure functions of the step (so resuming needs only the step)."""

from __future__ import annotations

import math


def lr_at(
    step: int,
    total: int,
    peak: float,
    warmup: int,
    kind: str = "cosine",
    min_ratio: float = 0.1,
    decay_frac: float = 0.2,
) -> float:
    """Learning rate for optimiser step `step` (0-based): linear warmup, then cosine or WSD down to min_ratio*peak."""
    floor = peak * min_ratio
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    if kind == "cosine":
        span = max(1, total - warmup)
        t = min(1.0, (step - warmup) / span)
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    if kind == "wsd":
        decay_steps = max(1, int(round(total * decay_frac)))
        start = total - decay_steps
        if step < start:
            return peak
        t = min(1.0, (step - start + 1) / decay_steps)
        return peak - (peak - floor) * t
    raise ValueError(f"unknown schedule {kind!r} (cosine | wsd)")


def stage_bounds(total_steps: int, stages: int) -> list[int]:
    """Start step of every stage plus the end: stage k trains steps [b[k], b[k+1]); U = total/stages."""
    stages = max(1, min(stages, total_steps))
    return [round(k * total_steps / stages) for k in range(stages + 1)]
