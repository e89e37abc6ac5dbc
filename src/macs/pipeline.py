"""The main jobs: `macs run` (the demo end to end) and the wiring of every layer for them.

corpus -> tokenizer -> token shards -> labels -> each method per seed at equal tokens (the
selector registry) -> evaluation -> report. Every step reuses what a previous run finished.
This is the only module that imports `macs.report`.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

from macs.errors import MacsError


def demo_config_path() -> Path:
    """The packaged demo config (configs/demo.yaml in the repository links to it)."""
    return Path(str(resources.files("macs") / "configs" / "demo.yaml"))


def demo_config(sets: list[str] | None = None):
    """The demo's Config: the packaged demo.yaml plus `--set` overrides."""
    from macs.config import load_config

    return load_config(demo_config_path(), sets)


def _say(msg: str) -> None:
    print(f"[run] {msg}", file=sys.stderr, flush=True)


def prepare_data(cfg) -> None:
    """Corpus store (the demo is built when missing), tokenizer, token shards and labels; all reused if present."""
    from macs.corpus.store import CorpusStore, store_path
    from macs.corpus.tokenizer import ensure_tokenizer
    from macs.corpus.tokens import tokenize_store
    from macs.labels.job import run_labels

    spath = store_path(cfg)
    t0 = time.perf_counter()
    c = cfg.corpus
    if c.name.startswith("demo") and cfg.labels.store is None:  # built if missing, else reused
        from macs.corpus.demo import build_demo_corpus

        build_demo_corpus(
            spath,
            cfg.run.resolved_cache_dir / "demo",
            max_mb_per_domain=c.demo_max_mb_per_domain or None,
            strict=c.demo_strict,
            seed=cfg.run.seed,
            max_chunk_bytes=c.max_chunk_bytes,
            heldout_fraction=c.heldout_fraction,
        )
    elif not (spath / "manifest.json").exists():
        raise MacsError(
            f"no corpus store at {spath}; import one with `macs corpus import FILES --name "
            f"{c.name}` (only the demo corpus is built automatically)"
        )
    store = CorpusStore.open(spath)
    tok = ensure_tokenizer(cfg, store=store)
    tokenize_store(store, tok)
    run_labels(
        store, cfg.labels, seed=cfg.labels.seed if cfg.labels.seed is not None else cfg.run.seed
    )
    _say(f"data ready in {time.perf_counter() - t0:.1f}s: {store.n_docs} docs at {spath}")


def run_dir_name(root: str, method: str, seed: int, n_seeds: int) -> str:
    """The run name of one (method, seed) under a job's root name."""
    from macs.baselines.registry import method_label

    return f"{root}/{method_label(method)}" + (f"-s{seed}" if n_seeds > 1 else "")


def check_methods(cfg, methods: list[str], pool) -> None:
    """Validate every method against the pool before any training (one-line errors)."""
    from macs.baselines.base import SelectorContext
    from macs.baselines.registry import check_method
    from macs.train.state import plan

    budgets = plan(cfg, 1)["stage_budgets"]
    for m in methods:
        check_method(
            m, SelectorContext(pool=pool, cfg=cfg, seed=cfg.run.seed, stage_budgets=budgets)
        )


def run_pipeline(
    cfg=None,
    method: str = "multi_actor",
    baselines: list[str] | None = None,
    seeds: list[int] | None = None,
) -> Path:
    """Run the method and each baseline (per seed) at equal tokens, then write the report; returns report.md."""
    from macs.pool import open_pool
    from macs.report.build import build_report
    from macs.train.run import train_from_config

    t_start = time.perf_counter()
    cfg = cfg if cfg is not None else demo_config()
    baselines = ["random"] if baselines is None else baselines
    seeds = seeds or [cfg.run.seed]
    methods = [method] + [b for b in baselines if b != method]
    prepare_data(cfg)
    pool = open_pool(cfg)
    check_methods(cfg, methods, pool)
    root = Path(cfg.run.runs_dir) / cfg.run.name
    run_dirs = []
    for seed in seeds:
        for m in methods:
            sub = cfg.model_copy(deep=True)
            sub.run.seed = seed
            sub.selection.method = m
            sub.run.name = run_dir_name(cfg.run.name, m, seed, len(seeds))
            _say(f"training {sub.run.name} ({m}, seed {seed})")
            run_dirs.append(train_from_config(sub, pool=pool).run_dir)
    report = build_report(run_dirs, root / "report", method=method)
    _say(f"done in {time.perf_counter() - t_start:.0f}s: {len(run_dirs)} runs; report {report}")
    return report
