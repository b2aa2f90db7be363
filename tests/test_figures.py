"""Named figures: every config behind them validates, and `learnlab figures ring_modes --quick`
runs end to end (on a smaller budget than the real quick one: 2 x 2 grid, 1 seed, 300 steps)."""
import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis import figures
from experiments.results import results
from experiments.sweep import check_metric
from experiments.sweep_config import load_sweep
from learnlab.cli import main


def test_every_figure_config_validates_with_distinct_studies():
    studies = {}
    for name, fig in figures.FIGURES.items():
        full, quick = load_sweep(fig.config(False)), load_sweep(fig.config(True))
        assert full.study != quick.study and quick.study.endswith("-quick")
        assert len(quick.trials) < len(full.trials)
        check_metric(quick)                                       # the objective exists for the family
        for sweep in (full, quick):
            assert studies.setdefault(sweep.study, fig.config(sweep is quick)) == fig.config(sweep is quick)
            if fig.kind == "heatmap":                             # the lab's own GAN-vs-VAE maps
                axes = {a.split(".")[1] for a in sweep.axes}
                assert {fig.args["x"], fig.args["y"]} <= axes        # the plotted traits are true grid axes
                kinds = {m["model"] for m in sweep.raw["models"].values()}
                graphs = sweep.raw["data"]["family"] == "graphs"      # no discrete flow or diffusion
                assert kinds == ({"gan", "vae"} if graphs else {"gan", "vae", "flow", "diffusion"})
    with pytest.raises(ValueError, match="expected one of ring_modes"):
        figures.get("nope")


def tiny_quick(tmp_path) -> Path:
    raw = yaml.safe_load(figures.FIGURES["ring_modes"].config(True).read_text())
    for m in raw["models"].values():
        for k in ("g_width", "d_width", "enc_width", "dec_width", "width"):
            if k in m:
                m[k] = 16
        for k in ("g_depth", "d_depth", "enc_depth", "dec_depth", "depth"):
            if k in m:
                m[k] = 1
        m["batch_size"] = 64
    raw["train"] = {"steps": 300, "eval_every": 100, "eval_samples": 300, "final_real": 300, "plots": False,
                    "tensorboard": False}
    raw["grid"] = {"data.n_modes": [4, 8], "data.separation": [3.0, 12.0]}
    raw["seeds"] = 1
    path = tmp_path / "ring_tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_quick_ring_figure_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("ring_modes", "ring_collapse"):
        fig = figures.FIGURES[name]
        monkeypatch.setitem(figures.FIGURES, name, dataclasses.replace(fig, quick=str(tiny_quick(tmp_path))))
    assert main(["figures", "ring_modes", "--quick", "--no-progress"]) == 2       # results/ ran another config
    assert "ran with models.gan.g_width=64 where the config now has 16; " in capsys.readouterr().err
    import experiments.results
    monkeypatch.setattr(experiments.results, "EXPORTS", tmp_path / "results")        # not the project's
    assert main(["figures", "ring_modes", "--quick", "--no-progress", "--rerun", "--export"]) == 0
    assert (tmp_path / "results" / "fig-ring-quick.csv.gz").is_file()
    quick = tmp_path / "figures" / "quick"                      # never over the full-budget figures
    for ext in ("png", "pdf", "csv"):
        assert (quick / f"ring_modes.{ext}").stat().st_size > 0
    df = results("fig-ring-quick")
    assert len(df) == 16 and set(df["model"]) == {"gan", "vae", "flow", "diffusion"}
    csv = pd.read_csv(quick / "ring_modes.csv")
    assert len(csv) == 16 and set(csv["study"]) == {"fig-ring-quick"}
    for _, r in csv.iterrows():        # each plotted number is the mean of its complete seeds
        cell = df[(df["model"] == r["model"]) & (df["data.n_modes"] == r["n_modes"])
                  & (df["data.separation"] == r["separation"]) & (df["status"] == "complete")]
        want = cell["modes_captured_fraction"].mean()
        assert (math.isnan(r["value"]) and cell.empty) or r["value"] == pytest.approx(want)
        assert r["n"] == len(cell) and r["n_total"] == 1
    # the second figure shares the study: nothing is trained again
    assert main(["figures", "ring_collapse", "--quick", "--no-progress", "--no-run"]) == 0
    rate = pd.read_csv(quick / "ring_collapse.csv")
    assert rate["value"].between(0, 1).all() and (rate["lo"] <= rate["value"]).all()
    assert len(results("fig-ring-quick")) == 16
    # onset and samples of the same study (trial 0 had no snapshots: its stored final samples are drawn)
    assert main(["plot", "onset", "fig-ring-quick", "--out", str(tmp_path / "onset.png")]) == 0
    assert main(["plot", "samples", "fig-ring-quick", "--trial", "0", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "onset.png").is_file() and (tmp_path / "s.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "ring_modes: drew the stored study fig-ring-quick; wrote figures/quick/ring_modes.png" in out
    assert not (tmp_path / "figures" / "ring_modes.png").exists()
    # the study exported and read back is the same table, and draws the same figure
    from experiments.results import export, read_export
    export("fig-ring-quick", tmp_path / "exports")
    back, stored = read_export("fig-ring-quick", tmp_path / "exports"), results("fig-ring-quick")
    cols = [c for c in stored.columns if c != "log_dir"]
    def plain(d):                                               # a CSV has no None, only empty cells
        return d[cols].astype(object).where(d[cols].notna(), None)
    pd.testing.assert_frame_equal(plain(back), plain(stored), check_dtype=False)
    assert [len(h) for h in back["history"]] == [3] * 16 and back["history"][0][0]["step"] == 100
    carried = back.dropna(subset=["log_dir"])                   # each model's first run travels with its samples
    assert sorted(carried["model"]) == ["diffusion", "flow", "gan", "vae"] and (carried["seed"] == 0).all()
    figures.make("ring_modes", quick=True, exports=tmp_path / "exports", table=True, out=tmp_path / "t")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t" / "ring_modes.csv"), csv)
