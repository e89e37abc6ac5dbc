"""Shared-context scoring (one KV-cached context per document) equals scoring every pair on its own."""

import pytest

import macs.eval.scoring as scoring
from macs.data.tasks import load_requests
from macs.eval.scoring import encode_pairs, score_pairs

# ranked-choice documents: (context, choices); 2 and 4 choices, short and long continuations
DOCS = [
    (
        "Goal: How do I ready a guinea pig cage for it's new occupants?\nAnswer:",
        [
            " Provide bedding.",
            " Provide the guinea pig with a cage full of a few inches of dog food.",
        ],
    ),
    (
        "Roof shingle removal: A man is sitting on a roof. He",
        [
            " is using wrap to wrap a pair of skis.",
            " is ripping level tiles off.",
            " is holding a rubik's cube.",
            " starts pulling up roofing on a roof.",
        ],
    ),
    (
        "Question: Which technology was developed most recently?\nAnswer:",
        [" cellular telephone", " television", " refrigerator", " airplane"],
    ),
    ("", [" In my palm is a clear stone.", " A guardian angel."]),
]


def _pairs(docs):
    return [(ctx, ch) for ctx, choices in docs for ch in choices]


@pytest.fixture
def shared_rows(monkeypatch):
    """Count the pairs that actually went through the shared-context path."""
    seen = []
    real = scoring._forward_shared

    def spy(model, units, *args, **kwargs):
        seen.extend(i for _, members in units for i in members)
        return real(model, units, *args, **kwargs)

    monkeypatch.setattr(scoring, "_forward_shared", spy)
    return seen


def _independent(model, tok, pairs, max_length=None):
    return score_pairs(model, tok, pairs, batch_size=1, max_length=max_length, share_context=False)


def _check(model, tok, pairs, max_length=None, batch_size=64, max_batch_tokens=None):
    alone = _independent(model, tok, pairs, max_length)
    shared = score_pairs(
        model,
        tok,
        pairs,
        batch_size=batch_size,
        max_length=max_length,
        max_batch_tokens=max_batch_tokens,
    )
    for a, s in zip(alone, shared, strict=True):
        assert s.logprob == pytest.approx(a.logprob, abs=1e-5)
        assert (s.n_tokens, s.greedy, s.truncated) == (a.n_tokens, a.greedy, a.truncated)
    return alone, shared


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_shared_context_equals_independent_scores(
    tiny_model, tiny_tokenizer, shared_rows, batch_size
):
    pairs = _pairs(DOCS)
    _check(tiny_model, tiny_tokenizer, pairs, batch_size=batch_size)
    # every document has >= 2 choices, so every pair took the shared path
    assert sorted(shared_rows) == list(range(len(pairs)))


def test_two_and_four_choices_and_token_budget(tiny_model, tiny_tokenizer, shared_rows):
    two, four = _pairs(DOCS[:1]), _pairs(DOCS[1:2])
    for pairs in (two, four, two + four):
        shared_rows.clear()
        _check(tiny_model, tiny_tokenizer, pairs, max_batch_tokens=30)
        assert len(shared_rows) == len(pairs)


def test_equal_left_truncation_is_shared(tiny_model, tiny_tokenizer, shared_rows):
    # choices of equal token length are cut by the same amount: still one shared context
    ctx = "The quick brown fox jumps over the lazy dog. " * 4
    choices = [" A guardian angel.", " A guardian angel!"]
    enc = encode_pairs(tiny_tokenizer, [(ctx, c) for c in choices])
    assert len(enc[0].continuation) == len(enc[1].continuation)
    max_length = len(enc[0].context) - 5
    alone, _ = _check(tiny_model, tiny_tokenizer, [(ctx, c) for c in choices], max_length)
    assert all(a.truncated for a in alone)
    assert len(shared_rows) == 2


def test_unequal_left_truncation_falls_back(tiny_model, tiny_tokenizer, shared_rows):
    # choices of different lengths would cut the context differently: plain path, same scores
    ctx, choices = DOCS[1][0] + " And then he" * 6, DOCS[1][1]
    pairs = [(ctx, c) for c in choices] + _pairs(DOCS[2:3])
    enc = encode_pairs(tiny_tokenizer, pairs)
    max_length = len(enc[0].context) + 2
    alone, _ = _check(tiny_model, tiny_tokenizer, pairs, max_length)
    assert any(a.truncated for a in alone[:4]) and not any(a.truncated for a in alone[4:])
    assert sorted(shared_rows) == [4, 5, 6, 7]  # only the untruncated document was shared


