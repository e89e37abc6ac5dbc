"""The current stage of a `StageDataset` in shared memory, so DataLoader workers see every switch.

DataLoader workers are forked or spawned copies of the dataset: an attribute set in the main
process after they start never reaches them. The main process publishes each stage here (its
document indices, the stage number and where each reader starts); a worker compares the
`version` with the one it read last before every row and adopts a newer stage at once.

Writes come only from the main process; a seqlock (`seq` odd while a write is under way)
lets the readers take a consistent copy without a lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from macs.core.errors import MacsError

MAX_READERS = 1024  # ranks x DataLoader workers whose start positions one stage can hold
_SEQ, _VERSION, _STAGE, _N_DOCS, _N_STARTS = range(5)
_HEAD = 8


@dataclass
class Published:
    """One published stage: its version, number, sorted document indices and reader starts."""

    version: int
    stage: int
    docs: np.ndarray
    starts: list[int]

    def start(self, reader: int, readers: int) -> int:
        """Where reader `reader` of `readers` starts (see `start_of`)."""
        return start_of(self.starts, reader, readers)


def start_of(starts: list[int], reader: int, readers: int) -> int:
    """Where DataLoader worker `reader` of `readers` starts (one start: every worker starts there)."""
    if len(starts) == 1:
        return starts[0]
    if len(starts) != readers:
        raise MacsError(
            f"the dataset position was saved with {len(starts)} readers (DataLoader workers) "
            f"and is resumed with {readers}; resume with the same number of DataLoader workers"
        )
    return starts[reader]


class SharedStage:
    """Shared-memory tensors holding the published stage (see the module docstring)."""

    def __init__(self, n_docs: int):
        self.head = torch.zeros(_HEAD + MAX_READERS, dtype=torch.int64).share_memory_()
        self.idx = torch.zeros(max(1, int(n_docs)), dtype=torch.int64).share_memory_()

    def version(self) -> int:
        """The version of the last stage published (0: none yet)."""
        return int(self.head[_VERSION])

    def publish(self, stage: int, docs: np.ndarray, starts: list[int]) -> int:
        """Publish a stage (main process only); returns its version."""
        docs = np.asarray(docs, dtype=np.int64)
        if docs.size > self.idx.numel():
            raise MacsError(
                f"stage {stage} has {docs.size} documents, more than the {self.idx.numel()} of "
                "the token store the dataset was made for"
            )
        if not 1 <= len(starts) <= MAX_READERS:
            raise MacsError(f"a stage holds 1 to {MAX_READERS} reader positions, not {len(starts)}")
        head = self.head
        version = int(head[_VERSION]) + 1
        head[_SEQ] += 1  # odd: a write is under way
        self.idx[: docs.size] = torch.from_numpy(docs)
        head[_VERSION], head[_STAGE], head[_N_DOCS] = version, int(stage), docs.size
        head[_N_STARTS] = len(starts)
        head[_HEAD : _HEAD + len(starts)] = torch.tensor(starts, dtype=torch.int64)
        head[_SEQ] += 1
        return version

    def read(self) -> Published:
        """A consistent copy of the published stage (any process)."""
        while True:
            seq = int(self.head[_SEQ])
            if seq % 2:
                time.sleep(0.0005)
                continue
            head = self.head.clone()
            docs = self.idx[: int(head[_N_DOCS])].numpy().copy()
            if int(self.head[_SEQ]) == seq:
                n = int(head[_N_STARTS])
                starts = head[_HEAD : _HEAD + n].tolist()
                return Published(int(head[_VERSION]), int(head[_STAGE]), docs, starts)
