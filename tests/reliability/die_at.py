"""Run `macs ARGS` and die like kill -9 (os._exit: no finally blocks, no buffers flushed) just
before its K-th file-system mutation: an open for writing, a rename/replace, an unlink, a
directory removal. K=0 runs to the end and prints the number of mutations it made, so a sweep
can stop a command at each of them in turn (benchmarks/fault_campaign.py, tests/reliability).
With DIE_AT_TRACE=1 every mutation is printed to stderr with its number (to find a failing k).

    python tests/reliability/die_at.py K -- ARGS...
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import sys

DIED = 137


def install(k: int) -> list[int]:
    """Wrap the mutating calls; return the live counter [n]."""
    count = [0]
    trace = os.environ.get("DIE_AT_TRACE") == "1"

    def hit(what):
        count[0] += 1
        if trace:
            print(f"mutation {count[0]}: {what}", file=sys.stderr)
        if count[0] == k:
            sys.stderr.flush()
            os._exit(DIED)

    def wrap(fn, writes=None):
        def inner(*a, **kw):
            if writes is None or writes(a, kw):
                hit(f"{fn.__name__}{tuple(map(str, a[:2]))}")
            return fn(*a, **kw)

        return inner

    def opens_for_writing(a, kw):
        mode = a[1] if len(a) > 1 else kw.get("mode", "r")
        return isinstance(mode, str) and any(c in mode for c in "wax+")

    def os_open_writes(a, kw):
        flags = a[1] if len(a) > 1 else kw.get("flags", 0)
        return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))

    builtins.open = io.open = wrap(io.open, opens_for_writing)
    os.open = wrap(os.open, os_open_writes)
    for name in ("replace", "rename", "unlink", "remove", "rmdir"):
        setattr(os, name, wrap(getattr(os, name)))
    shutil.rmtree = wrap(shutil.rmtree)
    return count


def main() -> None:
    k = int(sys.argv[1])
    assert sys.argv[2] == "--", "usage: die_at.py K -- ARGS..."
    count = install(k)
    from macs.app.cli import main as macs_main

    code = 0
    try:
        macs_main(sys.argv[3:])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    if k == 0:
        print(f"mutations {count[0]}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
