#!/usr/bin/env bash
# The GPU check: every model kind trained on CUDA (benchmarks/gpu_check.py: K = 4 members, 50
# steps under Trainer(accelerator='gpu'), finite losses, member k = its K = 1 run), then the
# ensemble benchmark on the GPU at K up to 1,024. About 5 minutes on one H200; needs a CUDA
# build of torch in .venv. Where CUDA is absent it fails at once with one line (exit 1).
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
why=$("$PY" -c 'import torch; print("" if torch.cuda.is_available() else f"torch {torch.__version__} sees no GPU")' 2>&1 | tail -n 1) || true
if [[ -n "$why" ]]; then
    echo "gpu_check: CUDA is not available ($why): nothing was checked" >&2
    exit 1
fi
"$PY" benchmarks/gpu_check.py
"$PY" benchmarks/ensemble.py --device cuda --threads "$(nproc)" --K 1 32 256 1024 --rounds 2
