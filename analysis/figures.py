"""Named figures: a registry entry = the sweep configs behind it (full and quick budget) + a plot.

    make("ring_modes", quick=True)   # draws the study of experiments/configs/figures/
                                     # ring_quick.yaml (fig-ring-quick) into figures/quick/
                                     # ring_modes.{png,pdf,csv}: from the store when it holds the
                                     # study complete, else from its exported table in results/
                                     # (analysis/ never trains; ``learnlab figures`` does)

The CSV holds exactly the plotted numbers (one row per cell: value, interval, n, ...). Quick and
full budgets are separate studies (the config's ``study:``), so neither overwrites the other's
trials, and they draw into separate folders (figures/quick/ and figures/), so a quick run never
overwrites a committed full-budget figure. Figures that share a config (ring_modes,
ring_collapse) share its study and run it once. A figure drawn from the store and from the
study's export (``experiments.results.export``) writes the same CSV.
"""
from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from experiments import store
from experiments.results import EXPORTS, exported, read_export

CONFIGS = Path(__file__).resolve().parent.parent / "experiments" / "configs" / "figures"


@dataclass(frozen=True)
class Figure:
    title: str
    full: str                       # sweep config (file name under CONFIGS, or a path)
    quick: str
    kind: str                       # heatmap | curve | onset | paper_table | contours | gap_curve | ...
    args: dict = field(default_factory=dict)

    def config(self, quick: bool) -> Path:
        return CONFIGS / (self.quick if quick else self.full)


MODEL_KINDS = "GAN, VAE, flow, diffusion"      # the vector-data figures compare every model kind (issue 18)

