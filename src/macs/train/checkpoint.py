"""Checkpoints: model, optimiser, selection state, data position, counters and every RNG, written atomically.

Layout: `checkpoints/step-XXXXXXX/{model.pt, optim.pt, state.pt}` and `checkpoints/latest.json`
naming the newest complete one (it is replaced only after the directory is fully written, so a
kill at any point leaves a usable checkpoint). A stage boundary saves twice at the same step
(before and after the refresh): the second save moves the first aside to `.step-XXXXXXX.old`
before renaming itself into place, and `latest_checkpoint` moves it back if a kill fell between
the two renames. Older step directories are deleted unless they are stage ends kept by
`train.keep_stage_checkpoints`.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np

from macs.core.device import unwrap
from macs.core.errors import MacsError
from macs.core.io import read_json, write_json
from macs.core.safe_load import expected_shapes, load_state_file, load_tensors, save_tensors


def rng_state() -> dict:
    """Every RNG the process uses: Python, NumPy's global, torch CPU and CUDA."""
    import torch

    st = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    """Restore what rng_state returned."""
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_checkpoint(
    ckpt_dir: Path, step: int, model, optimizer, state: dict, keep: set[int] | None = None
) -> Path:
    """Write checkpoint `step` and point latest.json at it; delete older ones not in `keep`."""

    ckpt_dir = Path(ckpt_dir)
    name = f"step-{step:07d}"
    final = ckpt_dir / name
    tmp, old = ckpt_dir / f".{name}.tmp", ckpt_dir / f".{name}.old"
    for stale in (tmp, old):  # left by a kill (latest_checkpoint has already recovered `old`)
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir(parents=True)
    raw = unwrap(model)
    save_tensors(raw.state_dict(), tmp / "model.pt")  # a full disk is a one-line error
    save_tensors(optimizer.state_dict(), tmp / "optim.pt")
    save_tensors({**state, "rng": rng_state()}, tmp / "state.pt")
    # never delete what latest.json may name before its successor is in place. Not replace_dir:
    # its aside folder is restored only when the writer's pid is dead, and a restarted trainer
    # in a container often gets the same pid; the run lock already makes this the only writer.
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    write_json(ckpt_dir / "latest.json", {"step": step, "dir": name})
    if old.exists():
        shutil.rmtree(old)
    keep_names = {f"step-{s:07d}" for s in (keep or set())} | {name}
    for d in ckpt_dir.glob("step-*"):
        if d.name not in keep_names:
            shutil.rmtree(d, ignore_errors=True)
    return final


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint directory, or None."""
    p = Path(ckpt_dir) / "latest.json"
    if not p.exists():
        return None
    d = Path(ckpt_dir) / read_json(p)["dir"]
    old = d.parent / f".{d.name}.old"
    if not d.exists() and (old / "state.pt").exists():  # killed between save_checkpoint's renames
        old.rename(d)
    if not (d / "state.pt").exists():
        raise MacsError(
            f"{p} names {d}, which is incomplete; delete {p} to restart the run from scratch"
        )
    return d


def load_checkpoint(d: Path, model, optimizer) -> dict:
    """Load model and optimiser in place; return the state dict (RNGs not yet restored).

    Nothing is unpickled beyond tensors, numbers and numpy arrays (weights_only loads), and the
    weights must match the model's names and shapes: a tampered checkpoint is a one-line error."""
    raw = unwrap(model)
    raw.load_state_dict(load_state_file(d / "model.pt", expected_shapes(raw)))
    try:
        optimizer.load_state_dict(load_tensors(d / "optim.pt"))
    except (ValueError, KeyError) as e:
        raise MacsError(f"{d / 'optim.pt'}: does not match this run's optimiser ({e})") from e
    return load_tensors(d / "state.pt", allow_numpy=True)
