"""The console's sample operator (Gumbel-top-k) and stability controls, by hand and against exact values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.actors import Actor
from macs.select.console import Console
from macs.select.console.controls import Controls


def _exact_inclusion(w: np.ndarray, tok: np.ndarray, budget: float) -> np.ndarray:
    """P(doc chosen) when docs are drawn one by one w/o replacement, p ~ w, until `budget` tokens."""
    n = len(w)
    p_in = np.zeros(n)
    for perm in itertools.permutations(range(n)):
        prob, left, total = 1.0, w.sum(), 0.0
        chosen = []
        for i in perm:
            if total >= budget:
                break
            prob *= w[i] / left
            left -= w[i]
            chosen.append(i)
            total += tok[i]
        # this prefix's probability is counted once per completion of the order: divide them out
        rest = n - len(chosen)
        prob /= np.prod(np.arange(1, rest + 1)) if rest else 1.0
        p_in[chosen] += prob
    return p_in


def test_gumbel_operator_inclusion_probabilities_equal_the_exact_ones():
    groups = np.arange(5)
    a = Actor("q", groups, [f"g{j}" for j in range(5)], init=[0.2, 0.6, 1.0, 1.4, 1.8])
    tok = np.array([3, 5, 2, 4, 6])
    budget, temp = 7, 0.5
    s = a.weights / a.weights.mean()  # the console's S(x) with one actor (theta = 1)
    exact = _exact_inclusion(np.exp(s / temp), tok, budget)
    hits = np.zeros(5)
    n = 6000
    for seed in range(n):
        c = Console([a], seed=seed, controls=Controls(operator="sample", temperature=temp))
        c.counts[:] = 0
        hits[c.select(tok, budget)] += 1
    freq = hits / n
    # binomial standard error at n = 6000 is < 0.0065; allow 4 of them
    np.testing.assert_allclose(freq, exact, atol=0.026)
    assert np.argsort(exact).tolist() == [0, 1, 2, 3, 4]  # higher score, more often chosen


def _cells(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = Actor("quality", rng.integers(0, 4, n), ["q0", "q1", "q2", "q3"], init=[1, 2, 3, 4])
    d = Actor("domain", rng.integers(0, 5, n), [f"d{j}" for j in range(5)], init=[5, 1, 1, 1, 1])
    return [q, d], rng.integers(5, 50, n)


def test_sample_operator_spreads_over_cells_and_low_temperature_is_topk():
    actors, tok = _cells()
    budget = 0.2 * tok.sum()
    top = Console(actors, seed=1).select(tok, budget)
    cold = Console(actors, seed=1, controls=Controls("sample", temperature=1e-4)).select(
        tok, budget
    )
    assert (
        set(cold.tolist()) == set(top.tolist()) or len(set(cold) ^ set(top)) <= 6
    )  # cut cell only
    warm = Console(actors, seed=1, controls=Controls("sample", temperature=0.25)).select(
        tok, budget
    )
    dom = actors[1].groups
    assert len(np.unique(dom[warm])) > len(np.unique(dom[top]))  # more domains touched
    again = Console(actors, seed=1, controls=Controls("sample", temperature=0.25)).select(
        tok, budget
    )
    np.testing.assert_array_equal(warm, again)  # seeded
    assert budget <= tok[warm].sum() < budget + tok.max()


def test_epsilon_draws_a_uniform_share():
    actors, tok = _cells()
    budget = 0.2 * tok.sum()
    c = Console(actors, seed=2, controls=Controls(epsilon=0.3))
    idx = c.select(tok, budget)
    info = c.last_select
    assert info["uniform_tokens"] == pytest.approx(0.3 * budget, abs=int(tok.max()))
    assert budget <= tok[idx].sum() < budget + 2 * tok.max()
    # the uniform part reaches domains the top-k part never takes (domain d0 dominates the scores)
    plain = Console(actors, seed=2).select(tok, budget)
    assert (actors[1].groups[idx] != 0).sum() > (actors[1].groups[plain] != 0).sum()


def test_max_share_caps_every_group_and_min_share_lifts_small_ones():
    actors, tok = _cells()
    budget = 0.25 * tok.sum()
    c = Console(actors, seed=3, controls=Controls(max_share={"domain": 0.3}))
    idx = c.select(tok, budget)
    dom_tok = np.bincount(actors[1].groups[idx], weights=tok[idx], minlength=5)
    assert (dom_tok < 0.3 * budget + tok.max()).all() and not c.last_select["caps_relaxed"]
    plain = Console(actors, seed=3).select(tok, budget)
    assert (
        np.bincount(actors[1].groups[plain], weights=tok[plain], minlength=5).max() > 0.5 * budget
    )
    lo = Console(actors, seed=3, controls=Controls(min_share={"quality": 0.1}))
    idx = lo.select(tok, budget)
    q_tok = np.bincount(actors[0].groups[idx], weights=tok[idx], minlength=4)
    assert (q_tok >= 0.1 * budget).all()
    # caps that cannot be met (5 domains x 10% < 100%) are relaxed, and say so
    tight = Console(actors, seed=3, controls=Controls(max_share={"domain": 0.1}))
    idx = tight.select(tok, budget)
    assert tok[idx].sum() >= budget and tight.last_select["caps_relaxed"]


def test_max_repeats_excludes_docs_chosen_often_unless_the_pool_runs_out():
    actors, tok = _cells()
    c = Console(actors, seed=4, controls=Controls(max_repeats=1))
    first = c.select(tok, 0.3 * tok.sum())
    second = c.select(tok, 0.3 * tok.sum())
    assert not set(first.tolist()) & set(second.tolist())
    third = c.select(tok, 0.6 * tok.sum())  # more than the never-chosen docs hold: relaxed
    assert c.last_select.get("repeat_cap_relaxed") and tok[third].sum() >= 0.6 * tok.sum()


def test_bad_controls_are_clear_errors():
    actors, _ = _cells()
    with pytest.raises(MacsError, match="operator"):
        Controls(operator="best")
    with pytest.raises(MacsError, match="temperature"):
        Controls(operator="sample", temperature=0)
    with pytest.raises(MacsError, match="not actors"):
        Console(actors, controls=Controls(max_share={"topic": 0.5}))


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ("selection.temperature=0", "temperature must be > 0"),
        ("selection.epsilon=1.5", "epsilon must be in"),
        ("selection.max_repeats=-1", "max_repeats must be >= 0"),
        ("selection.max_share={quality: 1.5}", "max_share: shares must be in"),
    ],
)
def test_the_config_checks_controls_where_they_are_defined(setting, match):
    """One check of each control (Controls), run at config load: a bad share is refused there
    too (it used to pass the config and fail at the first selection)."""
    from macs.app.config import load_config

    with pytest.raises(MacsError, match=match):
        load_config(None, [setting])
