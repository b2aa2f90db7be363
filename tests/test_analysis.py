"""Plots of a tidy table built here (no training): the numbers in the cells are aggregates
computed independently, the annotations say them, axes carry the trait names, intervals contain
their estimates, and the files are written."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from analysis import plots
from analysis.samples import samples
from analysis.stats import bootstrap, wilson
from analysis.table import aggregate, resolve, where

MODELS, N_MODES, SEPS, DRAWS, SEEDS = ("gan", "vae"), (4, 8), (2.0, 4.0, 8.0), 2, 3


def table(seed=0):
    """A study's tidy rows: 2 models x 2 x 3 grid x 2 draws x 3 seeds, some diverged / failed."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in MODELS:
        for n in N_MODES:
            for sep in SEPS:
                for d in range(DRAWS):
                    for s in range(SEEDS):
                        status = rng.choice(["complete"] * 6 + ["diverged", "failed"])
                        collapsed = bool(rng.random() < 0.4) if status == "complete" else None
                        learned = bool(rng.random() < 0.7) if status != "failed" else None
                        rows.append({
                            "trial": len(rows), "key": f"{model}/{n}/{sep}/{d}/{s}", "model": model, "draw": d,
                            "seed": s, "status": status, "reason": None,
                            "diverged_at": 300 if status == "diverged" else None, "log_dir": "/nonexistent",
                            "data.n_modes": n, "data.separation": sep, "model.lr": [1e-3, 1e-4][d],
                            "modes_captured": float(rng.integers(0, n + 1)) if status != "failed" else math.nan,
                            "mmd2": rng.random() if status != "failed" else math.nan,
                            "trait.n_modes": float(n), "trait.min_separation": sep,
                            "verdict.dropped_modes": collapsed,
                            "verdict.ever_learned": learned,     # a run that never learned has no onset
                            "verdict.onset.dropped_modes": float(rng.choice([250, 500])) if collapsed and learned
                            else math.nan})
    return pd.DataFrame(rows)


def expected(df, metric, agg, lower=False):
    """Per (model, separation, n_modes): the best draw's value and n, computed plainly."""
    out = {}
    for (m, sep, n), cell in df.groupby(["model", "data.separation", "data.n_modes"]):
        cands = []
        for d, g in cell.groupby("draw"):
            if agg == "rate":
                flags = [1.0 if st == "diverged" else float(c) for st, c in zip(g["status"], g["verdict.dropped_modes"])
                         if st == "diverged" or (st == "complete" and c is not None)]
            else:
                flags = [v for st, v in zip(g["status"], g[metric]) if st == "complete" and np.isfinite(v)]
            if flags:
                value = float(np.mean(flags) if agg != "median" else np.median(flags))
                cands.append((len(flags), -value if lower else value, -d, value, len(g)))
        best = max(cands)
        out[(m, sep, float(n))] = (best[3], best[0], -best[2], best[4])
    return out


def check_cells(fig, tab, want, x="n_modes", y="separation", agg="mean"):
    assert len(tab) == len(want)
    for _, r in tab.iterrows():
        value, n, draw, total = want[(r["model"], r[y], r[x])]
        assert r["value"] == pytest.approx(value) and r["n"] == n and r["draw"] == draw and r["n_total"] == total
        values = json.loads(r["values"])
        assert len(values) == n and np.mean(values) == pytest.approx(value)     # the seeds behind the cell
        if agg != "rate" and n <= 3:                 # too few seeds for an interval: the values are shown
            assert math.isnan(r["lo"]) and math.isnan(r["hi"])
            assert r["label"].split("\n")[1] == ("(" + ", ".join(plots.num(v) for v in values) + ")" if n > 1
                                                 else f"n={n}" if n == total else f"n={n}/{total}")
        else:
            assert r["lo"] <= r["value"] <= r["hi"]
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == [f"model = {m}" for m in MODELS]
    for ax, model in zip(axes, MODELS):
        assert ax.get_xlabel() == x and ax.get_ylabel() == y
        texts = [t.get_text() for t in ax.texts]
        part = tab[tab["model"] == model]
        assert len(texts) == len(part) == len(N_MODES) * len(SEPS)
        assert sorted(texts) == sorted(part["label"])
        for _, r in part.iterrows():       # the first line is the value, the last the seeds counted
            first, *_, last = r["label"].split("\n")
            assert float(first) == pytest.approx(r["value"], rel=5e-3, abs=5e-3)
            if agg == "rate":
                assert last == f"k={r['k']}/{r['n']}" + ("" if r["n"] == r["n_total"] else f" of {r['n_total']}")
            else:
                assert last == (f"n={r['n']}" if r["n"] == r["n_total"] else f"n={r['n']}/{r['n_total']}")


