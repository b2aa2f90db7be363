#!/usr/bin/env bash
# Every trend test FINDINGS.md quotes for the atlas, from the committed tables in results/ alone
# (no store, no training; a few seconds each): `bash scripts/atlas_trends.sh`. Each line is
# `learnlab trend STUDY --trait T --outcome O [--where ...]`; see `learnlab trend --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
trend() { echo; echo "== learnlab trend $*"; .venv/bin/learnlab trend "$@"; }
# Modes (fig-ring): the ring of Gaussians, n_modes x separation
trend fig-ring --trait separation --outcome learned
trend fig-ring --trait n_modes --outcome learned
trend fig-ring --trait separation --outcome blurred
trend fig-ring --trait n_modes --outcome dropped_modes
trend fig-ring --trait separation --outcome quality
trend fig-ring --trait n_modes --outcome quality
# Connectedness (fig-arcs): the circle cut into arcs, n_components x gap_fraction
trend fig-arcs --trait n_components --outcome gap_mass
trend fig-arcs --trait n_components --outcome learned
trend fig-arcs --trait gap_fraction --outcome gap_mass
trend fig-arcs --trait n_components --outcome quality
trend fig-arcs --trait gap_fraction --outcome quality
# Weights (fig-weights): the ring 8 std apart, n_modes x imbalance; per mode: its weight x n_modes
trend fig-weights --trait imbalance --outcome learned
trend fig-weights --trait imbalance --outcome dropped_modes
trend fig-weights --trait imbalance --outcome quality
trend fig-weights --per-mode --trait log2_mode_weight --outcome mode_dropped
trend fig-weights --per-mode --trait log2_mode_weight --outcome mode_dropped --where imbalance=64
# Dimension (fig-dimension): the ring of 8 modes, intrinsic dim x ambient_dim (a random isometry)
trend fig-dimension --trait ambient_dim --outcome quality
trend fig-dimension --trait ambient_dim --outcome dropped_modes
trend fig-dimension --trait dim --outcome quality
# Smoothness (fig-wavy): the wavy ring r = 1 + a sin(f theta), frequency x amplitude
trend fig-wavy --trait frequency --outcome learned
trend fig-wavy --trait frequency --outcome quality
trend fig-wavy --trait amplitude --outcome quality
trend fig-wavy --trait frequency --outcome coverage
# Smoothness (fig-noise): noise thickness on the circle and the wavy ring (frequency 6, amplitude 0.4)
trend fig-noise --trait noise --outcome quality
trend fig-noise --trait noise --outcome learned
trend fig-noise --trait noise --outcome quality --where amplitude=0
trend fig-noise --trait noise --outcome coverage
# Theory check (fig-theory): two pieces of a line a gap D apart, GANs with a bounded Lipschitz constant
trend fig-theory --trait component_gap --outcome dropped_modes
trend fig-theory --trait component_gap --outcome support_precision
# Batch size (fig-batch): the GAN on the ring of 16 modes 8 stds apart, each batch size's tuned draw only
trend fig-batch --tuned --trait batch_size --outcome blur_mass
trend fig-batch --tuned --trait batch_size --outcome quality
trend fig-batch --tuned --trait batch_size --outcome learned
# Batch size on a learnable cell (fig-batch-8: the ring of 8 modes 8 stds apart), tuned draws only
trend fig-batch-8 --tuned --trait batch_size --outcome learned_step
trend fig-batch-8 --tuned --trait batch_size --outcome blur_mass
trend fig-batch-8 --tuned --trait batch_size --outcome quality
# Triangles (fig-triangles): n_components x blur, four kinds; residuals are threshold-free
trend fig-triangles --trait blur --outcome residual_median
trend fig-triangles --trait n_components --outcome residual_median --where blur=0
trend fig-triangles --trait n_components --outcome residual_median --where blur=2
trend fig-triangles --trait n_components --outcome quality --where blur=2
# Graphs (fig-graphs): Erdos-Renyi, connectivity c x n_nodes; metrics only (no verdicts for graphs)
trend fig-graphs --trait n_nodes --outcome mmd2_spectrum_rbf_0.1
trend fig-graphs --trait n_nodes --outcome mmd2_degree_rbf_0.1
# Graphs, block models (fig-graphs-sbm: random node order; fig-graphs-sbm-natural: blocks in node order)
trend fig-graphs-sbm --trait p_out --outcome mode_tv
trend fig-graphs-sbm --trait communities --outcome mode_tv
trend fig-graphs-sbm-natural --trait p_out --outcome mode_tv
trend fig-graphs-sbm-natural --trait communities --outcome mode_tv
# Graphs, smooth node signals (fig-graphs-signal): epsilon x n_nodes
trend fig-graphs-signal --trait epsilon --outcome dirichlet_energy_rel_error
