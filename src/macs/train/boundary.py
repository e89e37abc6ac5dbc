"""The data-efficiency curve: a fixed cheap evaluation at every stage boundary of a run.

With eval.boundary_limit set (documents per reference task), rank 0 scores the reference tasks
(the evaluator's `boundary(model)`, macs.train.protocols.Evaluator) on that many examples (from eval.seed: the same for every run, seed and method) at the end of
every stage, before the next stage is selected (so neither the online overhead nor the training
time counts it), and writes `boundary/stage-<k>.json` in the run dir: {stage (stages trained),
step, tokens, seconds, tasks, groups}. A file already there is kept (a resumed run reaches the
same model state there), and the torch generators are left as they were.
"""

from __future__ import annotations

from pathlib import Path

from macs.core.io import write_json
from macs.core.timing import Stopwatch
from macs.data.rundir import RunDir


def boundary_path(run_dir: Path, stages_done: int) -> Path:
    """Where the evaluation after `stages_done` stages is written."""
    return RunDir(run_dir).boundary(stages_done)


def boundary_eval(tr, stages_done: int, step: int, tokens: int) -> None:
    """Rank 0 at a stage boundary: the fixed reference subset on the current model (see the module doc)."""
    if tr.job.boundary_limit is None or not hasattr(tr.evaluator, "boundary") or not tr.dist.main:
        return
    path = boundary_path(tr.run_dir, stages_done)
    if path.exists():
        return
    import torch

    clock = Stopwatch()
    was_training = tr.model.training
    tr.model.eval()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            res = tr.evaluator.boundary(tr.model)
    finally:
        tr.model.train(was_training)
    write_json(
        path,
        {
            "stage": stages_done,
            "step": int(step),
            "tokens": int(tokens),
            "seconds": clock.seconds,
            "tasks": res["tasks"],
            "groups": res["groups"],
        },
    )
