"""Per-domain bits-per-byte on a corpus store's held-out documents (never selected for training)."""

from __future__ import annotations

import math
import sys

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch
from macs.eval.scoring import EncodedPair, model_max_length, prefix_token_id, score_encoded

LN2 = math.log(2.0)
# every window position goes through the output layer (rows x window x vocab floats), so the
# default window and tokens per batch stay modest even for long-context, large-vocab models
DEFAULT_WINDOW = 2048


def rolling_windows(tokens: list[int], window: int, prefix: int) -> list[EncodedPair]:
    """Cut a document's tokens into disjoint windows of `window` targets, each conditioned on one token before it.

    The first window is conditioned on `prefix` (BOS/EOS), later ones on the last token of
    the previous window: lm-eval's `loglikelihood_rolling` with context length 1, so the
    summed log-likelihood covers every token exactly once.
    """
    if window < 1:
        raise MacsError(f"window must be >= 1, got {window}")
    out = []
    for start in range(0, len(tokens), window):
        ctx = [prefix] if start == 0 else [tokens[start - 1]]
        out.append(EncodedPair(ctx, tokens[start : start + window]))
    return out


def heldout_bpb(
    model,
    tokenizer,
    store,
    max_docs_per_domain: int | None = 200,
    seed: int = 0,
    max_length: int | None = None,
    batch_size: int = 16,
    max_batch_tokens: int = 4096,
    progress: bool = True,
) -> dict:
    """Bits per UTF-8 byte of the store's held-out documents, per domain and overall (lower = better).

    Takes a seeded sample of at most `max_docs_per_domain` held-out documents per domain
    (`store.heldout_mask()`), scores every token of each in rolling windows of `max_length`
    tokens (default: the model's length, at most 2,048), batches of at most `max_batch_tokens`
    tokens, and pools bits and bytes within a domain. `overall.bpb` pools all sampled bytes;
    `overall.bpb_macro` is the unweighted mean over domains.
    """
    picked, names = _sample_heldout(store, max_docs_per_domain, seed)
    limit = model_max_length(model, tokenizer)
    window = min(max_length or min(limit, DEFAULT_WINDOW), limit)
    prefix = prefix_token_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else prefix
    clock = Stopwatch()
    domains: dict[str, dict] = {}
    for code, idx in picked:
        texts = [t for t in store.texts(idx) if t]
        domains[names[code]] = _domain_bpb(
            model,
            tokenizer,
            texts,
            window,
            prefix,
            pad,
            batch_size,
            max_batch_tokens,
            progress,
            desc=f"held-out {names[code]}",
        )
    overall = _overall(domains)
    seconds = clock.seconds
    result = {
        "domains": domains,
        "overall": overall,
        "settings": {"max_docs_per_domain": max_docs_per_domain, "seed": seed, "window": window},
        "seconds": seconds,
    }
    if progress:
        o = result["overall"]
        print(
            f"[eval] held-out: bpb {o['bpb']:.3f} over {o['n_docs']} docs in {len(domains)} domains "
            f"({o['n_bytes'] / max(seconds, 1e-9) / 1e3:.1f} kB/s)",
            file=sys.stderr,
        )
    return result


def _overall(domains: dict[str, dict]) -> dict:
    """Docs, bytes, pooled bpb and the unweighted mean of the domains' bpb (lower = better)."""
    total_bytes = sum(d["n_bytes"] for d in domains.values())
    total_bits = sum(d["bpb"] * d["n_bytes"] for d in domains.values() if d["n_bytes"])
    return {
        "n_docs": sum(d["n_docs"] for d in domains.values()),
        "n_bytes": total_bytes,
        "bpb": total_bits / total_bytes if total_bytes else float("nan"),
        "bpb_macro": float(np.mean([d["bpb"] for d in domains.values()]))
        if domains
        else float("nan"),
    }


def _sample_heldout(
    store, max_docs_per_domain: int | None, seed: int
) -> tuple[list[tuple[int, np.ndarray]], list[str]]:
    """([(domain code, sorted held-out doc indices)], domain names): a seeded sample per domain."""
    mask = np.asarray(store.heldout_mask(), dtype=bool)
    codes, names = store.domains()
    if not mask.any():
        raise MacsError(
            f"corpus store {getattr(store, 'path', store)} has no held-out documents "
            "(its held-out fraction is 0); re-import it with a held-out fraction > 0"
        )
    rng = np.random.default_rng(seed)
    picked: list[tuple[int, np.ndarray]] = []
    for code, _ in enumerate(names):
        idx = np.flatnonzero(mask & (codes == code))
        if idx.size == 0:
            continue
        if max_docs_per_domain is not None and idx.size > max_docs_per_domain:
            idx = np.sort(rng.choice(idx, size=max_docs_per_domain, replace=False))
        picked.append((code, idx))
    return picked, names


def _domain_bpb(
    model,
    tokenizer,
    texts: list[str],
    window: int,
    prefix: int,
    pad: int,
    batch_size: int,
    max_batch_tokens: int,
    progress: bool,
    desc: str,
) -> dict:
    """Docs, tokens, UTF-8 bytes and pooled bits per byte (lower = better) of one domain's texts."""
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    pairs = [w for toks in enc for w in rolling_windows(list(toks), window, prefix)]
    scores = score_encoded(
        model,
        pairs,
        batch_size,
        window,
        max_batch_tokens=max_batch_tokens,
        progress=progress,
        desc=desc,
        pad_id=pad,
    )
    nll = -sum(s.logprob for s in scores)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "n_docs": len(texts),
        "n_tokens": int(sum(len(e) for e in enc)),
        "n_bytes": n_bytes,
        "bpb": nll / LN2 / n_bytes if n_bytes else float("nan"),
    }
