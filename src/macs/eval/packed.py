"""Multiple-choice documents scored in one packed row each (the shared-context path of scoring).

A document's choices share its context. Each document becomes ONE row: its context, then every
choice's continuation inputs one after the other, under a 4-D attention mask in which a choice
sees the context and its own earlier tokens only, and position ids that restart after the
context for every choice. So the context runs once, no KV cache is copied per choice, and no
choice is padded to the longest one. The first token of each continuation is scored from the
context's last logit. A token prefix common to the batch's contexts (the few-shot examples)
runs once; its KV cache is expanded to the batch's documents and serves the following batches
while it stays a prefix of theirs.

Rows are padded on the left, so the choices end at the right edge and only the last
max(choice area) + 1 positions go through the output layer. Whether a model honours a custom
4-D mask with explicit positions is checked once per model against the plain path
(`packing_supported`); one that does not is scored the plain way.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

MIN_SHARED_PREFIX = 16  # tokens; a shorter prefix common to a batch's contexts is not run apart
MIN_GROUP_PREFIX = (
    32  # tokens; documents sharing this many (few-shot examples) are batched together
)
PROBE_TOLERANCE = 1e-3  # nats; packed vs plain log-prob on the probe (float32 gives ~1e-6)

_SUPPORTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of one pair: the context part and the continuation part (also
    `macs.eval.scoring.EncodedPair`; it lives here so that this module imports nothing of
    scoring)."""

    context: list[int]
    continuation: list[int]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def log_softmax_at(logits, targets):
    """(log-prob of each target in nats, float64 on CPU; target is the argmax) from logits rows."""
    import torch

    lp = torch.log_softmax(logits.float(), dim=-1)
    tok = lp.gather(-1, targets[:, None]).squeeze(-1)
    return tok.double().cpu(), (lp.argmax(-1) == targets).cpu()


def _returned_cache(out):
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    return cache if cache is not None and hasattr(cache, "batch_select_indices") else None


def _prefix_cache(model, units, n_pre: int, device, prefix_store: dict):
    """The KV cache of the batch's first n_pre context tokens, expanded to its documents (or None).

    The last prefix run is kept in prefix_store ({"tokens", "cache"}) and serves while it matches.
    """
    import torch

    if not n_pre:
        return None, True
    tokens = list(units[0][0][:n_pre])
    if prefix_store.get("tokens") != tokens:
        pre = torch.tensor([tokens], dtype=torch.long, device=device)
        cache = _returned_cache(model(input_ids=pre, use_cache=True, logits_to_keep=1))
        if cache is None:
            return None, False
        prefix_store["tokens"], prefix_store["cache"] = tokens, cache
    cache = copy.deepcopy(prefix_store["cache"])
    cache.batch_select_indices(torch.zeros(len(units), dtype=torch.long, device=device))
    return cache, True


def _run_prefix(run) -> int:
    """Context tokens common to a run of documents (0 when under MIN_SHARED_PREFIX); every
    context keeps >= 1 token of its own, whose last logit scores the first choice token."""
    if len(run) < 2:
        return 0
    ctxs = [u[0] for u in run]
    n = min(common_prefix(min(ctxs), max(ctxs)), min(len(c) for c in ctxs) - 1)
    return n if n >= MIN_SHARED_PREFIX else 0