FIGURES = {
    "ring_modes": Figure(f"Ring of Gaussians: share of modes captured, {MODEL_KINDS}", "ring.yaml", "ring_quick.yaml",
                         "heatmap", dict(x="n_modes", y="separation", metric="modes_captured_fraction")),
    "ring_collapse": Figure("Ring of Gaussians: share of runs that drop modes (a mode holds < half its share), "
                            f"{MODEL_KINDS}", "ring.yaml", "ring_quick.yaml", "heatmap",
                            dict(x="n_modes", y="separation", agg="rate", metric="dropped_modes")),
    "ring_blur": Figure(f"Ring of Gaussians: share of samples blurred off the modes (not in the gaps), {MODEL_KINDS}",
                        "ring.yaml", "ring_quick.yaml", "heatmap",
                        dict(x="n_modes", y="separation", metric="blur_mass")),
    "ring_quality": Figure(f"Ring of Gaussians: quality (harmonic mean of on-support share and coverage), {MODEL_KINDS}",
                           "ring.yaml", "ring_quick.yaml", "heatmap",
                           dict(x="n_modes", y="separation", metric="quality")),
    "ring_outcomes": Figure(f"Ring of Gaussians: how the runs ended, {MODEL_KINDS}", "ring.yaml", "ring_quick.yaml",
                            "outcomes", dict(x="n_modes", y="separation")),
    "weights_outcomes": Figure(f"Ring of Gaussians with unequal weights: how the runs ended, {MODEL_KINDS}",
                               "weights.yaml", "weights_quick.yaml", "outcomes", dict(x="imbalance", y="n_modes")),
    "weights_drops": Figure(f"Ring of Gaussians with unequal weights: are light modes the ones dropped? {MODEL_KINDS}",
                            "weights.yaml", "weights_quick.yaml", "mode_drops", dict(hue="n_modes")),
    "dimension_outcomes": Figure(f"Ring of 8 Gaussians with round modes in dim dimensions, embedded in ambient_dim: "
                                 f"how the runs ended, {MODEL_KINDS}", "dimension.yaml", "dimension_quick.yaml",
                                 "outcomes", dict(x="ambient_dim", y="dim")),
    "dimension_quality": Figure(f"Ring of 8 Gaussians with round modes in dim dimensions, embedded in ambient_dim: "
                                f"quality (harmonic mean of on-support share and coverage), {MODEL_KINDS}",
                                "dimension.yaml", "dimension_quick.yaml", "heatmap",
                                dict(x="ambient_dim", y="dim", metric="quality")),
    "arcs_precision": Figure(f"Circle cut into arcs: share of samples on the support, {MODEL_KINDS}", "arcs.yaml",
                             "arcs_quick.yaml", "heatmap",
                             dict(x="n_components", y="gap_fraction", metric="support_precision")),
    "arcs_gaps": Figure(f"Circle cut into arcs: share of samples in the gaps (bridges), {MODEL_KINDS}", "arcs.yaml",
                        "arcs_quick.yaml", "heatmap", dict(x="n_components", y="gap_fraction", metric="gap_mass")),
    "arcs_blur": Figure(f"Circle cut into arcs: share of samples blurred off the support (not in the gaps), {MODEL_KINDS}",
                        "arcs.yaml", "arcs_quick.yaml", "heatmap",
                        dict(x="n_components", y="gap_fraction", metric="blur_mass")),
    "arcs_quality": Figure(f"Circle cut into arcs: quality (harmonic mean of on-support share and coverage), {MODEL_KINDS}",
                           "arcs.yaml", "arcs_quick.yaml", "heatmap",
                           dict(x="n_components", y="gap_fraction", metric="quality")),
    "arcs_outcomes": Figure(f"Circle cut into arcs: how the runs ended, {MODEL_KINDS}", "arcs.yaml", "arcs_quick.yaml",
                            "outcomes", dict(x="n_components", y="gap_fraction")),
    "wavy_coverage": Figure(f"Wavy ring: coverage of the real samples, {MODEL_KINDS}", "wavy.yaml", "wavy_quick.yaml",
                            "heatmap", dict(x="frequency", y="amplitude", metric="coverage")),
    "wavy_quality": Figure(f"Wavy ring: quality (harmonic mean of on-support share and coverage), {MODEL_KINDS}",
                           "wavy.yaml", "wavy_quick.yaml", "heatmap",
                           dict(x="frequency", y="amplitude", metric="quality")),
    "wavy_outcomes": Figure(f"Wavy ring: how the runs ended, {MODEL_KINDS}", "wavy.yaml", "wavy_quick.yaml",
                            "outcomes", dict(x="frequency", y="amplitude")),
    "noise_outcomes": Figure(f"Circle and wavy ring made thicker by noise: how the runs ended, {MODEL_KINDS}",
                             "noise.yaml", "noise_quick.yaml", "outcomes", dict(x="noise", y="amplitude")),
    "noise_quality": Figure(f"Circle and wavy ring made thicker by noise: quality (harmonic mean of on-support share "
                            f"and coverage), {MODEL_KINDS}", "noise.yaml", "noise_quick.yaml", "heatmap",
                            dict(x="noise", y="amplitude", metric="quality")),
    "theory_precision": Figure("Two pieces of a line a gap D apart: precision of GANs with a bounded Lipschitz constant "
                               "against the push-forward bound, and of the diffusion model", "theory.yaml",
                               "theory_quick.yaml", "theory", dict(n_samples=2500)),
    "batch_scaling": Figure("GAN on the ring of 16 Gaussians 8 stds apart: learning against batch size, learning "
                            "rates tuned per batch size", "batch.yaml", "batch_quick.yaml", "batch", {}),
    "batch_scaling_8": Figure("GAN on the ring of 8 Gaussians 8 stds apart: learning against batch size, learning "
                              "rates tuned per batch size", "batch_8.yaml", "batch_quick.yaml", "batch", {}),
    "triangles_outcomes": Figure(f"Triangles cut into k pieces, blurred: how the runs ended, {MODEL_KINDS}",
                                 "triangles.yaml", "triangles_quick.yaml", "outcomes", dict(x="n_components", y="blur")),
    "triangles_quality": Figure(f"Triangles cut into k pieces, blurred: quality (harmonic mean of on-manifold share "
                                f"and recall), {MODEL_KINDS}", "triangles.yaml", "triangles_quick.yaml", "heatmap",
                                dict(x="n_components", y="blur", metric="quality")),
    "triangles_precision": Figure(f"Triangles cut into k pieces, blurred: share of images on the manifold, {MODEL_KINDS}",
                                  "triangles.yaml", "triangles_quick.yaml", "heatmap",
                                  dict(x="n_components", y="blur", metric="manifold_precision")),
    "triangles_precision_loose": Figure("Triangles cut into k pieces, blurred: share of images near the manifold "
                                        f"(loose threshold), {MODEL_KINDS}", "triangles.yaml",
                                        "triangles_quick.yaml", "heatmap",
                                        dict(x="n_components", y="blur", metric="manifold_precision_loose")),
    "triangles_residual": Figure("Triangles cut into k pieces, blurred: median residual to the nearest true "
                                 f"triangle (RMS pixel), {MODEL_KINDS}", "triangles.yaml",
                                 "triangles_quick.yaml", "heatmap",
                                 dict(x="n_components", y="blur", metric="residual_median")),
    "triangles_recall": Figure(f"Triangles cut into k pieces, blurred: recall of held-out real images, {MODEL_KINDS}",
                               "triangles.yaml", "triangles_quick.yaml", "heatmap",
                               dict(x="n_components", y="blur", metric="manifold_recall")),
    "graphs_connected": Figure("Erdos-Renyi graphs: share of generated graphs connected, graph GAN vs graph VAE",
                               "graphs.yaml", "graphs_quick.yaml", "heatmap",
                               dict(x="connectivity", y="n_nodes", metric="connected_fake")),
    "graphs_degree_mmd": Figure("Erdos-Renyi graphs: degree MMD^2 (RBF, sigma 0.1), graph GAN vs graph VAE",
                                "graphs.yaml", "graphs_quick.yaml", "heatmap",
                                dict(x="connectivity", y="n_nodes", metric="mmd2_degree_rbf_0.1")),
    "graphs_clustering_mmd": Figure("Erdos-Renyi graphs: clustering MMD^2 (RBF, sigma 0.1), graph GAN vs graph VAE",
                                    "graphs.yaml", "graphs_quick.yaml", "heatmap",
                                    dict(x="connectivity", y="n_nodes", metric="mmd2_clustering_rbf_0.1")),
    "graphs_spectral_mmd": Figure("Erdos-Renyi graphs: spectral MMD^2 (RBF, sigma 0.1), graph GAN vs graph VAE",
                                  "graphs.yaml", "graphs_quick.yaml", "heatmap",
                                  dict(x="connectivity", y="n_nodes", metric="mmd2_spectrum_rbf_0.1")),
    "graphs_sbm_modes": Figure("Mixed block models, random node order: total variation of the community-count "
                               "shares (eigengap), graph GAN vs graph VAE", "graphs_sbm.yaml", "graphs_sbm_quick.yaml",
                               "heatmap", dict(x="p_out", y="communities", metric="mode_tv")),
    "graphs_sbm_spectral_mmd": Figure("Mixed block models, random node order: spectral MMD^2 (RBF, sigma 0.1), "
                                      "graph GAN vs graph VAE", "graphs_sbm.yaml", "graphs_sbm_quick.yaml", "heatmap",
                                      dict(x="p_out", y="communities", metric="mmd2_spectrum_rbf_0.1")),
    "graphs_sbm_natural_modes": Figure("Mixed block models, blocks in node order: total variation of the "
                                       "community-count shares (eigengap), graph GAN vs graph VAE",
                                       "graphs_sbm_natural.yaml", "graphs_sbm_natural_quick.yaml", "heatmap",
                                       dict(x="p_out", y="communities", metric="mode_tv")),
    "graphs_sbm_natural_spectral_mmd": Figure("Mixed block models, blocks in node order: spectral MMD^2 (RBF, "
                                              "sigma 0.1), graph GAN vs graph VAE", "graphs_sbm_natural.yaml",
                                              "graphs_sbm_natural_quick.yaml", "heatmap",
                                              dict(x="p_out", y="communities", metric="mmd2_spectrum_rbf_0.1")),
    "graphs_signal_energy": Figure("Erdos-Renyi graphs with a smooth node signal: relative error of the Dirichlet energy "
                                   "x^T L x (< 0 too smooth, > 0 too rough), graph GAN vs graph VAE",
                                   "graphs_signal.yaml", "graphs_signal_quick.yaml", "heatmap",
                                   dict(x="epsilon", y="n_nodes", metric="dirichlet_energy_rel_error")),
    "graphs_signal_degree_mmd": Figure("Erdos-Renyi graphs with a smooth node signal: degree MMD^2 (RBF, sigma 0.1), "
                                       "graph GAN vs graph VAE", "graphs_signal.yaml", "graphs_signal_quick.yaml",
                                       "heatmap", dict(x="epsilon", y="n_nodes", metric="mmd2_degree_rbf_0.1")),
}
# The classic synthetic benchmarks (REFERENCES.md section 1; analysis/classics.py): the published
# setups in experiments/configs/figures/classic_*.yaml, shown in each paper's table layout.
_MODES = ("modes_captured", "mode_hq_percent", "mode_reverse_kl")
CLASSICS = {
    "pacgan_ring": Figure("PacGAN 2-D ring: GAN and PacGAN2-4, modes / high quality / reverse KL (Lin et al. 2018)",
                          "classic_pacgan_ring.yaml", "classic_pacgan_ring_quick.yaml", "paper_table",
                          dict(metrics=_MODES, paper="pacgan_ring")),
    "pacgan_grid": Figure("PacGAN 2-D grid: GAN and PacGAN2-4, modes / high quality / reverse KL (Lin et al. 2018)",
                          "classic_pacgan_grid.yaml", "classic_pacgan_grid_quick.yaml", "paper_table",
                          dict(metrics=_MODES, paper="pacgan_grid")),
    "veegan_ring": Figure("VEEGAN-style 2-D ring, 2 x 128 nets: modes / high quality (Srivastava et al. 2017)",
                          "classic_veegan_ring.yaml", "classic_veegan_ring_quick.yaml", "paper_table",
                          dict(metrics=_MODES[:2], paper="veegan_ring")),
    "veegan_grid": Figure("VEEGAN-style 2-D grid, 2 x 128 nets: modes / high quality (Srivastava et al. 2017)",
                          "classic_veegan_grid.yaml", "classic_veegan_grid_quick.yaml", "paper_table",
                          dict(metrics=_MODES[:2], paper="veegan_grid")),
    "wgangp_8gaussians": Figure("WGAN-GP toy 8gaussians: WGAN-GP vs non-saturating GAN, samples and critic",
                                "classic_wgangp_8gaussians.yaml", "classic_wgangp_8gaussians_quick.yaml",
                                "contours", dict(metrics=_MODES)),
    "wgangp_25gaussians": Figure("WGAN-GP toy 25gaussians: WGAN-GP vs non-saturating GAN, samples and critic",
                                 "classic_wgangp_25gaussians.yaml", "classic_wgangp_25gaussians_quick.yaml",
                                 "contours", dict(metrics=_MODES)),
    "wgangp_swissroll": Figure("WGAN-GP toy swissroll (arc-length roll): WGAN-GP vs non-saturating GAN, samples and "
                               "critic", "classic_wgangp_swissroll.yaml", "classic_wgangp_swissroll_quick.yaml",
                               "contours", dict(metrics=("support_precision", "support_coverage"))),
    "disconnected_lines": Figure("Disconnected segments: mass in the gaps against the number of components, "
                                 "WGAN-GP vs VAE", "classic_disconnected_lines.yaml",
                                 "classic_disconnected_lines_quick.yaml", "gap_curve", dict(x="n_components")),
    "disconnected_circles": Figure("Two unit circles at (+-2, 0): mass in the gaps, WGAN-GP vs VAE",
                                   "classic_disconnected_circles.yaml", "classic_disconnected_circles_quick.yaml",
                                   "component_table", dict(metrics=("gap_mass", "blur_mass", "support_coverage"))),
    "unrolled_hopping": Figure("Unrolled-GAN ring without unrolling: where the generator's mass sits over training",
                               "classic_unrolled_ring.yaml", "classic_unrolled_ring_quick.yaml", "hopping", {}),
}
FIGURES.update(CLASSICS)
KINDS = {"heatmap": "plots.heatmap", "curve": "plots.curve", "onset": "plots.onset",
         "paper_table": "classics.paper_table", "contours": "classics.critic_contours",
         "gap_curve": "classics.gap_curve", "component_table": "classics.component_table",
         "hopping": "classics.mode_hopping", "outcomes": "atlas.outcomes",
         "mode_drops": "atlas.mode_drops", "theory": "theory.precision_figure",
         "batch": "scaling.batch_figure"}             # module.function in analysis/, imported to draw


