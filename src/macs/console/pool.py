"""Wire a corpus store to the selection core: token counts, the held-out mask, the console."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from macs.console.config import SelectionConfig
from macs.console.console import Console
from macs.errors import MacsError


@dataclass
class Pool:
    """A store's per-document arrays in canonical order: tokens and the held-out mask."""

    store: object
    n_tokens: np.ndarray  # tokens per doc (int64)
    token_source: str  # where the counts came from (token shards, or an estimate from bytes)
    heldout: np.ndarray  # bool, True = held out (never selected)
    token_dir: Path | None = None  # the token shards the counts came from (None: estimated)

    @property
    def eligible(self) -> np.ndarray:
        """True = may be selected (not held out)."""
        return ~self.heldout


def token_counts(store, cfg) -> tuple[np.ndarray, str, Path | None]:
    """(tokens per doc, where from, shard folder or None): token shards of the configured tokenizer, else n_bytes / bytes_per_token."""
    tok_dir = None
    try:
        from macs.corpus.tokenizer import tokenizer_name

        tok_dir = Path(store.path) / "tokens" / tokenizer_name(cfg.tokenizer)
    except ImportError:  # pragma: no cover - corpus layer always ships the tokenizer module
        pass
    if tok_dir is not None and tok_dir.exists():
        try:
            from macs.corpus.tokens import TokenStore
        except ImportError:
            TokenStore = None  # noqa: N806 - token shards not supported by this corpus version
        if TokenStore is not None:
            ts = TokenStore.open(tok_dir)
            if ts.n_docs != store.n_docs:
                raise MacsError(
                    f"{tok_dir}: token shards cover {ts.n_docs} docs but the store has {store.n_docs}; "
                    "re-tokenize the corpus"
                )
            return np.asarray(ts.lengths, dtype=np.int64), f"token shards {tok_dir}", tok_dir
    bpt = cfg.selection.bytes_per_token
    n_bytes = np.asarray(store.read_column("n_bytes"), dtype=np.float64)
    est = np.maximum(np.ceil(n_bytes / bpt), 1).astype(np.int64)
    return est, f"estimated as n_bytes / {bpt:g} (no token shards at {tok_dir})", None


def open_pool(cfg) -> Pool:
    """Open the configured corpus store with token counts and its held-out mask."""
    from macs.corpus.store import CorpusStore, store_path

    store = CorpusStore.open(store_path(cfg))
    n_tokens, source, tok_dir = token_counts(store, cfg)
    return Pool(store, n_tokens, source, np.asarray(store.heldout_mask(), dtype=bool), tok_dir)


def build_actors(scfg: SelectionConfig, store, n_tokens: np.ndarray | None = None) -> list:
    """The configured actors, built from the store's label sidecars (or their own from_store)."""
    from macs.actors.registry import build_actor

    out = []
    for spec in scfg.actor_specs():
        init = spec.init if spec.init is not None else scfg.init
        out.append(
            build_actor(
                spec.name,
                store,
                cls=spec.cls,
                labels=spec.labels,
                n_tokens=n_tokens,
                init=init,
                update=scfg.update,
                eta=scfg.eta_w,
            )
        )
    return out


def build_console(cfg, store, n_tokens: np.ndarray | None = None) -> Console:
    """A Console with the configured actors, mode, step sizes, decay and the run seed."""
    s = cfg.selection
    return console_for(s, build_actors(s, store, n_tokens), cfg.run.seed, store.n_docs)


def console_for(scfg: SelectionConfig, actors: list, seed: int, n_docs: int) -> Console:
    """A Console over `actors` with scfg's mode, step size eta_theta, decay and reward; seeded."""
    return Console(
        actors,
        eta_theta=scfg.eta_theta,
        mode=scfg.mode,
        seed=seed,
        decay_factor=scfg.decay_factor,
        theta_reward=scfg.theta_reward,
        n_docs=n_docs,
    )
