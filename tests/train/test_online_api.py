"""The public API: OnlineSelection from objects, with a plain torch module that returns logits;
state_dict/load_state_dict restore it exactly."""

from __future__ import annotations

import numpy as np
import torch
from test_train_loop import reference_like_domain_a

import macs
from macs.select.actors import Actor
from macs.select.rewards import InfluenceConfig, make_estimator


class TinyLM(torch.nn.Module):
    """Not a Hugging Face model: forward(input_ids=...) returns the logits tensor itself."""

    def __init__(self, vocab: int = 96, width: int = 16):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, width)
        self.mix = torch.nn.Linear(width, width)
        self.out = torch.nn.Linear(width, vocab)

    def forward(self, input_ids):
        h = torch.tanh(self.mix(self.emb(input_ids)))
        return self.out(torch.cumsum(h, dim=1) / torch.arange(1, h.shape[1] + 1)[None, :, None])


def _build(pool):
    actors = [
        Actor("domain", pool.labels["domain"].groups, pool.labels["domain"].group_names),
        Actor("quality", pool.labels["quality"].groups, pool.labels["quality"].group_names),
    ]
    est = make_estimator(InfluenceConfig(window=64, overlap=0), reference_like_domain_a())
    return macs.OnlineSelection.from_objects(
        pool,
        actors=actors,
        estimator=est,
        stage_budgets=[1500, 1500, 1500],
        seed=4,
        selection={"samples_per_group": 5},
        log=lambda m: None,
    )


def test_from_objects_with_a_plain_module_and_exact_restore(pool):
    model = TinyLM()
    a = _build(pool)
    s0 = a.initial()
    s1 = a.refresh(model, step=10)
    assert s1.rewards is not None and np.isfinite(s1.rewards[1]).any()
    assert s1.log["theta"] != s0.log["theta"] and s1.n_tokens >= 1500
    sd = a.state_dict()
    with torch.no_grad():
        model.out.bias.add_(0.5)  # the model moves on before the next refresh
    s2 = a.refresh(model, step=20)
    b = _build(pool)
    b.load_state_dict(sd)
    s2b = b.refresh(model, step=20)
    np.testing.assert_array_equal(s2.idx, s2b.idx)
    assert s2.log["theta"] == s2b.log["theta"]


class PositionalLM(TinyLM):
    """forward(x): the tensor positionally, no `input_ids` keyword (issue 25, item 3)."""

    def forward(self, x):
        return super().forward(x)


def test_a_positional_forward_gets_the_same_rewards_from_every_estimator(pool):
    import pytest

    from macs.select.rewards.batching import takes_input_ids

    assert takes_input_ids(TinyLM()) and not takes_input_ids(PositionalLM())
    docs = [pool.tokens.doc(int(i)).astype(np.int64) for i in np.flatnonzero(pool.eligible)[:6]]
    for name in ("alignment", "projected", "probe"):
        cfg = InfluenceConfig(window=64, overlap=0, estimator=name, projection_dim=64)
        got = []
        for lm in (TinyLM(), PositionalLM()):
            est = make_estimator(cfg, reference_like_domain_a())
            got.append(np.asarray(est.rewards(lm, docs, step=1), dtype=float))
        assert np.isfinite(got[1]).all(), name
        np.testing.assert_allclose(got[1], got[0], rtol=1e-5, atol=1e-7, err_msg=name)
    with pytest.raises(TypeError):  # the old call, for the record: a positional forward refuses it
        PositionalLM()(input_ids=torch.zeros(1, 4, dtype=torch.long))


def test_readme_plain_torch_example_runs(mini_data, capsys):
    """The README's plain-torch block, as it stands, on the mini corpus (its store name swapped in)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"<!-- readme-test: plain-torch -->\n```python\n(.*?)```", readme, re.S)
    assert block, "the README lost its plain-torch example"
    _, sets = mini_data
    code = block.group(1)
    assert '"corpus.name=mine"' in code
    code = code.replace('"corpus.name=mine"', ", ".join(repr(s) for s in sets))
    torch.set_num_threads(1)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "trained 30 steps over 3 stages" in out
