"""Distributed helpers: this process's place in a torchrun job, broadcasts and reductions.

One process (world 1) needs none of torch.distributed; under torchrun (WORLD_SIZE > 1) the
process group is joined with gloo on CPU and nccl on CUDA.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from macs.core.device import resolve_device


@dataclass
class Dist:
    """This process's place in a torchrun job (world 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that selects, logs and checkpoints."""
        return self.rank == 0

    def say(self, msg: str) -> None:
        """Print a progress line on rank 0 (stderr)."""
        if self.main:
            print(msg, file=sys.stderr, flush=True)


def init_dist(device_pref: str) -> tuple[Dist, str]:
    """Join the torchrun process group if WORLD_SIZE > 1; return (Dist, device string)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local, world)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="nccl" if device.startswith("cuda") else "gloo"
        )
    return Dist(rank, world, local), device


def broadcast(obj, dist: Dist):
    """rank 0's `obj` on every rank (any picklable object)."""
    if dist.world == 1:
        return obj
    import torch.distributed as td

    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_ranks(x: float, dist: Dist, device: str) -> float:
    """The mean of a float over all ranks."""
    if dist.world == 1:
        return x
    import torch

    t = torch.tensor([x], device=device, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t) / dist.world


def barrier(dist: Dist) -> None:
    """Wait for every rank."""
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