def share_contexts(
    encoded: Sequence[EncodedPair], max_length: int
) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """Pairs grouped by context tokens: ([(shared context ids, [pair indices])], pairs left plain).

    A group whose pairs would be cut from the left by different amounts (the window) is left
    to the plain path.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(encoded):
        groups.setdefault(tuple(e.context), []).append(i)
    shared_units: list[tuple[list[int], list[int]]] = []
    shared_set = set()
    for ctx, members in groups.items():
        # tokens cut from the left of each choice's window; sharing needs one cut for all
        cuts = {len(ctx) + len(encoded[i].continuation) - 1 - max_length for i in members}
        cut = max(0, *cuts)
        if (len(cuts) > 1 and cut > 0) or cut >= len(ctx):
            continue
        shared_units.append((list(ctx[cut:]), members))
        shared_set.update(members)
    return shared_units, [i for i in range(len(encoded)) if i not in shared_set]


def plan_batches(units, items, batch_size: int, max_tokens: int | None):
    """Group documents into packed batches: ([(n common prefix tokens, [(context, [pairs])])], [pairs left]).

    Documents whose contexts share >= MIN_GROUP_PREFIX tokens (the few-shot examples) form a
    run, the rest one run of their own; a batch never straddles two runs, so each run's prefix
    is computed once. Within a run, longest packed row first; a batch holds at most batch_size
    pairs and (max_tokens) documents x longest row tokens after the prefix. A one-pair document
    gains only from a run's prefix: outside a run its pair is left to the plain path.
    """
    units = sorted(units, key=lambda u: (u[0], u[1][0]))
    runs: list[list] = []
    for k, u in enumerate(units):
        if not runs or common_prefix(units[k - 1][0], u[0]) < MIN_GROUP_PREFIX:
            runs.append([])
        runs[-1].append(u)
    alone = [r[0] for r in runs if len(r) == 1]
    left = [u[1][0] for u in alone if len(u[1]) == 1]
    runs = [r for r in runs if len(r) > 1] + [[u for u in alone if len(u[1]) > 1]]

    batches = []
    for run in runs:
        n_pre = _run_prefix(run)
        # tokens of each document's packed row after the prefix, longest first
        sized = sorted(
            (
                (len(u[0]) - n_pre + sum(len(items[i][0]) - len(u[0]) - 1 for i in u[1]), u)
                for u in run
            ),
            key=lambda x: -x[0],
        )
        cur: list = []
        n_pairs = width = 0
        for r, u in sized:
            w = max(width, r)
            if cur and (
                n_pairs + len(u[1]) > batch_size or (max_tokens and w * (len(cur) + 1) > max_tokens)
            ):
                batches.append((n_pre, cur))
                cur, n_pairs, w = [], 0, r
            cur.append(u)
            n_pairs, width = n_pairs + len(u[1]), w
        if cur:
            batches.append((n_pre, cur))
    return batches, left


def _attention_mask(model, allowed):
    """The 4-D mask (docs, 1, queries, keys): boolean for SDPA, else additive in the model's dtype."""
    import torch

    if getattr(getattr(model, "config", None), "_attn_implementation", None) == "sdpa":
        return allowed[:, None]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


@contextmanager
def _output_layer_at(model, rows, cols, keep: int):
    """Within the block, the model's output layer sees only hidden states [rows, cols] (as one row).

    The model's own code after the output layer (scaling, soft-capping) still applies; a model
    without get_output_embeddings() computes every kept position instead. Yields a list that is
    non-empty once the gather has happened.
    """
    fired: list[bool] = []  # yielded: non-empty once the hook has gathered
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if head is None:
        yield fired
        return

    def gather(_module, args):
        h = args[0]  # (docs, kept positions, hidden); a model ignoring logits_to_keep keeps all
        fired.append(True)
        return (h[rows, cols + (h.shape[1] - keep)][None], *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
        yield fired
    finally:
        handle.remove()


def forward_packed(
    model, units, n_pre: int, items, pad_id: int, device, cache_arg: str, prefix_store: dict
):
    """Score documents whose pairs share a context: ({pair index: (log-prob nats, greedy)}, all finite).

    units: [(context ids, [pair indices])]; pair i's continuation = items[i][0][len(context):].
    n_pre: leading context tokens all units share, run once (see plan_batches).
    prefix_store: the last common prefix run ({"tokens", "cache"}), reused by the next batch.
    Returns (None, False) when the model returned no usable cache.
    """
    import torch

    cache, ok = _prefix_cache(model, units, n_pre, device, prefix_store)
    if not ok:
        return None, False
    rows, segs, poss, conts = _pack_rows(units, n_pre, items)
    ids, pos_t, allowed = _row_tensors(rows, segs, poss, pad_id, n_pre)
    mask = _attention_mask(model, allowed)
    width = ids.shape[1]
    areas = [len(r) - len(ctx) + n_pre for r, (ctx, _) in zip(rows, units, strict=True)]
    keep = max(areas) + 1  # the choice areas and every context's last position
    r_idx, c_idx, targets, spans = _scored_positions(units, rows, conts, n_pre, width, keep)
    r_t = torch.tensor(r_idx, device=device)
    c_t = torch.tensor(c_idx, device=device)
    with _output_layer_at(model, r_t, c_t, keep) as gathered:
        out = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=pos_t.to(device),
            use_cache=False,
            logits_to_keep=keep,
            **({cache_arg: cache} if cache is not None else {}),
        )
    logits = out.logits
    # the output layer ran on the scored positions only (one row), unless the model bypassed
    # the hook and returned every kept position
    logits = logits[0] if gathered else logits[r_t, c_t + (logits.shape[1] - keep)]
    lp, hit = log_softmax_at(logits, torch.tensor(targets, dtype=torch.long, device=device))
    scored, a = {}, 0
    for i, n in zip((i for _, m in units for i in m), spans, strict=True):
        scored[i] = (float(lp[a : a + n].sum()), bool(hit[a : a + n].all()))
        a += n
    return scored, bool(torch.isfinite(lp).all())


