"""The run's Plan (computed once, a frozen dataclass) and how checkpoints hold it: as the plain dict
macs has always written, so checkpoints of earlier runs resume."""

from __future__ import annotations

import dataclasses

import pytest

from macs.app.config import load_config
from macs.train.state import Plan, TrainState, plan


def _cfg(**sets):
    base = {"train.tokens": 7680, "train.seq_len": 32, "train.batch_size": 4, "train.stages": 3}
    base.update(sets)
    return load_config(None, [f"{k}={v}" for k, v in base.items()])


def test_plan_of_a_config():
    p = plan(_cfg().train, 1)
    assert p == Plan(60, [0, 20, 40, 60], 128, [2560, 2560, 2560])
    assert p.n_stages == 3
    two = plan(_cfg().train, 2)  # tokens per step are all ranks'
    assert two.step_tokens == 256 and two.total_steps == 30 and sum(two.stage_budgets) == 7680
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.total_steps = 1  # type: ignore[misc]


def test_the_checkpoint_form_is_the_dict_plan_returned_before():
    p = plan(_cfg(**{"train.tokens": 7000, "train.stages": 4}).train, 1)
    # what macs.train.state.plan returned (and checkpoints stored) before Plan existed
    old = {
        "total_steps": 55,
        "bounds": [0, 14, 28, 41, 55],
        "step_tokens": 128,
        "stage_budgets": [14 * 128, 14 * 128, 13 * 128, 14 * 128],
    }
    assert p.to_dict() == dataclasses.asdict(p) == old and list(p.to_dict()) == list(old)
    assert Plan.from_dict(old) == p
    st = TrainState(plan=p, step=14, stage=1)
    saved = st.to_dict()
    assert saved["plan"] == old and type(saved["plan"]) is dict
    back = TrainState.from_dict(saved)
    assert back.plan == p and back.stage_end == 28 and back.n_stages == 4
    # a macs 0.1 state: plan dict and the `acc` window
    legacy = {"plan": old, "step": 3, "stage": 0, "acc": [1.5, 3, 384, 0.2]}
    st01 = TrainState.from_dict(legacy)
    assert st01.plan == p and st01.window.steps == 3 and st01.stage_end == 14