def test_heatmap_mean_cells_equal_independent_aggregates(tmp_path):
    df = table()
    fig, tab = plots.heatmap(df, "n_modes", "separation", "modes_captured")
    check_cells(fig, tab, expected(df, "modes_captured", "mean"))
    # one colour scale shared by the panels
    meshes = [ax.collections[0] for ax in fig.axes if ax.get_title()]
    assert len({m.get_clim() for m in meshes}) == 1
    assert meshes[0].get_clim() == (pytest.approx(tab["value"].min()), pytest.approx(tab["value"].max()))
    paths = plots.save(fig, tab, tmp_path / "h.png")
    assert all(p.stat().st_size > 0 for p in paths)
    csv = pd.read_csv(tmp_path / "h.csv")
    assert csv["value"].tolist() == pytest.approx(tab["value"].tolist()) and "label" not in csv


def test_heatmap_lower_is_better_picks_the_smallest_draw():
    df = table(1)
    fig, tab = plots.heatmap(df, "n_modes", "separation", "mmd2", agg="mean")
    check_cells(fig, tab, expected(df, "mmd2", "mean", lower=True))


def test_a_signed_deviation_gets_a_diverging_scale_centred_on_zero():
    df = table(3)
    df["dirichlet_energy_rel_error"] = df["mmd2"] - 0.3     # a deviation: too low in some cells, too high in others
    fig, tab = plots.heatmap(df, "n_modes", "separation", "dirichlet_energy_rel_error")
    assert tab["value"].min() < 0 < tab["value"].max()
    mesh = next(ax.collections[0] for ax in fig.axes if ax.get_title())
    top = tab["value"].abs().max()
    assert mesh.get_clim() == (pytest.approx(-top), pytest.approx(top)) and mesh.get_cmap().name == "RdBu_r"
    df["mmd2"] = df["mmd2"] - 0.3                           # a score that dips below 0 (an unbiased MMD²): viridis
    fig, tab = plots.heatmap(df, "n_modes", "separation", "mmd2")
    mesh = next(ax.collections[0] for ax in fig.axes if ax.get_title())
    assert mesh.get_cmap().name == "viridis" and mesh.get_clim() == (tab["value"].min(), tab["value"].max())


def test_a_positive_metric_over_decades_gets_a_log_scale():
    df = table(5)
    df["mmd2"] = 10.0 ** (df["data.separation"] - 4) + 1e-3 * df["mmd2"]   # cells from about 0.01 to 10000
    fig, tab = plots.heatmap(df, "n_modes", "separation", "mmd2")
    mesh = next(ax.collections[0] for ax in fig.axes if ax.get_title())
    assert type(mesh.norm).__name__ == "LogNorm"
    assert (mesh.norm.vmin, mesh.norm.vmax) == (pytest.approx(tab["value"].min()), pytest.approx(tab["value"].max()))
    df["mmd2"] = 1.0 + df["mmd2"] / 1e6                                     # a narrow range: linear
    mesh = next(ax.collections[0] for ax in plots.heatmap(df, "n_modes", "separation", "mmd2")[0].axes if ax.get_title())
    assert type(mesh.norm).__name__ == "Normalize"


def test_rate_counts_diverged_and_has_wilson_intervals():
    df = table(2)
    fig, tab = plots.heatmap(df, "n_modes", "separation", agg="rate")
    check_cells(fig, tab, expected(df, None, "rate", lower=True), agg="rate")
    assert tab["value"].between(0, 1).all()
    for _, r in tab.iterrows():          # Wilson: the p0 with |p - p0| = z sqrt(p0 (1 - p0) / n)
        p, n, z = r["k"] / r["n"], r["n"], 1.959963984540054
        f = lambda p0: abs(p - p0) - z * math.sqrt(p0 * (1 - p0) / n)  # noqa: E731
        lo = 0.0 if p == 0 else brentq(f, 1e-12, p - 1e-12)
        hi = 1.0 if p == 1 else brentq(f, p + 1e-12, 1 - 1e-12)
        assert (r["lo"], r["hi"]) == (pytest.approx(lo, abs=1e-9), pytest.approx(hi, abs=1e-9))


def test_stats_known_answers():
    assert wilson(0, 3)[2] == pytest.approx(1.959963984540054 ** 2 / (3 + 1.959963984540054 ** 2))
    assert all(math.isnan(v) for v in wilson(0, 0))
    est, lo, hi = bootstrap([1.0, 2.0, 3.0, 10.0])
    assert est == 4.0 and lo < est < hi and bootstrap([1.0, 2.0, 3.0, 10.0]) == (est, lo, hi)   # seeded
    assert bootstrap([5.0]) == (5.0, 5.0, 5.0)
    med, lo, hi = bootstrap([0.0, 0.0, 0.0, 100.0], "median")
    assert med == 0.0 and lo <= med <= hi


