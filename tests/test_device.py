"""macs.core.device is the one device resolver: training, labellers and eval loading all agree."""

from __future__ import annotations

import pytest
import torch

from macs.core.device import resolve_device, torch_device
from macs.core.errors import MacsError
from macs.data.labels.scorers import _TorchScorer


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert torch_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("auto", local_rank=1, world=2) == "cuda:1"
    assert resolve_device("cuda", local_rank=1, world=2) == "cuda:1"
    assert resolve_device("cuda:3") == "cuda:3"


def test_plain_values_pass(no_cuda):
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("mps") == "mps"


def test_cuda_without_gpu_names_the_option_to_change(no_cuda):
    with pytest.raises(MacsError, match=r"'cuda'.*not available.*use device cpu"):
        resolve_device("cuda")
    with pytest.raises(MacsError, match=r"'cuda:1'.*not available.*use --device cpu"):
        torch_device("cuda:1", option="--device")


def test_unknown_device_is_one_line_error(no_cuda):
    with pytest.raises(MacsError, match=r"'xpu'.*auto, cpu, cuda, cuda:N or mps"):
        resolve_device("xpu")


def test_labeller_device_uses_the_shared_resolver(no_cuda):
    # The labellers once passed every value but 'auto' through unchecked, so a missing GPU
    # surfaced as a torch traceback at model.to(); now it is the same MacsError as training's.
    assert _TorchScorer("auto", 16, 2).device == "cpu"
    with pytest.raises(MacsError, match="CUDA is not available"):
        _TorchScorer("cuda", 16, 2)
    with pytest.raises(MacsError, match="'xpu'"):
        _TorchScorer("xpu", 16, 2)
