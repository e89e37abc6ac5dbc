"""Loading tensor files that may come from someone else: never unpickle arbitrary objects, and
refuse a file whose entries do not match what the caller expects (a tampered or foreign
checkpoint: missing keys, extra keys, wrong shapes) with one clear line.

`.pt`/`.bin` files go through `torch.load(weights_only=True)` (tensors, numbers, strings,
lists/dicts/tuples; optionally numpy arrays for saved RNG states); `.safetensors` through
safetensors. No code in a file ever runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from macs.core.errors import MacsError

Shape = tuple[int, ...]


def _numpy_globals() -> list:
    """The numpy classes an RNG state or array needs (safe: they only rebuild arrays)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    out = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


def _refused(path: Path, e: Exception) -> MacsError:
    m = re.search(r"GLOBAL ([\w.]+)", str(e))
    what = f" (it asks to run {m.group(1)})" if m else ""
    return MacsError(
        f"{path}: refused to load: it holds Python objects other than tensors{what}; files "
        "macs writes hold tensors only, so this one was replaced or tampered with - use the "
        "original file"
    )


def load_tensors(path: str | os.PathLike, *, allow_numpy: bool = False) -> Any:
    """The contents of a .pt/.bin (weights_only torch.load, on CPU) or .safetensors file;
    MacsError naming the file when it is missing, damaged or holds non-tensor objects."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise MacsError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise MacsError(
                f"{path}: not a readable safetensors file ({e}); the file is damaged - use an "
                "intact copy"
            ) from e
    import torch

    try:
        if allow_numpy:
            with torch.serialization.safe_globals(_numpy_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e) or "Weights only load failed" in str(e):
            raise _refused(path, e) from e
        raise MacsError(f"{path}: damaged file ({e}); use an intact copy") from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise MacsError(
            f"{path}: not a complete torch file ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
            "it is truncated or damaged - use an intact copy"
        ) from e


def check_state(state: Any, expected: Mapping[str, Shape], path: str | os.PathLike) -> None:
    """MacsError naming `path` and the first few problems unless `state` maps exactly the
    names of `expected` to tensors of those shapes."""
    import torch

    if not isinstance(state, Mapping):
        raise MacsError(f"{path}: expected a mapping of tensor names, found {type(state).__name__}")
    problems = []
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing {_few(missing)}")
    if extra:
        problems.append(f"unexpected {_few(extra)}")
    for k, shape in expected.items():
        if k not in state:
            continue
        v = state[k]
        if not isinstance(v, torch.Tensor):
            problems.append(f"{k} is a {type(v).__name__}, not a tensor")
        elif tuple(v.shape) != tuple(shape):
            problems.append(f"{k} has shape {tuple(v.shape)}, expected {tuple(shape)}")
    if problems:
        raise MacsError(
            f"{path}: does not match the model ({'; '.join(problems[:4])}"
            f"{'; ...' if len(problems) > 4 else ''}); it belongs to another model or config, "
            "or was tampered with - use the checkpoint of this run"
        )


def _few(names: list[str], n: int = 3) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(repr(x) for x in names[:n]) + more


def expected_shapes(module) -> dict[str, Shape]:
    """{name: shape} of a torch module's state_dict (what `load_state_file` should find)."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def load_state_file(
    path: str | os.PathLike, expected: Mapping[str, Shape] | None = None
) -> dict[str, Any]:
    """A model state dict from a .pt/.bin/.safetensors file, loaded without unpickling code
    and checked against `expected` {name: shape} (None = only that it maps names to
    tensors); MacsError naming the file and the mismatches otherwise."""
    state = load_tensors(path)
    if expected is None:
        expected = {
            k: tuple(v.shape) for k, v in (state.items() if isinstance(state, Mapping) else [])
        }
    check_state(state, expected, path)
    return dict(state)


def save_tensors(obj: Any, path: str | os.PathLike) -> None:
    """torch.save `obj` to `path` atomically, so that a full disk or an unwritable folder is a
    one-line MacsError naming the file (torch.save itself reports a short write as an opaque
    RuntimeError): the bytes are serialised in memory, then written by macs.core.io."""
    import io

    import torch

    from macs.core.io import write_bytes, writing

    buf = io.BytesIO()
    torch.save(obj, buf)
    with writing(path, note="the previous file there (if any) is unchanged"):
        write_bytes(path, buf.getbuffer())
