"""Actor: initial weights, the two update rules (worked by hand), state, registry."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.actors import (
    Actor,
    SidecarActor,
    actor_class,
    available_inits,
    register_actor,
    registered_actors,
)

GROUPS = np.array([0, 0, 1, 2, 2, 2])  # 2 docs in g0, 1 in g1, 3 in g2
NAMES = ["g0", "g1", "g2"]


def test_uniform_and_natural_init_are_mean_one():
    assert Actor("a", GROUPS, NAMES).weights.tolist() == [1.0, 1.0, 1.0]
    # natural = document shares 2/6, 1/6, 3/6, rescaled to mean 1 (x 3 groups): 1, 0.5, 1.5
    nat = Actor("a", GROUPS, NAMES, init="natural").weights
    np.testing.assert_allclose(nat, [1.0, 0.5, 1.5])
    # with token counts: g0 = 10+10, g1 = 40, g2 = 0+0+0 -> shares 1/3, 2/3, 0 -> x3 = 1, 2, 0
    tok = np.array([10, 10, 40, 0, 0, 0])
    np.testing.assert_allclose(
        Actor("a", GROUPS, NAMES, init="natural", n_tokens=tok).weights, [1.0, 2.0, 0.0]
    )


def test_explicit_init_list_and_mapping():
    np.testing.assert_allclose(Actor("a", GROUPS, NAMES, init=[1, 2, 3]).weights, [0.5, 1.0, 1.5])
    w = Actor("a", GROUPS, NAMES, init={"g2": 3, "g0": 1, "g1": 2}).weights
    np.testing.assert_allclose(w, [0.5, 1.0, 1.5])
    with pytest.raises(MacsError, match="unknown groups"):
        Actor("a", GROUPS, NAMES, init={"g0": 1, "g1": 1, "gX": 1})
    with pytest.raises(MacsError, match="2 weights for 3 groups"):
        Actor("a", GROUPS, NAMES, init=[1, 2])
    with pytest.raises(MacsError, match=">= 0"):
        Actor("a", GROUPS, NAMES, init=[1, -1, 1])


def test_regmix_hook_raises_a_clear_error():
    """An Actor built by hand cannot run a RegMix sweep: the error says where regmix is resolved."""
    assert "regmix" in available_inits()
    with pytest.raises(MacsError, match="'regmix' needs the pool.*selection.init: regmix"):
        Actor("quality", GROUPS, NAMES, init="regmix")
    with pytest.raises(MacsError, match="unknown init 'magic'"):
        Actor("quality", GROUPS, NAMES, init="magic")


def test_standardized_update_worked_by_hand():
    a = Actor("quality", GROUPS, NAMES, eta=0.1)
    log = a.update(np.array([0.1, 0.2, 0.3]))
    # mean 0.2, population std sqrt((0.01 + 0 + 0.01) / 3) = 0.0816497 -> z = -1.2247449, 0, 1.2247449
    z = 0.1 / math.sqrt(0.02 / 3)
    assert log["z"] == pytest.approx([-z, 0.0, z])
    # f = exp(z) = 0.2938327, 1, 3.4032977; w = 0.9 * 1 + 0.1 * f = 0.9293833, 1.0, 1.2403298
    raw = [0.9 + 0.1 * math.exp(-z), 1.0, 0.9 + 0.1 * math.exp(z)]
    assert raw == pytest.approx([0.9293833, 1.0, 1.2403298], abs=1e-7)
    # rescale to mean 1: sum 3.1697131 -> x 3 / 3.1697131
    expect = [x * 3 / sum(raw) for x in raw]
    assert expect == pytest.approx([0.8796222, 0.9464579, 1.1739199], abs=1e-7)
    np.testing.assert_allclose(a.weights, expect, rtol=1e-12)
    assert a.weights.mean() == pytest.approx(1.0)
    assert log["R_group"] == [0.1, 0.2, 0.3]  # raw rewards are logged


def test_groups_without_a_sample_keep_their_weight():
    a = Actor("quality", GROUPS, NAMES, init=[1, 2, 3])  # 0.5, 1, 1.5
    a.update(np.array([0.0, np.nan, 1.0]))
    # z = -1, +1 over the two sampled groups; w = 0.9 w + 0.1 e^z, then the two are rescaled
    # so their total stays 0.5 + 1.5 = 2 and g1 keeps exactly 1.0
    raw = np.array([0.9 * 0.5 + 0.1 * math.exp(-1), 0.9 * 1.5 + 0.1 * math.exp(1)])
    np.testing.assert_allclose(a.weights[[0, 2]], raw * 2.0 / raw.sum(), rtol=1e-12)
    assert a.weights[1] == 1.0
    assert a.weights.mean() == pytest.approx(1.0)
    before = a.weights.copy()
    a.update(np.array([np.nan, np.nan, np.nan]))  # no samples at all: nothing moves
    np.testing.assert_array_equal(a.weights, before)
    a.update(np.array([0.5, 0.5, 0.5]))  # equal rewards: z = 0, f = 1, pulled toward 1
    np.testing.assert_allclose(a.weights, 0.9 * before + 0.1 * 1.0 * (3.0 / (0.9 * 3 + 0.3)))


def test_plain_eq5_update_worked_by_hand():
    a = Actor("quality", GROUPS, NAMES, update="eq5", eta=0.1)
    a.update(np.array([0.02, -0.01, np.nan]))
    # w = 0.9 * 1 + 0.1 * R on sampled groups, raw rewards, no rescaling
    np.testing.assert_allclose(a.weights, [0.902, 0.899, 1.0], rtol=1e-12)


def test_doc_scores_are_group_weights():
    a = Actor("a", GROUPS, NAMES, init=[1, 2, 3])
    np.testing.assert_allclose(a.doc_scores(), [0.5, 0.5, 1.0, 1.5, 1.5, 1.5])
    np.testing.assert_allclose(a.doc_scores(np.array([2, 0])), [1.0, 0.5])
    assert a.groups.dtype == np.int8  # small dtype for 3 groups


def test_bad_groups_and_names():
    with pytest.raises(MacsError, match="span 0..3"):
        Actor("a", np.array([0, 3]), NAMES)
    with pytest.raises(MacsError, match="reserved"):
        Actor("score", GROUPS, NAMES)
    with pytest.raises(MacsError, match="duplicate group names"):
        Actor("a", GROUPS, ["x", "x", "y"])
    with pytest.raises(MacsError, match="update must be"):
        Actor("a", GROUPS, NAMES, update="sgd")
    with pytest.raises(MacsError, match="needs 3 group rewards"):
        Actor("a", GROUPS, NAMES).update(np.array([1.0, 2.0]))


def test_state_dict_is_json_and_restores_exactly():
    a = Actor("topic", GROUPS, NAMES, init="natural")
    a.update(np.array([0.3, -0.2, 0.05]))
    sd = json.loads(json.dumps(a.state_dict()))
    b = Actor("topic", GROUPS, NAMES)
    b.load_state_dict(sd)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert b.n_updates == 1
    with pytest.raises(MacsError, match="differ from the labels"):
        Actor("topic", GROUPS, ["a", "b", "c"]).load_state_dict(sd)


class _ParityActor(Actor):
    """A user actor: even vs odd documents (computes its own groups)."""

    @classmethod
    def from_store(cls, name, store, labels=None, n_tokens=None, **kwargs):
        n = store.n_docs
        return cls(name, np.arange(n) % 2, ["even", "odd"], n_tokens=n_tokens, **kwargs)


def test_registry_names_and_dotted_paths():
    assert {"quality", "domain", "topic"} <= set(registered_actors())
    assert issubclass(actor_class("quality"), SidecarActor)
    register_actor("parity_test")(_ParityActor)
    assert actor_class("parity_test") is _ParityActor
    assert actor_class("macs.select.actors.registry:TopicActor").kind == "topic"
    assert actor_class("macs.select.actors.registry.DomainActor").kind == "domain"
    with pytest.raises(MacsError, match="unknown actor 'nope'"):
        actor_class("nope")
    with pytest.raises(MacsError, match="not an Actor subclass"):
        actor_class("macs.core.errors:MacsError")

    class _Store:
        n_docs = 5

    from macs.select.actors import build_actor

    act = build_actor("par", _Store(), cls="parity_test", init="natural")
    assert act.groups.tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(act.weights, [1.2, 0.8])
    with pytest.raises(MacsError, match="cannot build itself"):
        Actor.from_store("x", _Store())