def test_curve_and_onset_have_bands_that_contain_the_estimates(tmp_path):
    df = table(3)
    fig, tab = plots.curve(df, "separation", "modes_captured", hue="model")
    assert fig.axes[0].get_xlabel() == "separation" and len(tab) == len(MODELS) * len(SEPS)
    assert fig.axes[0].get_xscale() == "log"                # 2, 4, 8: a geometric grid
    dots = [c for c in fig.axes[0].collections if type(c).__name__ == "PathCollection"]     # scatter, not bands
    assert sum(len(c.get_offsets()) for c in dots) == tab["n"].sum()     # every seed's value is a dot
    assert (tab["lo"] <= tab["value"]).all() and (tab["value"] <= tab["hi"]).all()
    assert tab.attrs["pooled"] == ["data.n_modes"]          # the other grid axis is pooled, and said so
    assert tab["n_total"].eq(len(N_MODES) * SEEDS).all()
    plots.save(fig, tab, tmp_path / "curve.png")
    fig, tab = plots.onset(df, "n_modes", "separation")
    for _, r in tab.iterrows():
        cell = df[(df["model"] == r["model"]) & (df["data.separation"] == r["separation"])
                  & (df["trait.n_modes"] == r["n_modes"])]
        hits = [(st, s, e) for st, c, s, e in zip(cell["status"], cell["verdict.dropped_modes"],
                                                  cell["verdict.onset.dropped_modes"], cell["verdict.ever_learned"])
                if st == "diverged" or c]
        steps = [300.0 if st == "diverged" else s for st, s, _ in hits if st == "diverged" or np.isfinite(s)]
        assert r["k"] == len(hits) and r["n"] == (cell["status"] != "failed").sum() and r["n_onset"] == len(steps)
        assert r["n_never_learned"] == sum(st != "diverged" and not e for st, _, e in hits)
        if steps:
            assert r["value"] == np.median(steps) and r["lo"] <= r["value"] <= r["hi"]
        else:
            assert math.isnan(r["value"]) and r["label"].startswith("–")
    plots.save(fig, tab, tmp_path / "onset.png")
    assert (tmp_path / "onset.png").stat().st_size > 0 and (tmp_path / "onset.csv").is_file()


def test_names_resolve_to_columns_and_bad_names_say_what_exists():
    df = table()
    assert resolve(df, "n_modes") == "trait.n_modes" and resolve(df, "separation") == "data.separation"
    assert resolve(df, "dropped_modes") == "verdict.dropped_modes" and resolve(df, "model") == "model"
    with pytest.raises(ValueError, match="'sigma' is not a column.*min_separation"):
        resolve(df, "sigma")
    assert set(where(df, ["separation=4", "model=vae"])["data.separation"]) == {4.0}
    with pytest.raises(ValueError, match="expected one of mean"):
        aggregate(df, "trait.n_modes", "data.separation", "mmd2", "model", "max")


def test_samples_shows_the_trials_snapshots_and_stored_final_samples(tmp_path):
    import json

    import matplotlib.image as mpimg
    from experiments.snapshots import save_scatter
    rng = np.random.default_rng(0)
    folder = tmp_path / "t"
    for step in (250, 500, 750, 1000, 1250):
        save_scatter(folder / "samples" / f"step_{step:07d}.png", rng.normal(size=(200, 2)),
                     rng.normal(size=(200, 2)), f"step {step}")
    (folder / "config.json").write_text(json.dumps({"data": {"family": "mixture", "layout": "ring", "n_modes": 4},
                                                    "train": {"seed": 0}}))
    np.savez_compressed(folder / "samples.npz", fake=rng.normal(size=(300, 2)).astype(np.float32), seed=2, step=1250)
    df = table().assign(log_dir=str(folder))
    width = lambda path: mpimg.imread(path).shape[1]  # noqa: E731  3.2 inches at 80 dpi a panel
    assert width(samples(df, 3, tmp_path / "s.png")) == 4 * 256       # 3 of the 4 earlier snapshots + the final
    for shot in sorted(folder.glob("samples/*.png"))[1:]:
        shot.unlink()
    assert width(samples(df, 3, tmp_path / "s1.png")) == 2 * 256
    assert width(samples(df, 3, tmp_path / "s2.png", panels=1)) == 256
    with pytest.raises(ValueError, match="not a done trial"):
        samples(df, 10_000, tmp_path / "x.png")
    (folder / "samples.npz").unlink()
    with pytest.raises(ValueError, match=f"trial folder {folder} has no samples.npz: .*re-run the study"):
        samples(df, 3, tmp_path / "x.png")


