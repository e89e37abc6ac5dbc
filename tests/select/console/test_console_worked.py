"""Console: a two-actor, three-group worked example (one refresh, two stages), by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.actors import Actor
from macs.select.console import Console, load_state, save_state

# 9 docs, one per (quality, domain) cell: doc = 3 * quality + domain
QUALITY = np.repeat([0, 1, 2], 3)
DOMAIN = np.tile([0, 1, 2], 3)


def _console(**kw) -> Console:
    q = Actor("quality", QUALITY, ["low", "mid", "high"])
    d = Actor("domain", DOMAIN, ["web", "wiki", "code"])
    kw.setdefault("theta_reward", "raw")  # the paper's step; the standardized one is tested below
    return Console([q, d], seed=kw.pop("seed", 0), **kw)


def _refresh(c: Console) -> dict:
    return c.update({"quality": np.array([0.1, 0.2, 0.3]), "domain": np.array([0.0, 0.0, 0.6])})


def test_one_refresh_and_two_stages_by_hand():
    c = _console()
    assert c.theta.tolist() == [0.5, 0.5]
    log = _refresh(c)
    # quality: z = (-1.2247449, 0, 1.2247449), w = 0.9 + 0.1 e^z = (0.9293833, 1, 1.2403298),
    # rescaled by 3 / 3.1697131 -> (0.8796222, 0.9464579, 1.1739199)
    wq = np.array([0.8796222, 0.9464579, 1.1739199])
    np.testing.assert_allclose(c.actor("quality").weights, wq, atol=1e-7)
    # domain: mean 0.2, std sqrt(0.08) = 0.2828427 -> z = (-0.7071068, -0.7071068, 1.4142136),
    # w = 0.9 + 0.1 e^z = (0.9493069, 0.9493069, 1.3113250), x 3 / 3.2099388
    wd = np.array([0.8872196, 0.8872196, 1.2255608])
    np.testing.assert_allclose(c.actor("domain").weights, wd, atol=1e-6)
    # R_A = mean_j w_A[j] R_A[j]
    r_q = (0.8796222 * 0.1 + 0.9464579 * 0.2 + 1.1739199 * 0.3) / 3  # 0.2098099
    r_d = (0.8872196 * 0.0 + 0.8872196 * 0.0 + 1.2255608 * 0.6) / 3  # 0.2451122
    assert log["R_actor"]["quality"] == pytest.approx(r_q, abs=1e-6)
    assert log["R_actor"]["domain"] == pytest.approx(r_d, abs=1e-6)
    r_bar = (r_q + r_d) / 2  # 0.2274610
    assert log["R_bar"] == pytest.approx(r_bar, abs=1e-6)
    # theta += 0.1 (R_A - Rbar): 0.5 -/+ 0.0017651 -> (0.4982349, 0.5017651), already on the simplex
    theta = [0.5 + 0.1 * (r_q - r_bar), 0.5 + 0.1 * (r_d - r_bar)]
    assert theta == pytest.approx([0.4982349, 0.5017651], abs=1e-7)
    np.testing.assert_allclose(c.theta, theta, atol=1e-7)
    assert log["R_group"]["domain"] == [0.0, 0.0, 0.6]
    assert log["theta_before"] == {"quality": 0.5, "domain": 0.5}
    json.dumps(log)  # the log is JSON-able

    # S(doc) = theta_q w_q + theta_d w_d:
    s = {(a, b): theta[0] * wq[a] + theta[1] * wd[b] for a in range(3) for b in range(3)}
    # high/code 1.1998315 > mid/code 1.0865020 > low/code 1.0532021 > high/web = high/wiki 1.0300637
    assert s[2, 2] > s[1, 2] > s[0, 2] > s[2, 0] == s[2, 1] > s[1, 0]
    np.testing.assert_allclose(
        c.scores(dtype=np.float64), [s[a, b] for a in range(3) for b in range(3)], atol=1e-6
    )
    # 10 tokens each, budget 35: docs 8, 5, 2 (30 tokens) then ONE of the tied docs 6, 7
    tok = np.full(9, 10)
    first = c.select(tok, 35)
    assert {8, 5, 2} < set(first.tolist()) and len(first) == 4
    tied = (set(first.tolist()) & {6, 7}).pop()
    other = ({6, 7} - {tied}).pop()
    assert tok[first].sum() == 40
    # stage 2: chosen docs are decayed by 1 / (1 + 0.1 * 1) = 1/1.1:
    # doc 8 1.0907559, unchosen tie doc 1.0300637, doc 5 0.9877291, doc 2 0.9574564 (> 0.9167 mid/web)
    assert s[2, 2] / 1.1 > s[2, 0] > s[1, 2] / 1.1 > s[0, 2] / 1.1 > s[1, 0]
    second = c.select(tok, 35)
    assert sorted(second.tolist()) == sorted([8, other, 5, 2])
    assert c.counts.tolist() == [0, 0, 2, 0, 0, 2, 1, 1, 2]
    assert c.last_select["threshold_docs"] == 1 and c.last_select["exhausted"] is False


def test_standardized_theta_step_by_hand():
    c = _console(theta_reward="standardized")
    log = _refresh(c)
    # R_q = 0.2098099 < R_d = 0.2451122: R - Rbar = (-d, +d), std over the two actors = d,
    # so the step is eta * (-1, +1): theta = (0.4, 0.6) whatever the rewards' scale
    assert log["R_actor"]["quality"] < log["R_actor"]["domain"]
    np.testing.assert_allclose(c.theta, [0.4, 0.6], atol=1e-12)
    c2 = _console(theta_reward="standardized")
    c2.update({"quality": np.array([1e-3, 2e-3, 3e-3]), "domain": np.array([0.0, 0.0, 6e-3])})
    np.testing.assert_allclose(c2.theta, [0.4, 0.6], atol=1e-12)  # scale-free
    c3 = _console(theta_reward="standardized")
    c3.update({"quality": np.array([0.1, 0.2, 0.3]), "domain": np.array([0.1, 0.2, 0.3])})
    np.testing.assert_allclose(c3.theta, [0.5, 0.5])  # equal rewards: no move
    with pytest.raises(MacsError, match="theta_reward"):
        _console(theta_reward="bogus")


def test_fixed_theta_updates_actors_but_not_theta():
    c = _console(mode="fixed_theta")
    log = _refresh(c)
    assert c.theta.tolist() == [0.5, 0.5]
    assert log["R_actor"]["domain"] > log["R_actor"]["quality"]
    assert c.actor("domain").weights[2] > 1.2


def test_theta_is_clipped_at_zero_and_renormalised():
    c = _console(eta_theta=10.0)
    c.update({"quality": np.array([1.0, 1.0, 1.0]), "domain": np.array([0.0, 0.0, 0.0])})
    # R_q = 1, R_d = 0, Rbar = 0.5: theta = 0.5 +/- 10 * 0.5 = 5.5, -4.5 -> clip (5.5, 0) -> (1, 0)
    assert c.theta.tolist() == [1.0, 0.0]


def test_single_actor_subset():
    c = Console([Actor("domain", DOMAIN, ["web", "wiki", "code"], init=[1, 2, 3])], seed=0)
    idx = c.select(np.full(9, 10), 30)
    assert idx.tolist() == [2, 5, 8]  # the three 'code' docs
    assert c.theta.tolist() == [1.0]


def test_state_roundtrip_continues_identically(tmp_path):
    tok = np.array([5, 9, 3, 7, 7, 2, 8, 6, 4])
    c = _console(seed=3)
    c.select(tok, 20)
    _refresh(c)
    c.sample_groups(2)
    path = save_state(tmp_path / "console.npz", c.state_dict())
    d = _console(seed=999)  # a different seed: the saved RNG state must win
    d.load_state_dict(load_state(path))
    np.testing.assert_array_equal(c.theta, d.theta)
    np.testing.assert_array_equal(c.counts, d.counts)
    for _ in range(3):
        np.testing.assert_array_equal(c.select(tok, 20), d.select(tok, 20))
        g1, g2 = c.sample_groups(2), d.sample_groups(2)
        for name in g1:
            for x, y in zip(g1[name], g2[name], strict=True):
                np.testing.assert_array_equal(x, y)
    sd = c.state_dict()
    json.dumps({k: v for k, v in sd.items() if k != "counts"})  # all but the counts array is JSON
    with pytest.raises(MacsError, match="9 docs"):
        Console([Actor("quality", QUALITY[:6], ["l", "m", "h"])], n_docs=6).load_state_dict(sd)


def test_sample_groups_uniform_inside_group_and_excludes_heldout():
    n = 60
    groups = np.array([0] * 40 + [1] * 15 + [2] * 5)
    held = np.zeros(n, bool)
    held[::10] = True  # docs 0, 10, ..., 50 held out
    c = Console([Actor("topic", groups, ["a", "b", "c"])], seed=1)
    freq = np.zeros(n)
    reps = 600
    for _ in range(reps):
        s = c.sample_groups(6, ~held)["topic"]
        assert [len(x) for x in s] == [6, 6, 5]  # group c has only 5 eligible docs
        for j, x in enumerate(s):
            assert (groups[x] == j).all() and not held[x].any()
            assert (np.diff(x) > 0).all()
            freq[x] += 1
    assert freq[held].sum() == 0
    # group a: 36 eligible docs, each drawn with probability 6/36 -> 100 of 600 (sd ~9)
    a_elig = np.flatnonzero((groups == 0) & ~held)
    assert np.all(np.abs(freq[a_elig] - reps * 6 / 36) < 45)
    assert np.all(freq[(groups == 2)] == reps)


def test_bad_inputs_are_clear():
    c = _console()
    with pytest.raises(MacsError, match="n_tokens must be an integer array of 9"):
        c.select(np.ones(8, int), 5)
    with pytest.raises(MacsError, match="eligible must be a bool array"):
        c.select(np.ones(9, int), 5, np.ones(9, int))
    with pytest.raises(MacsError, match="rewards missing"):
        c.update({"quality": np.zeros(3)})
    with pytest.raises(MacsError, match="unknown actors"):
        c.update({"quality": np.zeros(3), "domain": np.zeros(3), "x": np.zeros(2)})
    with pytest.raises(MacsError, match="mode"):
        Console([], mode="best")
    with pytest.raises(MacsError, match="disagree"):
        Console([Actor("a", QUALITY, ["l", "m", "h"]), Actor("b", QUALITY[:4], ["l", "m", "h"])])
    assert len(c.select(np.full(9, 10), 0)) == 0
    with pytest.raises(MacsError, match="finite number"):
        c.select(np.full(9, 10), float("nan"))
    everything = c.select(np.full(9, 10), 1000)  # more than the pool: all of it
    assert everything.tolist() == list(range(9)) and c.last_select["exhausted"]
    assert math.isclose(c.decay(np.array([0, 10]))[1], 0.5)
