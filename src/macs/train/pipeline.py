"""`macs run`: corpus -> tokenizer -> token shards -> labels -> the method and baselines at equal tokens
-> evaluation -> report. Every step reuses what a previous run already finished."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from macs.errors import MacsError

# The built-in CPU demo (configs/demo.yaml holds the same values; a test keeps them equal).
DEMO: dict = {
    "run": {"name": "demo", "seed": 0, "device": "cpu"},
    "corpus": {"name": "demo", "demo_max_mb_per_domain": 0.5},
    "tokenizer": {"kind": "bpe", "vocab_size": 4096, "train_mb": 3.0},
    "model": {"size": "llama-1m"},
    "train": {
        "tokens": 250000,
        "stages": 3,
        "seq_len": 128,
        "batch_size": 16,
        "lr": 0.003,
        "warmup_frac": 0.05,
        "reward_max_tokens": 128,
        "log_every": 5,
        "threads": 1,
    },
    "selection": {"samples_per_group": 12},
    "influence": {"n_per_task": 24, "window": 128, "overlap": 32, "chunk_size": 16},
    "eval": {
        "tasks": ["reference", "arc_easy", "arc_challenge", "sciq", "piqa", "openbookqa"],
        "limit": 100,
        "heldout_docs_per_domain": 40,
    },
}


def demo_config(sets: list[str] | None = None):
    """The demo's Config: defaults plus DEMO, plus `--set` overrides."""
    from pydantic import ValidationError

    from macs.config import Config, deep_merge, parse_overrides

    try:
        return Config.model_validate(deep_merge(DEMO, parse_overrides(sets)))
    except ValidationError as e:
        bad = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise MacsError(f"the --set overrides of the demo config are invalid: {bad}") from e


def _say(msg: str) -> None:
    print(f"[run] {msg}", file=sys.stderr, flush=True)


def prepare_data(cfg) -> None:
    """Corpus store (the demo is built when missing), tokenizer, token shards and labels; all reused if present."""
    from macs.corpus.store import CorpusStore
    from macs.corpus.tokenizer import ensure_tokenizer
    from macs.corpus.tokens import tokenize_store
    from macs.labels.job import run_labels
    from macs.train.run import store_path

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


def run_pipeline(
    cfg=None,
    method: str = "multi_actor",
    baselines: list[str] | None = None,
    seeds: list[int] | None = None,
) -> Path:
    """Run the method and each baseline (per seed) at equal tokens, then write the report; returns report.md."""
    from macs.report.build import build_report
    from macs.train.run import train_from_config

    t_start = time.perf_counter()
    cfg = cfg if cfg is not None else demo_config()
    baselines = ["random"] if baselines is None else baselines
    seeds = seeds or [cfg.run.seed]
    modes = [method] + [b for b in baselines if b != method]
    bad = [m for m in modes if m not in ("multi_actor", "random", "fixed_theta")]
    if bad:
        raise MacsError(f"unknown selection modes {bad}; use multi_actor, random or fixed_theta")
    prepare_data(cfg)
    root = Path(cfg.run.runs_dir) / cfg.run.name
    run_dirs = []
    for seed in seeds:
        for mode in modes:
            sub = cfg.model_copy(deep=True)
            sub.run.seed = seed
            sub.selection.mode = mode
            sub.run.name = f"{cfg.run.name}/{mode}" + (f"-s{seed}" if len(seeds) > 1 else "")
            _say(f"training {sub.run.name} ({mode}, seed {seed})")
            res = train_from_config(sub)
            run_dirs.append(res.run_dir)
    report = build_report(run_dirs, root / "report", method=method)
    _say(f"done in {time.perf_counter() - t_start:.0f}s: {len(run_dirs)} runs; report {report}")
    return report
