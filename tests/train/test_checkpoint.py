"""Checkpoints survive a kill at any point of a save, including the second save of a stage
boundary's step, which replaces the directory that latest.json names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from macs.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


def _model_opt(fill: float):
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 3)
    with torch.no_grad():
        m.weight.fill_(fill)
    return m, torch.optim.AdamW(m.parameters(), lr=1e-3)


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after the raising point runs."""


def _kill_at_rename(monkeypatch, n: int) -> None:
    """Let the first n-1 Path.rename calls through, then 'kill' the process at the n-th."""
    real, calls = Path.rename, []

    def rename(self, target):
        calls.append((self.name, Path(target).name))
        if len(calls) == n:
            raise Killed
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)


@pytest.mark.parametrize("kill_at", [1, 2])  # 1: after moving the old one aside; 2: tmp -> final
def test_second_save_at_the_same_step_killed_between_renames(tmp_path, monkeypatch, kill_at):
    ck = tmp_path / "checkpoints"
    m, opt = _model_opt(1.0)
    save_checkpoint(ck, 8, m, opt, {"stage_ready": False})
    m2, opt2 = _model_opt(2.0)
    _kill_at_rename(monkeypatch, kill_at)
    with pytest.raises(Killed):
        save_checkpoint(ck, 8, m2, opt2, {"stage_ready": True})
    monkeypatch.undo()
    d = latest_checkpoint(ck)  # the first save of step 8, complete (moved back if it was aside)
    assert d == ck / "step-0000008"
    m3, opt3 = _model_opt(0.0)
    state = load_checkpoint(d, m3, opt3)
    assert state["stage_ready"] is False and torch.all(m3.weight == 1.0)
    # the rerun saves step 8 again and leaves nothing stale behind
    save_checkpoint(ck, 8, m2, opt2, {"stage_ready": True})
    assert load_checkpoint(latest_checkpoint(ck), m3, opt3)["stage_ready"] is True
    assert torch.all(m3.weight == 2.0)
    assert sorted(p.name for p in ck.iterdir()) == ["latest.json", "step-0000008"]


def test_replacing_a_step_leaves_the_new_one_and_older_steps_go(tmp_path):
    ck = tmp_path / "checkpoints"
    m, opt = _model_opt(1.0)
    save_checkpoint(ck, 4, m, opt, {"k": 4})
    save_checkpoint(ck, 8, m, opt, {"k": 8}, keep={4})
    save_checkpoint(ck, 8, m, opt, {"k": 9}, keep={4})
    assert load_checkpoint(latest_checkpoint(ck), m, opt)["k"] == 9
    assert sorted(p.name for p in ck.iterdir()) == ["latest.json", "step-0000004", "step-0000008"]
    save_checkpoint(ck, 12, m, opt, {"k": 12})
    assert sorted(p.name for p in ck.iterdir()) == ["latest.json", "step-0000012"]


def test_a_checkpoint_missing_its_files_is_a_clear_error(tmp_path):
    ck = tmp_path / "checkpoints"
    m, opt = _model_opt(1.0)
    save_checkpoint(ck, 4, m, opt, {})
    (ck / "step-0000004" / "state.pt").unlink()
    with pytest.raises(Exception, match="incomplete; delete"):
        latest_checkpoint(ck)
