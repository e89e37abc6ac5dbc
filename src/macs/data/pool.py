"""The selection pool: every per-document array that selection, training, rewards and reports use.

One pool type, one token rule, one eligibility rule (docs/architecture.md, "The pool"):

- **Token rule.** A document costs `n_tokens[i] = content_tokens[i] + 1` training tokens: its
  token ids from the corpus's token shards plus the one EOS the packer appends. A document
  with no content tokens costs 0. Without token shards (`macs select` on an untokenised
  store) the content tokens are estimated as `ceil(n_bytes / selection.bytes_per_token)`;
  `Pool.token_source` says which rule produced the counts.
- **Eligibility rule.** A document may be selected (or sampled for rewards) iff it is not
  held out for evaluation and has at least one content token.

Arrays are aligned to the store's canonical document order (the doc index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from macs.core.errors import MacsError


@dataclass
class LabelSet:
    """One label sidecar aligned to the canonical order: a group per doc, and the labeller's score."""

    name: str
    groups: np.ndarray  # int32 group id per doc
    group_names: list[str]
    scores: np.ndarray | None = None  # float32 continuous score (e.g. quality 0-5; higher = better)
    manifest: dict = field(default_factory=dict)

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.group_names)


@dataclass
class Pool:
    """Per-document arrays of a corpus in canonical order (see the module docstring for the rules)."""

    n_tokens: np.ndarray  # int64 training tokens per doc (content + 1 EOS; 0 for empty docs)
    eligible: np.ndarray  # bool: may be selected (not held out, at least one content token)
    labels: dict[str, LabelSet]
    ids: Callable[[np.ndarray], list[str]]  # doc indices -> string ids
    tokens: object | None = None  # macs.data.corpus.tokens.TokenStore (None: counts estimated)
    store: object | None = None  # macs.data.corpus.store.CorpusStore (None in synthetic pools)
    token_source: str = "token shards"
    domain_codes: np.ndarray | None = None  # int16 per doc: the store's domain column
    domain_names: list[str] = field(default_factory=list)
    tokenizer_path: Path | None = None
    notes: list[str] = field(default_factory=list)  # what a user should know (degenerate labels)

    def __post_init__(self) -> None:
        self.n_tokens = np.asarray(self.n_tokens, dtype=np.int64)
        self.eligible = np.asarray(self.eligible, dtype=bool) & (self.n_tokens > 0)
        if self.eligible.shape != self.n_tokens.shape:
            raise MacsError(
                f"pool: eligible mask {self.eligible.shape} and token counts {self.n_tokens.shape} differ"
            )

    @property
    def n_docs(self) -> int:
        """Documents in the pool (held out ones included)."""
        return int(self.n_tokens.size)

    @property
    def eligible_tokens(self) -> int:
        """Training tokens of all eligible documents."""
        return int(self.n_tokens[self.eligible].sum())

    def doc(self, i: int) -> np.ndarray:
        """Token ids of doc i (no EOS); needs token shards."""
        if self.tokens is None:
            raise MacsError("this pool has no token shards; run `macs corpus tokenize` first")
        return self.tokens.doc(int(i))

    def texts(self, idx) -> list[str]:
        """Texts of doc indices (needs the corpus store)."""
        if self.store is None:
            raise MacsError("this pool has no corpus store to read texts from")
        return self.store.texts(np.asarray(idx, dtype=np.int64))

    def label(self, name: str, what: str = "selection") -> LabelSet:
        """The label set `name`; MacsError naming `what` needs it and how to make it."""
        if name not in self.labels:
            raise MacsError(
                f"{what} needs the {name!r} labels, which this pool lacks (labelled: "
                f"{sorted(self.labels) or 'none'}); run `macs label` with {name} in labels.actors"
            )
        return self.labels[name]

    def group_shares(self, groups: np.ndarray, n_groups: int, idx=None) -> np.ndarray:
        """Token share of each group among eligible docs (idx=None) or among the docs idx (repeats count)."""
        if idx is None:
            w = np.where(self.eligible, self.n_tokens, 0).astype(np.float64)
            tot = np.bincount(groups, weights=w, minlength=n_groups)[:n_groups]
        else:
            idx = np.asarray(idx, dtype=np.int64)
            w = self.n_tokens[idx].astype(np.float64)
            tot = np.bincount(groups[idx], weights=w, minlength=n_groups)[:n_groups]
        return tot / max(tot.sum(), 1.0)

    def mixes(self) -> dict:
        """Token share of every group of every label set (and store domain) over the eligible pool."""
        out = {
            "n_docs": int(self.eligible.sum()),
            "n_tokens": self.eligible_tokens,
            "token_rule": "content tokens + 1 EOS per document",
            "token_source": self.token_source,
            "actors": {},
        }
        for name, lab in self.labels.items():
            out["actors"][name] = {
                "group_names": list(lab.group_names),
                "token_share": self.group_shares(lab.groups, lab.n_groups).tolist(),
            }
        if self.domain_codes is not None and self.domain_names:
            out["store_domain"] = {
                "group_names": list(self.domain_names),
                "token_share": self.group_shares(
                    self.domain_codes, len(self.domain_names)
                ).tolist(),
            }
        return out


