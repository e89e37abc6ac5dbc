"""Exact gradient alignment: r(x) = mean over tasks of cos(g(x), v_task), all parameters, no projection.

v_task = mean over the task's reference examples z of g(z)/|g(z)| (per-example normalised).
Higher reward = more helpful (x's gradient points where the reference gradients point).
Per-example quantities come from one of three interchangeable methods:
`ghost` (hooks, see ghost.py), `vmap` (torch.func per-example gradients in bounded chunks)
or `loop` (one backward per example: the naive baseline).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from macs.core.errors import MacsError
from macs.select.rewards.base import RewardEstimator, compute_dtype, model_device, reference_units
from macs.select.rewards.batching import (
    Unit,
    autocast,
    logits_of,
    model_loss,
    per_example_loss,
    takes_input_ids,
)
from macs.select.rewards.ghost import HookEngine, NormDotSink, Unsupported


def trainable(model) -> list[tuple[str, torch.Tensor]]:
    """(name, parameter) of every trainable parameter, shared ones once."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def stats_loop(model, ids, mask, dirs, dtype="fp32"):
    """Per-example losses, squared gradient norms and dots with `dirs`, one backward per example."""
    params = [p for _, p in trainable(model)]
    cdt = compute_dtype(model)
    c = ids.shape[0]
    n_dir = 0 if dirs is None else dirs[0].shape[0]
    losses = torch.zeros(c, dtype=cdt, device=ids.device)
    sq = torch.zeros(c, dtype=cdt, device=ids.device)
    dots = torch.zeros(c, n_dir, dtype=cdt, device=ids.device)
    for i in range(c):
        n = int(mask[i].nonzero().max()) + 2 if mask[i].any() else 2
        loss = model_loss(model, ids[i : i + 1, :n], mask[i : i + 1, : n - 1], dtype)[0]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        losses[i] = loss.detach()
        for j, g in enumerate(grads):
            if g is None:
                continue
            g = g.to(cdt)
            sq[i] += g.pow(2).sum()
            if dirs is not None:
                dots[i] += dirs[j].reshape(n_dir, -1) @ g.reshape(-1)
    return losses, sq, dots


