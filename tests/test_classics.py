"""Classic synthetic benchmarks (REFERENCES.md section 1): every full config is the published setup
field by field, the two-circles shape is what it says, and every quick figure runs end to end
(with its steps, seeds and sample counts cut down here; architecture and optimiser unchanged)."""
import dataclasses
import math

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
import yaml

import distributions
import experiments.sweep
import experiments.train
from analysis import classics, figures
from experiments.results import results
from experiments.sweep_config import load_sweep
from learnlab.cli import main

CLASSIC = list(figures.CLASSICS)

# REFERENCES.md section 1, as (data knobs, model keys that every named model shares, per-model keys,
# train keys, seeds). Values marked "choice" in the configs' comments are not in this table.
PAC_MODEL = dict(model="gan", latent_dim=2, prior="normal", g_width=400, g_depth=4, g_norm="batch",
                 activation="relu", d_arch="maxout", d_width=200, d_depth=3, maxout_pieces=5, lr_g=1e-4,
                 lr_d=1e-4, beta1=0.8, d_steps=1)
PAC_EACH = {"GAN": dict(pack=1, batch_size=100), "PacGAN2": dict(pack=2, batch_size=200),
            "PacGAN3": dict(pack=3, batch_size=300), "PacGAN4": dict(pack=4, batch_size=400)}
VEE_MODEL = dict(model="gan", g_width=128, g_depth=2, d_width=128, d_depth=2, batch_size=500, lr_g=1e-3,
                 lr_d=1e-3, beta1=0.5)
WGAN_MODEL = dict(model="gan", latent_dim=2, g_width=512, g_depth=3, d_width=512, d_depth=3, activation="relu",
                  batch_size=256, lr_g=1e-4, lr_d=1e-4, beta1=0.5, beta2=0.9)
