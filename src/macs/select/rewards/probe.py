"""MATES one-step probe: r(x) = L_ref(M) - L_ref(step(M, x)), in nats; higher = more helpful.

Each probe takes one optimiser step on x alone, from a fresh copy of the optimiser state
(the training optimiser's state when one is passed, else a new optimiser), measures the mean
reference loss, and restores every parameter and gradient bit for bit.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from macs.select.rewards.alignment import trainable
from macs.select.rewards.base import RewardEstimator, model_device, reference_units
from macs.select.rewards.batching import Unit, collate, model_loss


class ProbeEstimator(RewardEstimator):
    """Reference-loss drop after one optimiser step on the document (nats; higher = more helpful)."""

    name = "probe"

    def __init__(self, cfg, reference):
        super().__init__(cfg, reference)
        self.ref_units = reference_units(reference)
        self.base_loss: float | None = None
        self.ref_tokens = sum(int(u.ids.size) for us in self.ref_units.values() for u in us)
        self.forward_tokens = 0  # model tokens through forward passes so far (cost records)
        self.backward_tokens = 0  # and through backward passes (the probe steps)

    @torch.no_grad()
    def reference_loss(self, model) -> float:
        """Mean over tasks of the mean continuation loss (nats per token) of the reference examples."""
        dev = model_device(model)
        per_task = []
        self.forward_tokens += self.ref_tokens
        for units in self.ref_units.values():
            total = 0.0
            for _, ids, mask in self._batches(units, dev):
                total += float(model_loss(model, ids, mask, self.cfg.dtype).double().sum())
            per_task.append(total / len(units))
        return float(np.mean(per_task))

    def _refresh(self, model) -> None:
        self.base_loss = self.reference_loss(model)

    def _optimizer(self, params, optimizer):
        if optimizer is not None:
            groups = [{k: v for k, v in g.items()} for g in optimizer.param_groups]
            opt = type(optimizer)(groups)
            opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))
            return opt
        if self.cfg.probe_optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.cfg.probe_lr)
        return torch.optim.AdamW(params, lr=self.cfg.probe_lr)

    def _unit_rewards(self, model, units: list[Unit], optimizer=None, **kw) -> np.ndarray:
        params = [p for _, p in trainable(model)]
        saved = [p.detach().clone() for p in params]
        saved_grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
        dev = model_device(model)
        out = np.full(len(units), np.nan)
        try:
            for i, u in enumerate(units):
                ids, mask = collate([u], dev)
                self.forward_tokens += int(u.ids.size)
                self.backward_tokens += int(u.ids.size)
                loss = model_loss(model, ids, mask, self.cfg.dtype)[0]
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for p, g in zip(params, grads, strict=True):
                    p.grad = None if g is None else g.to(p.dtype)
                self._optimizer(params, optimizer).step()
                out[i] = self.base_loss - self.reference_loss(model)
                with torch.no_grad():
                    for p, s in zip(params, saved, strict=True):
                        p.copy_(s)
        finally:
            with torch.no_grad():
                for p, s, g in zip(params, saved, saved_grads, strict=True):
                    p.copy_(s)
                    p.grad = g
        return out  # every parameter is restored: the base loss stays valid for this step
