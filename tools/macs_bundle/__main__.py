"""`python -m macs_bundle build|run|prepare|report|env`: the GPU bundle's commands.

    python -m macs_bundle build [--out .gpu_bundle] [--config configs/compare-gpu.yaml]   # here
    python -m macs_bundle run --bundle .gpu_bundle --out $OUT                             # there
(prepare, report and env are the run's steps, each started in its own process by `run`.)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from macs_bundle import DEFAULT_DIR, LIMIT_MB


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m macs_bundle", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the bundle folder on this machine (needs PyPI)")
    b.add_argument("--out", type=Path, default=Path(DEFAULT_DIR), help="bundle folder")
    b.add_argument("--config", type=Path, default=Path("configs/compare-gpu.yaml"))
    b.add_argument("--profile", default="gpu", help="gpu (the real run) or tiny (CPU test)")
    b.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    b.add_argument("--max-mb-per-domain", type=float, default=None, help="demo pool size")
    b.add_argument("--pool-jsonl", type=Path, action="append", default=None,
                   help="build the pool from these JSONL files instead of the demo corpus")  # fmt: skip
    b.add_argument("--python-version", default="3.12", help="Python of the wheels (GPU: 3.12)")
    b.add_argument("--limit-mb", type=float, default=LIMIT_MB, help="fail above this size (MiB)")
    b.add_argument("--no-precompute", action="store_true", help="leave dsir's weights to the run")
    r = sub.add_parser("run", help="run the bundle (on the GPU machine)")
    r.add_argument("--bundle", type=Path, default=Path(DEFAULT_DIR))
    r.add_argument("--out", type=Path, required=True, help="results folder (at most 8 files)")
    r.add_argument("--work", type=Path, default=Path("/tmp/macs-gpu-work"), help="scratch folder")
    r.add_argument("--budget-s", type=float, default=None, help="wall-clock budget (profile's)")
    r.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    p = sub.add_parser("prepare", help="step: token shards, labels, pool numbers")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--json", type=Path, required=True)
    rep = sub.add_parser("report", help="step: the report over every finished run")
    rep.add_argument("--root", type=Path, required=True)
    rep.add_argument("--baseline", default="random")
    rep.add_argument("--method", default="multi_actor")
    e = sub.add_parser("env", help="step: machine, versions, GPU")
    e.add_argument("--json", type=Path, required=True)
    return ap


def _dispatch(args) -> int:
    if args.cmd == "build":
        from macs_bundle.build import build_bundle, summary
        from macs_bundle.profiles import get_profile

        info = build_bundle(
            args.out,
            args.config,
            get_profile(args.profile),
            args.sets,
            args.max_mb_per_domain,
            args.pool_jsonl,
            args.python_version,
            args.limit_mb,
            () if args.no_precompute else ("dsir",),
        )
        print(summary(info, args.out))
    elif args.cmd == "run":
        from macs_bundle.run import run_device

        cmd = "python -m macs_bundle " + shlex.join(sys.argv[1:])
        data = run_device(args.bundle, args.out, args.work, args.budget_s, args.sets, command=cmd)
        bad = [
            n
            for n, s in data["stages"].items()
            if s.get("rc") not in (0, None) or s.get("timed_out")
        ]
        if bad:
            print(
                f"[gpu_run] stages that failed or ran out of time: {', '.join(bad)}",
                file=sys.stderr,
            )
            return 3
    elif args.cmd == "prepare":
        from macs.app.config import load_config
        from macs_bundle.steps import prepare

        prepare(load_config(args.config, args.sets), args.json)
    elif args.cmd == "report":
        from macs_bundle.steps import final_report

        final_report(args.root, args.method, args.baseline)
    elif args.cmd == "env":
        import json

        from macs.core.io import write_json
        from macs_bundle.steps import environment

        env = environment()
        write_json(args.json, env)
        print(json.dumps(env))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse and run; a MacsError is one line on stderr and exit status 2; `run` exits 3 when a
    stage failed or ran out of time (its results are written all the same)."""
    from macs.core.errors import MacsError

    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except MacsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
