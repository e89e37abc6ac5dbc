"""Time the README's own-data commands (import, label, tokenize, examples/hf_trainer.py) on a JSONL.

    python benchmarks/bench_readme_own_data.py FILE.jsonl          # the README block, as written
    python benchmarks/bench_readme_own_data.py --make-corpus my.jsonl   # then time it

Each command runs in a fresh temporary folder with `my.jsonl` linked to FILE (what the README
calls it), OMP_NUM_THREADS=1; prints the seconds of each command and the total, and the
refresh lines of the trainer. `--make-corpus` writes the corpus the README's numbers came from:
3,000 records (seeded shuffle) of Python sources of this interpreter's standard library and of
the venv's site-packages (6,000 characters each) and /usr/share/doc copyright files, with the
domain stdlib / package / licence.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands(marker: str = "own-data") -> list[list[str]]:
    """The README's bash block after `<!-- readme-test: marker -->`, one argv per command."""
    readme = (REPO / "README.md").read_text()
    block = re.search(rf"<!-- readme-test: {marker} -->\n```bash\n(.*?)```", readme, re.S)
    if block is None:
        raise SystemExit(f"README.md has no {marker} block")
    text = block.group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


def make_corpus(out: Path, n: int = 3000, seed: int = 0) -> None:
    """The README's timing corpus (see the module docstring)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    recs = []
    for root, skip_site in ((stdlib, True), (site, False)):
        for p in sorted(root.rglob("*.py")):
            if {"test", "tests"} & set(p.parts) or (skip_site and "site-packages" in p.parts):
                continue
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if len(text) >= 500:
                dom = "package" if "site-packages" in p.parts else "stdlib"
                recs.append({"id": str(p), "text": text[:6000], "domain": dom})
    for p in sorted(Path("/usr/share/doc").rglob("copyright"))[:400]:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            recs.append({"id": str(p), "text": p.read_text("utf-8")[:6000], "domain": "licence"})
    random.Random(seed).shuffle(recs)
    with open(out, "w", encoding="utf-8") as f:
        for r in recs[:n]:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {min(n, len(recs))} records to {out}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jsonl", type=Path, help="the corpus (README: my.jsonl)")
    ap.add_argument("--make-corpus", action="store_true", help="write the timing corpus first")
    a = ap.parse_args()
    if a.make_corpus:
        make_corpus(a.jsonl)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "my.jsonl").symlink_to(a.jsonl.resolve())
        for argv in readme_commands():
            if argv[0] == "macs":
                argv = [sys.executable, "-m", "macs", *argv[1:]]
            else:
                argv = [sys.executable, str(REPO / argv[1]), *argv[2:]]
            t0 = time.perf_counter()
            out = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            total += dt
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                return out.returncode
            print(f"{dt:7.1f} s  {' '.join(argv[1:4])}")
            for line in out.stderr.splitlines():
                if line.startswith("[macs] stage"):
                    print(f"           {line}")
    print(f"{total:7.1f} s  in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
