#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, then draw the distribution families so a
# researcher sees what the lab sweeps over. Figures land in lightning_logs/main/.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
out=lightning_logs/main
mkdir -p "$out"
.venv/bin/learnlab show mixture --layout ring --n_modes 8 --std 0.05 --out "$out/mixture_ring.png"
.venv/bin/learnlab show mixture --layout grid --n_modes 25 --std 0.1 --imbalance 4 --out "$out/mixture_grid.png"
.venv/bin/learnlab show manifold --shape circle --n_components 4 --gap_fraction 0.3 --out "$out/manifold_arcs.png"
.venv/bin/learnlab show manifold --shape wavy_ring --frequency 10 --amplitude 0.3 --out "$out/manifold_wavy.png"
.venv/bin/learnlab show manifold --shape swiss_roll --noise 0.05 --out "$out/manifold_roll.png"
echo "main job done: figures in $out/"