@pytest.mark.parametrize(("task", "shots"), [("hellaswag", 0), ("arc_easy", 5), ("piqa", 5)])
def test_real_task_requests(tiny_model, tiny_tokenizer, shared_rows, task, shots):
    reqs = load_requests(task, shots, limit=3, seed=0)
    pairs = [(r.context, r.continuation) for r in reqs]
    # the tiny model's window is 128 tokens: 5-shot contexts are cut from the left
    alone, _ = _check(tiny_model, tiny_tokenizer, pairs)
    if shots:
        assert any(a.truncated for a in alone)
    else:
        assert shared_rows  # the documents that fit the window are shared


def test_few_shot_prefix_shared_across_documents_and_batches(
    tiny_model, tiny_tokenizer, shared_rows, monkeypatch
):
    # a common few-shot prefix runs once and its cache serves the next batches
    shots = "Question: Which is a fox?\nAnswer: quick brown\n\n" * 2
    docs = [
        (shots + f"Question: {q}\nAnswer:", [" the lazy dog", " a guardian angel", " roofing"])
        for q in ("Who jumps?", "Who sits on a roof?", "What is clear?", "Which stone?", "A pig?")
    ]
    pairs = _pairs(docs)
    calls = []
    real_forward = tiny_model.forward

    def counting(*args, **kwargs):
        calls.append(kwargs.get("attention_mask") is None)  # the prefix run has no padding
        return real_forward(*args, **kwargs)

    # keep the signature the engine inspects
    counting.__signature__ = __import__("inspect").signature(real_forward)
    monkeypatch.setattr(tiny_model, "forward", counting)
    for batch_size in (3, 6, 64):
        shared_rows.clear()
        _check(tiny_model, tiny_tokenizer, pairs, batch_size=batch_size)
        assert sorted(shared_rows) == list(range(len(pairs)))
    # 2 or 5 documents per batch: the prefix runs once (batch 1), its cache serves every batch
    for batch_size in (6, 64):
        calls.clear()
        score_pairs(tiny_model, tiny_tokenizer, pairs, batch_size=batch_size)
        assert sum(calls) == 1


def test_one_choice_documents_share_a_few_shot_prefix(tiny_model, tiny_tokenizer, shared_rows):
    # WinoGrande-style: every context differs (one pair each), but all start with the same
    # few-shot examples; those pairs are packed (prefix run once), the lone 0-shot pair is not
    shots = "Question: Which is a fox?\nAnswer: quick brown\n\n" * 2
    pairs = [(shots + f"Question: {q}\nAnswer:", " the lazy dog") for q in ("A?", "B c?", "D?")]
    pairs.append(("Roof shingle removal:", " A man is sitting on a roof."))
    _check(tiny_model, tiny_tokenizer, pairs, batch_size=2)
    assert sorted(shared_rows) == [0, 1, 2]


class _MaskIgnoringLM:
    """Wraps a causal LM but drops custom 4-D attention masks (as some model code does)."""

    def __init__(self, model):
        self._m = model
        self.config = model.config
        self.training = False

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None,
                use_cache=None, logits_to_keep=0, **kw):  # fmt: skip
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = None
        return self._m(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=position_ids, cache=cache, use_cache=use_cache,
                       logits_to_keep=logits_to_keep, **kw)  # fmt: skip

    __call__ = forward

    def parameters(self):
        return self._m.parameters()

    def get_output_embeddings(self):
        return self._m.get_output_embeddings()

    def eval(self):
        return self

    def train(self, mode=True):
        return self


def test_model_ignoring_custom_masks_is_scored_plainly(tiny_model, tiny_tokenizer, shared_rows):
    wrapped = _MaskIgnoringLM(tiny_model)
    pairs = _pairs(DOCS)
    alone = _independent(tiny_model, tiny_tokenizer, pairs)
    got = score_pairs(wrapped, tiny_tokenizer, pairs, batch_size=64)
    # the packing probe fails for this model, so no pair takes the packed path; scores still match
    assert shared_rows == []
    for a, s in zip(alone, got, strict=True):
        assert s.logprob == pytest.approx(a.logprob, abs=1e-5)


