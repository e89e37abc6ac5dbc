"""The one place that turns `device: auto` into a torch device and unwraps compiled/DDP models.

Every caller (training, labellers, eval model loading, influence, baselines) resolves its
device here, so 'auto', 'cuda' without a GPU and an unknown name mean the same everywhere.
"""

from __future__ import annotations

from macs.core.errors import MacsError


def resolve_device(
    pref: str = "auto", local_rank: int = 0, world: int = 1, *, option: str = "device"
) -> str:
    """'auto' -> 'cuda:<local_rank>' when CUDA is available else 'cpu'; MacsError if CUDA is asked for but absent.

    `option` is how the caller's user sets the device (a config key or a CLI flag such as
    '--device'); the error message names it as the fix.
    """
    import torch

    pref = (pref or "auto").strip()
    if pref == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if pref == "cuda" and (world > 1 or local_rank > 0):
        pref = f"cuda:{local_rank}"
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise MacsError(f"device {pref!r}: CUDA is not available here; use {option} cpu (or auto)")
    if not (pref == "cpu" or pref.startswith("cuda") or pref == "mps"):
        raise MacsError(f"device {pref!r}: use {option} auto, cpu, cuda, cuda:N or mps")
    return pref


def torch_device(pref: str = "auto", *, option: str = "device"):
    """`resolve_device` as a torch.device (for callers that need the object, e.g. eval loading)."""
    import torch

    return torch.device(resolve_device(pref, option=option))


def unwrap(model):
    """The plain module inside torch.compile (`_orig_mod`) and DDP (`module`) wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None or not hasattr(inner, "parameters"):
            return model
        model = inner