def test_plot_cli_writes_png_and_csv(tmp_path, monkeypatch, capsys):
    import analysis.table
    from learnlab.cli import main
    monkeypatch.setattr(analysis.table, "load", lambda study, storage=None, root=None: table())
    out = tmp_path / "h.png"
    assert main(["plot", "heatmap", "s", "--x", "n_modes", "--y", "separation", "--metric", "modes_captured",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 0 and len(pd.read_csv(tmp_path / "h.csv")) == len(MODELS) * len(N_MODES) * len(SEPS)
    assert main(["plot", "curve", "s", "--x", "separation", "--agg", "rate", "--where", "model=gan",
                 "--hue", "none", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["plot", "heatmap", "s", "--x", "n_modes", "--y", "sigma", "--metric", "mmd2"]) == 2
    assert main(["plot", "heatmap", "s", "--x", "n_modes", "--metric", "mmd2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "note: pooled over data.n_modes (fix with --where)"
    err = err[1:]
    assert len(err) == 2 and "'sigma' is not a column" in err[0] and "needs --y" in err[1]


def test_equal_values_one_seed_and_number_formats(tmp_path):
    df = table(4)
    df = df[(df["draw"] == 0) & (df["seed"] == 0)].assign(status="complete", mmd2=0.25)
    fig, tab = plots.heatmap(df, "n_modes", "separation", "mmd2")
    lo, hi = [ax.collections[0] for ax in fig.axes if ax.get_title()][0].get_clim()
    assert lo < 0.25 < hi and (hi - 0.25) == pytest.approx(0.25 - lo)   # one colour, a scale around the value
    colours = {tuple(c) for ax in fig.axes if ax.get_title() for c in ax.collections[0].get_facecolors()}
    assert len(colours) == 1
    assert set(tab["label"]) == {"0.250\nn=1"}                            # one seed: no interval, no list
    assert [plots.num(v) for v in (0.5, 1.0, 12.0, 0.123456, 99.96, 2500.0, 0.00271, -8.87e-05, 0.0)] == \
        ["0.500", "1.00", "12.0", "0.123", "100", "2500", "0.00271", "-8.9e-5", "0.00"]
    assert plots.geometric([4, 8, 16]) and plots.geometric([1e-4, 1e-3, 1e-2])
    assert not plots.geometric([0.1, 0.2, 0.35, 0.5]) and not plots.geometric([2, 3, 4, 6, 8])


def test_sample_view_keeps_stray_generated_mass_and_counts_what_it_leaves_out():
    import matplotlib.pyplot as plt
    from experiments.snapshots import draw
    rng = np.random.default_rng(0)
    real = rng.normal(size=(1000, 2)) * 0.1
    fake = np.concatenate([rng.normal(size=(900, 2)) * 0.1, 5 + rng.normal(size=(100, 2)) * 0.1])
    fig, ax = plt.subplots()
    draw(ax, real, fake, "t")
    assert ax.get_xlim()[1] > 5 and ax.get_ylim()[1] > 5          # 10% of the mass far away: in view
    fake = np.concatenate([0.5 * real[:998], [[100.0, 100.0], [np.nan, 0.0]]])      # 2 strays, 1 non-finite
    draw(ax, real, fake, "t")
    assert ax.get_xlim()[1] < 10 and ax.get_title() == "t\n2 of 1000 generated outside the view"
    plt.close(fig)


@pytest.mark.parametrize("shape,cmap", [((1, 28, 28), "gray"), ((16, 16), "gray_r")])
def test_images_and_graphs_are_drawn_as_picture_grids(shape, cmap):
    import matplotlib.pyplot as plt
    from experiments.snapshots import draw
    rng = np.random.default_rng(0)
    real = (rng.random((40, *shape)) < 0.3).astype(np.float32) if cmap == "gray_r" else rng.random((40, *shape))
    fake = rng.random((40, *shape))
    fake[0].flat[0] = np.nan
    fig, ax = plt.subplots()
    draw(ax, real, fake, "step 5")
    (img,) = ax.get_images()
    h = shape[-1]
    grid = img.get_array()
    assert grid.shape == (4 * (h + 1) + 1, 8 * (h + 1) - 1) and not ax.collections      # no PCA scatter
    assert grid[0, 0] < 0                                             # the non-finite pixel is marked
    np.testing.assert_array_equal(grid[3 * (h + 1) + 2:3 * (h + 1) + 2 + h, :h], real[0].reshape(h, h))
    assert img.get_cmap().name.startswith(cmap) and ax.get_title() == "step 5\ngenerated (24 of 40)"
    plt.close(fig)
