"""StageDataset: seeded packed blocks of the current stage, disjoint per rank and worker, resumable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from macs.train.dataset import StageDataset


def _take(ds, n):
    it = iter(ds)
    return [next(it)["input_ids"] for _ in range(n)]


def test_seeded_blocks_equal_the_packed_stage(pool):
    idx = np.flatnonzero(pool.eligible)[:40]
    ds = StageDataset(pool.tokens, seq_len=16, seed=3, rank=0, world=1)
    ds.set_stage(idx, 1)
    got = _take(ds, 10)
    from macs.train.data import PackedStage

    ref = PackedStage(pool.tokens, idx, 16, 3, 1)
    for k, x in enumerate(got):
        np.testing.assert_array_equal(x.numpy(), ref.sequence(k))
    again = StageDataset(pool.tokens, seq_len=16, seed=3, rank=0, world=1)
    again.set_stage(idx, 1)
    assert all(torch.equal(a, b) for a, b in zip(got, _take(again, 10), strict=True))


def test_ranks_read_disjoint_shares_of_one_stream(pool):
    idx = np.flatnonzero(pool.eligible)[:40]
    single = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    single.set_stage(idx, 0)
    stream = _take(single, 12)
    for r in range(3):
        ds = StageDataset(pool.tokens, 16, seed=0, rank=r, world=3)
        ds.set_stage(idx, 0)
        mine = _take(ds, 4)
        assert all(torch.equal(mine[j], stream[j * 3 + r]) for j in range(4))


def test_state_dict_resumes_mid_stage(pool):
    idx = np.flatnonzero(pool.eligible)[:40]
    a = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    a.set_stage(idx, 2)
    first = _take(a, 5)
    sd = a.state_dict()
    rest = _take(a, 3)
    b = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    b.set_stage(idx, 2)
    b.load_state_dict(sd)
    assert all(torch.equal(x, y) for x, y in zip(_take(b, 3), rest, strict=True)) and first
    from macs.errors import MacsError

    c = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    c.set_stage(idx, 1)
    with pytest.raises(MacsError, match="dataset state is for stage 2"):
        c.load_state_dict(sd)


def test_stateful_dataloader_with_workers_resumes(pool):
    tdl = pytest.importorskip("torchdata.stateful_dataloader")
    idx = np.flatnonzero(pool.eligible)[:40]

    def loader():
        ds = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
        ds.set_stage(idx, 0)
        return tdl.StatefulDataLoader(ds, batch_size=2, num_workers=2)

    dl = loader()
    it = iter(dl)
    seen = [next(it)["input_ids"] for _ in range(4)]
    sd = dl.state_dict()
    after = [next(it)["input_ids"] for _ in range(3)]
    resumed = loader()
    resumed.load_state_dict(sd)
    it2 = iter(resumed)
    assert all(torch.equal(x, next(it2)["input_ids"]) for x in after)
    # the two workers read disjoint blocks: no block repeats in the first batches
    rows = {tuple(r.tolist()) for b in seen + after for r in b}
    assert len(rows) == 2 * len(seen + after)
