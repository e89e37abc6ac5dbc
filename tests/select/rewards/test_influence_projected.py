import numpy as np
import pytest
import torch
from influence_fixtures import code_docs, make_reference, one_thread, tiny_llama  # noqa: F401
from scipy.stats import spearmanr

from macs.select.rewards import InfluenceConfig, make_estimator
from macs.select.rewards.projected import RademacherProjector


@pytest.fixture(scope="module")
def reference():
    return make_reference()


def test_projected_8192_ranks_like_exact(reference):
    model = tiny_llama(hidden=16, seed=0)
    docs = code_docs(300, length=48)
    exact = make_estimator(InfluenceConfig(chunk_size=100), reference).rewards(model, docs)
    proj = make_estimator(
        InfluenceConfig(estimator="projected", chunk_size=300), reference
    ).rewards(model, docs)
    rho = spearmanr(exact, proj).statistic
    assert rho >= 0.95, rho
    assert np.abs(proj - exact).max() < 0.05  # cosines agree to JL accuracy ~ 1/sqrt(8192)


def test_projection_depends_on_seed_not_on_batching(reference):
    model = tiny_llama(hidden=16, seed=0)
    docs = code_docs(10, length=30)
    cfg = {"estimator": "projected", "projection_dim": 256}
    a = make_estimator(InfluenceConfig(**cfg, chunk_size=3), reference).rewards(model, docs)
    b = make_estimator(InfluenceConfig(**cfg, chunk_size=10), reference).rewards(model, docs)
    c = make_estimator(InfluenceConfig(**cfg, seed=1), reference).rewards(model, docs)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not np.allclose(a, c)


def test_rademacher_blocks_are_scaled_signs_and_norm_preserving():
    proj = RademacherProjector([(300, 40)], k=512, seed=0, device="cpu", dtype=torch.float32)
    blocks = list(proj.blocks(0))
    assert blocks[0][0] == 0 and blocks[-1][1] == 300
    R = torch.cat([b[2] for b in blocks])
    assert R.shape == (12000, 512) and torch.allclose(R.abs(), torch.full_like(R, 512**-0.5))
    assert abs(float((R > 0).float().mean()) - 0.5) < 0.01
    x = torch.randn(5, 12000)
    ratio = (x @ R).norm(dim=1) / x.norm(dim=1)
    assert ((ratio - 1).abs() < 0.15).all()
