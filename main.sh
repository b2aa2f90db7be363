#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, look at the distribution being swept,
# run a small learnability sweep on the embedded store (non-saturating GAN on a ring of
# Gaussians, number of modes x separation, 2 seeds), and draw its heatmap.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
out=lightning_logs/main
mkdir -p "$out"
.venv/bin/learnlab show mixture --layout ring --n_modes 8 --separation 6 --out "$out/ring.png"
.venv/bin/learnlab sweep experiments/configs/ring_sweep_quick.yaml --workers 2
.venv/bin/learnlab plot heatmap ring_sweep_quick --x n_modes --y separation \
    --metric modes_captured_fraction --out "$out/ring_sweep_quick_heatmap.png"
echo "main job done: heatmap in $out/ring_sweep_quick_heatmap.png (rerunning continues the stored study)"