def stats_vmap(model, ids, mask, dirs, dtype="fp32", max_elems=2**27, acc=None):
    """Per-example losses, squared norms and dots via torch.func per-example gradients, chunked.

    With `acc` (one tensor per parameter), also adds sum_i g_i / |g_i| into it (zero-norm rows skipped).
    """
    from torch.func import functional_call, grad_and_value, vmap

    named = trainable(model)
    names = [n for n, _ in named]
    params = {n: p.detach() for n, p in named}
    buffers = dict(model.named_buffers())
    P = sum(p.numel() for _, p in named)
    cdt = compute_dtype(model)
    n_dir = 0 if dirs is None else dirs[0].shape[0]

    keyword = takes_input_ids(model)

    def loss1(p, ids1, mask1):
        args, kwargs = ((), {"input_ids": ids1[None]}) if keyword else ((ids1[None],), {})
        with autocast(ids1.device, dtype):
            logits = logits_of(functional_call(model, (p, buffers), args, kwargs))
        return per_example_loss(logits, ids1[None], mask1[None])[0]

    f = vmap(grad_and_value(loss1), in_dims=(None, 0, 0))
    step = max(1, max_elems // P)
    out_l, out_sq, out_d = [], [], []
    for s in range(0, ids.shape[0], step):
        with (
            warnings.catch_warnings()
        ):  # SDPA has no batching rule on some builds: slower, still exact
            warnings.simplefilter("ignore", UserWarning)
            g, lv = f(params, ids[s : s + step], mask[s : s + step])
        c = lv.shape[0]
        sq = torch.zeros(c, dtype=cdt, device=ids.device)
        dots = torch.zeros(c, n_dir, dtype=cdt, device=ids.device)
        for j, n in enumerate(names):
            gj = g[n].reshape(c, -1).to(cdt)
            sq += gj.pow(2).sum(1)
            if dirs is not None:
                dots += gj @ dirs[j].reshape(n_dir, -1).T
        if acc is not None:
            inv = torch.where(sq > 0, sq.rsqrt(), torch.zeros_like(sq))
            for j, n in enumerate(names):
                acc[j] += torch.tensordot(inv, g[n].to(cdt), dims=1)
        out_l.append(lv.detach().to(cdt))
        out_sq.append(sq)
        out_d.append(dots)
    return torch.cat(out_l), torch.cat(out_sq), torch.cat(out_d)


class PerExample:
    """Computes (losses, squared norms, dots with fixed directions) per example with one method."""

    def __init__(self, model, method: str, dtype: str, max_elems: int):
        self.dtype, self.max_elems = dtype, max_elems
        self.auto = method == "auto"
        if self.auto:  # measured (benchmarks/bench_influence.py): vmap edges out hooks on CPU
            method = "vmap" if model_device(model).type == "cpu" else "ghost"
        self.method = method
        self.engine = None
        if method == "ghost":
            try:
                self.engine = HookEngine(model)
            except Unsupported as e:
                if not self.auto:
                    raise MacsError(
                        f"influence.method=ghost cannot handle this model ({e}); use vmap"
                    ) from e
                self.method = "vmap"

    def __call__(self, model, ids, mask, dirs):
        """(losses, sq, dots) for a padded batch; dirs: per-parameter (n_dir, *shape) or None."""
        if self.method == "ghost":
            sink = NormDotSink(ids.shape[0], dirs, self.max_elems, ids.device, compute_dtype(model))
            try:
                losses = self.engine.run(ids, mask, sink, self.dtype)
                return losses, sink.sq, sink.dots
            except Unsupported:
                self.method = "vmap"  # e.g. a module called twice per forward: exact fallback
        if self.method == "vmap":
            try:
                return stats_vmap(model, ids, mask, dirs, self.dtype, self.max_elems)
            except RuntimeError:
                if not self.auto:
                    raise
                self.method = "loop"  # a model torch.func cannot batch: the plain exact loop
        return stats_loop(model, ids, mask, dirs, self.dtype)


class AlignmentEstimator(RewardEstimator):
    """Exact cosine alignment with each reference task's mean normalised gradient (higher = more helpful)."""

    name = "alignment"

    def __init__(self, cfg, reference):
        super().__init__(cfg, reference)
        self.dirs: list[torch.Tensor] | None = None
        self.ref_units = reference_units(reference)
        self._pe: PerExample | None = None

    def _per_example(self, model) -> PerExample:
        if self._pe is None or self._pe_model != id(model):
            self._pe = PerExample(model, self.cfg.method, self.cfg.dtype, self.cfg.max_chunk_elems)
            self._pe_model = id(model)
        return self._pe

    def reference_vectors(self, model) -> list[list[torch.Tensor]]:
        """Per task, per parameter: mean over examples of g(z)/|g(z)| (compute dtype)."""
        pe = self._per_example(model)
        params = [p for _, p in trainable(model)]
        cdt, dev = compute_dtype(model), model_device(model)
        out = []
        for task, units in self.ref_units.items():
            if (
                pe.method == "vmap"
            ):  # per-example gradients exist anyway: normalise and sum in one pass
                acc = [torch.zeros_like(p, dtype=cdt) for p in params]
                n_ok = 0
                try:
                    for _, ids, mask in self._batches(units, dev):
                        _, sq, _ = stats_vmap(
                            model, ids, mask, None, self.cfg.dtype, self.cfg.max_chunk_elems, acc
                        )
                        n_ok += int((sq > 0).sum())
                except RuntimeError:
                    pe.method = "loop" if pe.auto else "vmap"
                    if not pe.auto:
                        raise
                else:
                    if n_ok == 0:
                        raise MacsError(
                            f"reference task {task!r}: every example has a zero gradient"
                        )
                    out.append([a / n_ok for a in acc])
                    continue
            inv = np.zeros(len(units))
            for idx, ids, mask in self._batches(units, dev):
                _, sq, _ = pe(model, ids, mask, None)
                inv[idx] = 1.0 / np.sqrt(sq.double().cpu().numpy())
            ok = np.isfinite(inv)
            if not ok.any():
                raise MacsError(f"reference task {task!r}: every example has a zero gradient")
            inv[~ok] = 0.0
            inv /= ok.sum()
            acc = [torch.zeros_like(p, dtype=cdt) for p in params]
            for idx, ids, mask in self._batches(units, dev):
                w = torch.as_tensor(inv[idx], dtype=cdt, device=dev)
                losses = model_loss(model, ids, mask, self.cfg.dtype)
                grads = torch.autograd.grad((losses * w).sum(), params, allow_unused=True)
                for a, g in zip(acc, grads, strict=True):
                    if g is not None:
                        a += g.to(cdt)
            out.append(acc)
        return out

    def _refresh(self, model) -> None:
        vecs = self.reference_vectors(model)
        if self.cfg.unit_reference:
            for v in vecs:
                norm = torch.sqrt(sum(x.pow(2).sum() for x in v))
                for x in v:
                    x /= norm
        self.dirs = [torch.stack([v[j] for v in vecs]) for j in range(len(vecs[0]))]

    def _unit_rewards(self, model, units: list[Unit], **kw) -> np.ndarray:
        pe = self._per_example(model)
        out = np.full(len(units), np.nan)
        for idx, ids, mask in self._batches(units, model_device(model)):
            _, sq, dots = pe(model, ids, mask, self.dirs)
            self.stats["method"] = pe.method
            r = (dots / sq.sqrt()[:, None]).mean(1)
            out[idx] = r.double().cpu().numpy()
        out[~np.isfinite(out)] = np.nan
        return out
