"""Wire the layers for one training run: corpus store + token shards + labels -> pool; influence -> rewards;
eval -> final evaluation; then the staged loop (macs.train.loop.train)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from macs.errors import MacsError
from macs.train.pool import Pool
from macs.train.selection import ActorLabels, make_selector


def store_path(cfg) -> Path:
    """The corpus store folder of a config (labels.store, else run.data_dir/corpus/<corpus.name>)."""
    if cfg.labels.store is not None:
        return Path(cfg.labels.store)
    return Path(cfg.run.data_dir) / "corpus" / cfg.corpus.name


def open_pool(cfg) -> Pool:
    """The pool of a config: the store, its token shards for cfg.tokenizer, and every labelled actor's groups."""
    from macs.corpus.store import CorpusStore
    from macs.corpus.tokens import TokenStore
    from macs.labels.sidecar import available_actors, load_labels

    spath = store_path(cfg)
    store = CorpusStore.open(spath)
    tdir = spath / "tokens" / tokenizer_name(cfg)
    if not tdir.exists():
        raise MacsError(f"no token shards at {tdir}; run `macs corpus tokenize --config ...` first")
    tokens = TokenStore.open(tdir)
    if tokens.n_docs != store.n_docs:
        raise MacsError(
            f"{tdir} holds {tokens.n_docs} docs but the store has {store.n_docs}; re-tokenize"
        )
    actors = {}
    for name in available_actors(store):
        lab = load_labels(store, name)
        actors[name] = ActorLabels(name, lab.group, list(lab.group_names))
    lengths = np.asarray(tokens.lengths)
    eligible = ~np.asarray(store.heldout_mask(), dtype=bool) & (lengths > 0)
    codes, dnames = store.domains()
    tok_path = (
        tokens.tokenizer_path if tokens.tokenizer_path and tokens.tokenizer_path.exists() else None
    )
    return Pool(
        tokens=tokens,
        eligible=eligible,
        actors=actors,
        ids=store.ids,
        domain_codes=codes,
        domain_names=list(dnames),
        tokenizer_path=tok_path or tokenizer_file(cfg),
        store=store,
        store_path=spath,
    )


def tokenizer_name(cfg) -> str:
    """The tokenizer folder name the corpus layer uses for cfg.tokenizer."""
    from macs.corpus.tokenizer import tokenizer_name as name_of

    return name_of(cfg.tokenizer)


def tokenizer_file(cfg) -> Path:
    """The tokenizer.json of cfg.tokenizer (trained/installed by the corpus layer)."""
    from macs.corpus.tokenizer import tokenizer_path

    return Path(tokenizer_path(cfg))


def reward_factory(cfg):
    """A factory pool -> fn(model, doc indices) giving rewards (float64, higher = more helpful, nan = skipped)."""

    def make(pool: Pool):
        from macs.corpus.tokenizer import load_tokenizer
        from macs.influence import make_estimator, reference_for_config

        tok = load_tokenizer(pool.tokenizer_path)
        ref = reference_for_config(tok, cfg.influence)
        est = make_estimator(cfg.influence, ref)
        cut = cfg.train.reward_max_tokens

        def rewards(model, idx: list[int]) -> np.ndarray:
            docs = [np.asarray(pool.tokens.doc(int(i)), dtype=np.int64) for i in idx]
            if cut:
                docs = [d[:cut] for d in docs]
            return est.rewards(model, docs)

        return rewards

    return make


def evaluator_for(cfg, pool: Pool):
    """fn(model, run_dir) -> eval dict: reference and downstream tasks plus per-domain held-out bpb."""

    def run_eval(model, run_dir: Path) -> dict:
        from macs.eval.heldout import heldout_bpb
        from macs.eval.suite import evaluate
        from macs.train.model import hf_tokenizer

        e = cfg.eval
        tok = hf_tokenizer(pool.tokenizer_path)
        out = evaluate(
            model,
            tok,
            tasks=e.tasks,
            shots=e.shots,
            limit=e.limit,
            seed=cfg.run.seed,
            batch_size=e.batch_size,
            max_length=e.max_length,
            split_seed=e.split_seed,
        )
        if e.heldout and pool.store is not None:
            out["heldout"] = heldout_bpb(
                model,
                tok,
                pool.store,
                max_docs_per_domain=e.heldout_docs_per_domain,
                seed=cfg.run.seed,
                max_length=e.max_length,
                batch_size=e.batch_size,
            )
        return out

    return run_eval


def train_from_config(cfg, stop_at_step: int | None = None):
    """Open the pool for cfg and run or resume the staged training in cfg.run.run_dir."""
    from macs.console.pool import build_actors
    from macs.train.loop import train

    pool = open_pool(cfg)
    actors = None
    if cfg.selection.mode != "random":
        actors = build_actors(cfg.selection, pool.store, pool.doc_tokens)
    evaluator = evaluator_for(cfg, pool) if cfg.train.eval_at_end else None
    return train(
        cfg,
        pool,
        lambda p: make_selector(p, cfg, cfg.run.seed, actors),
        reward_factory(cfg),
        evaluator,
        stop_at_step=stop_at_step,
    )


def resume_config(run_dir: Path):
    """The resolved config saved in a run directory."""
    from macs.config import load_config

    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise MacsError(
            f"{run_dir} is not a macs run directory (no config.yaml); give the run's folder"
        )
    cfg = load_config(path)
    if Path(cfg.run.run_dir).resolve() != Path(run_dir).resolve():
        print(f"[train] note: {run_dir} was moved; writing there", file=sys.stderr)
        cfg.run.runs_dir = Path(run_dir).parent
        cfg.run.name = Path(run_dir).name
    return cfg
