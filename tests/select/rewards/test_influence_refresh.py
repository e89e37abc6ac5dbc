"""Rewards always come from the current model: after any kind of parameter update, an estimator
that has seen earlier steps gives the same rewards as a freshly built one (all three estimators).

A fused AdamW step updates parameters without bumping their tensor versions, so a cache keyed
on versions or data pointers would keep stale reference gradients (macs 0.1 did: up to 0.53
cosine units off after three fused steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from influence_fixtures import code_docs, make_reference, one_thread, tiny_llama  # noqa: F401

from macs.select.rewards import InfluenceConfig, make_estimator


def _step(model, kind: str, opt, doc: np.ndarray) -> None:
    """One parameter update of the given kind."""
    if kind == "copy":
        with torch.no_grad():
            for p in model.parameters():
                p.data.copy_(p.data * 0.9 + 0.01 * torch.randn_like(p))
        return
    x = torch.as_tensor(doc)[None]
    model(input_ids=x, labels=x).loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def _optimizer(model, kind: str):
    if kind == "fused_adamw":
        return torch.optim.AdamW(model.parameters(), lr=5e-2, fused=True)
    if kind == "foreach_adamw":
        return torch.optim.AdamW(model.parameters(), lr=5e-2, foreach=True)
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.5)
    return None


@pytest.mark.parametrize("estimator", ["alignment", "projected", "probe"])
@pytest.mark.parametrize("kind", ["fused_adamw", "foreach_adamw", "sgd", "copy"])
def test_rewards_after_updates_equal_a_fresh_estimators(estimator, kind):
    model = tiny_llama(seed=3)
    ref = make_reference()
    docs = code_docs(6, length=40)
    cfg = InfluenceConfig(estimator=estimator, projection_dim=512, chunk_size=3)
    if estimator == "probe":
        cfg = cfg.model_copy(update={"probe_optimizer": "sgd", "probe_lr": 0.05})
    est = make_estimator(cfg, ref)
    opt = _optimizer(model, kind)
    first = est.rewards(model, docs, step=0)
    for step in range(1, 4):  # three updates, each scored as a new training step
        _step(model, kind, opt, code_docs(step + 1, length=60)[step])
        got = est.rewards(model, docs, step=step)
        fresh = make_estimator(cfg, ref).rewards(model, docs, step=step)
        np.testing.assert_allclose(got, fresh, rtol=1e-5, atol=1e-7)
    assert not np.allclose(first, got, atol=1e-4)  # the updates did change the rewards
    # without a step the reference side is recomputed on every call
    np.testing.assert_allclose(est.rewards(model, docs), fresh, rtol=1e-5, atol=1e-7)
