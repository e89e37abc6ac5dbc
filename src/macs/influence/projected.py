"""Projected gradient alignment (LESS/TRAK style): cosines of per-example gradients after a seeded
Rademacher projection to `projection_dim` dimensions. Higher reward = more helpful.

The P x k projection matrix is never stored: each parameter is cut into fixed row blocks and
each block's +-1/sqrt(k) entries are drawn from a generator seeded by (seed, parameter, block),
so the matrix depends only on the seed, the parameter shapes and k (not on batching).
Per-example gradients exist only one parameter block and a bounded number of examples at a time.
"""

from __future__ import annotations

import numpy as np
import torch

from macs.influence.alignment import trainable
from macs.influence.base import RewardEstimator, compute_dtype, model_device, reference_units
from macs.influence.batching import Unit
from macs.influence.ghost import GradSink, HookEngine, embedding_grad

_BLOCK_ELEMS = 2**24  # entries of one generated block of the projection matrix


class RademacherProjector:
    """Implicit seeded Rademacher matrix (P x k, entries +-1/sqrt(k)) for a list of parameter shapes."""

    def __init__(self, shapes: list[tuple[int, ...]], k: int, seed: int, device, dtype):
        self.k, self.seed, self.device, self.dtype = k, seed, torch.device(device), dtype
        self.rows: list[
            tuple[int, int]
        ] = []  # (n_rows, row_len) per parameter, flattened row-major
        for s in shapes:
            row = int(s[-1]) if len(s) > 1 else int(np.prod(s))
            self.rows.append((int(np.prod(s)) // row, row))

    def blocks(self, pidx: int):
        """Yield (r0, r1, R) with R the ((r1 - r0) * row_len, k) block of the matrix for these rows."""
        n_rows, row = self.rows[pidx]
        per = max(1, _BLOCK_ELEMS // (row * self.k))
        for b, r0 in enumerate(range(0, n_rows, per)):
            r1 = min(n_rows, r0 + per)
            g = torch.Generator(device=self.device)
            g.manual_seed(int(np.random.SeedSequence([self.seed, pidx, b]).generate_state(1)[0]))
            R = torch.randint(
                0, 2, ((r1 - r0) * row, self.k), generator=g, device=self.device, dtype=torch.int8
            )
            yield r0, r1, R.to(self.dtype).mul_(2).sub_(1).mul_(self.k**-0.5)


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
        n_rows, row = self.proj.rows[pidx]
        G = G.reshape(G.shape[0], n_rows, row)
        self._rows(pidx, lambda s, e, r0, r1: G[s:e, r0:r1])

    def linear(self, pidx, A, D):
        self._rows(
            pidx, lambda s, e, r0, r1: torch.einsum("bto,bti->boi", D[s:e, :, r0:r1], A[s:e])
        )

    def embedding(self, pidx, ids, D, num):
        def make(s, e, r0, r1):
            t = ids[s:e]
            inside = (t >= r0) & (t < r1)
            return embedding_grad(
                (t - r0).clamp(0, r1 - r0 - 1), D[s:e] * inside[..., None].to(D.dtype), r1 - r0
            )

        self._rows(pidx, make)


class ProjectedEstimator(RewardEstimator):
    """Cosine alignment of Rademacher-projected per-example gradients (higher = more helpful)."""

    name = "projected"

    def __init__(self, cfg, reference):
        super().__init__(cfg, reference)
        self.ref_units = reference_units(reference)
        self.dirs: torch.Tensor | None = None  # (n_tasks, k)

    def project(self, model, units: list[Unit]) -> torch.Tensor:
        """Projected per-example gradients (n, k) of the units' losses (compute dtype)."""
        params = [p for _, p in trainable(model)]
        dev, cdt = model_device(model), compute_dtype(model)
        proj = RademacherProjector(
            [tuple(p.shape) for p in params], self.cfg.projection_dim, self.cfg.seed, dev, cdt
        )
        engine = HookEngine(model)
        out = torch.zeros(len(units), proj.k, dtype=cdt, device=dev)
        for idx, ids, mask in self._batches(units, dev):
            sink = ProjectionSink(len(idx), proj, self.cfg.max_chunk_elems)
            engine.run(ids, mask, sink, self.cfg.dtype)
            out[torch.as_tensor(idx, device=dev)] = sink.out
        return out

    def _refresh(self, model) -> None:
        vs = []
        for units in self.ref_units.values():
            g = self.project(model, units)
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
