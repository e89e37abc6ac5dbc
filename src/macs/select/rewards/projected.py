"""Projected gradient alignment (LESS/TRAK style): cosines of per-example gradients after a seeded
Rademacher projection to `projection_dim` dimensions. Higher reward = more helpful.

The P x k projection matrix is never stored whole unless it fits `projection_cache_mb` (as int8):
each parameter is cut into fixed row blocks and each block's +-1/sqrt(k) entries are drawn from
a generator seeded by (seed, parameter, block), so the matrix depends only on the seed, the
parameter shapes, k and the device's generator (not on batching). Per-example gradients exist
for one parameter block and a bounded number of examples at a time.
"""

from __future__ import annotations

import numpy as np
import torch

from macs.select.rewards.alignment import trainable
from macs.select.rewards.base import RewardEstimator, compute_dtype, model_device, reference_units
from macs.select.rewards.batching import Unit, logits_of, takes_input_ids
from macs.select.rewards.ghost import GradSink, HookEngine, Unsupported, embedding_grad

_BLOCK_ELEMS = 2**24  # entries of one generated block of the projection matrix


class RademacherProjector:
    """Implicit seeded Rademacher matrix (P x k, entries +-1/sqrt(k)) over parameter shapes."""

    def __init__(self, shapes, k: int, seed: int, device, dtype, cache_bytes: int = 0):
        self.k, self.seed, self.device, self.dtype = k, seed, torch.device(device), dtype
        self.rows: list[tuple[int, int]] = []  # (n_rows, row_len) per parameter, row-major
        for s in shapes:
            row = int(s[-1]) if len(s) > 1 else int(np.prod(s))
            self.rows.append((int(np.prod(s)) // row, row))
        total = sum(int(np.prod(s)) for s in shapes) * k
        self.cache: dict[tuple[int, int], torch.Tensor] | None = (
            {} if total <= cache_bytes else None
        )

    def _draw(self, pidx: int, b: int, n: int) -> torch.Tensor:
        g = torch.Generator(device=self.device)
        g.manual_seed(int(np.random.SeedSequence([self.seed, pidx, b]).generate_state(1)[0]))
        R = torch.randint(0, 2, (n, self.k), generator=g, device=self.device, dtype=torch.int8)
        return R.mul_(2).sub_(1)

    def blocks(self, pidx: int):
        """Yield (r0, r1, R): R is the ((r1 - r0) * row_len, k) block for these parameter rows."""
        n_rows, row = self.rows[pidx]
        per = max(1, _BLOCK_ELEMS // (row * self.k))
        for b, r0 in enumerate(range(0, n_rows, per)):
            r1 = min(n_rows, r0 + per)
            R = None if self.cache is None else self.cache.get((pidx, b))
            if R is None:
                R = self._draw(pidx, b, (r1 - r0) * row)
                if self.cache is not None:
                    self.cache[(pidx, b)] = R
            yield r0, r1, R.to(self.dtype).mul_(self.k**-0.5)


class ProjectionSink(GradSink):
    """Accumulates per-example projected gradients (c, k)."""

    def __init__(self, c: int, proj: RademacherProjector, max_elems: int):
        self.proj, self.max_elems = proj, max_elems
        self.out = torch.zeros(c, proj.k, dtype=proj.dtype, device=proj.device)

    def _rows(self, pidx, make):
        c = self.out.shape[0]
        for r0, r1, R in self.proj.blocks(pidx):
            step = max(1, self.max_elems // R.shape[0])
            for s in range(0, c, step):
                self.out[s : s + step] += make(s, s + step, r0, r1).reshape(-1, R.shape[0]) @ R

    def dense(self, pidx, G):
        """Project materialised per-example gradients block by block."""
        n_rows, row = self.proj.rows[pidx]
        G = G.reshape(G.shape[0], n_rows, row)
        self._rows(pidx, lambda s, e, r0, r1: G[s:e, r0:r1])

    def linear(self, pidx, A, D):
        """Form D^T A only for the rows of the current matrix block."""

        def make(s, e, r0, r1):
            return torch.einsum("bto,bti->boi", D[s:e, :, r0:r1], A[s:e])

        self._rows(pidx, make)

    def embedding(self, pidx, ids, D, num):
        """Scatter only the tokens whose rows fall in the current matrix block."""

        def make(s, e, r0, r1):
            t = ids[s:e]
            inside = (t >= r0) & (t < r1)
            Din = D[s:e] * inside[..., None].to(D.dtype)
            return embedding_grad((t - r0).clamp(0, r1 - r0 - 1), Din, r1 - r0)

        self._rows(pidx, make)


def vmap_into(model, ids, mask, sink: GradSink, dtype: str, max_elems: int) -> None:
    """Fallback for models the hooks cannot handle: torch.func per-example gradients, chunked."""
    import warnings

    from torch.func import functional_call, grad, vmap

    from macs.select.rewards.batching import autocast, per_example_loss

    named = trainable(model)
    params = {n: p.detach() for n, p in named}
    buffers = dict(model.named_buffers())
    P = sum(p.numel() for _, p in named)

    keyword = takes_input_ids(model)

    def loss1(p, ids1, mask1):
        args, kwargs = ((), {"input_ids": ids1[None]}) if keyword else ((ids1[None],), {})
        with autocast(ids1.device, dtype):
            logits = logits_of(functional_call(model, (p, buffers), args, kwargs))
        return per_example_loss(logits, ids1[None], mask1[None])[0]

    f = vmap(grad(loss1), in_dims=(None, 0, 0))
    step = max(1, max_elems // P)
    full = sink.out
    for s in range(0, ids.shape[0], step):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            g = f(params, ids[s : s + step], mask[s : s + step])
        sink.out = full[s : s + step]
        for j, (n, _) in enumerate(named):
            sink.dense(j, g[n].to(full.dtype))
    sink.out = full


class ProjectedEstimator(RewardEstimator):
    """Cosine alignment of Rademacher-projected per-example gradients (higher = more helpful)."""

    name = "projected"

    def __init__(self, cfg, reference):
        super().__init__(cfg, reference)
        self.ref_units = reference_units(reference)
        self.dirs: torch.Tensor | None = None  # (n_tasks, k)
        self._proj: RademacherProjector | None = None
        self._proj_key: tuple | None = None
        self._hooks_ok = cfg.method in ("auto", "ghost")

    def projector(self, model) -> RademacherProjector:
        """The (cached) projector for this model's parameter shapes, device and dtype."""
        params = [p for _, p in trainable(model)]
        dev, cdt = model_device(model), compute_dtype(model)
        key = (id(model), tuple(tuple(p.shape) for p in params), str(dev), cdt)
        if self._proj is None or self._proj_key != key:
            cache = self.cfg.projection_cache_mb * 2**20
            shapes = [tuple(p.shape) for p in params]
            k = self.cfg.projection_dim
            self._proj = RademacherProjector(shapes, k, self.cfg.seed, dev, cdt, cache)
            self._proj_key = key
        return self._proj

    def project(self, model, units: list[Unit]) -> torch.Tensor:
        """Projected per-example gradients (n, k) of the units' losses (compute dtype)."""
        proj = self.projector(model)
        dev = proj.device
        engine = None
        if self._hooks_ok:
            try:
                engine = HookEngine(model)
            except Unsupported:
                self._hooks_ok = False
        out = torch.zeros(len(units), proj.k, dtype=proj.dtype, device=dev)
        for idx, ids, mask in self._batches(units, dev):
            sink = ProjectionSink(len(idx), proj, self.cfg.max_chunk_elems)
            done = False
            if self._hooks_ok and engine is not None:
                try:
                    engine.run(ids, mask, sink, self.cfg.dtype)
                    done = True
                except Unsupported:
                    self._hooks_ok = False
                    sink = ProjectionSink(len(idx), proj, self.cfg.max_chunk_elems)
            if not done:
                vmap_into(model, ids, mask, sink, self.cfg.dtype, self.cfg.max_chunk_elems)
            out[torch.as_tensor(idx, device=dev)] = sink.out
        self.stats["method"] = "ghost" if self._hooks_ok else "vmap"
        return out

    def _refresh(self, model) -> None:
        everything = [u for units in self.ref_units.values() for u in units]
        allg = self.project(model, everything)  # one pass over the matrix for all tasks
        vs, start = [], 0
        for units in self.ref_units.values():
            g = allg[start : start + len(units)]
            start += len(units)
            g = g / g.norm(dim=1, keepdim=True)
            v = g[torch.isfinite(g).all(1)].mean(0)
            vs.append(v / v.norm() if self.cfg.unit_reference else v)
        self.dirs = torch.stack(vs)

    def _unit_rewards(self, model, units, **kw) -> np.ndarray:
        g = self.project(model, units)
        r = ((g @ self.dirs.T) / g.norm(dim=1, keepdim=True)).mean(1)
        out = r.double().cpu().numpy()
        out[~np.isfinite(out)] = np.nan
        return out
