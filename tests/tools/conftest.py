"""The repository's tools/ (the GPU bundle, macs_bundle) on sys.path: it is not part of the installed
macs, so its tests import it from the source tree, as scripts/gpu_bundle.sh and gpu_run.sh do."""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
