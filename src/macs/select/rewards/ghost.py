"""Per-example gradient quantities of a causal LM from one forward and one backward pass.

Hooks record every parametrised module's inputs and output gradients. Per-example gradients
are then never formed for the whole model at once: for `nn.Linear` the per-example squared
norm is sum((A A^T) * (D D^T)) ("ghost" norm) or the layer's per-example gradient D^T A is
formed for one layer and a bounded number of examples; `nn.Embedding` uses token-equality
masks; any other module (RMSNorm, LayerNorm, ...) gets its own parameters' per-example
gradients from `torch.func` on that module alone. Parameters shared by several modules (tied
embeddings and LM head) are summed per example before use. A sink consumes the results.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import torch
from torch import nn

from macs.core.timing import Stopwatch
from macs.select.rewards.batching import autocast, call_lm, logits_of, per_example_loss


class Unsupported(Exception):
    """The model has a structure the hook engine cannot handle exactly (use method=vmap)."""


class GradSink:
    """Receives per-example gradient pieces of parameter `pidx` (all tensors have batch dim c first)."""

    def dense(self, pidx: int, G: torch.Tensor) -> None:
        """Per-example gradients G of shape (c, *param.shape)."""
        raise NotImplementedError

    def linear(self, pidx: int, A: torch.Tensor, D: torch.Tensor) -> None:
        """A linear layer's inputs A (c, T, in) and output gradients D (c, T, out)."""
        self.dense(pidx, torch.einsum("bto,bti->boi", D, A))

    def embedding(self, pidx: int, ids: torch.Tensor, D: torch.Tensor, num: int) -> None:
        """An embedding's token ids (c, T) and output gradients D (c, T, d); num rows."""
        self.dense(pidx, embedding_grad(ids, D, num))


def embedding_grad(ids: torch.Tensor, D: torch.Tensor, num: int) -> torch.Tensor:
    """Dense per-example embedding gradients (c, num, d) from token ids and output gradients."""
    c, T, d = D.shape
    G = torch.zeros(c * num, d, dtype=D.dtype, device=D.device)
    key = (torch.arange(c, device=ids.device)[:, None] * num + ids).reshape(-1)
    G.index_add_(0, key, D.reshape(-1, d))
    return G.view(c, num, d)


