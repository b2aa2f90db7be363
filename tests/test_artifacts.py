"""analysis/ reads what a trial stored (model.pt, samples.npz) and never trains: a tiny study is
run once, then every figure of it is drawn with training switched off, from another directory."""
import json
import shutil

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import yaml
from matplotlib.contour import QuadContourSet

import experiments.sweep
import experiments.train
import models
from analysis import artifacts, classics, plots, table
from analysis.samples import samples
from experiments.sweep import run_sweep

STUDY = "tiny-artifacts"
CONFIG = {
    "study": STUDY,
    "data": {"family": "mixture", "layout": "ring", "n_modes": 4, "radius": 1.0, "std": 0.05},
    "models": {"wgan_gp": {"model": "gan", "loss": "wgan_gp", "gp_weight": 0.1, "d_steps": 2, "g_width": 16,
                           "g_depth": 1, "d_width": 16, "d_depth": 1, "batch_size": 32, "check_every": 10},
               "vae": {"model": "vae", "enc_width": 16, "enc_depth": 1, "dec_width": 16, "dec_depth": 1,
                       "batch_size": 32, "check_every": 10}},
    "train": {"steps": 20, "eval_every": 10, "eval_samples": 150, "final_real": 150, "plots": True,
              "tensorboard": False},
    "seeds": 2,
    "ensemble": 2,                          # member 1 of a batched pair must load as its own module
    "objective": {"metric": "modes_captured", "direction": "maximize"},
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """(root, tidy table) of the tiny study, run from one directory with a relative root."""
    ran_in = tmp_path_factory.mktemp("ran_in")
    path = ran_in / "study.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ran_in)
        run_sweep(path, progress=False)           # stores log_dir as lightning_logs/STUDY/trials/NNNNN
    root = ran_in / "lightning_logs"
    return root, table.load(STUDY, root=root)


@pytest.fixture
def no_training(monkeypatch, tmp_path):
    """Training of any kind fails the test; the working directory is not the one the study ran in."""
    def trained(*args, **kwargs):
        raise AssertionError("analysis trained a model")
    for owner, name in ((experiments.train, "run_group"), (experiments.train, "run"),
                        (experiments.sweep, "run_group"), (pl.Trainer, "fit")):
        monkeypatch.setattr(owner, name, trained)
    monkeypatch.chdir(tmp_path)


def test_critic_contours_and_sample_plots_read_the_stored_trials(study, no_training, tmp_path):
    root, df = study
    assert len(df) == 4 and set(df["status"]) == {"complete"}
    assert all(artifacts.trial_folder(r).is_relative_to(root.resolve()) for _, r in df.iterrows())
    fig, tab = classics.critic_contours(df, metrics=("modes_captured",), title="tiny")
    panels = {ax.get_title().split(" ")[0]: ax for ax in fig.axes if "seed" in ax.get_title()}
    assert set(panels) == {"wgan_gp", "vae"}
    contours = lambda ax: [c for c in ax.get_children() if isinstance(c, QuadContourSet)]  # noqa: E731
    assert len(contours(panels["wgan_gp"])) == 1 and not contours(panels["vae"])      # a VAE has no critic
    paths = plots.save(fig, tab, tmp_path / "contours.png")
    assert paths[0].stat().st_size > 10_000
    fig, tab = classics.paper_table(df, metrics=("modes_captured",), title="tiny")
    assert plots.save(fig, tab, tmp_path / "paper.png")[0].stat().st_size > 10_000
    trial = int(df.loc[df["model"] == "wgan_gp", "trial"].iloc[0])
    assert samples(df, trial, tmp_path / "samples.png").stat().st_size > 10_000


def test_critic_grid_is_the_stored_critic_on_the_grid(study):
    _, df = study
    folder = artifacts.trial_folder(df[df["model"] == "wgan_gp"].iloc[0])
    module = artifacts.load_model(folder)
    xx, yy, c = classics.critic_grid(module, lim=2.0, n=5)
    assert xx.shape == yy.shape == c.shape == (5, 5) and np.isfinite(c).all()
    pts = torch.tensor([[xx[1, 3], yy[1, 3]], [xx[4, 0], yy[4, 0]]], dtype=torch.float32)
    with torch.no_grad():
        assert module.critic(pts[None])[0].view(-1).tolist() == pytest.approx([c[1, 3], c[4, 0]], rel=1e-5)
    cfg = artifacts.load_config(folder)
    init = models.build(cfg["model"], data_dim=2, seeds=[cfg["train"]["seed"]]).eval()
    assert not np.allclose(classics.critic_grid(init, lim=2.0, n=5)[2], c)   # trained, not initial, weights


def test_loaded_models_redraw_their_stored_samples(study):
    _, df = study
    for _, row in df.iterrows():
        folder = artifacts.trial_folder(row)
        cfg, stored = artifacts.load_config(folder), artifacts.load_samples(folder)
        seed, n = cfg["train"]["seed"], cfg["train"]["eval_samples"]
        assert stored["seed"] == seed + 2 and stored["step"] == 20 and stored["fake"].shape == (n, 2)
        assert stored["fake"].dtype == np.float32
        module = artifacts.load_model(folder)
        again = module.sample(n, generator=torch.Generator().manual_seed(seed + 2), member=0).numpy()
        np.testing.assert_allclose(again, stored["fake"], rtol=1e-5, atol=1e-6)
        other = module.sample(n, generator=torch.Generator().manual_seed(seed + 3), member=0).numpy()
        assert np.abs(other - stored["fake"]).max() > 1e-3
        assert json.loads((folder / "result.json").read_text())["execution"]["members"] == 2


def test_a_missing_artifact_is_one_error_line_naming_the_folder(study, no_training, tmp_path):
    _, df = study
    row = df[df["model"] == "wgan_gp"].sort_values("seed").iloc[0]        # the trial the figures show
    old = tmp_path / "old_trial"
    shutil.copytree(artifacts.trial_folder(row), old)
    (old / "samples.npz").unlink()
    (old / "model.pt").unlink()
    stale = df.assign(log_dir=[str(old) if t == row["trial"] else p for t, p in zip(df["trial"], df["log_dir"])])
    for draw in (lambda: samples(stale, int(row["trial"]), tmp_path / "x.png"),
                 lambda: classics.critic_contours(stale, metrics=("modes_captured",))):
        with pytest.raises(ValueError) as err:
            draw()
        msg = str(err.value)
        assert "\n" not in msg and f"trial folder {old} has no " in msg and "re-run the study" in msg
    assert not (tmp_path / "x.png").exists()
    result = json.loads((old / "result.json").read_text())
    (old / "result.json").write_text(json.dumps({**result, "status": "failed", "reason": "RuntimeError: boom"}))
    with pytest.raises(ValueError, match=r"has no model.pt: its run failed \(RuntimeError: boom\)"):
        artifacts.load_model(old)
    with pytest.raises(ValueError, match="trial folder .*nowhere not found"):
        artifacts.trial_folder({"trial": 3, "log_dir": str(tmp_path / "nowhere")})


def test_a_figure_of_an_unfinished_study_is_an_error_not_a_run(no_training, tmp_path, monkeypatch):
    from analysis import figures
    path = tmp_path / "never.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "study": "never-run"}))
    monkeypatch.setitem(figures.FIGURES, "never", figures.Figure("never", str(path), str(path), "contours"))
    with pytest.raises(ValueError, match="study 'never-run' is neither stored complete nor exported to .*; run "
                                         "`learnlab figures never --quick` without --no-run"):
        figures.make("never", quick=True, root=tmp_path / "store")
    assert not (tmp_path / "figures").exists()


def test_every_figure_without_training_skips_a_study_it_cannot_draw(no_training, tmp_path, monkeypatch, capsys):
    from analysis import figures
    from learnlab.cli import main
    path = tmp_path / "never.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "study": "never-run"}))
    monkeypatch.setattr(figures, "FIGURES", {"never": figures.Figure("never", str(path), str(path), "contours")})
    assert main(["figures", "--all", "--quick", "--no-run", "--out", str(tmp_path / "out")]) == 0
    assert "never: skipped: study never-run is neither stored complete nor exported (--no-run)" in capsys.readouterr().out
    assert main(["figures", "never", "--quick", "--no-run", "--out", str(tmp_path / "out")]) == 2   # named: an error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())   # nothing drawn
