"""Every shipped config loads, and a comparison config's declared contrasts name its methods:
a long run started from `configs/` must not fail on its own file."""

from pathlib import Path

import pytest

from macs import load_config
from macs.app.pipeline import check_contrasts

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml")) + [REPO / "src/macs/configs/demo.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads_and_its_contrasts_name_its_methods(path):
    cfg = load_config(path)
    methods = list(cfg.compare.methods)
    assert methods, f"{path.name}: no methods to compare"
    check_contrasts(list(cfg.compare.contrasts), methods)
    for m in methods:  # a compute-matched arm BASE@TARGET needs both sides in the comparison
        if "@" in m and m not in cfg.compare.variants:
            target = m.split("@", 1)[1]
            assert target in methods, f"{path.name}: {m} without its target {target}"


def test_the_redesigned_cpu_comparison_declares_its_primary_contrasts():
    cfg = load_config(REPO / "configs/compare-cpu.yaml")
    assert cfg.compare.contrasts and cfg.compare.primary_metrics
    assert "random" in cfg.compare.methods and len(cfg.compare.seeds) >= 6
