"""The scoring engine: exact log-likelihoods, independent of padding, batch size and batching order."""

import math

import pytest
import torch

from macs.core.errors import MacsError
from macs.eval.scoring import bits_per_byte, encode_pairs, score_pairs, split_pair

PAIRS = [
    ("The quick brown fox", " jumps over the lazy dog."),
    ("Goal: How do I ready a guinea pig cage?\nAnswer:", " Provide bedding."),
    ("A", " B"),
    ("Question: Which technology was developed most recently?\nAnswer: ", "cellular telephone"),
    ("", "In my palm is a clear stone."),
    (
        "Roof shingle removal: A man is sitting on a roof. He",
        " starts pulling up roofing on a roof.",
    ),
    ("x" * 3, " guardian angel"),
]


def reference_logprob(model, ctx_ids, cont_ids, max_length):
    """One pair, no padding, no batching: full logits, float64 log-softmax."""
    seq = (ctx_ids + cont_ids)[-(max_length + 1) :]
    n = min(len(cont_ids), len(seq) - 1)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([seq[:-1]])).logits[0].double()
    lp = torch.log_softmax(logits, -1)[-n:]
    return float(lp.gather(-1, torch.tensor(seq[-n:])[:, None]).sum())


def test_scores_match_an_unbatched_reference(tiny_model, tiny_tokenizer):
    enc = encode_pairs(tiny_tokenizer, PAIRS)
    got = score_pairs(tiny_model, tiny_tokenizer, PAIRS, batch_size=4)
    for e, s in zip(enc, got, strict=True):
        ref = reference_logprob(tiny_model, e.context, e.continuation, 128)
        assert s.logprob == pytest.approx(ref, abs=1e-4)
        assert s.logprob < 0 and s.n_tokens == len(e.continuation) and not s.truncated


def test_padding_and_batch_size_do_not_change_scores(tiny_model, tiny_tokenizer):
    alone = [score_pairs(tiny_model, tiny_tokenizer, [p], batch_size=1)[0].logprob for p in PAIRS]
    # each short pair padded beside a much longer one
    long_pair = ("word " * 60, " end")
    for p, a in zip(PAIRS, alone, strict=True):
        padded = score_pairs(tiny_model, tiny_tokenizer, [long_pair, p], batch_size=2)[1]
        assert padded.logprob == pytest.approx(a, abs=1e-4)
    for bs in (1, 3, 64):
        got = [s.logprob for s in score_pairs(tiny_model, tiny_tokenizer, PAIRS, batch_size=bs)]
        assert got == pytest.approx(alone, abs=1e-4)
    by_tokens = score_pairs(tiny_model, tiny_tokenizer, PAIRS, batch_size=64, max_batch_tokens=40)
    assert [s.logprob for s in by_tokens] == pytest.approx(alone, abs=1e-4)


def test_left_truncation_keeps_the_continuation(tiny_model, tiny_tokenizer):
    pair = ("The quick brown fox jumps over the lazy dog. " * 3, " A guardian angel.")
    enc = encode_pairs(tiny_tokenizer, [pair])[0]
    assert len(enc.context) + len(enc.continuation) > 24
    s = score_pairs(tiny_model, tiny_tokenizer, [pair], max_length=24)[0]
    assert s.truncated and s.n_tokens == len(enc.continuation)
    assert s.logprob == pytest.approx(
        reference_logprob(tiny_model, enc.context, enc.continuation, 24), abs=1e-4
    )
    # the window really is cut: the score differs from the untruncated one
    full = score_pairs(tiny_model, tiny_tokenizer, [pair])[0]
    assert not full.truncated and abs(full.logprob - s.logprob) > 1e-3


def test_encoding_follows_lm_eval(tiny_tokenizer):
    assert split_pair("Answer: ", "yes") == ("Answer:", " yes")
    assert split_pair("Answer:", " yes") == ("Answer:", " yes")
    a, b = encode_pairs(tiny_tokenizer, [("Answer: ", "yes"), ("Answer:", " yes")])
    assert a == b
    empty = encode_pairs(tiny_tokenizer, [("", "hello")])[0]
    assert empty.context == [tiny_tokenizer.bos_token_id]
    whole = tiny_tokenizer("The quick brown fox", add_special_tokens=False)["input_ids"]
    e = encode_pairs(tiny_tokenizer, [("The quick", " brown fox")])[0]
    assert e.context + e.continuation == whole
    with pytest.raises(MacsError, match="empty"):
        encode_pairs(tiny_tokenizer, [("context", "")])


def test_greedy_flag_and_bits_per_byte(tiny_model, tiny_tokenizer):
    # the argmax continuation of a context is greedy by construction
    ctx = "The quick brown fox"
    ids = tiny_tokenizer(ctx, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        nxt = int(tiny_model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    cont = tiny_tokenizer.decode([nxt])
    enc = encode_pairs(tiny_tokenizer, [(ctx, cont)])[0]
    s = score_pairs(tiny_model, tiny_tokenizer, [(ctx, cont)])[0]
    if enc.continuation == [nxt]:  # decode/encode round-trips for this token
        assert s.greedy
    assert bits_per_byte(-math.log(2) * 10, 10) == pytest.approx(1.0)
    assert math.isnan(bits_per_byte(-1.0, 0))


class _NoPositionIds(torch.nn.Module):
    """A causal LM whose forward takes only input_ids and attention_mask (the right-padding path)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, input_ids, attention_mask=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


def test_right_padding_path_gives_the_same_scores(tiny_model, tiny_tokenizer):
    left = [s.logprob for s in score_pairs(tiny_model, tiny_tokenizer, PAIRS, batch_size=64)]
    right = [
        s.logprob
        for s in score_pairs(_NoPositionIds(tiny_model), tiny_tokenizer, PAIRS, batch_size=64)
    ]
    assert right == pytest.approx(left, abs=1e-4)
