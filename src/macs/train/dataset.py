"""`StageDataset`: a torch IterableDataset of packed token blocks of the current selection stage.

For other people's training loops and trainers. Each item is `{"input_ids", "labels"}` (int64,
`seq_len` tokens): the stage's documents shuffled with a seed of (seed, stage, epoch), joined
with EOS and cut into blocks (macs.train.data.PackedStage). The stream is endless (epochs over
the stage) until `set_stage` switches to the next stage's documents.

- Seeded: the same stage, seed and position give the same blocks.
- Rank-aware: under torch.distributed each rank reads a disjoint, strided share (sequence
  `k * world + rank`), and DataLoader workers split a rank's share again the same way; every
  rank must be given the same stage (all ranks agree on the selection).
- Resumable mid-stage: `state_dict()` / `load_state_dict()` hold the stage and the position;
  torchdata's `StatefulDataLoader` calls them (per worker) when it is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from macs.errors import MacsError
from macs.train.data import PackedStage


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class StageDataset(torch.utils.data.IterableDataset):
    """Packed blocks of the current stage's documents (see the module docstring)."""

    def __init__(
        self,
        tokens,
        seq_len: int,
        seed: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ):
        super().__init__()
        self.tokens = tokens  # macs.corpus.tokens.TokenStore (or pool.tokens)
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        self._rank, self._world = rank, world
        self.stage: PackedStage | None = None
        self.pos = 0  # blocks this reader has yielded in the current stage

    @property
    def shard(self) -> tuple[int, int]:
        """(index, count) of this reader among all ranks x DataLoader workers."""
        rank, world = _dist()
        rank = self._rank if self._rank is not None else rank
        world = self._world if self._world is not None else world
        info = torch.utils.data.get_worker_info()
        if info is None:
            return rank, world
        return rank * info.num_workers + info.id, world * info.num_workers

    def set_stage(self, doc_indices: np.ndarray, stage: int, position: int = 0) -> None:
        """Switch to a stage's documents (sorted doc indices), from `position` blocks in."""
        self.stage = PackedStage(self.tokens, doc_indices, self.seq_len, self.seed, stage)
        self.pos = int(position)

    def __iter__(self):
        if self.stage is None:
            raise MacsError(
                "StageDataset has no stage yet: call set_stage() (or use SelectionCallback)"
            )
        i, n = self.shard
        while True:
            k = self.pos * n + i
            self.pos += 1
            x = torch.from_numpy(self.stage.sequence(k))
            yield {"input_ids": x, "labels": x.clone()}

    def state_dict(self) -> dict[str, Any]:
        """The stage number, its document count and this reader's position."""
        if self.stage is None:
            return {"stage": None, "pos": 0}
        return {"stage": self.stage.stage, "n_docs": int(self.stage.docs.size), "pos": self.pos}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore the position (set_stage with the same stage first)."""
        if sd.get("stage") is None:
            return
        if (
            self.stage is None
            or self.stage.stage != sd["stage"]
            or self.stage.docs.size != sd["n_docs"]
        ):
            raise MacsError(
                f"dataset state is for stage {sd['stage']} ({sd.get('n_docs')} docs); set that "
                "stage first (the selection state restores it)"
            )
        self.pos = int(sd["pos"])
