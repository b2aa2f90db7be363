"""What a researcher uses outside the sweep: `learnlab keys`, `learnlab results --columns /
--summary`, and the notebook API (`import learnlab`), from any working directory."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import models
from experiments.config import TRAIN_KEYS
from experiments.sweep_config import TOP_KEYS
from learnlab.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("section", ["gan", "vae", "flow", "diffusion", "train", "sweep"])
def test_keys_lists_every_key_with_its_meaning(section, capsys):
    assert main(["keys", section]) == 0
    out = capsys.readouterr().out
    names = {"train": TRAIN_KEYS, "sweep": TOP_KEYS}.get(section) or models.keys(section)
    heads = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert heads == list(names)
    if section == "train":                                          # rules in words, not their codes
        assert "eval_every         default 250; an integer >= 1" in out and "int>=" not in out
    if section == "gan":
        assert "wgan_gp" in out and "gradient-penalty weight" in out


def test_keys_refuses_an_unknown_section(capsys):
    assert main(["keys", "gann"]) == 2
    assert "invalid choice: 'gann'" in capsys.readouterr().err


def test_results_from_the_exported_study_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                                     # no store here: results/ is read
    assert main(["results", "fig-veegan-ring", "--columns", "model,seed,modes_captured,verdict.outcome",
                 "--csv", "t.csv"]) == 0
    t = pd.read_csv("t.csv")
    assert list(t.columns) == ["model", "seed", "modes_captured", "verdict.outcome"] and len(t) == 5
    assert main(["results", "fig-ring-quick", "--summary", "--csv", "s.csv"]) == 0
    s = pd.read_csv("s.csv")
    full = pd.read_csv(ROOT / "results" / "fig-ring-quick.csv.gz")
    assert len(s) == full.groupby(["model", "data.n_modes", "data.separation"]).ngroups
    assert s["runs"].sum() == len(full) and (s["runs"] == s["complete"] + s["diverged"] + s["failed"]).all()
    one = s[(s["model"] == "gan") & (s["data.n_modes"] == 8) & (s["data.separation"] == 6.0)].iloc[0]
    cell = full[(full["model"] == "gan") & (full["data.n_modes"] == 8) & (full["data.separation"] == 6.0)]
    assert one["modes_captured_fraction (mean)"] == pytest.approx(cell["modes_captured_fraction"].mean())
    counts = dict(part.rsplit(" ", 1) for part in one["outcomes"].split(", "))
    assert {k: int(v) for k, v in counts.items()} == cell["verdict.outcome"].value_counts().to_dict()
    capsys.readouterr()
    assert main(["results", "fig-ring-quick", "--columns", "nope*"]) == 2
    assert "--columns 'nope*' matches no column" in capsys.readouterr().err


def test_notebook_api_is_lazy_and_reads_studies_from_anywhere(tmp_path):
    code = ("import sys, learnlab; assert 'torch' not in sys.modules; "
            "df = learnlab.study_table('fig-veegan-ring'); fig, cells = learnlab.heatmap("
            "learnlab.study_table('fig-ring-quick'), 'n_modes', 'separation', 'modes_captured_fraction'); "
            "learnlab.save(fig, cells, 'h.png'); print(len(df), len(cells), sorted(learnlab.__all__)[:3])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "5 36 ['aggregate', 'curve', 'export']"
    assert (tmp_path / "h.png").stat().st_size > 0 and (tmp_path / "h.csv").is_file()
    with pytest.raises(AttributeError, match="the API is aggregate"):
        import learnlab
        learnlab.nope


def test_learnlab_root_sets_the_store_folder_from_any_working_directory(tmp_path):
    code = "from experiments import store; print(store.ROOT)"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LEARNLAB_ROOT": str(tmp_path / "studies")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.stdout.strip() == str(tmp_path / "studies")


def test_plot_defaults_come_from_the_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                                     # the exported study: axes and objective
    assert main(["plot", "heatmap", "fig-ring-quick", "--out", "h.png"]) == 0
    h = pd.read_csv("h.csv")
    assert set(h["metric"]) == {"modes_captured_fraction"} and {"n_modes", "separation"} <= set(h.columns)
    assert main(["plot", "curve", "fig-disconnected-lines-quick", "--out", "c.png"]) == 0
    c = pd.read_csv("c.csv")
    assert set(c["metric"]) == {"support_precision"} and sorted(set(c["n_components"])) == [2, 4, 8]


def test_plot_titles_say_the_study_filters_metric_and_unit(tmp_path, monkeypatch):
    from analysis import plots
    figs = []
    save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, table, path, formats=None: figs.append(
        (fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title(), fig)) or save(fig, table, path, formats))
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "heatmap", "fig-ring-quick", "--metric", "mode_reverse_kl", "--where", "model=gan",
                 "--out", "k.png"]) == 0
    title, fig = figs[-1]
    assert title.replace("\n", " ") == "reverse KL (mean, nats): study fig-ring-quick, where model=gan"
    assert [a.get_xlabel() for a in fig.axes if a.get_xlabel()] == ["n_modes"]        # one panel, no "model = gan"
    assert not [a.get_title() for a in fig.axes if a.get_title()]
    assert main(["plot", "curve", "fig-disconnected-lines-quick", "--agg", "rate", "--metric", "bridged",
                 "--out", "c.png"]) == 0
    title, fig = figs[-1]
    assert title == "rate: bridged: study fig-disconnected-lines-quick" and fig.axes[0].get_xscale() == "log"
    c = pd.read_csv("c.csv")
    assert set(c["metric"]) == {"bridged"} and c["value"].between(0, 1).all()
