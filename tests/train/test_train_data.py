"""Packing, schedules and random selection."""

from __future__ import annotations

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.train.data import PackedStage
from macs.train.schedule import lr_at, stage_bounds


def test_packed_stream_is_docs_joined_by_eos(pool):
    idx = np.flatnonzero(pool.eligible)[:20]
    ps = PackedStage(pool.tokens, idx, seq_len=16, seed=3, stage=1)
    stream = np.concatenate([ps.sequence(k) for k in range(ps.seqs_per_epoch)])
    # rebuild the epoch-0 stream by hand from the same permutation
    ps._load_epoch(0)
    want = np.concatenate(
        [np.append(np.asarray(pool.tokens.doc(int(i)), np.int64), 0) for i in ps._order]
    )
    assert ps.seqs_per_epoch == want.size // 16
    np.testing.assert_array_equal(stream, want[: stream.size])
    assert set(ps._order.tolist()) == set(idx.tolist())


def test_packed_position_resume_and_ranks(pool):
    idx = np.flatnonzero(pool.eligible)[:30]
    a = PackedStage(pool.tokens, idx, 12, seed=0, stage=2)
    full = [a.batch(4) for _ in range(50)]  # runs over several epochs
    assert a.epochs > 1
    b = PackedStage(pool.tokens, idx, 12, seed=0, stage=2)
    for _ in range(7):
        b.batch(4)
    sd = b.state_dict()
    c = PackedStage(pool.tokens, idx, 12, seed=0, stage=2)
    c.load_state_dict(sd)
    np.testing.assert_array_equal(c.batch(4), full[7])
    # two ranks with 2 rows each see exactly the rows of one 4-row batch, interleaved
    r0 = PackedStage(pool.tokens, idx, 12, seed=0, stage=2).batch(2, rank=0, world=2)
    r1 = PackedStage(pool.tokens, idx, 12, seed=0, stage=2).batch(2, rank=1, world=2)
    np.testing.assert_array_equal(np.stack([r0[0], r1[0], r0[1], r1[1]]), full[0])
    # a different stage or seed shuffles differently
    d = PackedStage(pool.tokens, idx, 12, seed=0, stage=3)
    assert not np.array_equal(d.batch(4), full[0])
    with pytest.raises(MacsError, match="stage"):
        PackedStage(pool.tokens, idx[:5], 12, seed=0, stage=3).load_state_dict(sd)


def test_packed_rejects_empty_and_tiny(pool):
    with pytest.raises(MacsError, match="no documents"):
        PackedStage(pool.tokens, np.array([], dtype=np.int64), 8, 0, 0)
    with pytest.raises(MacsError, match="fewer than one sequence"):
        PackedStage(pool.tokens, np.array([1]), 10_000, 0, 0)


def test_schedules():
    total, warm = 100, 10
    lrs = [lr_at(s, total, 1.0, warm, "cosine", 0.1) for s in range(total)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(b <= a + 1e-12 for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)
    wsd = [lr_at(s, total, 1.0, warm, "wsd", 0.1, decay_frac=0.2) for s in range(total)]
    assert wsd[50] == 1.0 and wsd[79] == 1.0 and wsd[-1] == pytest.approx(0.1)
    assert stage_bounds(10, 5) == [0, 2, 4, 6, 8, 10]
    assert stage_bounds(11, 3) == [0, 4, 7, 11]


def test_named_sizes_span_the_demo_to_125m():
    from macs.train.model import SIZES, size_params

    assert size_params("llama-1m", 4096) < 2_000_000  # the CPU demo (4k BPE)
    assert 10e6 <= size_params("llama-20m", 16384) <= 30e6  # configs/compare-gpu.yaml (16k BPE)
    assert 110e6 <= size_params("llama-125m", 50304) <= 140e6  # GPT-2-sized vocabulary
    counts = [size_params(s, 16384) for s in SIZES]
    assert counts == sorted(counts)
