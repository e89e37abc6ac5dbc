"""macs.data.labels: offline labellers (quality, domain, topic) and the job that writes their sidecars.

Public names are imported lazily so `import macs.data.labels` (and `macs --help`) stays light:
`Labeller`, `Batch` (base), `run_labels` (job), `load_labels`, `Labels`, `available_actors`,
`degenerate_actors` (sidecar), `make_labeller` (registry), `LabelsConfig` (config),
`QualityModel`, `load_quality_model` (qmodel), `train_quality_model` (qtrain).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Labeller": "macs.data.labels.base",
    "Batch": "macs.data.labels.base",
    "run_labels": "macs.data.labels.job",
    "load_labels": "macs.data.labels.sidecar",
    "Labels": "macs.data.labels.sidecar",
    "available_actors": "macs.data.labels.sidecar",
    "degenerate_actors": "macs.data.labels.sidecar",
    "QualityModel": "macs.data.labels.qmodel",
    "load_quality_model": "macs.data.labels.qmodel",
    "train_quality_model": "macs.data.labels.qtrain",
    "make_labeller": "macs.data.labels.registry",
    "LabelsConfig": "macs.data.labels.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'macs.data.labels' has no attribute {name!r}")
