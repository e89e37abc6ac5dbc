"""The Ray Data executor gives the same sidecars as the local one (a local Ray, 2 workers)."""

from __future__ import annotations

import numpy as np
import pytest

from macs.data.labels.job import run_labels
from macs.data.labels.sidecar import load_labels


def test_ray_executor_matches_local(store_copy, make_config, labelled_store):
    pytest.importorskip("ray")
    import ray

    ref_store, ref = labelled_store
    cfg = make_config(executor="ray", workers=2)
    try:
        out = run_labels(store_copy, cfg, progress=False)
    finally:
        ray.shutdown()
    assert sorted(out) == ["domain", "quality", "topic"]
    for actor in out:
        a, b = load_labels(store_copy, actor), load_labels(ref_store, actor)
        assert (a.group == b.group).all() and np.allclose(a.score, b.score, atol=1e-6), actor
        assert out[actor]["counts"] == ref[actor]["counts"]
        assert out[actor]["executor"] == "ray" and out[actor]["parts"] == ref[actor]["parts"]


def test_ray_address_comes_from_the_config_then_ray_address(monkeypatch):
    from macs.data.labels.ray_exec import ray_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address(None) is None
    monkeypatch.setenv("RAY_ADDRESS", "head.example:6379")
    assert ray_address(None) == "head.example:6379"
    assert ray_address("head:6380") == "head:6380"
    monkeypatch.setenv("RAY_ADDRESS", "")
    assert ray_address(None) is None