def training_tokens(content_tokens: np.ndarray) -> np.ndarray:
    """The token rule: content tokens + 1 EOS, and 0 for a document without content (int64)."""
    c = np.asarray(content_tokens, dtype=np.int64)
    return np.where(c > 0, c + 1, 0)


def token_counts(store, cfg) -> tuple[np.ndarray, str, object | None]:
    """(content tokens per doc, source text, TokenStore or None): shards of cfg.tokenizer, else a bytes estimate."""
    from macs.data.corpus.tokenizer import tokenizer_name
    from macs.data.corpus.tokens import TokenStore

    tok_dir = Path(store.path) / "tokens" / tokenizer_name(cfg.tokenizer)
    if tok_dir.exists():
        ts = TokenStore.open(tok_dir)
        if ts.n_docs != store.n_docs:
            raise MacsError(
                f"{tok_dir}: token shards cover {ts.n_docs} docs but the store has {store.n_docs}; "
                "re-tokenize the corpus (`macs corpus tokenize`)"
            )
        return np.asarray(ts.lengths, dtype=np.int64), f"token shards {tok_dir}", ts
    bpt = cfg.selection.bytes_per_token
    n_bytes = np.asarray(store.read_column("n_bytes"), dtype=np.float64)
    est = np.ceil(n_bytes / bpt).astype(np.int64)
    return est, f"estimated as n_bytes / {bpt:g} (no token shards at {tok_dir})", None


def load_label_sets(store) -> tuple[dict[str, LabelSet], list[str]]:
    """Every label sidecar of the store, and notes on degenerate ones (a single group)."""
    from macs.data.labels.sidecar import available_actors, degenerate_actors, load_labels

    out, notes = {}, []
    for name in available_actors(store):
        lab = load_labels(store, name)
        out[name] = LabelSet(name, lab.group, list(lab.group_names), lab.score, lab.manifest)
    for name, why in degenerate_actors(store).items():
        notes.append(
            f"the {name} actor is degenerate ({why}): it cannot tell documents apart and is "
            "left out of the console"
        )
    return out, notes


def open_pool(cfg, need_tokens: bool = True) -> Pool:
    """The pool of a config: the store, its token shards (or a bytes estimate when need_tokens=False), labels."""
    from macs.data.corpus.store import CorpusStore, store_path

    spath = store_path(cfg)
    store = CorpusStore.open(spath)
    content, source, ts = token_counts(store, cfg)
    if ts is None and need_tokens:
        raise MacsError(
            f"no token shards for tokenizer {cfg.tokenizer.kind!r} in {spath / 'tokens'}; "
            "run `macs corpus tokenize --config ...` first"
        )
    labels, notes = load_label_sets(store)
    codes, dnames = store.domains()
    tok_path = None
    if ts is not None and ts.tokenizer_path is not None and ts.tokenizer_path.exists():
        tok_path = ts.tokenizer_path
    elif need_tokens:
        from macs.data.corpus.tokenizer import tokenizer_path

        tok_path = Path(tokenizer_path(cfg))
    return Pool(
        n_tokens=training_tokens(content),
        eligible=~np.asarray(store.heldout_mask(), dtype=bool) & (content > 0),
        labels=labels,
        ids=store.ids,
        tokens=ts,
        store=store,
        token_source=source,
        domain_codes=codes,
        domain_names=list(dnames),
        tokenizer_path=tok_path,
        notes=notes,
    )
