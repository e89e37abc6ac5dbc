"""Rewards of a refresh split across the ranks of a DDP job.

Rank 0 runs the selector. Each time it needs rewards it broadcasts the document indices; every
rank scores its share (documents dealt round-robin in order of length, so shares cost about the
same) on its own replica of the model (the weights are identical across ranks) and rank 0
gathers and reassembles them. The other ranks wait in `serve()` until rank 0 broadcasts the
stage's documents. One process gives the same rewards (to float tolerance: batches differ).
"""

from __future__ import annotations

import numpy as np

from macs.train.dist import Dist, broadcast


def share(idx: np.ndarray, lengths: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Positions (into idx) of rank `rank`'s documents: longest first, dealt round-robin."""
    order = np.lexsort((np.arange(idx.size), -lengths[idx]))
    return np.sort(order[rank::world])


class SplitRewards:
    """rewards_via for OnlineSelection.refresh on rank 0, and the serving loop of the other ranks."""

    def __init__(self, dist: Dist, lengths: np.ndarray, local_fn):
        self.dist = dist
        self.lengths = np.asarray(lengths)
        self.local_fn = local_fn  # fn(idx) -> rewards on this rank's model (used by serve())

    def _gather(self, mine):
        import torch.distributed as td

        out = [None] * self.dist.world if self.dist.main else None
        td.gather_object(mine, out, dst=0)
        return out

    def __call__(self, fn, idx: np.ndarray) -> np.ndarray:
        """Rank 0: scatter `idx`, score its own share with `fn`, gather everyone's rewards."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.dist.world == 1:
            return fn(idx)
        broadcast(("score", idx), self.dist)
        pos = share(idx, self.lengths, 0, self.dist.world)
        parts = self._gather((pos, np.asarray(fn(idx[pos]), dtype=np.float64)))
        out = np.full(idx.size, np.nan)
        for p, r in parts:
            out[p] = r
        return out

    def finish(self, stage_idx: np.ndarray) -> np.ndarray:
        """Rank 0: release the serving ranks with the stage's documents; returns them."""
        broadcast(("done", stage_idx), self.dist)
        return stage_idx

    def serve(self) -> np.ndarray:
        """Ranks > 0: score shares until rank 0 says the stage is chosen; returns the stage's documents."""
        while True:
            kind, payload = broadcast(None, self.dist)
            if kind == "done":
                return payload
            pos = share(payload, self.lengths, self.dist.rank, self.dist.world)
            self._gather((pos, np.asarray(self.local_fn(payload[pos]), dtype=np.float64)))