def drawer(kind: str):
    """The plot function of a figure kind (imported on use: listing figures stays light)."""
    module, name = KINDS[kind].split(".")
    return getattr(importlib.import_module(f"analysis.{module}"), name)


def get(name: str) -> Figure:
    if name not in FIGURES:
        raise ValueError(f"figure {name!r} is not allowed; expected one of {', '.join(FIGURES)}")
    return FIGURES[name]


def study_of(name: str, quick: bool) -> tuple[str, int]:
    """(study name, number of trials) of a figure's sweep (its layout; the sweep validates its
    trials when it runs)."""
    return _layout(get(name).config(quick))[:2]


@functools.lru_cache(maxsize=None)
def _layout(path: Path) -> tuple[str, int, str]:
    from experiments.sweep_config import outline
    study, count, raw = outline(path)
    return study, count, json.dumps(raw)


def stale(name: str, quick: bool, exports: Path | str = EXPORTS) -> str | None:
    """Why the exported table of a figure's study no longer matches the figure's config (the
    first differing key), or None when it matches or the export records no config."""
    from experiments.sweep import first_difference
    study, _, raw = _layout(get(name).config(quick))
    meta = Path(exports) / f"{study}.json"
    ran = json.loads(meta.read_text()).get("sweep") if meta.is_file() else None
    found = None if ran is None else first_difference(ran, json.loads(raw))     # no record: nothing to tell
    return None if found is None else f"{found[0]}={found[1]!r} where the config now has {found[2]!r}"


