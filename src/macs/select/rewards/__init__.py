"""macs.select.rewards: document rewards from reference-task gradients (higher reward = more helpful).

```python
ref = load_reference_set(tokenizer, tasks=("lambada", "squad", "jeopardy"), n_per_task=500, seed=0)
est = make_estimator(cfg.influence, ref)         # alignment | projected | probe
r = est.rewards(model, docs)                     # np.float64 per doc, nan = too short (est.stats)
```
Heavy imports (torch) happen when an estimator module is imported, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macs.select.rewards.config import InfluenceConfig
from macs.select.rewards.reference import (
    ReferenceExample,
    ReferenceSet,
    load_reference_set,
    reference_from_jsonl,
)

if TYPE_CHECKING:
    from macs.select.rewards.base import RewardEstimator

__all__ = [
    "InfluenceConfig",
    "ReferenceExample",
    "ReferenceSet",
    "load_reference_set",
    "reference_from_jsonl",
    "make_estimator",
    "reference_for_config",
]


def make_estimator(cfg: InfluenceConfig, reference: ReferenceSet) -> RewardEstimator:
    """The estimator named by cfg.estimator; its `rewards(model, docs)` is higher = more helpful."""
    if cfg.estimator == "alignment":
        from macs.select.rewards.alignment import AlignmentEstimator

        return AlignmentEstimator(cfg, reference)
    if cfg.estimator == "projected":
        from macs.select.rewards.projected import ProjectedEstimator

        return ProjectedEstimator(cfg, reference)
    from macs.select.rewards.probe import ProbeEstimator

    return ProbeEstimator(cfg, reference)


def reference_for_config(tokenizer, cfg: InfluenceConfig, seed: int | None = None) -> ReferenceSet:
    """The reference set a config asks for: its tasks (reward split) plus its JSONL files."""
    return load_reference_set(
        tokenizer,
        tasks=tuple(cfg.reference_tasks),
        n_per_task=cfg.n_per_task,
        seed=cfg.seed if seed is None else seed,
        jsonl=tuple(cfg.reference_jsonl),
        max_len=cfg.window,
        shots=cfg.reference_shots,
    )
