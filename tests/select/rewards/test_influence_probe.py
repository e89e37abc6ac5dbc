import numpy as np
import torch
from influence_fixtures import DATA, byte_tok, code_docs, one_thread, tiny_llama  # noqa: F401

from macs.select.rewards import InfluenceConfig, make_estimator, reference_from_jsonl
from macs.select.rewards.batching import collate, model_loss


def _ref():
    return reference_from_jsonl(byte_tok, DATA / "geography.jsonl")


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_probe_restores_model_bit_for_bit_and_leaves_optimizer_alone():
    model = tiny_llama(seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.as_tensor(code_docs(1)[0])[None]
    model(input_ids=x, labels=x).loss.backward()
    opt.step()  # a real optimiser state (exp_avg, exp_avg_sq, step)
    grads = [p.grad.clone() for p in model.parameters()]
    before, opt_before = (
        _state(model),
        {k: v.clone() for k, v in opt.state[model.lm_head.weight].items()},
    )
    model.train()
    r = make_estimator(InfluenceConfig(estimator="probe"), _ref()).rewards(
        model, code_docs(3), optimizer=opt
    )
    assert np.isfinite(r).all() and model.training
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters(), strict=True))
    assert all(torch.equal(v, opt.state[model.lm_head.weight][k]) for k, v in opt_before.items())


def test_probe_equals_manual_sgd_step():
    model = tiny_llama(seed=0, dtype=torch.float64)
    ref = _ref()
    doc = code_docs(1, length=30)[0]
    cfg = InfluenceConfig(estimator="probe", probe_optimizer="sgd", probe_lr=0.3)
    r = make_estimator(cfg, ref).rewards(model, [doc])[0]

    def ref_loss(m):
        units = [(e.input_ids, e.n_context) for e in ref.tasks["geography"]]
        with torch.no_grad():
            return np.mean([float(model_loss(m, *collate_one(i, s))[0]) for i, s in units])

    def collate_one(ids, start):
        from macs.select.rewards.batching import Unit

        return collate([Unit(ids, start)], "cpu")

    base = ref_loss(model)
    ids, mask = collate_one(doc, 1)
    grads = torch.autograd.grad(model_loss(model, ids, mask)[0], list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p -= 0.3 * g
    assert abs(r - (base - ref_loss(model))) < 1e-10


def test_probe_sign_duplicate_beats_unrelated():
    model = tiny_llama(seed=0)
    dup = np.asarray(byte_tok("Question: What is the capital of Spain?\nAnswer: Madrid"))
    cfg = InfluenceConfig(estimator="probe", probe_optimizer="sgd", probe_lr=0.1)
    r = make_estimator(cfg, _ref()).rewards(model, [dup] + code_docs(10))
    assert r[0] > np.median(r[1:]) and r[0] > 0
