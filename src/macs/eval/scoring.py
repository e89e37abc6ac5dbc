"""Batched log-likelihood of (context, continuation) pairs under any Hugging Face causal LM.

Tokenisation follows lm-evaluation-harness 0.4: trailing spaces of the context move to the
continuation, the pair is encoded whole (with the tokenizer's default special tokens, e.g. a
BOS when its post-processor adds one), and the continuation tokens are the whole encoding
minus the context's. An empty context is replaced by the BOS (else EOS) token. Sequences
longer than the model's window are cut from the left (the continuation is always kept in
full when it fits). Batches hold pairs of similar length (sorted, longest first). They are
padded on the left with explicit position ids, so every continuation ends at the right edge
and only the last max(continuation) positions go through the output layer; models whose
forward takes no `position_ids`/`logits_to_keep` are padded on the right instead. Padding
never changes a score (tested to 1e-4 nats against an unbatched loop).

Shared contexts: when several pairs have the same context tokens (the choices of one
multiple-choice document), the document is scored in one packed row (macs.eval.packed): its
context once, then every choice's tokens under a 4-D mask in which a choice sees only the
context and itself. Several documents go in one batch; a token prefix common to the batch's
contexts (the few-shot examples) runs once and its KV cache serves the following batches.
Scores equal the plain path to float32 rounding (~1e-5 nats). A document whose choices would be
cut from the left by different amounts (the window) takes the plain path, and so does every
pair when the model fails the packing check. On CPU, plain batches are capped at
CPU_BATCH_TOKENS padded tokens unless max_batch_tokens is given.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from macs.core.errors import MacsError
from macs.core.progress import Bar
from macs.eval.packed import (
    EncodedPair,
    log_softmax_at,
    packing_supported,
    plan_batches,
    share_contexts,
)
from macs.eval.packed import forward_packed as _forward_shared

LN2 = math.log(2.0)
CPU_BATCH_TOKENS = 2048  # padded tokens per batch on CPU when max_batch_tokens is unset


@dataclass(frozen=True)
class PairScore:
    """Score of one continuation: its total log-probability (nats; higher = more likely) and token facts."""

    logprob: float  # sum over continuation tokens of log p(token | prefix), natural log, <= 0
    n_tokens: int  # continuation tokens scored
    greedy: bool  # True when every continuation token is the model's argmax
    truncated: bool  # True when the context was cut from the left to fit the window


def split_pair(context: str, continuation: str) -> tuple[str, str]:
    """Move trailing whitespace of the context onto the continuation (as lm-eval does)."""
    n = len(context) - len(context.rstrip())
    if n:
        return context[:-n], context[-n:] + continuation
    return context, continuation


def prefix_token_id(tokenizer) -> int:
    """The token that stands in for an empty context: BOS if the tokenizer has one, else EOS."""
    for tid in (getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if tid is not None:
            return int(tid)
    raise MacsError(
        "the tokenizer has neither a BOS nor an EOS token; an empty context cannot be scored"
    )


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]]) -> list[EncodedPair]:
    """Tokenise (context, continuation) pairs as lm-eval does (tokenizer's default special tokens; empty context -> BOS/EOS)."""
    splits = [split_pair(c, x) for c, x in pairs]
    for i, (_, cont) in enumerate(splits):
        if not cont:
            raise MacsError(f"pair {i}: the continuation is empty; nothing to score")
    # the tokenizer's own special tokens (e.g. a BOS it adds) stay, exactly as lm-eval's HFLM does
    whole = tokenizer([c + x for c, x in splits])["input_ids"]
    # each distinct context once (the choices of a document share theirs)
    distinct = list(dict.fromkeys(c for c, _ in splits))
    by_text = dict(zip(distinct, tokenizer(distinct)["input_ids"], strict=True))
    ctx = [by_text[c] for c, _ in splits]
    out = []
    prefix = None
    for (c, x), w, cenc in zip(splits, whole, ctx, strict=True):
        if not c:
            if prefix is None:
                prefix = prefix_token_id(tokenizer)
            out.append(
                EncodedPair([prefix], list(tokenizer(x, add_special_tokens=False)["input_ids"]))
            )
        else:
            out.append(EncodedPair(list(cenc), list(w[len(cenc) :])))
    for i, e in enumerate(out):
        if not e.continuation:
            raise MacsError(f"pair {i}: the continuation {pairs[i][1]!r} encodes to no tokens")
    return out


def model_max_length(model, tokenizer=None, default: int = 2048) -> int:
    """The model's context window in tokens (config.max_position_embeddings, else the tokenizer's, else default)."""
    cfg = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    v = getattr(tokenizer, "model_max_length", None)
    if isinstance(v, int) and 0 < v < 1_000_000:
        return v
    return default


def model_device(model):
    """The device of the model's first parameter."""
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _accepts(model, arg: str) -> bool:
    """True when model.forward takes the keyword `arg`."""
    try:
        return arg in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _forward(model, rows, pad_id: int, device, left: bool):
    """One padded forward pass: ([(continuation log-prob in nats, greedy) per row], all finite)."""
    import torch

    n_in = [len(seq) - 1 for seq, _, _ in rows]
    width = max(n_in)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    kwargs = {}
    if left:
        pos = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (seq, _, _) in enumerate(rows):
            ids[r, width - n_in[r] :] = torch.tensor(seq[:-1], dtype=torch.long)
            mask[r, width - n_in[r] :] = 1
            pos[r, width - n_in[r] :] = torch.arange(n_in[r])
        keep = max(n_cont for _, n_cont, _ in rows)
        kwargs = {"position_ids": pos.to(device), "logits_to_keep": keep}
        spans = [keep - n_cont for _, n_cont, _ in rows]
    else:
        for r, (seq, _, _) in enumerate(rows):
            ids[r, : n_in[r]] = torch.tensor(seq[:-1], dtype=torch.long)
            mask[r, : n_in[r]] = 1
        # first input position whose logits predict a continuation token, per row
        starts = [n_in[r] - n_cont for r, (_, n_cont, _) in enumerate(rows)]
        keep = width - min(starts)
        if _accepts(model, "logits_to_keep"):
            kwargs = {"logits_to_keep": keep}
        spans = starts
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
    logits = out.logits if hasattr(out, "logits") else out[0]
    if not left:
        offset = width - logits.shape[1]  # 0 when all positions were returned
        spans = [a - offset for a in spans]
    # log-softmax only at the continuation positions (not at padding), in float32
    row_idx = torch.cat(
        [torch.full((n_cont,), r, dtype=torch.long) for r, (_, n_cont, _) in enumerate(rows)]
    )
    pos_idx = torch.cat(
        [torch.arange(a, a + n_cont) for a, (_, n_cont, _) in zip(spans, rows, strict=True)]
    )
    targets = torch.cat(
        [torch.tensor(seq[-n_cont:], dtype=torch.long) for seq, n_cont, _ in rows]
    ).to(logits.device)
    tok_lp, hit = log_softmax_at(
        logits[row_idx.to(logits.device), pos_idx.to(logits.device)], targets
    )
    out_rows, a = [], 0
    for _, n_cont, _ in rows:
        out_rows.append((float(tok_lp[a : a + n_cont].sum()), bool(hit[a : a + n_cont].all())))
        a += n_cont
    return out_rows, bool(torch.isfinite(tok_lp).all())


def _cache_arg(model) -> str | None:
    """The keyword under which model.forward takes a KV cache ('cache' in transformers >= 5.x, else 'past_key_values')."""
    for name in ("cache", "past_key_values"):
        if _accepts(model, name):
            return name
    return None


def score_pairs(
    model,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 32,
    max_length: int | None = None,
    max_batch_tokens: int | None = None,
    progress: bool = False,
    desc: str = "scoring",
    share_context: bool = True,
) -> list[PairScore]:
    """Log-likelihood of each continuation given its context (nats; higher = more likely), in input order.

    share_context: pairs with identical context tokens run the context once (KV cache); same scores.
    """
    encoded = encode_pairs(tokenizer, pairs)
    return score_encoded(
        model,
        encoded,
        batch_size,
        max_length or model_max_length(model, tokenizer),
        max_batch_tokens,
        progress,
        desc,
        pad_id=_pad_id(tokenizer),
        share_context=share_context,
    )


def _pad_id(tokenizer) -> int:
    for tid in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if tid is not None:
            return int(tid)
    return 0


def score_encoded(
    model,
    encoded: Sequence[EncodedPair],
    batch_size: int = 32,
    max_length: int = 2048,
    max_batch_tokens: int | None = None,
    progress: bool = False,
    desc: str = "scoring",
    pad_id: int = 0,
    share_context: bool = True,
) -> list[PairScore]:
    """Score pre-tokenised pairs (see score_pairs); batches are sorted by length, longest first."""
    import torch

    if batch_size < 1:
        raise MacsError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 2:
        raise MacsError(f"max_length must be >= 2, got {max_length}")
    device = model_device(model)
    # left padding (continuations all end at the right edge, so only max(continuation) positions
    # go through the output layer) needs explicit position ids; otherwise pad on the right
    left = _accepts(model, "logits_to_keep") and _accepts(model, "position_ids")
    items = _window_items(encoded, max_length)
    # pairs sharing their context tokens (the choices of a document) score the context once;
    # documents sharing a few-shot prefix run it once
    shared_units: list[tuple[list[int], list[int]]] = []
    plain = list(range(len(items)))
    cache_arg = _cache_arg(model)
    if share_context and left and cache_arg and _accepts(model, "use_cache"):
        shared_units, plain = share_contexts(encoded, max_length)
    # on CPU, padded batches past a few thousand tokens run slower per token (cache misses,
    # masked attention) than smaller ones: cap them unless the caller chose a cap
    cap = max_batch_tokens or (CPU_BATCH_TOKENS if device.type == "cpu" else None)
    unit_batches, lone = plan_batches(shared_units, items, batch_size, cap)
    plain = sorted(plain + lone)
    if unit_batches and not packing_supported(
        model,
        device,
        cache_arg,
        lambda rows: _forward(model, rows, pad_id, device, left),
        unit_batches[0][1][0][0],
    ):  # the model ignores custom 4-D masks or explicit positions: score every pair plainly
        unit_batches, plain = [], list(range(len(items)))
    batches = _plain_batches(plain, items, batch_size, cap)

    was_training = model.training
    model.eval()
    bar = Bar(len(items), desc, unit="requests") if progress else None
    run = _Run(model, items, pad_id, device, left, cache_arg, bar)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast(device_type="cpu", enabled=False)
    )
    try:
        with torch.inference_mode(), autocast:
            run.packed(unit_batches, batches)
            run.plain(batches)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return run.results  # type: ignore[return-value]


