"""`dsir`: data selection with importance resampling (Xie et al., 2023) toward a target text set.

The importance weights come from DSIR's own library (`data-selection` on PyPI,
`data_selection.HashedNgramDSIR`): its hashed uni+bigram features, its bag-of-n-grams fit of
the target and the raw (pool) distributions, and its per-document log importance weight
log p_target(x) - log p_raw(x) (higher = more like the target). macs feeds the package the
pool's text through its `raw_load_dataset_fn` hook and the target through
`target_load_dataset_fn`, with one process (`num_proc=1`).

The resampling step is macs's, not the package's: `DSIR.resample` draws with unseeded numpy
noise, counts examples rather than tokens and writes JSONL copies of the data. macs instead
takes the Gumbel-top-k of the log weights with noise seeded from the run seed
(`macs.select.console.sampling.gumbel_keys`) until the run's token budget is met: the same sampling
without replacement with p proportional to the importance weight. Documents shorter than
`min_example_length` words (the package's own metadata filter) are taken only after every
longer one.

Length: the package's log weight of a document is a sum over its n-grams, so it grows with the
document's length; DSIR resamples equal-length chunks (128 words in the paper), where that
does not matter. Pool documents vary in length (4 to 1,500 words in the test corpus), and
with the raw sum the selection is driven by length rather than by the target (a target of
one domain's text then pulls that domain's share *down* for long-document domains). So by
default the log weight is rescaled to a chunk of `chunk_words` words:
log w(x) * chunk_words / n_words(x) (n_words from the package's own per-example metadata);
`chunk_words: null` keeps the package's raw per-document weight.

The pool is read in contiguous blocks of `batch_docs` documents in a seeded block order, so a
capped raw fit (`fit_tokens`) sees a spread sample of the pool. The weights are cached per
pool, target and settings (`<cache>/dsir/<key>/scores.parquet`), so they are computed once.

Target: the reference tasks' reward split (context + continuation, 0-shot rendering) by
default, or a JSONL of {"text": ...} (`baselines.dsir.target_jsonl`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError, require
from macs.core.progress import Bar
from macs.core.timing import timed
from macs.select.console.sampling import gumbel_keys, top_by_priority
from macs.select.selectors.base import SelectorContext
from macs.select.selectors.cache import (
    cache_root,
    digest,
    pool_fingerprint,
    read_doc_scores,
    seed_key,
    write_doc_scores,
)
from macs.select.selectors.registry import register_selector
from macs.select.selectors.static import StaticSelector

_ORDER_SEED = 0xD515  # the block order of the pool reading (fixed: the weights do not depend on it)


def _need_package():
    return require("data_selection", "data-selection", "dsir", why="method dsir")


def read_target_jsonl(path: str | Path) -> list[str]:
    """The 'text' of every record of a target JSONL; MacsError naming the file/line on bad input."""
    from macs.data.tasks.data import iter_json_lines

    path = Path(path)
    fix = 'set baselines.dsir.target_jsonl to a JSONL file of {"text": ...} records'
    if not path.is_file():
        raise MacsError(f"method dsir: target file {path} does not exist; {fix}")
    texts = []
    with path.open(encoding="utf-8") as f:
        for lineno, rec in iter_json_lines(f, path):
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise MacsError(
                    f"method dsir: {path}:{lineno}: expected an object with a string 'text'"
                )
            texts.append(rec["text"])
    if not any(t.strip() for t in texts):
        raise MacsError(
            f"method dsir: target file {path} has no text ({len(texts)} records); {fix}"
        )
    return texts


def target_texts(ctx: SelectorContext) -> tuple[list[str], dict[str, Any]]:
    """The target texts (a user JSONL, else the reference tasks' reward split) and their description."""
    c = ctx.cfg.baselines.dsir
    if c.target_jsonl is not None:
        return read_target_jsonl(c.target_jsonl), {"jsonl": str(c.target_jsonl)}
    from macs.data.tasks import reference_examples

    tasks = list(
        c.target_tasks if c.target_tasks is not None else ctx.cfg.influence.reference_tasks
    )
    if not tasks:
        raise MacsError(
            "method dsir: no target; set baselines.dsir.target_tasks or baselines.dsir.target_jsonl"
        )
    seed = int(ctx.cfg.influence.seed)
    texts: list[str] = []
    for task in tasks:
        pairs = reference_examples(task, role="reward", n=c.target_per_task, seed=seed, shots=0)
        texts += [a + b for a, b in pairs]
    if not any(t.strip() for t in texts):
        raise MacsError(f"method dsir: the reference tasks {tasks} gave no target text")
    return texts, {"tasks": tasks, "role": "reward", "n_per_task": c.target_per_task, "seed": seed}


def block_order(n_docs: int, block: int, seed: int) -> np.ndarray:
    """Doc indices in contiguous blocks of `block`, the blocks in a seeded random order."""
    starts = np.arange(0, n_docs, block, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(starts.size)
    return np.concatenate([np.arange(s, min(s + block, n_docs)) for s in starts[perm]] or [[]])


class _PoolReader:
    """The package's `raw_load_dataset_fn`: yields {"text": ...} of the pool in `order`, with a bar."""

    def __init__(self, pool, order: np.ndarray, batch: int):
        self.pool, self.order, self.batch = pool, order, batch

    def __call__(self, path: str) -> Iterator[dict[str, str]]:
        with Bar(self.order.size, f"dsir {path}", unit="docs") as bar:
            for a in range(0, self.order.size, self.batch):
                idx = self.order[a : a + self.batch]
                for text in self.pool.texts(idx):
                    yield {"text": text or ""}
                bar.advance(idx.size)


def _with_package(ds, pool, texts: list[str], c, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(raw log importance weight, n_words) per doc in canonical order, from data-selection
    (its intermediate files go to a temp folder under `work`, removed afterwards)."""
    order = block_order(pool.n_docs, c.batch_docs, _ORDER_SEED)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=work) as tmp:
        dsir = ds.HashedNgramDSIR(
            raw_datasets=["pool"],
            target_datasets=["target"],
            cache_dir=tmp,
            raw_load_dataset_fn=_PoolReader(pool, order, c.batch_docs),
            target_load_dataset_fn=lambda _path: ({"text": t} for t in texts),
            num_proc=1,
            ngrams=c.ngrams,
            num_buckets=c.num_buckets,
            min_example_length=c.min_example_length,
        )
        dsir.fit_importance_estimator(num_tokens_to_fit=c.fit_tokens or "auto")
        dsir.compute_importance_weights()
        # one raw dataset in one process: the package writes one shard, numbered 0
        lw_read = np.load(Path(dsir.log_importance_weights_dir) / "0.npy")
        words_read = np.load(Path(dsir.perexample_metadata_dir) / "0.npy")
    if lw_read.shape != (pool.n_docs,) or words_read.shape != (pool.n_docs,):
        raise MacsError(
            f"method dsir: data-selection returned {lw_read.shape[0]} weights for {pool.n_docs} docs"
        )
    lw = np.empty(pool.n_docs, dtype=np.float64)
    lw[order] = lw_read
    words = np.empty(pool.n_docs, dtype=np.int64)
    words[order] = words_read
    return lw, words


def importance_weights(ctx: SelectorContext) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(the package's log importance weight per doc: higher = more like the target; words per doc;
    info), computed once per pool, target and settings, then read from the cache."""
    ds = _need_package()
    c, pool = ctx.cfg.baselines.dsir, ctx.pool
    texts, target = target_texts(ctx)
    settings = {
        "ngrams": c.ngrams,
        "num_buckets": c.num_buckets,
        "fit_tokens": c.fit_tokens,
        "batch_docs": c.batch_docs,
        "package": f"data-selection {ds.__version__}",
    }
    tsha = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    ident = {"pool": pool_fingerprint(pool), "target_sha256": tsha, "settings": settings}
    folder = cache_root(ctx, "dsir") / digest(ident)
    info = {"target": target, "target_texts": len(texts), "cache": str(folder)}
    got = read_doc_scores(folder, pool, ["log_weight", "n_words"])
    if got is not None:
        return got["log_weight"], got["n_words"], {**info, "cache_hit": True}
    with timed() as sw:
        lw, words = _with_package(ds, pool, texts, c, folder.parent)
    secs = sw.seconds
    write_doc_scores(
        folder,
        pool,
        {"log_weight": lw, "n_words": words},
        {"method": "dsir", **ident, "target": target, "seconds": secs},
    )
    ctx.log(
        f"[dsir] importance weights of {pool.n_docs:,} docs toward {len(texts):,} target texts in "
        f"{secs:.1f}s ({pool.n_docs / max(secs, 1e-9):,.0f} docs/s) -> {folder}"
    )
    return lw, words, {**info, "cache_hit": False, "weights_seconds": secs}


def rescaled(log_w: np.ndarray, n_words: np.ndarray, chunk_words: int | None) -> np.ndarray:
    """Log importance weight of a chunk of `chunk_words` words with each doc's n-gram mix
    (higher = more like the target); None keeps the per-document weight."""
    log_w = np.asarray(log_w, dtype=np.float64)
    if chunk_words is None:
        return log_w
    return log_w * (float(chunk_words) / np.maximum(np.asarray(n_words, np.float64), 1.0))


@register_selector("dsir")
class DSIRSelector(StaticSelector):
    """Seeded importance resampling toward the target (DSIR's hashed n-gram weights), to the budget."""

    description: ClassVar[str] = "DSIR: importance resampling toward the reference tasks' text"

    @classmethod
    def check(cls, ctx: SelectorContext) -> None:
        """The package, the pool's text and a non-empty target must be there."""
        _need_package()
        if getattr(ctx.pool, "store", None) is None:
            raise MacsError(
                "method dsir: reads the pool's text, and this pool has no corpus store; "
                "open the pool from a corpus store"
            )
        target_texts(ctx)

    def choose(self, total_budget: int) -> tuple[np.ndarray, np.ndarray]:
        """Gumbel-top-k of the log importance weights (seeded) reaching the total budget."""
        c = self.ctx.cfg.baselines.dsir
        raw, words, info = importance_weights(self.ctx)
        lw = rescaled(raw, words, c.chunk_words)
        long_enough = words >= c.min_example_length
        idx_all = np.arange(lw.size, dtype=np.int64)
        keys = gumbel_keys(lw, idx_all, seed_key(self.ctx.seed, 0xD51A), lw.size)
        if (~long_enough).any():  # short docs only after every long one
            keys = np.where(long_enough, keys, keys - (np.ptp(keys) + 1.0))
        idx = top_by_priority(
            keys, self.pool.n_tokens, self.pool.eligible, total_budget, self.ctx.seed
        )
        elig = self.pool.eligible
        info.update(
            short_docs=int((~long_enough & elig).sum()), short_taken=int((~long_enough[idx]).sum())
        )
        self.info.update(info)
        return idx, lw
