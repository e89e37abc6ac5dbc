"""The selection pool as the training loop sees it: token shards, eligibility, actor labels, ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from macs.train.selection import ActorLabels


@dataclass
class Pool:
    """Everything per-document the loop needs, aligned to the canonical doc order."""

    tokens: object  # macs.corpus.tokens.TokenStore (lengths, doc(i), eos_id, vocab_size)
    eligible: np.ndarray  # bool: may be selected (not held out, at least one token)
    actors: dict[str, ActorLabels]
    ids: Callable[[np.ndarray], list[str]]  # doc indices -> string ids
    domain_codes: np.ndarray | None = None  # int16 per doc (the store's domain column)
    domain_names: list[str] = field(default_factory=list)
    tokenizer_path: Path | None = None
    store: object | None = None  # macs.corpus.store.CorpusStore when the pool is a real store
    store_path: Path | None = None

    @property
    def n_docs(self) -> int:
        """Number of documents in the pool (held out ones included)."""
        return int(np.asarray(self.tokens.lengths).size)

    @property
    def doc_tokens(self) -> np.ndarray:
        """Tokens each document costs in training (its tokens + 1 EOS)."""
        return np.asarray(self.tokens.lengths, dtype=np.int64) + 1

    def mixes(self) -> dict:
        """Token share of every group per actor (and per store domain) over the eligible pool: pool.json."""
        tok = self.doc_tokens * self.eligible
        out = {"n_docs": int(self.eligible.sum()), "n_tokens": int(tok.sum()), "actors": {}}
        for name, lab in self.actors.items():
            share = np.bincount(lab.groups, weights=tok, minlength=len(lab.group_names)) / max(
                1, tok.sum()
            )
            out["actors"][name] = {
                "group_names": list(lab.group_names),
                "token_share": share.tolist(),
            }
        if self.domain_codes is not None and self.domain_names:
            share = np.bincount(
                self.domain_codes, weights=tok, minlength=len(self.domain_names)
            ) / max(1, tok.sum())
            out["store_domain"] = {
                "group_names": list(self.domain_names),
                "token_share": share.tolist(),
            }
        return out