def test_plan_batches_runs_prefixes_and_caps():
    from macs.eval.packed import plan_batches

    shots = list(range(100, 140))  # 40 tokens of few-shot examples
    # (context, [pair ids]); items[i] = (context + continuation, ...)
    units = [
        (shots + [1, 2], [0, 1]),
        (shots + [3], [2, 3]),
        (shots + [4, 5, 6], [4]),
        ([7, 8, 9], [5, 6]),
        ([10], [7]),  # one pair, no prefix to share: left to the plain path
    ]
    conts = {0: [50], 1: [51, 52], 2: [53], 3: [54], 4: [55, 56], 5: [57], 6: [58], 7: [59]}
    items = {}
    for ctx, members in units:
        for i in members:
            items[i] = (ctx + conts[i], len(conts[i]), False)
    batches, lone = plan_batches(units, items, batch_size=64, max_tokens=None)
    assert lone == [7]
    # the few-shot run: one batch, prefix = the 40 shared tokens; the rest: no prefix
    assert [(n, sorted(m for _, ms in us for m in ms)) for n, us in batches] == [
        (40, [0, 1, 2, 3, 4]),
        (0, [5, 6]),
    ]
    # a batch never holds more than batch_size pairs; rows longest first within a run
    batches, _ = plan_batches(units, items, batch_size=2, max_tokens=None)
    assert all(sum(len(ms) for _, ms in us) <= 2 or len(us) == 1 for _, us in batches)
    first_run = [us for n, us in batches if n == 40]
    assert [u[0][-1] for us in first_run for u in us] == [6, 2, 3]
    # a token cap of 3 (docs x longest row after the prefix) puts each document alone
    batches, _ = plan_batches(units, items, batch_size=64, max_tokens=3)
    assert all(len(us) == 1 for _, us in batches)


def test_share_contexts_groups_by_context_tokens_and_window_cut():
    from macs.eval.packed import share_contexts
    from macs.eval.scoring import EncodedPair

    ctx = [1, 2, 3, 4]
    encoded = [
        EncodedPair(ctx, [5]),
        EncodedPair([9], [6, 7]),
        EncodedPair(ctx, [8, 9]),
        EncodedPair([1, 2], [3]),  # a context that is a prefix of another is its own group
        EncodedPair([7, 7], [1]),
        EncodedPair([7, 7], [1, 2, 3, 4]),
    ]
    units, plain = share_contexts(encoded, max_length=16)
    assert units == [(ctx, [0, 2]), ([9], [1]), ([1, 2], [3]), ([7, 7], [4, 5])]
    assert plain == []
    # window 4: pair 5 (2 + 4 tokens) is cut by 1 token from the left, pair 4 is not, so
    # neither shares; likewise pairs 0 and 2 (cut by 0 and 1); pairs 1 and 3 are not cut
    units, plain = share_contexts(encoded, max_length=4)
    assert units == [([9], [1]), ([1, 2], [3])]
    assert plain == [0, 2, 4, 5]
    units, plain = share_contexts([EncodedPair(ctx, [5, 6]), EncodedPair(ctx, [7, 8])], 4)
    assert units == [([2, 3, 4], [0, 1])] and plain == []  # both cut by one token: shared
    # a cut that would eat the whole context leaves the pairs plain
    assert share_contexts([EncodedPair([1], [2, 3, 4, 5])], 3) == ([], [0])


def test_packed_failure_falls_back_to_plain_scores(tiny_model, tiny_tokenizer, monkeypatch, capsys):
    # a device kernel that raises inside the packed path: every pair is scored plainly instead
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("attn_mask dtype not supported\nmore detail")

    monkeypatch.setattr(scoring, "_forward_shared", boom)
    pairs = _pairs(DOCS)
    alone = _independent(tiny_model, tiny_tokenizer, pairs)
    got = score_pairs(tiny_model, tiny_tokenizer, pairs, batch_size=3)
    assert len(calls) == 1  # not retried batch after batch
    assert "packed multiple-choice scoring failed" in capsys.readouterr().err
    for a, s in zip(alone, got, strict=True):
        assert s.logprob == pytest.approx(a.logprob, abs=1e-5)


def test_model_without_output_embeddings_hook_still_scores_right(
    tiny_model, tiny_tokenizer, shared_rows, monkeypatch
):
    # a model whose output layer cannot be hooked returns every kept position: same scores
    monkeypatch.setattr(tiny_model, "get_output_embeddings", lambda: None)
    _check(tiny_model, tiny_tokenizer, _pairs(DOCS), batch_size=64)
    assert sorted(shared_rows) == list(range(len(_pairs(DOCS))))
