"""The perplexity baseline's default reference model on CPU: a small macs model (the run's
model size unless `baselines.perplexity.proxy.size` says otherwise) trained briefly on a seeded
uniform random sample of the pool, saved as a Hugging Face model folder with the pool's
tokenizer and cached per (pool, tokenizer, model, settings), so it is trained once.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import read_json, write_json
from macs.core.timing import Stopwatch
from macs.select.console.sampling import top_by_priority, uniform01
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.cache import cache_root, digest, pool_fingerprint, seed_key


def check_proxy(ctx: SelectorContext) -> None:
    """MacsError unless the pool has the token shards and tokenizer the proxy trains on."""
    pool = ctx.pool
    if pool.tokens is None or pool.tokenizer_path is None or not Path(pool.tokenizer_path).exists():
        raise MacsError(
            "method perplexity: the proxy model trains on the pool's token shards and tokenizer, "
            "which this pool lacks; run `macs corpus tokenize`, or set baselines.perplexity.model "
            "to a local HF causal-LM folder"
        )


def _model_config(ctx: SelectorContext):
    from macs.train.config import ModelConfig

    size = ctx.cfg.baselines.perplexity.proxy.size
    if size is not None:
        return ModelConfig(size=size)
    return ModelConfig(**ctx.cfg.model.model_dump(exclude={"path"}))


def proxy_identity(ctx: SelectorContext) -> dict[str, Any]:
    """What determines the proxy model: pool, tokenizer file, model shape and training settings."""
    pcfg = ctx.cfg.baselines.perplexity
    tok = Path(ctx.pool.tokenizer_path)
    return {
        "kind": "proxy",
        "pool": pool_fingerprint(ctx.pool),
        "tokenizer_sha256": hashlib.sha256(tok.read_bytes()).hexdigest()[:16],
        "model": _model_config(ctx).model_dump(),
        "proxy": pcfg.proxy.model_dump(),
        "max_positions": max(pcfg.proxy.seq_len, pcfg.max_tokens),
    }


def proxy_model(ctx: SelectorContext, device: str) -> tuple[Path, dict[str, Any]]:
    """The cached proxy model folder (trained now if absent) and its identity."""
    check_proxy(ctx)
    ident = proxy_identity(ctx)
    key = digest(ident)
    out = cache_root(ctx, "perplexity") / f"proxy-{key}"
    ident = {**ident, "key": key, "path": str(out)}
    cost_file = out.with_name(out.name + ".cost.json")
    if (out / "config.json").exists():
        cost = read_json(cost_file) if cost_file.exists() else {"seconds": None, "tokens": 0}
        return out, {**ident, "train_cost": {**cost, "cached": True}}
    from macs.train.model import save_model

    clock = Stopwatch()
    model = train_proxy(ctx, device)
    c = ctx.cfg.baselines.perplexity.proxy
    steps = max(1, math.ceil(c.tokens / (c.seq_len * c.batch_size)))
    cost = {"seconds": clock.seconds, "tokens": steps * c.seq_len * c.batch_size}
    write_json(cost_file, cost)  # before the folder: a folder without its cost is an old cache
    save_model(model, ctx.pool.tokenizer_path, out)
    return out, {**ident, "train_cost": {**cost, "cached": False}}


def train_proxy(ctx: SelectorContext, device: str):
    """A freshly trained proxy LM (torch module, eval mode) on a seeded uniform pool sample."""
    import torch

    from macs.train.data import PackedStage
    from macs.train.model import build_model

    c = ctx.cfg.baselines.perplexity.proxy
    pool, n = ctx.pool, ctx.pool.n_docs
    key = seed_key(c.seed, 0x9803)
    idx = top_by_priority(
        uniform01(np.arange(n), key, n), pool.n_tokens, pool.eligible, c.tokens, key
    )
    data = PackedStage(pool.tokens, idx, c.seq_len, c.seed, stage=0)
    n_pos = max(c.seq_len, ctx.cfg.baselines.perplexity.max_tokens)
    model = build_model(
        _model_config(ctx), pool.tokens.vocab_size, n_pos, pool.tokens.eos_id, c.seed
    )
    model.to(device).train()
    steps = max(1, math.ceil(c.tokens / (c.seq_len * c.batch_size)))
    warm = max(1, steps // 20)
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (1.0 - 0.9 * s / steps)
    )
    clock, loss = Stopwatch(), float("nan")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        for _ in range(steps):
            x = torch.from_numpy(data.batch(c.batch_size)).to(device)
            out = model(input_ids=x, labels=x)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss = float(out.loss.detach())
    secs = clock.seconds
    ctx.log(
        f"[perplexity] proxy model trained: {steps} steps on {idx.size:,} random docs "
        f"({steps * c.seq_len * c.batch_size:,} tokens) in {secs:.1f}s, final loss {loss:.3f} nats"
    )
    return model.eval()
