"""examples/hf_trainer.py: a real transformers.Trainer with SelectionCallback; killed and resumed, it
selects exactly what an uninterrupted run selects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from macs.core.io import read_jsonl
from procs import wait_until

REPO = Path(__file__).resolve().parents[3]


def _cmd(sets: list[str], out: Path, *extra: str) -> list[str]:
    args = [sys.executable, str(REPO / "examples" / "hf_trainer.py"), "--out", str(out)]
    args += ["--max-steps", "24", "--refresh-every", "8", "--batch-size", "4", "--seq-len", "64"]
    args += ["--save-steps", "4", "--config", "none"]
    for kv in sets:
        args += ["--set", kv]
    return [*args, *extra]


@pytest.mark.slow
def test_hf_trainer_example_resumes_to_the_same_selections(tmp_path, mini_data):
    from macs.data.manifest import read_manifest

    _, sets = mini_data
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    clean = tmp_path / "clean"
    out = subprocess.run(_cmd(sets, clean), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(sets, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:  # kill it after the checkpoint at step 12 (inside stage 1) and before the end
        wait_until(proc, (killed / "checkpoint-12" / "macs_selection.npz").exists, 300)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    out = subprocess.run(
        _cmd(sets, killed, "--resume"), env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for k in range(3):
        a = read_manifest(clean / "macs" / "stages" / f"stage-{k}.parquet")[0]
        b = read_manifest(killed / "macs" / "stages" / f"stage-{k}.parquet")[0]
        assert a.column("id").to_pylist() == b.column("id").to_pylist(), k
    sel = read_jsonl(clean / "macs" / "selection.jsonl")
    assert [r["stage"] for r in sel] == [0, 1, 2] and sel[1]["theta"] != sel[0]["theta"]
    assert sel[1]["n_reward_docs"] > 0 and sel[1]["step"] == 8


class _RecordingLM:
    """A plain torch causal LM (not a PreTrainedModel) that keeps every row the Trainer trains on."""

    @staticmethod
    def make(vocab: int, seen: list, stage_of):
        import torch

        class LM(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(vocab, 16)
                self.out = torch.nn.Linear(16, vocab)

            def forward(self, input_ids, labels=None):
                logits = self.out(torch.cumsum(self.emb(input_ids), dim=1))
                if labels is None:  # the reward pass
                    return logits
                seen.extend((stage_of(), row) for row in input_ids.tolist())
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1)
                )
                return {"loss": loss, "logits": logits}

        return LM()


@pytest.mark.parametrize("workers", [0, 2, 4])
def test_trainer_trains_only_on_the_current_stage(tmp_path, mini_pool, workers):
    """Issue 25: behind dataloader_num_workers (and the Trainer's own fetch-ahead) every row
    trained after a refresh comes from the new stage."""
    import torch
    from transformers import Trainer, TrainingArguments

    import macs
    from macs.train.data import PackedStage

    pool, cfg = mini_pool
    torch.manual_seed(0)
    sel = macs.OnlineSelection.from_config(cfg, pool=pool, log=lambda m: None)
    ds = macs.StageDataset(pool.tokens, seq_len=32, seed=0)
    cb = macs.SelectionCallback(sel, ds, refresh_every=2)
    seen: list = []
    model = _RecordingLM.make(int(pool.tokens.vocab_size), seen, lambda: cb.stage)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=workers,
        ignore_data_skip=True,
    )
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[cb]).train()
    assert len(seen) == 4 * 4
    assert [st.stage for st, _ in seen] == [0] * 8 + [1] * 8
    for st in {id(st): st for st, _ in seen}.values():
        ref = PackedStage(pool.tokens, st.idx, 32, 0, st.stage)
        rows = {tuple(ref.sequence(k).tolist()) for k in range(64)}
        mine = [row for s, row in seen if s is st]
        assert all(tuple(r) in rows for r in mine), f"stage {st.stage}: rows of another stage"


def test_callback_refuses_the_in_run_reward_source(mini_pool):
    """influence.source=train needs the training loop's hooks: the callback says so in one line."""
    import macs
    from macs.core.errors import MacsError

    pool, cfg = mini_pool
    cfg = cfg.model_copy(update={"influence": cfg.influence.model_copy(update={"source": "train"})})
    sel = macs.OnlineSelection.from_config(cfg, pool=pool, log=lambda m: None)
    assert sel.inrun is not None
    ds = macs.StageDataset(pool.tokens, seq_len=32, seed=0)
    with pytest.raises(MacsError, match="influence.source=refresh"):
        macs.SelectionCallback(sel, ds, refresh_every=2)


def _readme_commands(marker: str) -> list[list[str]]:
    """The README's bash block after `marker`, one argv per command (continuations joined)."""
    import re
    import shlex

    readme = (REPO / "README.md").read_text()
    block = re.search(rf"<!-- readme-test: {marker} -->\n```bash\n(.*?)```", readme, re.S)
    assert block, f"the README lost its {marker} block"
    text = block.group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_own_data_commands_run(tmp_path, mini_corpus_path):
    """Issue 25: the README's own-data path, as written, on the mini corpus (my.jsonl), with a
    progress line for the BPE training, each labeller's fit and each refresh."""
    import time

    from macs.data.manifest import read_manifest

    (tmp_path / "my.jsonl").symlink_to(mini_corpus_path)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    err = ""
    for argv in _readme_commands("own-data"):
        if argv[0] == "macs":
            argv = [sys.executable, "-m", "macs", *argv[1:]]
        else:
            assert argv[:2] == ["python", "examples/hf_trainer.py"], argv
            argv = [sys.executable, str(REPO / argv[1]), *argv[2:]]
        t0 = time.perf_counter()
        out = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, (argv, out.stderr[-3000:])
        err += out.stderr
        print(f"{time.perf_counter() - t0:6.1f} s  {' '.join(argv[1:4])}")
    assert "training a 4096-token byte-level BPE" in err
    assert "topic: fitting topic/tfidf on a" in err
    assert "[macs] step 20: refresh 1 of 2, rewards on" in err and "[macs] stage 2:" in err
    # the Trainer's output_dir exports as it is: its stages, and the store they record
    out = subprocess.run(
        [sys.executable, "-m", "macs", "export", "runs/hf-mine", "-f", "jsonl", "-o", "sel.jsonl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "sel.jsonl").read_text().count("\n") > 0
    stages = tmp_path / "runs" / "hf-mine" / "macs" / "stages"
    assert [read_manifest(stages / f"stage-{k}.parquet")[0].num_rows > 0 for k in range(3)] == [
        True
    ] * 3
