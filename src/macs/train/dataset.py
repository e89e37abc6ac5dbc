"""`StageDataset`: a torch IterableDataset of packed token blocks of the current selection stage.

For other people's training loops and trainers. Each item is `{"input_ids", "labels",
"macs_tag"}` (int64; `seq_len` tokens and a 4-int tag): the stage's documents shuffled with a
seed of (seed, stage, epoch), joined with EOS and cut into blocks (macs.train.data.PackedStage).
The stream is endless (epochs over the stage) until `set_stage` switches to the next stage's
documents.

- Exact stage switches behind any DataLoader: `set_stage` publishes the stage in shared memory
  (macs.train.shared_stage), so DataLoader workers (copies of the dataset) switch at their next
  row. Rows a loader fetched ahead of a switch (prefetch) still come out of it; iterate
  `dataset.current(loader)` to drop them and refill the batch from fresh rows (each row's
  `macs_tag` says which stage published it; `current` strips the tag). SelectionCallback does
  this inside a Hugging Face Trainer.
- Seeded: the same stage, seed and position give the same blocks.
- Rank-aware: under torch.distributed each rank reads a disjoint, strided share (sequence
  `k * world + rank`), and DataLoader workers split a rank's share again the same way; every
  rank must be given the same stage (all ranks agree on the selection).
- Resumable mid-stage: `state_dict()` / `load_state_dict()` hold the stage and the position
  (per DataLoader worker, counted from the rows `current` handed out); torchdata's
  `StatefulDataLoader` calls them (per worker) when it is used. With a plain DataLoader and
  workers, every worker resumes at the rows it had handed out (none skipped or repeated), but
  the loader restarts its round-robin at worker 0: the batch order equals the uninterrupted
  run's when the position was saved after a multiple of `num_workers` batches (and always with
  StatefulDataLoader, which restores the round-robin too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from macs.core.errors import MacsError
from macs.train.data import PackedStage
from macs.train.shared_stage import SharedStage, start_of

TAG = "macs_tag"  # per row: [stage version, DataLoader worker, workers, position in the stage]


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _worker() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


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
        self.tokens = tokens  # macs.data.corpus.tokens.TokenStore (or pool.tokens)
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        self._rank, self._world = rank, world
        self.stage: PackedStage | None = None
        self.pos = 0  # blocks this reader has yielded in the current stage
        self._shared = SharedStage(len(tokens.lengths))
        self._version = 0  # the published stage this copy reads
        self._starts: list[int] = [0]  # where each worker starts in the published stage
        self._taken: list[int] | None = None  # rows `current` handed out, per worker

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
        self._publish([self.pos])

    def _publish(self, starts: list[int]) -> None:
        if torch.utils.data.get_worker_info() is not None:
            return  # a worker's copy (StatefulDataLoader restoring it): its own position only
        self._version = self._shared.publish(self.stage.stage, self.stage.docs, starts)
        self._starts = starts
        self._taken = None

    def _adopt(self) -> None:
        """A worker's copy: take the stage the main process published since this copy was made."""
        pub = self._shared.read()
        self.stage = PackedStage(self.tokens, pub.docs, self.seq_len, self.seed, pub.stage)
        self.pos = pub.start(*_worker())
        self._version = pub.version

    def __iter__(self):
        i, n = self.shard
        wid, wn = _worker()
        start_of(self._starts, wid, wn)  # a position saved per worker needs as many workers
        while True:
            if self._shared.version() != self._version:
                self._adopt()
            if self.stage is None:
                raise MacsError(
                    "StageDataset has no stage yet: call set_stage() (or use SelectionCallback)"
                )
            x = torch.from_numpy(self.stage.sequence(self.pos * n + i))
            tag = torch.tensor([self._version, wid, wn, self.pos], dtype=torch.int64)
            self.pos += 1
            yield {"input_ids": x, "labels": x.clone(), TAG: tag}

    def current(self, batches: Iterable[Mapping[str, torch.Tensor]]) -> Iterator[dict]:
        """`batches` (a DataLoader over this dataset) with rows of the current stage only.

        Rows fetched before the last `set_stage` are dropped and the batch is refilled from the
        next fresh rows, so every batch after a switch holds `batch_size` rows of the new stage.
        The `macs_tag` column is removed; the rows handed out set the resumable position.
        """
        pend: dict[str, torch.Tensor] | None = None
        size = 0
        for batch in batches:
            if not isinstance(batch, Mapping) or TAG not in batch:
                raise MacsError(
                    "StageDataset.current() needs the batches of a DataLoader over the dataset "
                    f"(dicts with its '{TAG}' column; keep the default collate or pass it on)"
                )
            size = size or len(batch[TAG])
            pend = (
                dict(batch) if pend is None else {k: torch.cat([pend[k], batch[k]]) for k in pend}
            )
            while pend is not None:
                keep = pend[TAG][:, 0] == self._version
                if not bool(keep.all()):
                    pend = {k: v[keep] for k, v in pend.items()}
                if len(pend[TAG]) < size:
                    break
                out = {k: v[:size] for k, v in pend.items()}
                pend = {k: v[size:] for k, v in pend.items()}
                self._count(out.pop(TAG))
                yield out

    def _count(self, tags: torch.Tensor) -> None:
        for _, wid, wn, pos in tags.tolist():
            if self._taken is None or len(self._taken) != wn:
                one = len(self._starts) != wn
                self._taken = [self._starts[0]] * wn if one else list(self._starts)
            self._taken[wid] = max(self._taken[wid], pos + 1)

    def state_dict(self) -> dict[str, Any]:
        """The stage number, its document count and the position (per worker when several)."""
        if self.stage is None:
            return {"stage": None, "pos": 0}
        pos: int | list[int] = self.pos
        if self._taken is not None:
            pos = self._taken[0] if len(self._taken) == 1 else list(self._taken)
        return {"stage": self.stage.stage, "n_docs": int(self.stage.docs.size), "pos": pos}

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
        pos = sd["pos"]
        starts = [int(p) for p in pos] if isinstance(pos, list | tuple) else [int(pos)]
        self.pos = starts[0]
        self._publish(starts)
