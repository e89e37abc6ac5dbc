"""The one place that turns `device: auto` into a torch device and unwraps compiled/DDP models."""

from __future__ import annotations

from macs.errors import MacsError


def resolve_device(pref: str = "auto", local_rank: int = 0, world: int = 1) -> str:
    """'auto' -> 'cuda:<local_rank>' when CUDA is available else 'cpu'; MacsError if CUDA is asked for but absent."""
    import torch

    pref = (pref or "auto").strip()
    if pref == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if pref == "cuda" and (world > 1 or local_rank > 0):
        pref = f"cuda:{local_rank}"
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise MacsError(f"device {pref!r}: CUDA is not available here; use device cpu (or auto)")
    if not (pref == "cpu" or pref.startswith("cuda") or pref == "mps"):
        raise MacsError(f"device {pref!r}: use auto, cpu, cuda or cuda:N")
    return pref


def unwrap(model):
    """The plain module inside torch.compile (`_orig_mod`) and DDP (`module`) wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None or not hasattr(inner, "parameters"):
            return model
        model = inner
