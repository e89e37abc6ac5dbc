"""StageDataset: seeded packed blocks of the current stage, disjoint per rank and worker, resumable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from macs.train.data import PackedStage
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
    from macs.core.errors import MacsError

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


# --- stage switches behind DataLoader workers (issue 25, item 2) --------------------------------


def _domain_docs(pool, d):
    dom = pool.labels["domain"].groups
    return np.flatnonzero(pool.eligible & (dom == d))


def _in_domain(row, d):
    """Every token of the row is domain d's (ids 1+30d .. 30+30d) or EOS (0): make_pool's layout."""
    t = row[row != 0]
    return bool(((t >= 1 + 30 * d) & (t <= 30 + 30 * d)).all())


@pytest.mark.parametrize("workers", [0, 2, 4])
def test_after_a_switch_every_row_is_the_new_stages(pool, workers):
    ds = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    ds.set_stage(_domain_docs(pool, 0), 0)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers)
    it = iter(ds.current(loader))
    before = [next(it) for _ in range(3)]
    ds.set_stage(_domain_docs(pool, 2), 1)  # workers have prefetched stage-0 batches by now
    after = [next(it) for _ in range(6)]
    assert all(_in_domain(r, 0) for b in before for r in b["input_ids"])
    assert all(b["input_ids"].shape == (4, 16) and "macs_tag" not in b for b in after)
    assert all(_in_domain(r, 2) for b in after for r in b["input_ids"])
    ref = PackedStage(pool.tokens, _domain_docs(pool, 2), 16, 0, 1)
    stage1 = {tuple(ref.sequence(k).tolist()) for k in range(96)}
    assert all(tuple(r.tolist()) in stage1 for b in after for r in b["input_ids"])


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_read_the_switch_from_shared_memory(pool, workers):
    """Without current(), workers (copies of the dataset) still switch: only prefetched batches lag."""
    ds = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    ds.set_stage(_domain_docs(pool, 0), 0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, prefetch_factor=2)
    it = iter(loader)
    next(it)
    ds.set_stage(_domain_docs(pool, 1), 1)
    rows = [r for _ in range(2 * 2 * workers + 8) for r in next(it)["input_ids"]]
    assert _in_domain(rows[-1], 1) and all(_in_domain(r, 1) for r in rows[-8:])


def test_position_counts_rows_handed_out_and_resumes_with_workers(pool):
    idx = _domain_docs(pool, 1)

    def run(sd=None):
        ds = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
        ds.set_stage(idx, 3)
        if sd is not None:
            ds.load_state_dict(sd)
        return ds, iter(ds.current(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)))

    ds, it = run()
    for _ in range(4):  # a multiple of the worker count: the loader's round-robin restarts at 0
        next(it)
    sd = ds.state_dict()
    assert sd["pos"] == [4, 4]  # 2 batches of 2 rows from each worker, not what was prefetched
    rest = [next(it)["input_ids"] for _ in range(4)]
    _, again = run(sd)
    assert all(torch.equal(x, next(again)["input_ids"]) for x in rest)
    one = StageDataset(pool.tokens, 16, seed=0, rank=0, world=1)
    one.set_stage(idx, 3)
    one.load_state_dict(sd)
    from macs.core.errors import MacsError

    with pytest.raises(MacsError, match="saved with 2 readers .* resumed with 1"):
        next(iter(one.current(torch.utils.data.DataLoader(one, batch_size=2))))
