"""The import contract of issue 21 (scripts/import_graph.py --check): core < data < train <
eval/select < app, imports inside functions included, no cycle between packages. The contract
holds on the source, and the check fails on a deliberately added upward import, a same-layer
import between eval and select, a package cycle and a module outside the layers."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"


def _graph(root: Path | None = None):
    spec = importlib.util.spec_from_file_location("import_graph_contract", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if root is not None:
        mod.ROOT = root
    return mod


def _cycles(g) -> list[list[str]]:
    edges, lines, _, _ = g.graph()
    return g.strongly_connected(set(lines), edges)


def test_the_source_keeps_the_contract():
    g = _graph()
    assert g.upward_imports() == []
    assert _cycles(g) == []
    assert not (g.ROOT / "bundle").exists(), "the GPU bundle lives in tools/, not in the library"


def test_the_script_exits_0_on_the_source():
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 upward imports, 0 package cycles" in r.stdout


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of src/macs to plant imports in."""
    dst = tmp_path / "macs"
    shutil.copytree(_graph().ROOT, dst, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copytree(_graph().ROOT / "data", dst / "data", ignore=shutil.ignore_patterns("*.npz"))
    return dst


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted():\n    {line}\n")


def test_an_upward_import_inside_a_function_fails(copy):
    _plant(copy / "train" / "loop.py", "from macs.app.config import Config  # noqa")
    g = _graph(copy)
    bad = g.upward_imports()
    assert len(bad) == 1
    assert (
        bad[0].startswith("macs/train/loop.py:")
        and "macs.train.loop -> macs.app.config (upward)" in bad[0]
    )
    assert g.main(["--check"]) == 1


def test_core_importing_data_fails(copy):
    _plant(copy / "core" / "io.py", "import macs.data.pool")
    assert [b.split(": ", 1)[1] for b in _graph(copy).upward_imports()] == [
        "macs.core.io -> macs.data.pool (upward)"
    ]


def test_eval_and_select_do_not_import_each_other(copy):
    _plant(copy / "eval" / "suite.py", "from macs.select.online import OnlineSelection")
    assert [b.split(": ", 1)[1] for b in _graph(copy).upward_imports()] == [
        "macs.eval.suite -> macs.select.online (same layer)"
    ]


def test_a_cycle_between_packages_of_one_layer_fails(copy):
    g = _graph(copy)
    edges, _, _, _ = g.graph()
    assert ("data.labels", "data.corpus") in edges  # labels read the store today
    _plant(copy / "data" / "corpus" / "store.py", "from macs.data.labels import sidecar")
    g = _graph(copy)
    assert g.upward_imports() == []  # same layer: only the cycle check sees it
    assert _cycles(g) == [["data.corpus", "data.labels"]]
    assert g.main(["--check"]) == 1


def test_a_module_outside_the_layers_fails(copy):
    (copy / "helpers.py").write_text("X = 1\n")
    bad = _graph(copy).upward_imports()
    assert bad == ["macs/helpers.py:1: macs.helpers is in no layer (LAYERS)"]
