"""No executable formats are read anywhere in src/ (issue 22): no pickle/joblib/dill loads,
no torch.load without weights_only=True, no np.load(allow_pickle=True), no pandas.read_pickle,
no marshal loads, no yaml.load without a SafeLoader.
Checked on the syntax tree, so an alias (`from pickle import loads`) or a call split over lines
is caught as well; the checker itself is tested on a sample of each forbidden call."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
_UNPICKLERS = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve"}
_LOADS = {"load", "loads", "Unpickler", "open"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _safe_loader(call: ast.Call) -> bool:
    loader = [k.value for k in call.keywords if k.arg == "Loader"] + call.args[1:2]
    return bool(loader) and "Safe" in _dotted(loader[0])


def unsafe_loads(source: str, filename: str = "<src>") -> list[str]:
    """'file:line: what' for every call in `source` that can run code from a file."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> 'module.attr' for from-imports
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:  # `import numpy as np` -> np: numpy; `import a.b` -> a: a
                aliases[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, rest = name.partition(".")
        full = f"{aliases.get(head, head)}.{rest}" if rest else aliases.get(head, head)
        mod, _, attr = full.rpartition(".")
        where = f"{filename}:{node.lineno}: {name}(...)"
        unpickles = mod.split(".")[0] in _UNPICKLERS and attr in _LOADS
        runs_code = (
            unpickles
            or attr == "read_pickle"
            or (mod == "marshal" and attr in ("load", "loads"))
            or full in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all")
        )
        if runs_code:
            bad.append(where)
        elif full in ("yaml.load", "yaml.load_all") and not _safe_loader(node):
            bad.append(where + " without a SafeLoader")
        elif full == "torch.load" and not _kw_true(node, "weights_only"):
            bad.append(where + " without weights_only=True")
        elif attr == "load" and mod in ("numpy", "np") and _kw_true(node, "allow_pickle"):
            bad.append(where + " with allow_pickle=True")
    return bad


def test_src_has_no_unsafe_loads():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    bad = [b for f in files for b in unsafe_loads(f.read_text(encoding="utf-8"), str(f))]
    assert not bad, "code-running loads in src/ (use JSON/npz/safetensors):\n" + "\n".join(bad)


def test_the_checker_catches_each_form():
    samples = [
        "import pickle\npickle.load(f)",
        "import pickle\nx = pickle.loads(b)",
        "from pickle import loads\nloads(b)",
        "import pickle as pk\npk.Unpickler(f).load()",
        "import joblib\njoblib.load('m.joblib')",
        "import torch\ntorch.load(p)",
        "import torch\ntorch.load(p, weights_only=False)",
        "import numpy as np\nnp.load(p,\n  allow_pickle=True)",
        "import pandas as pd\npd.read_pickle(p)",
        "import cloudpickle\ncloudpickle.loads(b)",
        "import yaml\nyaml.load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.Loader)",
        "import yaml\nyaml.unsafe_load(s)",
        "import marshal\nmarshal.loads(b)",
    ]
    for s in samples:
        assert unsafe_loads(s), s
    safe = [
        "import torch\ntorch.load(p, map_location='cpu', weights_only=True)",
        "import numpy as np\nnp.load(p)",
        "import numpy as np\nnp.load(p, allow_pickle=False)",
        "import pickle\npickle.dumps(x)",
        "import json\njson.load(f)",
        "import yaml\nyaml.safe_load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
    ]
    for s in safe:
        assert not unsafe_loads(s), s