def stored(study: str, total: int, storage: str | None = None, root: Path | str = store.ROOT) -> int:
    """How many of a study's ``total`` keys are done (0 when it is not stored)."""
    from experiments.results import load_study
    try:
        return store.progress(load_study(study, storage, root))[0]
    except ValueError:
        return 0


def _net(m: dict) -> str:
    """A model section's networks in a few characters: 'GAN 2x64', 'flow 6 layers x 128'."""
    kind = m.get("model", "gan")
    if m.get("arch") in ("conv", "graph"):
        return f"{m['arch']} {kind.upper() if kind in ('gan', 'vae') else kind}"
    if kind == "gan":
        return f"GAN {m.get('g_depth', '?')}x{m.get('g_width', '?')}"
    if kind == "vae":
        return f"VAE {m.get('enc_depth', '?')}x{m.get('enc_width', '?')}"
    if kind == "flow":
        return f"flow {m.get('layers', '?')} layers of {m.get('depth', '?')}x{m.get('width', '?')}"
    return f"{kind} {m.get('depth', '?')}x{m.get('width', '?')}"


def budget(raw: dict) -> str:
    """One line saying what a figure's study spent: steps, batch, seeds, nets, learning rates."""
    models = raw.get("models") or {"model": raw.get("model") or {}}
    seeds = raw.get("seeds", 1)
    search = raw.get("search") or {}
    nets = list(dict.fromkeys(_net(m) for m in models.values()))          # in config order, once each
    n = seeds if isinstance(seeds, int) else len(seeds)
    tuned = (f"learning rates tuned: best of {search['budget']} draws per cell" if search.get("budget", 1) > 1
             else f"learning rates tuned on a reference cell (study {raw['tuned_on']}), then fixed"
             if raw.get("tuned_on") else "learning rates fixed")
    batch = sorted({m.get("batch_size") for m in models.values() if m.get("batch_size")})
    batch = raw.get("grid", {}).get("model.batch_size") or batch           # an axis: its values, not the base
    return (f"budget: {raw.get('train', {}).get('steps', '?')} steps"
            + (f" of batch {'/'.join(map(str, batch))}" if batch else "")
            + f", {n} seed{'s' if n != 1 else ''} a cell; nets {', '.join(nets)}; {tuned}")


