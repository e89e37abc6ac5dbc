"""`SelectionCallback`: multi-actor selection inside a Hugging Face `transformers.Trainer`.

```python
sel = OnlineSelection.from_config(cfg)                 # stage budgets set from the Trainer's args
ds = StageDataset(sel.pool.tokens, seq_len=256, seed=0)
cb = SelectionCallback(sel, ds, refresh_every=100)
Trainer(model, TrainingArguments(..., max_steps=500, ignore_data_skip=True),
        train_dataset=ds, callbacks=[cb]).train()
```
Every `refresh_every` optimiser steps the callback scores reward samples on the Trainer's own
model (with its optimizer, for MATES's probe) and switches the dataset to the next stage. The
selection state, the dataset position and the current stage are saved in every Trainer
checkpoint (`checkpoint-N/macs_selection.npz`) and restored on `resume_from_checkpoint`
(macs restores the data position itself, so `ignore_data_skip=True` is required when resuming).
Stage manifests, rewards and selection.jsonl go to `<output_dir>/macs/`. After a switch the
Trainer trains only on rows of the new stage, whatever `dataloader_num_workers` (rows fetched
ahead of the switch are dropped and the batch refilled, `current_rows_only`); for that the
callback sets `remove_unused_columns=False` (the rows' `macs_tag` must reach the loader's
output, where macs removes it before the model sees the batch).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch

STATE_FILE = "macs_selection.npz"


def current_rows_only(loader, dataset) -> None:
    """Make the Trainer's own loader hand out only rows of the dataset's current stage.

    The Trainer (through accelerate) fetches batches ahead of the step that trains them, and
    DataLoader workers prefetch more; a stage switch at a step's end would otherwise train on
    batches of the old stage. The loader's class gains an `__iter__` that passes its batches
    through `StageDataset.current` (the Trainer calls `iter()` on this very object after
    `on_train_begin`).
    """
    cls = type(loader)  # the real class (not a `__class__` property)
    if getattr(cls, "_macs_current", None) is dataset:
        return

    def __iter__(self):
        return dataset.current(cls.__iter__(self))

    sub = type(cls.__name__, (cls,), {"__iter__": __iter__, "_macs_current": dataset})
    # accelerate's loaders report their base DataLoader's class through a `__class__` property
    object.__dict__["__class__"].__set__(loader, sub)


class SelectionCallback(TrainerCallback):
    """Refresh the selection every `refresh_every` steps with the Trainer's model; save/restore it with checkpoints."""

    def __init__(
        self,
        selection,
        dataset,
        refresh_every: int,
        log_dir: str | Path | None = None,
        verbose: bool = True,
    ):
        if refresh_every < 1:
            raise MacsError(f"refresh_every must be >= 1, not {refresh_every}")
        if getattr(selection, "inrun", None) is not None:
            raise MacsError(
                "SelectionCallback does not hook the Trainer's backward pass, so "
                "influence.source=train has no rewards there; use influence.source=refresh"
            )
        self.selection = selection
        self.dataset = dataset
        self.refresh_every = int(refresh_every)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.verbose = bool(verbose)  # a line before and after every refresh
        self.stage = None

    # ------------------------------------------------------------------ budgets
    def _budgets(self, args, state) -> list[int]:
        world = max(1, int(getattr(args, "world_size", 1)))
        step_tokens = (
            args.per_device_train_batch_size
            * args.gradient_accumulation_steps
            * world
            * self.dataset.seq_len
        )
        total = int(state.max_steps)
        if total <= 0:
            raise MacsError(
                "SelectionCallback needs TrainingArguments(max_steps=...) (an endless dataset)"
            )
        bounds = list(range(0, total, self.refresh_every)) + [total]
        return [(b - a) * step_tokens for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _out(self, args):
        from macs.data.rundir import RunDir

        if self.log_dir is not None:
            return RunDir(self.log_dir)
        return RunDir.of_trainer_output(args.output_dir)

    def _record(self, args, stage) -> None:
        if not self._is_main(args):
            return
        meta = {"method": self.selection.selector.name, "trainer": "transformers"}
        self._out(args).write_stage(self.selection.pool, stage, self.selection.counts, meta)

    def _say(self, args, msg: str) -> None:
        """A progress line on stderr (main process only): a refresh takes seconds to minutes."""
        if self.verbose and self._is_main(args):
            print(msg, file=sys.stderr, flush=True)

    @staticmethod
    def _is_main(args) -> bool:
        return int(getattr(args, "process_index", 0)) == 0

    # ------------------------------------------------------------------ events
    def on_init_end(self, args, state, control, **kwargs):
        """Keep the rows' stage tag through the Trainer's collator (`current` strips it)."""
        if args.remove_unused_columns:
            # only the columns the model's forward names would survive; the tag must reach
            # `StageDataset.current` (it never reaches the model)
            args.remove_unused_columns = False

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        """Stage 0 on a fresh run; on a resumed one, the state saved with the checkpoint."""
        if train_dataloader is not None:
            current_rows_only(train_dataloader, self.dataset)
        if self.selection.stage < 0:
            self.selection.set_budgets(self._budgets(args, state))
        if state.global_step > 0:
            if not args.ignore_data_skip:
                raise MacsError(
                    "resuming with SelectionCallback needs TrainingArguments(ignore_data_skip=True): "
                    "macs restores the data position itself"
                )
            self._load(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            return
        self.stage = self.selection.initial()
        self.dataset.set_stage(self.stage.idx, 0)
        self._record(args, self.stage)

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        """At every stage boundary: rewards on the current model -> the next stage's documents."""
        step = state.global_step
        if step % self.refresh_every or step >= state.max_steps:
            return
        if self.selection.stage + 1 >= self.selection.n_stages:
            return
        k, n = self.selection.stage + 1, self.selection.n_stages
        clock = Stopwatch()
        self._say(args, f"[macs] step {step}: refresh {k} of {n - 1}, rewards on the current model")
        self.stage = self.selection.refresh(model, step=step, optimizer=optimizer)
        self._say(
            args,
            f"[macs] stage {k}: {len(self.stage.idx):,} docs, {self.stage.n_tokens:,} tokens "
            f"(selected in {clock.seconds:.1f} s)",
        )
        self.stage.log["step"] = step
        self.dataset.set_stage(self.stage.idx, self.stage.stage)
        self._record(args, self.stage)

    def on_save(self, args, state, control, **kwargs):
        """Write the selection state, the dataset position and the current stage into the checkpoint."""
        from macs.select.console.state import save_state

        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not ckpt.exists() or self.stage is None:
            return
        save_state(
            ckpt / STATE_FILE,
            {
                "selection": self.selection.state_dict(),
                "dataset": self.dataset.state_dict(),
                "stage": {
                    "stage": int(self.stage.stage),
                    "budget": int(self.stage.budget),
                    "idx": np.asarray(self.stage.idx),
                },
                "budgets": list(self.selection.stage_budgets),
            },
        )

    def _load(self, ckpt: Path) -> None:
        from macs.select.console.state import load_state
        from macs.select.online import Stage

        path = ckpt / STATE_FILE
        if not path.exists():
            raise MacsError(
                f"{ckpt} has no {STATE_FILE}: it was not written with SelectionCallback; resume "
                "from a checkpoint of the same run"
            )
        sd = load_state(path)
        self.selection.set_budgets([int(b) for b in sd["budgets"]])
        self.selection.load_state_dict(sd["selection"])
        st = sd["stage"]
        self.stage = Stage(
            int(st["stage"]), np.asarray(st["idx"], dtype=np.int64), int(st["budget"])
        )
        self.dataset.set_stage(self.stage.idx, self.stage.stage)
        self.dataset.load_state_dict(sd["dataset"])
