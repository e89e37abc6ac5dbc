"""Save and load a selector or console `state_dict`: numpy arrays (at any depth) as .npz members,
everything else as JSON inside the same file. No pickle: loading never runs code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import atomic_path

_ARRAY = "__array__"


def _split(d: dict, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            arrays[f"{prefix}{k}"] = v
            out[k] = {_ARRAY: f"{prefix}{k}"}
        elif isinstance(v, dict):
            out[k] = _split(v, f"{prefix}{k}.", arrays)
        else:
            out[k] = v
    return out


def _join(d: Any, arrays) -> Any:
    if isinstance(d, dict):
        if set(d) == {_ARRAY}:
            return arrays[d[_ARRAY]]
        return {k: _join(v, arrays) for k, v in d.items()}
    return d


def save_state(path: str | Path, sd: dict[str, Any]) -> Path:
    """Write a state dict atomically: numpy arrays (nested too) as npz members, the rest as JSON."""
    arrays: dict[str, np.ndarray] = {}
    rest = _split(sd, "", arrays)
    blob = np.frombuffer(json.dumps(rest).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, __json__=blob, **arrays)
    return Path(path)


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state dict written by `save_state` (restores the exact arrays and values)."""
    path = Path(path)
    if not path.exists():
        raise MacsError(f"selection state {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            sd = json.loads(bytes(z["__json__"]).decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != "__json__"}
    except (ValueError, KeyError, OSError) as e:
        raise MacsError(f"{path}: not a macs state file ({e}); delete it to start fresh") from e
    for k, v in arrays.items():  # files of macs 0.1 kept arrays at the top level only
        if k not in sd and "." not in k:
            sd[k] = v
    return _join(sd, arrays)