def ran_for(study: str, where: str, storage: str | None = None, root: Path | str = store.ROOT,
            exports: Path | str = EXPORTS) -> float | None:
    """Seconds a study's trials were running (``experiments.results.study_time``: busy time), from
    the store or from its export's metadata; None when not recorded (exports before it was)."""
    from experiments.results import load_study, study_time
    if where == "store":
        return study_time(load_study(study, storage, root)).get("busy_s")
    meta = Path(exports) / f"{study}.json"
    return (json.loads(meta.read_text()).get("time") or {}).get("busy_s") if meta.is_file() else None


def out_folder(quick: bool, out: Path | str | None = None) -> Path:
    """Where a figure is written: ``out``, else figures/ (full budget) or figures/quick/."""
    return Path(out) if out is not None else Path("figures") / ("quick" if quick else "")


def source(study: str, total: int, storage: str | None = None, root: Path | str = store.ROOT,
           exports: Path | str = EXPORTS) -> str | None:
    """What a study can be drawn from without training: "store" (stored complete, preferred),
    "table" (its export under ``exports``) or None."""
    if stored(study, total, storage, root) >= total:
        return "store"
    return "table" if exported(study, exports) else None


def make(name: str, *, quick: bool = False, storage: str | None = None, root: Path | str = store.ROOT,
         out: Path | str | None = None, exports: Path | str = EXPORTS, table: bool | None = None,
         formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Draw the figure into ``out_folder(quick, out)``/NAME.png, .pdf and .csv; returns their paths.
    Trains nothing. ``table``: None draws from the store when the study is stored complete, else
    from its exported table; True only from the table, False only from the store. A study that
    cannot be drawn that way (not stored complete, not exported, exported from another config) is
    a one-line ValueError saying what to run."""
    fig_spec = get(name)
    study, total = study_of(name, quick)
    where = source(study, total, storage, root, exports) if table is None else ("table" if table else "store")
    flag = " --quick" if quick else ""
    if where == "store" and stored(study, total, storage, root) < total:
        raise ValueError(f"study {study!r} is not stored complete; run `learnlab figures {name}{flag} --rerun`")
    if where == "table" and not exported(study, exports):
        raise ValueError(f"study {study!r} has no exported table in {exports}; run `learnlab figures {name}{flag}`")
    if where == "table" and (why := stale(name, quick, exports)):
        raise ValueError(f"the exported study {study!r} ran with {why}; `learnlab figures {name}{flag} --rerun` "
                         "trains the current config")
    if where is None:
        raise ValueError(f"study {study!r} is neither stored complete nor exported to {exports}; "
                         f"run `learnlab figures {name}{flag}` without --no-run")
    from . import plots
    from .table import load
    df = load(study, storage, root) if where == "store" else read_export(study, exports)
    took = ran_for(study, where, storage, root, exports)
    title = (f"{fig_spec.title}  (study {study})\n{budget(json.loads(_layout(fig_spec.config(quick))[2]))}"
             + (f"; {len(df)} runs in {took / 60:.0f} min" if took else ""))
    fig, drawn = drawer(fig_spec.kind)(df, **fig_spec.args, title=title)
    drawn.insert(0, "study", study)
    return plots.save(fig, drawn, out_folder(quick, out) / name, formats=formats)
