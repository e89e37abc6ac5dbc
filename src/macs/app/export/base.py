"""What every export shares: the selection it writes, documents in selection order, and the
atomic output folder with its `macs_export.json` record.

A selection is a corpus store, optionally its token shards, and an int64 array of doc indices
(canonical doc order, repeats allowed: a document chosen twice is written twice, in place).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError

EXPORT_RECORD = "macs_export.json"
Log = Callable[[str], None]


def missing_library(package: str, fmt: str, err: BaseException | None = None) -> MacsError:
    """The error for an export library that is not installed (names the `export` extra)."""
    why = f" ({err})" if err is not None and str(err) else ""
    return MacsError(
        f"the {fmt} export needs the package '{package}', which cannot be imported{why}; run "
        "`bash scripts/setup.sh export` (or `dev`)"
    )


@dataclass
class Selection:
    """The documents to export: doc indices into `store` in output order, tokens optional."""

    store: Any  # macs.data.corpus.store.CorpusStore
    idx: np.ndarray  # int64 doc indices, output order, repeats allowed
    tokens: Any = None  # macs.data.corpus.tokens.TokenStore or None
    _domains: tuple[np.ndarray, list[str]] | None = field(default=None, repr=False)
    _meta: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def make(cls, store, idx, tokens=None) -> Selection:
        """Check `idx` against the store (and the token shards against the store)."""
        a = np.asarray(idx)
        if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise MacsError(
                f"the selection must be a 1-D array of doc indices, got {a.dtype}{a.shape}"
            )
        a = a.astype(np.int64, copy=False)
        if a.size == 0:
            raise MacsError("the selection is empty: nothing to export")
        if a.min() < 0 or a.max() >= store.n_docs:
            bad = int(a[(a < 0) | (a >= store.n_docs)][0])
            raise MacsError(
                f"doc index {bad} is outside the store {store.path} (0..{store.n_docs - 1}); "
                "the selection was made for another store"
            )
        if tokens is not None and tokens.n_docs != store.n_docs:
            raise MacsError(
                f"{tokens.path}: token shards cover {tokens.n_docs} docs but the store has "
                f"{store.n_docs}; re-run `macs corpus tokenize`"
            )
        return cls(store, a, tokens)

    def need_tokens(self, fmt: str) -> Any:
        """The token shards, or a MacsError saying that `fmt` writes tokens."""
        if self.tokens is None:
            raise MacsError(
                f"the {fmt} export writes token ids and needs the store's token shards; run "
                "`macs corpus tokenize` first (`macs export` also takes a token-shard folder as "
                "--tokens)"
            )
        return self.tokens

    @property
    def n_docs(self) -> int:
        """Documents to write (repeats counted each time)."""
        return int(self.idx.size)

    def lengths(self) -> np.ndarray:
        """Tokens per selected doc (int64, no EOS), in output order."""
        ts = self.need_tokens("token")
        return np.asarray(ts.lengths, dtype=np.int64)[self.idx]

    def domain_names(self, idx: np.ndarray) -> list[str]:
        """The domain name of each doc in `idx`."""
        if self._domains is None:
            self._domains = self.store.domains()
        codes, names = self._domains
        return [names[c] for c in codes[idx].tolist()]

    def has_meta(self) -> bool:
        """True when the store kept its records' `meta` (meta.parquet, macs.data.corpus.meta)."""
        if self._meta is None:
            from macs.data.corpus.meta import read_meta

            self._meta = read_meta(self.store)
        return bool(self._meta)

    def metas(self, idx: np.ndarray) -> list[Any]:
        """The `meta` of each doc's record (keyed by its parent id; None where it had none)."""
        if not self.has_meta():
            return [None] * len(idx)
        meta = self._meta or {}
        return [meta.get(p) for p in self.store.parent_ids(idx)]

    def batches(
        self, size: int = 1024, text: bool = True, meta: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Selected docs in output order, `size` at a time: doc, id, domain, text, input_ids
        (+ meta, each record's meta, with `meta`)."""
        for a in range(0, self.n_docs, size):
            b = self.idx[a : a + size]
            out: dict[str, Any] = {
                "doc": b,
                "id": self.store.ids(b),
                "domain": self.domain_names(b),
            }
            if text:
                out["text"] = [t or "" for t in self.store.texts(b)]
            if meta:
                out["meta"] = self.metas(b)
            if self.tokens is not None:
                out["input_ids"] = [self.tokens.doc(int(i)) for i in b]
            yield out

    def record(self, fmt: str, **extra: Any) -> dict[str, Any]:
        """The `macs_export.json` content: format, counts, store and token-shard provenance."""
        rec: dict[str, Any] = {
            "format": fmt,
            "docs": self.n_docs,
            "unique_docs": int(np.unique(self.idx).size),
            "store": str(Path(self.store.path).resolve()),
            "store_name": self.store.name,
        }
        if self.tokens is not None:
            ts = self.tokens
            rec.update(
                tokens=int(self.lengths().sum()),
                token_shards=str(Path(ts.path).resolve()),
                tokenizer_path=str(ts.tokenizer_path) if ts.tokenizer_path else None,
                eos_id=ts.eos_id,
                vocab_size=ts.vocab_size,
                token_dtype=ts.dtype.name,
            )
        rec.update(extra)
        rec["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return rec


def tree_bytes(path: Path) -> int:
    """Size on disk of a file, or of every file under a folder (bytes)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def output_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp folder beside `out`; on success swap it in (replacing an old export).

    An existing `out` that is not a macs export (no macs_export.json) is never replaced.
    """
    from macs.core.names import check_output
    from macs.data.corpus.store import replace_dir

    out = Path(out)
    check_output(
        out,
        f"export (no {EXPORT_RECORD})",
        lambda p: (p / EXPORT_RECORD).is_file(),
        fix="choose another --out or remove it",
    )
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def progress(total: int, what: str):
    """A progress bar over documents (macs.core.progress.Bar): `with bar:` and `bar.advance(n)`."""
    from macs.core.progress import Bar

    return Bar(total, what, unit="docs")
