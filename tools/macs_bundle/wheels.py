"""Wheels of the packages the GPU image lacks, for its Python and platform (x86-64 manylinux).

Versions are the ones installed here (so the bundle runs what the tests ran); `pip download
--no-deps --only-binary=:all:` fetches them for another Python version and platform. Every
wheel's own requirements are checked against the image's package list plus the carried ones,
so a missing dependency fails here, not on the GPU machine.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from macs.core.errors import MacsError
from macs_bundle.image import CARRIED, missing_from_image, normalize

PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def pinned_specs(dists: list[str] | None = None) -> list[str]:
    """'name==version' of each carried distribution, at the version installed here."""
    out = []
    for d in dists or [d for d, _, _ in CARRIED]:
        try:
            out.append(f"{d}=={metadata.version(d)}")
        except metadata.PackageNotFoundError as e:
            raise MacsError(
                f"{d} is not installed here, so its version for the bundle is unknown; run "
                "`bash scripts/setup.sh dev` (the bundle carries what the tests ran)"
            ) from e
    return out


def download(specs: list[str], out: Path, python_version: str) -> None:
    """pip download the wheels of `specs` (no dependencies) for CPython `python_version` on x86-64 Linux."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python_version, "--implementation", "cp", "-d", str(out)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    res = subprocess.run(cmd + specs, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-6:])
        raise MacsError(
            f"pip download of {', '.join(specs)} for Python {python_version} failed (needs "
            f"PyPI):\n{tail}"
        )


def wheel_requirements(path: Path, python_version: str) -> list[str]:
    """Distribution names a wheel requires on Linux x86-64 CPython `python_version` (extras skipped)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(name).decode("utf-8", "replace")
    env = {**default_environment(), "python_version": python_version, "sys_platform": "linux"}
    env.update(platform_machine="x86_64", implementation_name="cpython", extra="")
    out = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is None or req.marker.evaluate(env):
            out.append(req.name)
    return out


def fetch_wheels(out: Path, python_version: str = "3.12", log=None) -> list[dict]:
    """Download the carried wheels into `out` (cleared of old wheels); their file, dist, version, bytes, sha256."""
    log = log or (lambda m: print(f"[bundle] {m}", file=sys.stderr))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    specs = pinned_specs()
    download(specs, out, python_version)
    files = sorted(out.glob("*.whl"))
    rows = []
    for spec in specs:
        dist, version = spec.split("==")
        key = normalize(dist).replace("-", "_")
        match = [f for f in files if normalize(f.name.split("-")[0]).replace("-", "_") == key]
        if len(match) != 1:
            raise MacsError(f"expected one wheel of {spec} in {out}, found {len(match)}")
        f = match[0]
        missing = missing_from_image(wheel_requirements(f, python_version))
        if missing:
            raise MacsError(
                f"{f.name} requires {', '.join(missing)}, which neither the GPU image nor the "
                "bundle carries; add it to macs_bundle.image.CARRIED"
            )
        data = f.read_bytes()
        rows.append(
            {
                "file": f.name,
                "dist": dist,
                "version": version,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    log(
        f"{len(rows)} wheels for Python {python_version}: "
        f"{sum(r['bytes'] for r in rows) / 2**20:.1f} MiB"
    )
    return rows
