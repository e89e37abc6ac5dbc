"""The reward/eval split of the reference tasks: by passage where examples share one (SQuAD)."""

from macs.data.tasks import load_requests


def test_no_squad_evaluation_passage_reaches_the_rewards():
    reward = load_requests("squad", 5, "bpb", role="reward")
    evals = load_requests("squad", 5, "bpb", role="eval")
    assert len(reward) > 400 and len(evals) > 400 and all(r.passage for r in reward + evals)
    assert not {r.passage for r in reward} & {r.passage for r in evals}
    # nor inside a reward context (its five in-context examples included)
    reward_text = "\n".join(r.context for r in reward)
    assert not [r.doc_id for r in evals if r.passage in reward_text]


def test_tasks_without_shared_passages_keep_the_document_split():
    lam = load_requests("lambada", 0, "bpb", role="eval", limit=5)
    assert all(r.passage is None for r in lam)
