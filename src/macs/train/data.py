"""Stage data: doc indices -> tokens from the memory-mapped token shards -> packed EOS-separated sequences.

Nothing is loaded whole. A stage's documents are shuffled with a seed derived from (seed, stage,
epoch); the shuffled documents form one virtual stream `doc0 EOS doc1 EOS ...`, cut into
sequences of `seq_len` tokens. Only the order and the cumulative offsets (8 bytes per document)
live in memory; each sequence is gathered on demand from the memmap views. Sequence k of the
stage is a pure function of (stage, k), so the data position is just the count of sequences
consumed (`PackedStage.state_dict`), and resuming is exact.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from macs.core.errors import MacsError


class TokenSource(Protocol):
    """What the packer needs from macs.data.corpus.tokens.TokenStore."""

    lengths: np.ndarray
    eos_id: int

    def doc(self, i: int) -> np.ndarray:
        """Token ids of doc i (no EOS)."""
        ...


def stage_seed(seed: int, stage: int, epoch: int) -> np.random.SeedSequence:
    """The seed of one stage epoch's shuffle (independent streams per stage and epoch)."""
    return np.random.SeedSequence([seed, 0x5EED, stage, epoch])


class PackedStage:
    """The packed training sequences of one stage (int64 tensors of seq_len token ids)."""

    def __init__(
        self, tokens: TokenSource, doc_indices: np.ndarray, seq_len: int, seed: int, stage: int
    ):
        doc_indices = np.asarray(doc_indices, dtype=np.int64)
        if doc_indices.size == 0:
            raise MacsError(
                f"stage {stage}: no documents were selected; the pool is empty or all held out"
            )
        self.tokens = tokens
        self.docs = doc_indices
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        self.stage = int(stage)
        lens = np.asarray(tokens.lengths, dtype=np.int64)[doc_indices] + 1  # + EOS
        self.n_tokens = int(lens.sum())
        self.seqs_per_epoch = self.n_tokens // self.seq_len
        if self.seqs_per_epoch < 1:
            raise MacsError(
                f"stage {stage}: the selected documents hold {self.n_tokens} tokens, fewer than one "
                f"sequence of {self.seq_len}; raise train.tokens or lower train.seq_len"
            )
        self.position = 0  # sequences consumed so far in this stage (all ranks together)
        self._epoch = -1
        self._order: np.ndarray | None = None
        self._starts: np.ndarray | None = None

    def _load_epoch(self, epoch: int) -> None:
        if epoch == self._epoch:
            return
        rng = np.random.default_rng(stage_seed(self.seed, self.stage, epoch))
        order = self.docs[rng.permutation(self.docs.size)]
        lens = np.asarray(self.tokens.lengths, dtype=np.int64)[order] + 1
        self._order = order
        self._starts = np.concatenate([[0], np.cumsum(lens)])  # stream offset of each doc
        self._epoch = epoch

    def sequence(self, k: int) -> np.ndarray:
        """Sequence k of the stage (k counts on across epochs), as int64 token ids of length seq_len."""
        epoch, j = divmod(int(k), self.seqs_per_epoch)
        self._load_epoch(epoch)
        starts = self._starts
        lo, hi = j * self.seq_len, (j + 1) * self.seq_len
        out = np.empty(self.seq_len, dtype=np.int64)
        d = int(np.searchsorted(starts, lo, side="right")) - 1
        pos = 0
        while pos < self.seq_len:
            doc_start = int(starts[d])
            doc = self.tokens.doc(int(self._order[d]))
            off = lo + pos - doc_start  # offset inside "doc + EOS"
            take_doc = max(0, min(len(doc) - off, hi - lo - pos))
            if take_doc > 0:
                out[pos : pos + take_doc] = doc[off : off + take_doc]
                pos += take_doc
                off += take_doc
            if pos < self.seq_len and off == len(doc):
                out[pos] = self.tokens.eos_id
                pos += 1
            d += 1
        return out

    def docs_of(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The documents sequence k holds (pool indices) and how many of its tokens each (EOS counted)."""
        epoch, j = divmod(int(k), self.seqs_per_epoch)
        self._load_epoch(epoch)
        starts = self._starts
        lo, hi = j * self.seq_len, (j + 1) * self.seq_len
        d0 = int(np.searchsorted(starts, lo, side="right")) - 1
        d1 = int(np.searchsorted(starts, hi, side="left"))
        s = starts[d0 : d1 + 1]
        n = np.minimum(s[1:], hi) - np.maximum(s[:-1], lo)
        return self._order[d0:d1].astype(np.int64), n.astype(np.int64)

    def batch(self, n: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """The next global batch of n*world sequences; this rank's n rows (rank-strided). Advances."""
        ks = self.position + rank + world * np.arange(n)
        self.position += n * world
        return np.stack([self.sequence(int(k)) for k in ks])

    @property
    def epochs(self) -> float:
        """How many passes over the stage's tokens the consumed sequences make."""
        return self.position / self.seqs_per_epoch

    def state_dict(self) -> dict:
        """The data position (sequences consumed); the rest is rebuilt from the manifest and seed."""
        return {"stage": self.stage, "position": self.position, "n_docs": int(self.docs.size)}

    def load_state_dict(self, sd: dict) -> None:
        """Restore the data position saved by state_dict."""
        if sd["stage"] != self.stage or sd["n_docs"] != self.docs.size:
            raise MacsError(
                f"checkpoint data position is for stage {sd['stage']} ({sd['n_docs']} docs), "
                f"but the stage manifest gives stage {self.stage} ({self.docs.size} docs); "
                "the run directory was changed after the checkpoint"
            )
        self.position = int(sd["position"])