WGAN_EACH = {"wgan_gp": dict(loss="wgan_gp", gp_weight=0.1, d_steps=5), "gan": dict(loss="non_saturating")}
S = 1.414
EXPECTED = {
    "pacgan_ring": (dict(family="mixture", layout="ring", n_modes=8, radius=1.0, std=0.01, n_train=100_000),
                    PAC_MODEL, PAC_EACH, dict(steps=400 * 100_000 // 100, eval_samples=2500), 10),
    "pacgan_grid": (dict(family="mixture", layout="grid", n_modes=25, spacing=2.0, std=0.05, n_train=100_000),
                    PAC_MODEL, PAC_EACH, dict(steps=400 * 100_000 // 100, eval_samples=2500), 10),
    "veegan_ring": (dict(family="mixture", layout="ring", n_modes=8), VEE_MODEL, {"GAN": {}},
                    dict(eval_samples=2500), 5),
    "veegan_grid": (dict(family="mixture", layout="grid", n_modes=25, spacing=2.0, std=0.05), VEE_MODEL,
                    {"GAN": {}}, dict(eval_samples=2500), 5),
    "wgangp_8gaussians": (dict(family="mixture", layout="ring", n_modes=8, radius=2 / S, std=0.02 / S),
                          WGAN_MODEL, WGAN_EACH, dict(steps=100_000 * 5), None),
    "wgangp_25gaussians": (dict(family="mixture", layout="grid", n_modes=25, spacing=2 / 2.828, std=0.05 / 2.828,
                                n_train=100_000), WGAN_MODEL, WGAN_EACH, dict(steps=100_000 * 5), None),
    "wgangp_swissroll": (dict(family="manifold", shape="spiral", turns=1.5, radius=4.5 * math.pi / 7.5,
                              noise=0.25 / 7.5), WGAN_MODEL, WGAN_EACH, dict(steps=100_000 * 5), None),
    "disconnected_lines": (dict(family="manifold", shape="line"), dict(), {"gan": dict(loss="wgan_gp"),
                                                                           "vae": dict(model="vae")}, {}, None),
    "disconnected_circles": (dict(family="manifold", shape="two_circles", radius=1.0), dict(),
                             {"gan": dict(loss="wgan_gp"), "vae": dict(model="vae")}, {}, None),
    "unrolled_hopping": (dict(family="mixture", layout="ring", n_modes=8, radius=1.0, std=0.01),
                         dict(model="gan", loss="minimax", g_width=128, g_depth=2, d_width=128, d_depth=2,
                              activation="tanh", latent_dim=256, batch_size=512, lr_d=1e-4, lr_g=1e-3, beta1=0.5),
                         {"GAN": {}}, dict(steps=25_000), None),
}


def test_every_classic_figure_has_a_published_setup():
    assert set(EXPECTED) == set(CLASSIC)


@pytest.mark.parametrize("name", CLASSIC)
def test_full_config_is_the_published_setup(name):
    data, shared, each, train, seeds = EXPECTED[name]
    fig = figures.get(name)
    full, quick = load_sweep(fig.config(False)), load_sweep(fig.config(True))
    assert full.study == f"fig-{fig.full[len('classic_'):-len('.yaml')].replace('_', '-')}"
    assert quick.study == full.study + "-quick" and len(quick.trials) <= len(full.trials)
    if seeds is not None:
        assert sorted({t.seed for t in full.trials}) == list(range(seeds))
    assert set(full.raw["models"]) == set(each)
    for t in full.trials:
        cfg = t.config
        for k, v in data.items():
            got = cfg["data"][k]
            assert got == pytest.approx(v, rel=1e-12) if isinstance(v, float) else got == v, (name, k)
        for k, v in {**shared, **each[t.variant]}.items():
            assert cfg["model"][k] == pytest.approx(v) if isinstance(v, float) else cfg["model"][k] == v, (name, k)
        for k, v in train.items():
            assert cfg["train"][k] == v, (name, k)
    for tq, tf in zip(quick.trials, full.trials):           # quick keeps the architecture and optimiser
        if tq.variant == tf.variant:
            assert tq.config["model"] == tf.config["model"]
            if not full.axes:
                assert tq.config["data"] == tf.config["data"]


def test_wgangp_8gaussians_centres_are_the_toy_set():
    """The toy's centres (+-1, 0), (0, +-1), (+-1, +-1)/sqrt 2, times 2, / 1.414 - as a set."""
    cfg = load_sweep(figures.get("wgangp_8gaussians").config(False)).trials[0].config["data"]
    dist = distributions.make("mixture", **{k: v for k, v in cfg.items() if k not in ("family", "n_train")})
    r = 1 / math.sqrt(2)
    toy = torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)],
                       dtype=torch.float64) * 2 / 1.414
    d = torch.cdist(toy, dist.modes.centres.double())
    assert float(d.min(1).values.max()) < 1e-6 and dist.traits["std"] == pytest.approx(0.02 / 1.414)


def test_two_circles_shape():
    d = distributions.make("manifold", shape="two_circles", noise=0.0)
    x = d.sample(4000, generator=torch.Generator().manual_seed(0)).double()
    left = x[:, 0] < 0
    centre = torch.where(left, -2.0, 2.0)
    assert torch.allclose(((x[:, 0] - centre) ** 2 + x[:, 1] ** 2).sqrt(), torch.ones(4000, dtype=torch.float64),
                          atol=1e-6)
    assert 0.45 < float(left.double().mean()) < 0.55                 # equal lengths, equal mass
    assert float(d.support_distance(x).max()) < 1e-5                # float32 samples
    assert d.traits["n_components"] == 2 and d.traits["component_gap"] == pytest.approx(2.0, abs=1e-4)
    q = torch.tensor([[0.0, 0.0], [2.0, 0.0], [-2.0, 3.0]], dtype=torch.float64)
    assert d.support_distance(q).tolist() == pytest.approx([1.0, 1.0, 2.0], abs=1e-6)
    big = distributions.make("manifold", shape="two_circles", radius=0.5, noise=0.01)
    assert big.traits["component_gap"] == pytest.approx(1.0, abs=1e-4)
    lp = big.log_prob(torch.tensor([[1.5, 0.0], [0.0, 0.0]]).double())
    assert lp[0] > lp[1] + 100                                       # on the support vs in the gap
    with pytest.raises(ValueError, match="n_components"):
        distributions.make("manifold", shape="two_circles", n_components=3, gap_fraction=0.2)


def test_mean_se_and_hop_counts():
    assert classics.mean_se([1.0, 3.0]) == (2.0, 1.0, 2)
    m, se, n = classics.mean_se([5.0, float("nan")])
    assert (m, n) == (5.0, 1) and math.isnan(se)
    h = [{"captured": [0]}, {"captured": [1]}, {"captured": [1]}, {"captured": [0, 1]}]
    counts = classics.hop_counts(h)
    assert {k: counts[k] for k in ("n_evals", "set_changes", "mean_captured", "modes_ever_captured")} == {
        "n_evals": 4, "set_changes": 2, "mean_captured": 1.25, "modes_ever_captured": 2}
    assert all(math.isnan(counts[k]) for k in ("held_changes", "mean_held", "modes_ever_held"))   # no mass stored
    # Every mode captured throughout, but the mass (4 modes, held: >= 1/8) moves from mode 0 to 2 and back.
    mass = [[0.9, 0.05, 0.05, 0.0], [0.9, 0.05, 0.05, 0.0], [0.1, 0.0, 0.8, 0.1], [0.125, 0.125, 0.5, 0.25]]
    h = [{"captured": [0, 1, 2, 3], "mode_mass": m} for m in mass]
    counts = classics.hop_counts(h)
    assert counts["set_changes"] == 0 and counts["mean_captured"] == 4
    assert [classics.held(e) for e in h] == [{0}, {0}, {2}, {0, 1, 2, 3}]
    assert (counts["held_changes"], counts["mean_held"], counts["modes_ever_held"]) == (2, 1.75, 4)


# Table 1 of each paper, transcribed from the authors' table images (REFERENCES.md section 1:
# pacgan_table1.png, veegan_table1.png), for the models the lab's configs run. PacGAN: (mean, s.e.)
# per column ring modes, ring high quality %, ring reverse KL, grid modes, grid high quality %,
# grid reverse KL; VEEGAN (no error bars): ring modes, ring high quality %, grid modes, grid high
# quality %. DIGITS: the decimals each column is printed with.
PACGAN_TABLE1 = {
    "GAN": ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09), (17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
    "PacGAN2": ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03), (23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
    "PacGAN3": ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02), (24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
    "PacGAN4": ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02), (24.8, 0.2), (93.6, 0.6), (0.04, 0.01)),
}
PACGAN_DIGITS = (1, 1, 2, 1, 1, 2)
VEEGAN_TABLE1 = {"GAN": (1, 99.3, 3.3, 0.5)}
VEEGAN_DIGITS = (0, 1, 1, 1)
MODES3 = ("modes_captured", "mode_hq_percent", "mode_reverse_kl")