class HookEngine:
    """Per-example gradient pieces of every trainable parameter of `model`, delivered to a sink."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.pindex = {id(p): i for i, p in enumerate(self.params)}
        self.uses: dict[int, list[tuple[nn.Module, str, str]]] = defaultdict(list)
        self.modules: list[tuple[nn.Module, str]] = []
        self.seconds = 0.0  # time spent in the backward hooks (all runs and captures)
        for name, mod in model.named_modules():
            own = [(a, p) for a, p in mod._parameters.items() if p is not None and p.requires_grad]
            if not own:
                continue
            if isinstance(mod, nn.Linear):
                kind = "linear"
            elif isinstance(mod, nn.Embedding):
                if mod.max_norm is not None or mod.scale_grad_by_freq or mod.sparse:
                    raise Unsupported(f"{name}: embedding with max_norm/scale_grad_by_freq/sparse")
                kind = "embedding"
            else:
                kind = "generic"
            self.modules.append((mod, kind))
            for a, p in own:
                self.uses[self.pindex[id(p)]].append((mod, kind, a))
        missing = [i for i in range(len(self.params)) if i not in self.uses]
        if missing:
            raise Unsupported(f"{len(missing)} parameters are not owned by any module")

    def run(
        self, ids: torch.Tensor, mask: torch.Tensor, sink: GradSink, dtype: str = "fp32"
    ) -> torch.Tensor:
        """One forward+backward on a padded batch; pieces go to `sink`; returns per-example losses (c,)."""
        with self.capture(ids.shape[0], sink) as state:
            with autocast(ids.device, dtype):
                logits = logits_of(call_lm(self.model, ids))
            losses = per_example_loss(logits, ids, mask)
            roots = state["roots"] or [p for p in self.params]
            torch.autograd.grad(losses.sum(), roots, allow_unused=True)
        return losses.detach()

    @contextlib.contextmanager
    def capture(self, c: int, sink: GradSink):
        """Hooks for one forward and backward of a batch of `c` examples run by the caller.

        Inside the block the caller runs the model's forward and a backward of a loss that is a
        sum over examples (e.g. the training step's mean loss: each example's pieces are then its
        share of the batch gradient); every hooked module's pieces go to `sink`. The hooks are
        removed and the saved activations dropped on exit, so nothing carries into the next batch.
        """
        cdt = torch.float64 if self.params[0].dtype == torch.float64 else torch.float32
        state = {
            "c": c,
            "calls": defaultdict(int),
            "roots": [],
            "pending": {},
            "seen": defaultdict(int),
        }
        handles = []

        def fwd(mod, kind):
            def hook(m, args, kwargs, out):
                if state.get("replay"):
                    return
                state["calls"][id(m)] += 1
                if state["calls"][id(m)] > 1:
                    raise Unsupported(f"{type(m).__name__} is called more than once per forward")
                if not isinstance(out, torch.Tensor) or not out.requires_grad:
                    return
                if out.dim() == 0 or out.shape[0] != state["c"]:
                    raise Unsupported(
                        f"{type(m).__name__} output is shared across the batch (e.g. positions)"
                    )
                # the hook must not capture `out` itself (a tensor -> hook -> tensor cycle keeps
                # the whole graph alive until the cyclic GC runs)
                saved = [args, kwargs, out.dtype]
                if kind == "embedding":
                    state["roots"].append(out)
                out.register_hook(lambda g: self._timed(m, kind, saved, g, sink, cdt, state))

            return hook

        for mod, kind in self.modules:
            handles.append(mod.register_forward_hook(fwd(mod, kind), with_kwargs=True))
        try:
            yield state
            pending = bool(state["pending"])
        finally:
            for h in handles:
                h.remove()
            state.clear()  # drop saved activations and roots now, not at the next GC
        if pending:
            raise Unsupported("a shared parameter did not receive gradients from all its uses")

    def _timed(self, mod, kind, saved, D, sink, cdt, state) -> None:
        clock = Stopwatch()
        try:
            self._backward(mod, kind, saved, D, sink, cdt, state)
        finally:
            self.seconds += clock.seconds

    def _backward(self, mod, kind, saved, D, sink, cdt, state) -> None:
        args, kwargs, out_dtype = saved
        saved.clear()  # each module's inputs are needed once
        D = D.detach().to(cdt)
        pieces: list[tuple[int, str, tuple]] = []
        if kind == "linear":
            A = args[0].detach().to(cdt)
            A = A.reshape(D.shape[0], -1, A.shape[-1])
            D = D.reshape(D.shape[0], -1, D.shape[-1])
            pieces.append((self.pindex[id(mod.weight)], "linear", (A, D)))
            if mod.bias is not None and mod.bias.requires_grad:
                pieces.append((self.pindex[id(mod.bias)], "dense", (D.sum(1),)))
        elif kind == "embedding":
            tok = args[0].reshape(D.shape[0], -1)
            D = D.reshape(D.shape[0], -1, D.shape[-1])
            if mod.padding_idx is not None:
                D = D * (tok != mod.padding_idx)[..., None].to(cdt)
            pieces.append((self.pindex[id(mod.weight)], "embedding", (tok, D, mod.num_embeddings)))
        else:
            state["replay"] = True
            try:
                grads = self._generic(mod, args, kwargs, out_dtype, D, cdt)
            finally:
                state["replay"] = False
            for a, G in grads.items():
                pieces.append((self.pindex[id(mod._parameters[a])], "dense", (G,)))
        for pidx, how, data in pieces:
            n_uses = len(self.uses[pidx])
            if n_uses == 1:
                getattr(sink, how)(pidx, *data)
                continue
            G = self._materialise(how, data)  # shared parameter: sum the uses per example
            prev = state["pending"].pop(pidx, None)
            G = G if prev is None else prev + G
            state["seen"][pidx] += 1
            if state["seen"][pidx] == n_uses:
                sink.dense(pidx, G)
            else:
                state["pending"][pidx] = G

    @staticmethod
    def _materialise(how: str, data: tuple) -> torch.Tensor:
        if how == "linear":
            A, D = data
            return torch.einsum("bto,bti->boi", D, A)
        if how == "embedding":
            return embedding_grad(*data)
        return data[0]

    @staticmethod
    def _generic(mod, args, kwargs, out_dtype, D, cdt) -> dict[str, torch.Tensor]:
        """Per-example gradients of a module's own parameters by torch.func on that module alone."""
        from torch.func import functional_call, vjp, vmap

        c = D.shape[0]
        own = {
            a: p.detach() for a, p in mod._parameters.items() if p is not None and p.requires_grad
        }
        batched = [
            i
            for i, x in enumerate(args)
            if isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == c
        ]
        if not batched:
            raise Unsupported(f"{type(mod).__name__}: no batched tensor input")
        bargs = tuple(args[i].detach() for i in batched)

        def one(bx, d):
            full = list(args)
            for i, x in zip(batched, bx, strict=True):
                full[i] = x.unsqueeze(0)

            def f(p):
                return functional_call(mod, p, tuple(full), kwargs)

            o, pull = vjp(f, own)
            if not isinstance(o, torch.Tensor):
                raise Unsupported(f"{type(mod).__name__}: output is not a tensor")
            return pull(d.unsqueeze(0).to(o.dtype))[0]

        with torch.enable_grad():
            grads = vmap(one)(bargs, D.to(out_dtype))
        return {a: g.to(cdt) for a, g in grads.items()}


