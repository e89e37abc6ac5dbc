"""Save and load a console `state_dict` (arrays in an .npz, everything else as JSON inside it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.errors import MacsError
from macs.io import atomic_path


def save_state(path: str | Path, sd: dict[str, Any]) -> Path:
    """Write a state dict atomically: top-level numpy arrays as npz members, the rest as JSON."""
    arrays = {k: v for k, v in sd.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in sd.items() if not isinstance(v, np.ndarray)}
    blob = np.frombuffer(json.dumps(rest).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, __json__=blob, **arrays)
    return Path(path)


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state dict written by `save_state` (restores the exact arrays and values)."""
    path = Path(path)
    if not path.exists():
        raise MacsError(f"console state {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            sd = json.loads(bytes(z["__json__"]).decode("utf-8"))
            for k in z.files:
                if k != "__json__":
                    sd[k] = z[k]
    except (ValueError, KeyError, OSError) as e:
        raise MacsError(f"{path}: not a console state file ({e}); delete it to start fresh") from e
    return sd
