"""A virtual environment that holds only what the lent GPU machine's image holds (the part macs can
touch), for the bundle's emulation test: a package the image lacks and the bundle does not carry
fails here, not on the GPU.

torch is the CPU build 2.13.0 (local disk) standing in for the image's 2.11.0; transformers,
tokenizers, safetensors and accelerate at the image's versions; the rest at whatever pip resolves.
Afterwards every installed distribution the image's package list does not name is removed, so the
environment is never more generous than the image. Cached under ~/.cache/macs/gpu-venv/<key>
(key: Python version, this list, the image's list), built in a temporary folder and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from macs_bundle.image import IMAGE_VERSIONS, image_packages, normalize

# what macs imports (directly or through transformers/matplotlib/...) of the image's packages
PACKAGES = (
    "torch==2.13.0",
    *(f"{k}=={v}" for k, v in IMAGE_VERSIONS.items() if k != "torch"),
    "numpy",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "typer",
    "rich",
    "pyyaml",
    "matplotlib",
    "joblib",
    "tqdm",
    "regex",
    "requests",
    "pandas",
    "xxhash",
    "filelock",
    "packaging",
    "narwhals",
    "typing-extensions",
    "pip",
)


def cache_root() -> Path:
    """~/.cache/macs/gpu-venv (or $MACS_CACHE/gpu-venv)."""
    base = os.environ.get("MACS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "macs") / "gpu-venv"


def venv_key() -> str:
    """Hash of what the environment depends on: Python version, the package list, the image list."""
    blob = json.dumps([sys.version_info[:2], PACKAGES, sorted(image_packages())])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _installed(py: Path) -> list[str]:
    code = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def image_venv() -> tuple[Path, dict]:
    """(python of the cached emulation venv, {created: bool, seconds, removed: [...]}), built when missing."""
    root = cache_root()
    final = root / venv_key()
    py = final / "bin" / "python"
    if (final / "ok.json").exists() and py.exists():
        return py, {**json.loads((final / "ok.json").read_text()), "created": False}
    t0 = time.perf_counter()
    tmp = root / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
    tpy = tmp / "bin" / "python"
    pip = [str(tpy), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PACKAGES], check=True)
    have = image_packages()
    extra = [n for n in _installed(tpy) if normalize(n) not in have]
    if extra:  # never more generous than the image
        subprocess.run([str(tpy), "-m", "pip", "uninstall", "-y", "-q", *extra], check=True)
    info = {"seconds": round(time.perf_counter() - t0, 1), "removed": sorted(extra)}
    (tmp / "ok.json").write_text(json.dumps(info))
    # renamed into place (its python finds the venv by its own location; only `python -m` is used)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return py, {**info, "created": True}
