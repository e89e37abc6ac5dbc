"""In-run rewards: the training backward pass's per-sequence rewards equal the separate exact pass's."""

import numpy as np
import pytest
import torch
from influence_fixtures import code_docs, make_reference, one_thread, tiny_llama  # noqa: F401

from macs.select.rewards import InfluenceConfig, make_estimator
from macs.select.rewards.inrun import InRunAccumulator, InRunScorer
from macs.train.inrun import scored_step


def _setup(tie=True, dtype=torch.float64):
    model = tiny_llama(tie=tie, dtype=dtype)
    cfg = InfluenceConfig(window=256, overlap=0, chunk_size=4, method="ghost", source="train")
    est = make_estimator(cfg, make_reference())
    return model, est, InRunScorer(model, est)


def _train_pass(model, scorer, rows: np.ndarray) -> np.ndarray:
    """One training micro-batch the way the loop runs it (HF mean loss over the batch, backward)."""
    x = torch.as_tensor(rows, dtype=torch.long)
    with scorer.capture(x.shape[0]) as got:
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return got["rewards"]


@pytest.mark.parametrize("tie", [True, False])
def test_in_run_rewards_equal_the_exact_separate_pass(tie):
    """Same model, same reference directions: training-pass cosines == AlignmentEstimator.rewards."""
    model, est, scorer = _setup(tie)
    scorer.begin(step=7)
    rows = np.stack([d[:48] for d in code_docs(6, length=48)])
    got = _train_pass(model, scorer, rows)
    exact = est.rewards(model, list(rows), step=7)  # step 7: the same directions, not recomputed
    assert np.isfinite(exact).all() and np.ptp(exact) > 1e-3
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-9)  # HF takes the loss in fp32
    # a second batch through the same scorer: nothing of the first batch's hooks carries over
    rows2 = np.stack([d[48:96] for d in code_docs(6, length=96)])
    got2 = _train_pass(model, scorer, rows2)
    np.testing.assert_allclose(got2, est.rewards(model, list(rows2), step=7), rtol=1e-6)
    assert not np.allclose(got2, got)


def test_fidelity_check_fails_when_a_layer_is_left_out():
    """The comparison above is sensitive: dropping one hooked layer breaks the equality."""
    model, est, scorer = _setup()
    scorer.begin(step=0)
    rows = np.stack([d[:40] for d in code_docs(4, length=40)])
    exact = est.rewards(model, list(rows), step=0)
    mlp = [i for i, (m, k) in enumerate(scorer.engine.modules) if k == "linear"][2]
    del scorer.engine.modules[mlp]
    got = _train_pass(model, scorer, rows)
    assert np.abs(got - exact).max() > 1e-4


def test_stale_directions_are_not_the_current_ones():
    """begin(step) recomputes the directions after the weights move; skipping it leaves them stale."""
    model, est, scorer = _setup()
    scorer.begin(step=0)
    rows = np.stack([d[:40] for d in code_docs(4, length=40)])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    stale = _train_pass(model, scorer, rows)
    scorer.begin(step=1)
    fresh = _train_pass(model, scorer, rows)
    np.testing.assert_allclose(fresh, est.rewards(model, list(rows), step=1), rtol=1e-6)
    assert np.abs(stale - fresh).max() > 1e-4


def test_accumulator_weights_state_and_reduce():
    acc = InRunAccumulator(5)
    acc.add(np.array([1, 1, 3]), np.array([10, 30, 5]), np.array([0.2, 0.6, np.nan]))
    acc.add(np.array([4]), np.array([2]), np.array([-0.1]))
    idx, r = acc.result()
    assert idx.tolist() == [1, 4]
    np.testing.assert_allclose(r, [(2 + 18) / 40, -0.1])
    other = InRunAccumulator(5)
    other.load_state_dict(acc.state_dict())
    assert other.result()[0].tolist() == idx.tolist()
    np.testing.assert_array_equal(other.result()[1], r)
    other.reduce(lambda a: 2 * a)  # two identical ranks: same means, doubled weights
    np.testing.assert_allclose(other.result()[1], r)
    assert other.w[1] == 80


def test_scored_steps_are_seeded_and_spaced():
    assert [s for s in range(10) if scored_step(s, 3, 1.0, 0)] == [0, 3, 6, 9]
    a = [s for s in range(400) if scored_step(s, 1, 0.25, 5)]
    assert a == [s for s in range(400) if scored_step(s, 1, 0.25, 5)]
    assert 60 < len(a) < 140
    assert a != [s for s in range(400) if scored_step(s, 1, 0.25, 6)]