def _pack_rows(units, n_pre: int, items):
    """Per document after the prefix: (row tokens, segment ids, position ids, choice continuations).

    A row holds the document's own context tokens, then each choice's continuation inputs (all
    but its last token); segment 0 = context, k = choice k.
    """
    rows, segs, poss, conts = [], [], [], []
    for ctx, members in units:
        own = list(ctx[n_pre:])
        toks, seg, pos = own[:], [0] * len(own), list(range(n_pre, len(ctx)))
        doc_conts = []
        for k, i in enumerate(members, start=1):
            cont = items[i][0][len(ctx) :]
            doc_conts.append(cont)
            toks += cont[:-1]
            seg += [k] * (len(cont) - 1)
            pos += range(len(ctx), len(ctx) + len(cont) - 1)
        rows.append(toks)
        segs.append(seg)
        poss.append(pos)
        conts.append(doc_conts)
    return rows, segs, poss, conts


def _row_tensors(rows, segs, poss, pad_id: int, n_pre: int):
    """Left-padded (input ids, position ids, allowed[doc, query, key] incl. the prefix) of packed rows."""
    import torch

    n_docs, width = len(rows), max(len(r) for r in rows)
    ids = torch.full((n_docs, width), pad_id, dtype=torch.long)
    seg_t = torch.full((n_docs, width), -1, dtype=torch.long)  # -1 = padding
    pos_t = torch.zeros((n_docs, width), dtype=torch.long)
    for d, (toks, seg, pos) in enumerate(zip(rows, segs, poss, strict=True)):
        n = len(toks)
        ids[d, width - n :] = torch.tensor(toks, dtype=torch.long)
        seg_t[d, width - n :] = torch.tensor(seg, dtype=torch.long)
        pos_t[d, width - n :] = torch.tensor(pos, dtype=torch.long)
    # query i sees key j <= i when j is context or in i's own segment (padding sees padding)
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    allowed = causal & ((seg_t[:, None, :] == 0) | (seg_t[:, None, :] == seg_t[:, :, None]))
    if n_pre:
        allowed = torch.cat([torch.ones((n_docs, width, n_pre), dtype=torch.bool), allowed], 2)
    return ids, pos_t, allowed


def _scored_positions(units, rows, conts, n_pre: int, width: int, keep: int):
    """(row, logits column, target) of every scored token in pair order, and tokens per pair."""
    # logits column of row position p (0-based from the row's left edge) = p - (width - keep)
    r_idx, c_idx, targets, spans = [], [], [], []
    for d, (ctx, _) in enumerate(units):
        last_ctx = width - len(rows[d]) + len(ctx) - n_pre - 1  # left padding
        p = last_ctx + 1
        for cont in conts[d]:
            cols = [last_ctx, *range(p, p + len(cont) - 1)]
            p += len(cont) - 1
            r_idx += [d] * len(cols)
            c_idx += [c - (width - keep) for c in cols]
            targets += cont
            spans.append(len(cont))
    return r_idx, c_idx, targets, spans


def packing_supported(model, device, cache_arg: str, plain_forward, sample: Sequence[int]) -> bool:
    """Whether `model` scores packed rows (custom 4-D mask, explicit positions) like the plain path.

    Checked once per model on a probe built from `sample` (real token ids of the first document):
    a 12-token context with a common 16-token prefix, two documents, choices of 1, 3 and 6 tokens.
    plain_forward(rows) -> ([(log-prob, greedy)], finite) scores (input ids, n continuation, _) rows alone.
    """
    import torch

    if model in _SUPPORTED:
        return _SUPPORTED[model]
    toks = list(sample) * (40 // max(1, len(sample)) + 1)
    prefix, ctx_a, ctx_b = toks[:16], toks[16:28], toks[28:40]
    choices = [toks[5:6], toks[9:12], toks[2:8]]
    units, items = [], []
    for ctx in (prefix + ctx_a, prefix + ctx_b):
        members = []
        for ch in choices:
            members.append(len(items))
            items.append((ctx + ch, len(ch), False))
        units.append((ctx, members))
    ok, was_training = False, model.training
    model.eval()
    try:
        with torch.inference_mode(), torch.autocast(device_type=device.type, enabled=False):
            packed, finite = forward_packed(model, units, 16, items, 0, device, cache_arg, {})
            alone = [plain_forward([it])[0][0][0] for it in items]
        ok = bool(finite) and all(
            abs(packed[i][0] - alone[i]) <= PROBE_TOLERANCE * max(1.0, abs(alone[i]))
            for i in range(len(items))
        )
    except Exception:  # noqa: BLE001 - a model that rejects the mask or positions is scored plainly
        ok = False
    finally:
        model.train(was_training)
    _SUPPORTED[model] = ok
    return ok