class NormDotSink(GradSink):
    """Accumulates per-example squared gradient norms and dot products with fixed directions.

    dirs[pidx] has shape (n_dir, *param.shape) or dirs is None (norms only). The cheaper of the
    ghost form and per-layer materialisation is used for each linear layer; materialisation is
    split over examples so no buffer exceeds `max_elems` elements.
    """

    def __init__(self, c: int, dirs: list[torch.Tensor] | None, max_elems: int, device, dtype):
        self.dirs = dirs
        self.n_dir = 0 if dirs is None else dirs[0].shape[0]
        self.sq = torch.zeros(c, dtype=dtype, device=device)
        self.dots = torch.zeros(c, self.n_dir, dtype=dtype, device=device)
        self.max_elems = max_elems

    def dense(self, pidx, G):
        """Add |G_i|^2 and <G_i, dir> for materialised per-example gradients."""
        G = G.reshape(G.shape[0], -1)
        self.sq += G.pow(2).sum(1)
        if self.dirs is not None:
            self.dots += G @ self.dirs[pidx].reshape(self.n_dir, -1).T

    def linear(self, pidx, A, D):
        """Ghost form or bounded per-layer materialisation, whichever needs fewer flops."""
        c, T, din = A.shape
        dout = D.shape[-1]
        ghost = T * T * (din + dout) + self.n_dir * T * din * dout
        mat = T * din * dout + self.n_dir * din * dout
        if ghost < mat:
            self.sq += ((A @ A.transpose(1, 2)) * (D @ D.transpose(1, 2))).sum((1, 2))
            if self.dirs is not None:
                V = self.dirs[pidx].reshape(self.n_dir * dout, din)
                self.dots += ((A @ V.T).view(c, T, self.n_dir, dout) * D[:, :, None, :]).sum((1, 3))
            return
        step = max(1, self.max_elems // (din * dout))
        for s in range(0, c, step):
            G = torch.einsum("bto,bti->boi", D[s : s + step], A[s : s + step])
            self.sq[s : s + step] += G.pow(2).sum((1, 2))
            if self.dirs is not None:
                self.dots[s : s + step] += (
                    G.reshape(G.shape[0], -1) @ self.dirs[pidx].reshape(self.n_dir, -1).T
                )

    def embedding(self, pidx, ids, D, num):
        """Token-equality masks for the norm, gathered direction rows for the dots."""
        same = (ids[:, :, None] == ids[:, None, :]).to(D.dtype)
        self.sq += (same * (D @ D.transpose(1, 2))).sum((1, 2))
        if self.dirs is not None:
            V = self.dirs[pidx]  # (n, num, d)
            self.dots += torch.einsum("nctd,ctd->cn", V[:, ids], D)
