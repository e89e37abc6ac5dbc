import numpy as np
import pytest
import torch
from influence_fixtures import (  # noqa: F401
    DATA,
    byte_tok,
    code_docs,
    make_reference,
    naive_alignment,
    one_thread,
    tiny_llama,
)

from macs.select.rewards import InfluenceConfig, make_estimator, reference_from_jsonl


@pytest.fixture(scope="module")
def reference():
    return make_reference()


def _docs():
    """Short and long real docs; one long enough for 3 windows (16 tokens, 4 overlap), two too short."""
    text = b"The Nile flows north through Egypt to the Mediterranean Sea near Alexandria."
    docs = code_docs(6, length=14) + [np.frombuffer(text[:40], dtype=np.uint8).astype(np.int64)]
    return docs + [np.array([65]), np.array([], dtype=np.int64)]


_NAIVE: dict[bool, np.ndarray] = {}  # the naive loop is slow: computed once per model


def _windows(doc):
    starts = [0, 12, 24] if len(doc) == 40 else [0]
    return [doc[s : s + 16] for s in starts]


@pytest.mark.parametrize("method", ["ghost", "vmap", "loop"])
@pytest.mark.parametrize("tie", [True, False])
def test_alignment_matches_naive_float64_loop(reference, method, tie):
    model = tiny_llama(tie=tie, dtype=torch.float64)
    docs = _docs()
    cfg = InfluenceConfig(method=method, window=16, overlap=4, chunk_size=4)
    est = make_estimator(cfg, reference)
    r = est.rewards(model, docs)
    if tie not in _NAIVE:
        _NAIVE[tie] = naive_alignment(model, reference, [_windows(d) for d in docs[:7]])
    want = _NAIVE[tie]
    np.testing.assert_allclose(r[:7], want, rtol=1e-6, atol=0)
    assert np.isnan(r[7:]).all() and est.stats["skipped_short"] == 2 and est.stats["windows"] == 9
    assert est.stats["refreshes"] == 1


def test_method_md_literal_formula_without_unit_reference(reference):
    """unit_reference=False: <g/|g|, mean_z g_z/|g_z|> exactly as written in method.md."""
    model = tiny_llama(dtype=torch.float64)
    docs = code_docs(4, length=20)
    cfg = InfluenceConfig(unit_reference=False, method="ghost", chunk_size=4)
    r = make_estimator(cfg, reference).rewards(model, docs)
    want = naive_alignment(model, reference, [[d] for d in docs], unit=False)
    np.testing.assert_allclose(r, want, rtol=1e-6)


def test_alignment_generic_modules_gpt2(reference):
    """Conv1D and LayerNorm take the generic torch.func path; learned positions force the vmap fallback."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = (
        GPT2LMHeadModel(GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=128))
        .double()
        .eval()
    )
    docs = code_docs(4, length=20)
    want = naive_alignment(model, reference, [[d] for d in docs])
    est = make_estimator(InfluenceConfig(method="ghost", chunk_size=3), reference)
    np.testing.assert_allclose(est.rewards(model, docs), want, rtol=1e-6)
    assert est.stats["method"] == "vmap"  # positions shared across the batch: exact fallback
    one = make_estimator(InfluenceConfig(method="ghost", chunk_size=1), reference)
    np.testing.assert_allclose(one.rewards(model, docs), want, rtol=1e-6)
    assert one.stats["method"] == "ghost"


@pytest.mark.parametrize("seed", [0, 1])
def test_duplicate_of_reference_beats_unrelated_text(seed):
    geography = reference_from_jsonl(byte_tok, DATA / "geography.jsonl")
    model = tiny_llama(seed=seed)
    dup = np.asarray(byte_tok("Question: What is the capital of Spain?\nAnswer: Madrid"))
    r = make_estimator(InfluenceConfig(), geography).rewards(model, [dup] + code_docs(20))
    assert r[0] > np.max(r[1:])


def test_refresh_follows_weight_changes_and_bf16_agrees(reference):
    model = tiny_llama(seed=1)
    docs = code_docs(12, length=40)
    est = make_estimator(InfluenceConfig(chunk_size=5), reference)
    r1 = est.rewards(model, docs, step=0)
    est.rewards(model, docs[:2], step=0)
    assert est.stats["refreshes"] == 1  # the same training step: the reference vectors are reused
    for method in ("ghost", "vmap"):
        cfg = InfluenceConfig(dtype="bf16", chunk_size=5, method=method)
        bf = make_estimator(cfg, reference).rewards(model, docs)
        assert np.corrcoef(r1, bf)[0, 1] > 0.9
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model(
        input_ids=torch.as_tensor(docs[0])[None], labels=torch.as_tensor(docs[0])[None]
    ).loss
    loss.backward()
    opt.step()
    r2 = est.rewards(model, docs, step=1)
    assert est.stats["refreshes"] == 2 and not np.allclose(r1, r2)
    est.rewards(model, docs[:2])
    assert est.stats["refreshes"] == 3  # no step given: always recomputed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("estimator", ["alignment", "projected", "probe"])
def test_cuda_matches_cpu(reference, estimator):
    docs = code_docs(8, length=40)
    cfg = InfluenceConfig(estimator=estimator, method="ghost", projection_dim=1024, chunk_size=4)
    cpu = make_estimator(cfg, reference).rewards(tiny_llama(seed=2, dtype=torch.float64), docs)
    gpu_model = tiny_llama(seed=2, dtype=torch.float64).cuda()
    gpu = make_estimator(cfg, reference).rewards(gpu_model, docs)
    if estimator == "projected":  # the device's generator draws a different matrix
        assert np.corrcoef(cpu, gpu)[0, 1] > 0.9
    else:
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-9)