def test_published_is_each_papers_table1():
    expected = {}
    for model, cells in PACGAN_TABLE1.items():
        for i, ((mean, se), digits) in enumerate(zip(cells, PACGAN_DIGITS)):
            paper = ("pacgan_ring", "pacgan_grid")[i // 3]
            expected.setdefault(paper, {}).setdefault(model, {})[MODES3[i % 3]] = (mean, se, digits)
    for model, cells in VEEGAN_TABLE1.items():
        for i, (mean, digits) in enumerate(zip(cells, VEEGAN_DIGITS)):
            paper = ("veegan_ring", "veegan_grid")[i // 2]
            expected.setdefault(paper, {}).setdefault(model, {})[MODES3[i % 2]] = (mean, None, digits)
    got = {paper: {model: {m: (c.mean, c.se, c.digits) for m, c in row.items()} for model, row in table.items()}
           for paper, table in classics.PUBLISHED.items()}
    assert got == expected
    for name in ("pacgan_ring", "pacgan_grid", "veegan_ring", "veegan_grid"):    # under the configs' names
        fig = figures.get(name)
        assert fig.args["paper"] == name
        assert set(load_sweep(fig.config(False)).raw["models"]) == set(classics.PUBLISHED[name])
        assert all(set(row) == set(fig.args["metrics"]) for row in classics.PUBLISHED[name].values())
    shown = classics.PUBLISHED["pacgan_grid"]["GAN"]
    assert [str(c) for c in shown.values()] == ["17.3 ± 0.8", "94.8 ± 0.7", "0.70 ± 0.07"]
    assert [str(c) for c in classics.PUBLISHED["veegan_ring"]["GAN"].values()] == ["1", "99.3"]
    assert str(classics.Published.parse("95.6±2.0 %")) == "95.6 ± 2.0"


def test_summary_shows_ours_beside_the_published_numbers():
    df = pd.DataFrame({
        "model": ["GAN", "GAN", "GAN", "PacGAN2", "PacGAN2", "WGAN"],
        "status": ["complete", "complete", "diverged", "complete", "complete", "complete"],
        "modes_captured": [6.0, 8.0, 1.0, 8.0, 8.0, 5.0],
        "mode_hq_fraction": [0.98, 0.96, 0.0, 0.95, 0.95, 0.5],
        "mode_reverse_kl": [0.5, 0.3, 9.0, 0.07, 0.07, 1.0],
        "coverage": [0.9, 0.8, 0.0, 0.9, 0.9, 0.5]})
    metrics = MODES3 + ("coverage",)
    tab = classics.summary(df, metrics, "pacgan_ring").set_index(["model", "metric"])
    gan = tab.loc["GAN"]
    assert list(gan["ours"]) == ["7.00 ± 1.00", "97.0 ± 1.0", "0.40 ± 0.10", "0.85 ± 0.05"]
    assert list(gan["published"]) == ["6.3 ± 0.5", "98.2 ± 0.2", "0.45 ± 0.09", classics.NIP]
    assert gan["paper_mean"].tolist()[:3] == [6.3, 98.2, 0.45] and gan["paper_se"].tolist()[:3] == [0.5, 0.2, 0.09]
    assert gan["z"].tolist()[:3] == pytest.approx([0.7 / math.sqrt(1.25), -1.2 / math.sqrt(1.04),
                                                   -0.05 / math.sqrt(0.0181)])
    assert math.isnan(gan.loc["coverage", "z"]) and math.isnan(gan.loc["coverage", "paper_mean"])
    assert tab.loc[("PacGAN2", "modes_captured"), "z"] == pytest.approx(1.0)   # our se 0: (8 - 7.9) / 0.1
    assert tab.loc[("PacGAN2", "mode_reverse_kl"), "z"] == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(classics.z_score(1.0, 0.0, classics.Published(2.0, 0.0)))   # both se 0
    assert set(tab.loc["WGAN", "published"]) == {classics.NIP}              # a model the paper lacks
    header, cells = classics._layout(tab.reset_index(), metrics)             # the drawn table
    assert header[:3] == ["model", "modes", "modes (paper)"] and header[-1] == "seeds"
    assert cells[0] == ["GAN", "7.00 ± 1.00", "6.3 ± 0.5", "97.0 ± 1.0", "98.2 ± 0.2", "0.40 ± 0.10",
                        "0.45 ± 0.09", "0.85 ± 0.05", classics.NIP, "2/3"]
    vee = classics.summary(df[df["model"] == "GAN"], metrics[:2], "veegan_grid")     # no error bars
    assert list(vee["published"]) == ["3.3", "0.5"] and vee["z"].isna().all() and vee["paper_se"].isna().all()
    assert set(classics.summary(df, metrics[:1])["published"]) == {classics.NIP}    # no paper


def tiny(name, tmp_path):
    raw = yaml.safe_load(figures.get(name).config(True).read_text())
    raw["train"].update(steps=10, eval_every=5, eval_samples=200, final_real=200)
    raw["seeds"] = 2
    if "grid" in raw:
        raw["grid"] = {k: v[:2] for k, v in raw["grid"].items()}
    path = tmp_path / f"{name}_tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


@pytest.mark.parametrize("name", CLASSIC)
def test_quick_classic_figure_end_to_end(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path, raw = tiny(name, tmp_path)
    monkeypatch.setitem(figures.FIGURES, name, dataclasses.replace(figures.get(name), quick=str(path)))
    assert main(["figures", name, "--quick", "--no-progress", "--rerun"]) == 0    # not the table in results/
    out = tmp_path / "figures" / "quick"
    for ext in ("png", "pdf", "csv"):
        assert (out / f"{name}.{ext}").stat().st_size > 0
    df = results(raw["study"])
    n_grid = math.prod(len(v) for v in (raw.get("grid") or {}).values())
    assert len(df) == len(raw["models"]) * 2 * n_grid and set(df["status"]) == {"complete"}
    csv = pd.read_csv(out / f"{name}.csv", dtype={"published": str})   # "1", not 1.0
    assert set(csv["study"]) == {raw["study"]}
    kind = figures.get(name).kind
    if kind in ("paper_table", "contours", "component_table"):
        df = classics.derived(df)
        for _, r in csv.iterrows():            # each number is the mean and s.e. of its seeds
            col = df[r["metric"]] if r["metric"] in df else pd.Series(math.nan, index=df.index)  # skipped metric
            vals = col[df["model"] == r["model"]].astype(float).dropna()                         # NaN: no hq sample
            assert r["n"] == len(vals) and r["n_total"] == 2
            assert r["mean"] == pytest.approx(vals.mean(), nan_ok=True)
            assert r["se"] == pytest.approx(vals.std(ddof=1) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan,
                                            nan_ok=True)
            pub = (classics.PUBLISHED.get(figures.get(name).args.get("paper"), {}).get(r["model"]) or {}).get(
                r["metric"])
            assert r["published"] == (str(pub) if pub else classics.NIP)
            assert r["paper_mean"] == pytest.approx(pub.mean if pub else math.nan, nan_ok=True)
        assert set(csv["model"]) == set(raw["models"])
    assert all((tmp_path / p / f).is_file() for p in df["log_dir"] for f in ("model.pt", "samples.npz"))
    if kind == "gap_curve":
        df = classics.derived(df)
        for _, r in csv.iterrows():
            vals = df[(df["model"] == r["model"]) & (df["data.n_components"] == r["n_components"])]["gap_mass"]
            assert r["value"] == pytest.approx(vals.mean())
    if kind == "hopping":
        assert len(csv) == 2 and (csv["n_evals"] == 2).all() and (csv["set_changes"] <= 1).all()
    assert f"{name}: drew the stored study {raw['study']}; wrote figures/quick/{name}.png" in capsys.readouterr().out
    # the figure redraws from the stored trials alone: any training fails
    for owner, attr in ((experiments.train, "run_group"), (experiments.train, "run"), (experiments.sweep, "run_group"),
                        (pl.Trainer, "fit")):
        monkeypatch.setattr(owner, attr, lambda *a, **k: pytest.fail("the figure trained a model"))
    (out / f"{name}.png").unlink()
    assert main(["figures", name, "--quick", "--no-progress", "--no-run"]) == 0
    assert (out / f"{name}.png").stat().st_size > 0
