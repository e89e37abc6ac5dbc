import numpy as np
import pytest
import torch
from influence_fixtures import code_docs, flat_grad, one_thread, tiny_llama  # noqa: F401

from macs.select.rewards.batching import Unit, collate
from macs.select.rewards.ghost import HookEngine, NormDotSink


@pytest.mark.parametrize("tie", [True, False])
def test_engine_norms_and_dots_equal_flattened_per_example_gradients(tie):
    """The hook engine on a padded batch of uneven lengths vs one backward per example (float64)."""
    model = tiny_llama(tie=tie, dtype=torch.float64).eval()
    docs = [d[: 8 + 5 * i] for i, d in enumerate(code_docs(5, length=40))]
    ids, mask = collate([Unit(d, 1) for d in docs], "cpu")
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(0)
    dirs = [torch.randn(3, *p.shape, generator=gen, dtype=torch.float64) for p in params]
    sink = NormDotSink(len(docs), dirs, max_elems=2**12, device="cpu", dtype=torch.float64)
    HookEngine(model).run(ids, mask, sink)
    G = torch.stack([flat_grad(model, d, 1) for d in docs])
    V = torch.cat([d.reshape(3, -1) for d in dirs], 1)
    np.testing.assert_allclose(sink.sq.numpy(), G.pow(2).sum(1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(sink.dots.numpy(), (G @ V.T).numpy(), rtol=1e-10, atol=1e-12)
