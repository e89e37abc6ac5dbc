"""Windows, padded batches and per-example losses for causal LMs (losses in nats per predicted token)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Unit:
    """One sequence to take a gradient on: loss on predicting ids[start:], start >= 1."""

    ids: np.ndarray
    start: int = 1


def windows(ids: np.ndarray, window: int, overlap: int) -> list[np.ndarray]:
    """Cut a token array into windows of `window` tokens sharing `overlap` tokens; the last may be shorter."""
    n = len(ids)
    if n <= window:
        return [ids]
    stride = window - overlap
    out, s = [], 0
    while True:
        out.append(ids[s : s + window])
        if s + window >= n:
            return out
        s += stride


def spread(items: list, cap: int) -> list:
    """At most `cap` items, evenly spaced from first to last (all of them when cap <= 0)."""
    if cap <= 0 or len(items) <= cap:
        return items
    if cap == 1:
        return items[:1]
    pos = np.unique(np.round(np.linspace(0, len(items) - 1, cap)).astype(int))
    return [items[i] for i in pos]


def doc_units(
    docs: Sequence[np.ndarray], window: int, overlap: int, min_tokens: int, max_windows: int = 0
) -> tuple[list[Unit], np.ndarray, np.ndarray]:
    """Units of all docs (at most max_windows evenly spaced windows each; 0 = all), the doc of each unit, and a mask of docs too short to have a loss."""
    units, owner = [], []
    short = np.zeros(len(docs), dtype=bool)
    for i, d in enumerate(docs):
        d = np.asarray(d, dtype=np.int64).reshape(-1)
        if len(d) < min_tokens:
            short[i] = True
            continue
        for w in spread(windows(d, window, overlap), max_windows):
            if len(w) >= 2:
                units.append(Unit(w, 1))
                owner.append(i)
    return units, np.asarray(owner, dtype=np.int64), short


def chunks(units: Sequence[Unit], size: int) -> list[list[int]]:
    """Unit indices grouped `size` at a time, longest first so padding stays small."""
    order = sorted(range(len(units)), key=lambda i: -len(units[i].ids))
    return [order[i : i + size] for i in range(0, len(order), size)]


def collate(units: Sequence[Unit], device):
    """Right-padded input ids (c, T) and the target mask (c, T-1) of positions that carry loss."""
    import torch

    T = max(len(u.ids) for u in units)
    ids = np.zeros((len(units), T), dtype=np.int64)
    mask = np.zeros((len(units), T - 1), dtype=bool)
    for i, u in enumerate(units):
        ids[i, : len(u.ids)] = u.ids
        mask[i, u.start - 1 : len(u.ids) - 1] = True
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def per_example_loss(logits, ids, mask):
    """Mean next-token cross-entropy (nats) over each row's masked positions; shape (c,)."""
    import torch

    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    lp = torch.log_softmax(logits[:, :-1].to(dtype), dim=-1)
    nll = -lp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    m = mask.to(dtype)
    return (nll * m).sum(1) / m.sum(1).clamp_min(1)


def autocast(device, dtype: str):
    """The autocast context for `dtype` (bf16 only; fp32/fp64 run as they are)."""
    import torch

    if dtype == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def logits_of(out):
    """The logits of a causal LM's forward output: `.logits` (Hugging Face), a tuple's first item, or the tensor."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, tuple | list):
        return out[0]
    return out


def takes_input_ids(model) -> bool:
    """Whether the model's forward is called `model(input_ids=ids)` (else `model(ids)`).

    Hugging Face models and any forward with an `input_ids` parameter or `**kwargs` take the
    keyword; a plain `forward(x)` takes the tensor positionally. Wrappers (DDP, torch.compile)
    are looked through to the module they wrap.
    """
    import inspect

    import torch

    inner = model
    for attr in ("module", "_orig_mod"):
        while isinstance(getattr(inner, attr, None), torch.nn.Module):
            inner = getattr(inner, attr)
    try:
        params = inspect.signature(inner.forward).parameters.values()
    except (TypeError, ValueError):  # no signature to read: the Hugging Face convention
        return True
    return any(
        p.name == "input_ids" and p.kind is not p.POSITIONAL_ONLY or p.kind is p.VAR_KEYWORD
        for p in params
    )


def lm_args(model, ids) -> tuple[tuple, dict]:
    """(args, kwargs) that call the causal LM `model` on token ids (see `takes_input_ids`)."""
    return ((), {"input_ids": ids}) if takes_input_ids(model) else ((ids,), {})


def call_lm(model, ids):
    """The model's output on token ids, `model(input_ids=ids)` or `model(ids)` as its forward takes."""
    args, kwargs = lm_args(model, ids)
    return model(*args, **kwargs)


def model_loss(model, ids, mask, dtype: str = "fp32"):
    """Per-example losses (c,) of a causal LM on a padded batch (no attention mask: right padding)."""
    with autocast(ids.device, dtype):
        logits = logits_of(call_lm(model, ids))
    return per_example_loss(logits, ids, mask)