def _window_items(
    encoded: Sequence[EncodedPair], max_length: int
) -> list[tuple[list[int], int, bool]]:
    """(input ids, n continuation targets, truncated) per pair; input = (ctx + cont)[-(L+1):][:-1]."""
    items = []
    for e in encoded:
        seq = e.context + e.continuation
        truncated = len(seq) - 1 > max_length
        seq = seq[-(max_length + 1) :]
        n_cont = min(len(e.continuation), len(seq) - 1)
        items.append((seq, n_cont, truncated))
    return items


def _plain_batches(
    plain: list[int], items: list[tuple[list[int], int, bool]], batch_size: int, cap: int | None
) -> list[list[int]]:
    """Plain pairs in batches, longest first: at most batch_size pairs and (cap) padded tokens each."""
    order = sorted(plain, key=lambda i: (-len(items[i][0]), i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = len(items[cur[0]][0]) if cur else len(items[i][0])
        if cur and (len(cur) >= batch_size or (cap and width * (len(cur) + 1) > cap)):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


@dataclass
class _Run:
    """The forward passes of one score_encoded call and the scores they give, in input order."""

    model: Any
    items: list[tuple[list[int], int, bool]]  # (input ids, n continuation, truncated) per pair
    pad_id: int
    device: Any
    left: bool  # pad on the left (explicit positions, logits_to_keep)
    cache_arg: str | None  # keyword of model.forward that takes a KV cache
    bar: Bar | None
    results: list[PairScore | None] = field(init=False)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)

    def _record(self, i: int, lp: float, greedy: bool) -> None:
        _, n_cont, truncated = self.items[i]
        self.results[i] = PairScore(lp, n_cont, greedy, truncated)

    def packed(self, unit_batches: list, batches: list[list[int]]) -> None:
        """Score the packed batches; the pairs of a batch that fails join `batches` one by one."""
        prefix_store: dict = {}
        args = (self.items, self.pad_id, self.device, self.cache_arg, prefix_store)
        failed = None
        for n_pre, units in unit_batches:
            finite = False
            if failed is None:
                try:
                    scored_s, finite = _forward_shared(self.model, units, n_pre, *args)
                except RuntimeError as e:  # e.g. a device kernel rejecting the 4-D mask
                    failed = e
                    print(
                        f"warning: packed multiple-choice scoring failed on {self.device.type} "
                        f"({str(e).splitlines()[0][:200]}); scoring those pairs one by one",
                        file=sys.stderr,
                    )
            if not finite:  # a model that mishandles the cache, padding or mask: plain path
                batches.extend([i] for _, m in units for i in m)
                continue
            for i, (lp, greedy) in scored_s.items():
                self._record(i, lp, greedy)
            if self.bar is not None:
                self.bar.advance(len(scored_s))

    def plain(self, batches: list[list[int]]) -> None:
        """Score padded batches of whole pairs."""
        for batch in batches:
            rows = [self.items[i] for i in batch]
            scored, finite = _forward(self.model, rows, self.pad_id, self.device, self.left)
            if self.left and not finite:  # a model that mishandles left padding: pad on the right
                scored, finite = _forward(self.model, rows, self.pad_id, self.device, False)
            for (lp, greedy), i in zip(scored, batch, strict=True):
                self._record(i, lp, greedy)
            if self.bar is not None:
                self.bar.advance(len(batch))


def bits_per_byte(logprob: float, n_bytes: int) -> float:
    """Bits per UTF-8 byte of a text with total log-probability `logprob` (nats); lower = better."""
    if n_bytes <= 0:
        return float("nan")
    return -logprob / (n_bytes * LN2)
