"""Tiny RegMix settings on the mini pool: proxies of a few seconds, a small search."""

from __future__ import annotations

from pathlib import Path

from macs.app.config import load_config
from macs.select.selectors.base import SelectorContext

TINY = [
    "baselines.regmix.labels=topic",
    "baselines.regmix.proxy_size=llama-tiny",
    "baselines.regmix.proxy_tokens=4096",
    "baselines.regmix.seq_len=32",
    "baselines.regmix.batch_size=8",
    "baselines.regmix.lr=0.01",
    "baselines.regmix.target_examples=4",
    "baselines.regmix.n_proxies=8",
    "baselines.regmix.folds=4",
    "baselines.regmix.lgbm_rounds=60",
    "baselines.regmix.search_samples=4000",
    "baselines.regmix.top_k=32",
]


def regmix_config(mini_data, *extra: str):
    """The mini pool's config with tiny RegMix settings and `extra` --set overrides."""
    _, sets = mini_data
    return load_config(None, [*sets, *TINY, *extra])


def regmix_ctx(pool, cfg, cache: Path, seed: int = 0, budgets=(40_000,) * 3, log=None):
    """A SelectorContext caching RegMix under `cache`; log lines go to `log` (a list) if given."""
    say = (lambda m: None) if log is None else log.append
    return SelectorContext(
        pool=pool, cfg=cfg, seed=seed, stage_budgets=list(budgets), cache_dir=cache, log=say
    )
