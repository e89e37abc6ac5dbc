"""Loading tensor files from others: no code runs, tampered checkpoints are refused clearly,
and every torch.load in src/ uses weights_only=True."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from macs.core.errors import MacsError
from macs.core.safe_load import expected_shapes, load_state_file, load_tensors

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(16, 4), torch.nn.Linear(4, 3))


def test_round_trip_pt_and_safetensors(tmp_path, model):
    from safetensors.torch import save_file

    sd = model.state_dict()
    torch.save(sd, tmp_path / "model.pt")
    save_file(sd, str(tmp_path / "model.safetensors"))
    for name in ("model.pt", "model.safetensors"):
        got = load_state_file(tmp_path / name, expected_shapes(model))
        assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_tampered_checkpoints_are_refused(tmp_path, model):
    want = expected_shapes(model)
    sd = dict(model.state_dict())
    wrong = {**sd, "1.weight": torch.zeros(5, 4)}
    torch.save(wrong, tmp_path / "shape.pt")
    with pytest.raises(
        MacsError,
        match=r"shape\.pt: does not match the model \(1\.weight has shape \(5, 4\), expected \(3, 4\)",
    ):
        load_state_file(tmp_path / "shape.pt", want)
    missing = {k: v for k, v in sd.items() if k != "1.bias"}
    torch.save({**missing, "evil.extra": torch.zeros(1)}, tmp_path / "keys.pt")
    with pytest.raises(MacsError) as e:
        load_state_file(tmp_path / "keys.pt", want)
    assert "missing '1.bias'" in str(e.value) and "unexpected 'evil.extra'" in str(e.value)
    torch.save({**sd, "0.weight": [1, 2, 3]}, tmp_path / "notensor.pt")
    with pytest.raises(MacsError, match="0.weight is a list, not a tensor"):
        load_state_file(tmp_path / "notensor.pt", want)


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, model):
    marker = tmp_path / "pwned"
    torch.save({**model.state_dict(), "x": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(MacsError) as e:
        load_state_file(tmp_path / "evil.pt", expected_shapes(model))
    assert "refused to load" in str(e.value) and "system" in str(e.value)
    assert not marker.exists()


def test_truncated_and_missing_files(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MacsError, match=r"cut\.pt: not a complete torch file"):
        load_tensors(tmp_path / "cut.pt")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(MacsError, match=r"cut\.safetensors: not a readable safetensors file"):
        load_tensors(tmp_path / "cut.safetensors")
    with pytest.raises(MacsError, match="no such file"):
        load_tensors(tmp_path / "nope.pt")


def test_numpy_rng_state_loads_only_when_allowed(tmp_path):
    import random

    import numpy as np

    st = {"numpy": np.random.get_state(), "python": random.getstate(), "x": np.float64(2.5)}
    torch.save(st, tmp_path / "state.pt")
    with pytest.raises(MacsError, match="refused to load"):
        load_tensors(tmp_path / "state.pt")
    got = load_tensors(tmp_path / "state.pt", allow_numpy=True)
    assert got["numpy"][0] == "MT19937" and np.array_equal(got["numpy"][1], st["numpy"][1])


def _unsafe_loads(files) -> list[str]:
    """`torch.load(...)` calls without weights_only=True in these files."""
    bad = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start() : text.find(")", m.start()) + 1]
            if "weights_only=True" not in call:
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{f.relative_to(SRC)}:{line}: {call}")
    return bad


CHECKPOINT = SRC / "macs" / "train" / "checkpoint.py"


def test_every_torch_load_in_src_is_weights_only():
    """A grep over src/ (train/checkpoint.py apart, see below): each torch.load passes
    weights_only=True, and nothing unpickles (the labelling job refits instead, issue 22; the
    full check of every code-running load is tests/reliability/test_no_unsafe_loads.py)."""
    files = [f for f in SRC.rglob("*.py") if f != CHECKPOINT]
    bad = _unsafe_loads(files)
    assert not bad, "torch.load without weights_only=True:\n" + "\n".join(bad)
    pickles = [f.name for f in files if "pickle.load(" in f.read_text(encoding="utf-8")]
    assert pickles == []


def test_checkpoints_load_weights_only():
    assert not _unsafe_loads([CHECKPOINT])


def _tiny_llama(folder: Path) -> dict:
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return load_file(str(folder / "model.safetensors"))


def test_eval_load_model_refuses_tampered_weights(tmp_path):
    """macs.eval.load_model: a missing tensor (transformers would initialise it at random), a
    wrong shape (a traceback before) or a pickle with code are one-line MacsErrors."""
    from safetensors.torch import save_file

    from macs.eval.loading import _load_weights

    folder = tmp_path / "m"
    sd = _tiny_llama(folder)
    from transformers import AutoModelForCausalLM

    model = _load_weights(AutoModelForCausalLM, folder, torch.float32, {})
    assert model.config.vocab_size == 64
    key = "model.layers.0.mlp.down_proj.weight"
    save_file({k: v for k, v in sd.items() if k != key}, str(folder / "model.safetensors"))
    with pytest.raises(MacsError, match=rf"do not match the model's config \(missing {key}\)"):
        _load_weights(AutoModelForCausalLM, folder, torch.float32, {})
    save_file({**sd, key: torch.zeros(3, 3)}, str(folder / "model.safetensors"))
    with pytest.raises(
        MacsError, match=r"do not match the model's config \(a tensor has the wrong"
    ):
        _load_weights(AutoModelForCausalLM, folder, torch.float32, {})
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({**sd, "x": _Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(MacsError, match="refused to load the weights"):
        _load_weights(AutoModelForCausalLM, folder, torch.float32, {})
    assert not marker.exists()


def test_save_tensors_disk_full_is_one_clear_line(tmp_path, model, monkeypatch):
    import errno

    from macs.core import io as macs_io
    from macs.core.safe_load import save_tensors

    save_tensors(model.state_dict(), tmp_path / "model.pt")
    before = (tmp_path / "model.pt").read_bytes()
    assert set(load_state_file(tmp_path / "model.pt", expected_shapes(model))) == set(
        model.state_dict()
    )

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(macs_io, "write_bytes", full)
    with pytest.raises(MacsError, match=r"model\.pt: disk full; free some space"):
        save_tensors({"x": torch.zeros(3)}, tmp_path / "model.pt")
    assert (tmp_path / "model.pt").read_bytes() == before
