"""macs.labels: offline labellers (quality, domain, topic) and the job that writes their sidecars.

Public names are imported lazily so `import macs.labels` (and `macs --help`) stays light:
`Labeller`, `Batch` (base), `run_labels` (job), `load_labels`, `Labels`, `available_actors`,
`degenerate_actors` (sidecar), `make_labeller` (registry), `LabelsConfig` (config),
`QualityModel`, `load_quality_model` (qmodel), `train_quality_model` (qtrain).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Labeller": "macs.labels.base",
    "Batch": "macs.labels.base",
    "run_labels": "macs.labels.job",
    "load_labels": "macs.labels.sidecar",
    "Labels": "macs.labels.sidecar",
    "available_actors": "macs.labels.sidecar",
    "degenerate_actors": "macs.labels.sidecar",
    "QualityModel": "macs.labels.qmodel",
    "load_quality_model": "macs.labels.qmodel",
    "train_quality_model": "macs.labels.qtrain",
    "make_labeller": "macs.labels.registry",
    "LabelsConfig": "macs.labels.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'macs.labels' has no attribute {name!r}")
