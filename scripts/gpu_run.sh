#!/usr/bin/env bash
# Run a GPU bundle (scripts/gpu_bundle.sh) on the lent GPU machine, from the repository root of the
# carried source tree, in at most 9 minutes of wall time:
#   bash scripts/gpu_run.sh [BUNDLE_DIR] [--set KEY=VALUE ...]     # BUNDLE_DIR default .gpu_bundle
# 1. installs the bundle's wheels with no index into $MACS_SITE (default /tmp/macs-site);
# 2. python -m macs_bundle run (tools/macs_bundle; tools and src go on PYTHONPATH): the
#    reward-engine benchmark, the training-throughput benchmark and macs compare
#    (configs/compare-gpu.yaml: random, multi_actor and the A/A arm x 5 seeds, then the
#    compute-matched arm random@multi_actor after multi_actor's runs, then fixed_theta and ma_eps;
#    macs_bundle.phases), each guarded, inside one time budget;
# 3. writes results.md, results.json, table.json, forest.png, diversity.png, bench_influence.txt,
#    bench_train.txt and log.txt to $OUT (default ./gpu-results).
# Environment: OUT, PYTHON (default python3), MACS_SITE, MACS_WORK (scratch, default
# /tmp/macs-gpu-work), MACS_BUDGET_S (default: the bundle profile's, 540 s for the GPU).
set -uo pipefail
export MACS_T0="${MACS_T0:-$(date +%s)}"
cd "$(dirname "$0")/.."
BUNDLE="${1:-.gpu_bundle}"
[ $# -gt 0 ] && shift
PY="${PYTHON:-python3}"
OUTDIR="${OUT:-gpu-results}"
SITE="${MACS_SITE:-/tmp/macs-site}"
WORK="${MACS_WORK:-/tmp/macs-gpu-work}"
if [ ! -f "$BUNDLE/bundle.json" ]; then
  echo "[gpu_run] no bundle at $BUNDLE; build it with bash scripts/gpu_bundle.sh" >&2
  exit 2
fi
mkdir -p "$OUTDIR"
echo "[gpu_run] installing $(ls "$BUNDLE"/wheels/*.whl | wc -l) wheels into $SITE" >&2
if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$BUNDLE"/wheels/*.whl >"$OUTDIR/pip.log" 2>&1; then
  cat "$OUTDIR/pip.log" >&2
  echo "[gpu_run] installing the wheels failed (log above)" >&2
  mv "$OUTDIR/pip.log" "$OUTDIR/log.txt"
  exit 1
fi
rm -f "$OUTDIR/pip.log"
export PYTHONPATH="$PWD/tools:$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
budget=()
[ -n "${MACS_BUDGET_S:-}" ] && budget=(--budget-s "$MACS_BUDGET_S")
exec "$PY" -m macs_bundle run --bundle "$BUNDLE" --out "$OUTDIR" --work "$WORK" "${budget[@]}" "$@"
