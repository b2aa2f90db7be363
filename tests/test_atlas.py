"""The atlas (issue 20): trend tests with known answers, outcome tables that add up, tuning that
picks by the stated rule, and the exported atlas studies checked as data (seeds per cell, model
kinds, verdict counts, learning rates fixed from their tuning study)."""
import datetime
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import figures
from analysis.atlas import atlas_axes, outcome_table, outcomes, summary
from analysis.table import tuned, tuned_runs
from analysis.trend import crossing, logistic_fit, trend
from experiments.results import EXPORTS, busy_time, exported, read_export
from learnlab.cli import main
from metrics.verdicts import OUTCOMES

ATLAS = sorted({f.full for f in figures.FIGURES.values()
                if "tuned_on" in yaml.safe_load((figures.CONFIGS / f.full).read_text())})
CROSS = sorted(f"../atlas/{p.name}" for p in (figures.CONFIGS.parent / "atlas").glob("cross_*.yaml"))


def runs(xs, flags, metric=None, model="gan", draw=0):
    """A tidy table of runs: trait x, verdict.learned / dropped_modes flags, quality."""
    n = len(xs)
    return pd.DataFrame({"model": model, "draw": draw, "status": "complete", "trait.x": xs,
                         "verdict.dropped_modes": flags, "verdict.learned": [not f for f in flags],
                         "verdict.outcome": ["dropped_modes" if f else "learned" for f in flags],
                         "quality": metric if metric is not None else np.zeros(n), "trial": range(n)})


def test_logistic_slope_recovers_a_known_slope():
    rng = np.random.default_rng(0)
    x = np.repeat(np.linspace(-2, 2, 9), 400)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(0.3 + 1.5 * x)))).astype(float)
    a, b = logistic_fit(x, y)
    assert b == pytest.approx(1.5, abs=0.12) and a == pytest.approx(0.3, abs=0.1)
    assert crossing(a, b, "logistic", -2, 2) == pytest.approx(-0.2, abs=0.08)     # where p = 1/2
    assert crossing(5.0, 0.0, "logistic", -2, 2) == 2 and crossing(0.1, 0.0, "linear", 1, 9) == 1


def test_trend_finds_a_rise_and_no_trend_where_there_is_none():
    xs = [1, 2, 4, 8, 16] * 6
    flags = [x >= 4 for x in xs]
    flags[1], flags[3] = True, False                    # one failure at x = 2, one success at x = 8
    rising = trend(runs(xs, flags), "x", "dropped_modes")
    row = rising.iloc[0]
    assert row["scale"] == "log2" and row["fit"] == "logistic" and row["n"] == 30
    assert row["at_low"] == 0 and row["at_high"] == 1 and row["lo"] > 0.5 and row["p_boot"] < 0.01
    assert not row["separated"] and 2 < row["x50"] < 8 and row["x50_lo"] <= row["x50"] <= row["x50_hi"]
    flat = trend(runs(xs, [i % 3 == 0 for i in range(30)]), "x", "dropped_modes").iloc[0]
    assert flat["lo"] < 0 < flat["hi"] and flat["p_boot"] > 0.2


def test_a_separated_design_gives_a_finite_slope_and_says_so():
    xs = [1, 2, 3, 4] * 5
    row = trend(runs(xs, [x > 2 for x in xs]), "x", "dropped_modes").iloc[0]
    assert row["separated"] and math.isfinite(row["slope"]) and row["slope"] > 1 and row["scale"] == "linear"


def test_least_squares_trend_of_a_metric():
    xs = [0.1, 0.2, 0.3, 0.4] * 5
    df = runs(xs, [False] * 20, metric=[1 - 2 * x for x in xs])
    row = trend(df, "x", "quality").iloc[0]
    assert row["fit"] == "least squares" and row["slope"] == pytest.approx(-2) and row["hi"] == pytest.approx(-2)
    assert row["x50"] == pytest.approx(0.25) and row["x50_lo"] == pytest.approx(0.25)   # 1 - 2x = 1/2


def test_a_diverged_run_counts_as_a_failure_and_a_crash_not_at_all():
    df = runs([1, 1, 2, 2, 3, 3], [False] * 6)
    df.loc[4, "status"], df.loc[5, "status"] = "diverged", "failed"
    row = trend(df, "x", "dropped_modes").iloc[0]
    assert row["n"] == 5 and row["at_high"] == 1.0


def test_outcome_table_adds_up_and_the_figure_draws():
    df = pd.concat([runs([1, 1, 2, 2], [False, True, True, True]), runs([1, 1, 2, 2], [False] * 4, model="vae")],
                   ignore_index=True)
    df.loc[df.index[-1], "status"] = "failed"
    t = outcome_table(df, ["trait.x"])
    assert set(t["outcome"]) == set(OUTCOMES)
    sums = t.groupby(["model", "x"]).agg(k=("k", "sum"), n=("n", "first"))
    assert (sums["k"] == sums["n"]).all() and sums.loc[("vae", 2), "n"] == 1
    gan2 = t[(t.model == "gan") & (t.x == 2) & (t.outcome == "dropped_modes")].iloc[0]
    assert gan2["value"] == 1 and gan2["lo"] == pytest.approx(0.342, abs=1e-3)      # Wilson, 2 of 2
    fig, drawn = outcomes(df, "x", title="test")
    assert len(fig.axes) == 2 and drawn.equals(t)


def test_bootstrap_fits_agree_with_one_at_a_time():
    rng = np.random.default_rng(1)
    x = np.repeat([0.0, 1, 2, 3], 10)
    Y = (rng.random((5, 40)) < 1 / (1 + np.exp(-(x - 1.5)))).astype(float)
    a, b = logistic_fit(x, Y)
    for k in range(5):
        assert (a[k], b[k]) == pytest.approx(logistic_fit(x, Y[k]), rel=1e-6)


def test_atlas_summary_marks_crossings_and_ranges():
    tables = {("fig-ring-quick", t, o): trend(read_export("fig-ring-quick"), t, "learned", n_boot=200)
              for t, o in (("n_modes", "separation"), ("separation", "n_modes"))}
    fig, table = summary(tables, title="test")
    assert len(fig.axes) == 2 and len(table) == 8
    crossed = table[table["x50_side"] == "crosses"]
    assert ((crossed["x50"] > crossed["x_min"]) & (crossed["x50"] < crossed["x_max"])).all()
    assert table.loc[table["x50_side"] != "crosses", "x50"].isna().all()
    assert {(s, t) for s, t, _ in atlas_axes()} >= {("fig-ring", "n_modes"), ("fig-arcs", "gap_fraction")}


def test_tuned_prefers_learned_runs_then_quality():
    a = runs([0] * 3, [True, True, False], metric=[0.9] * 3, draw=0)       # high quality, drops modes
    b = runs([0] * 3, [False, False, True], metric=[0.5] * 3, draw=1)      # learned twice
    c = runs([0] * 3, [False, False, True], metric=[0.6] * 3, draw=2)      # learned twice, better
    df = pd.concat([a, b, c], ignore_index=True).assign(**{"model.lr": [1e-3] * 3 + [2e-3] * 3 + [3e-3] * 3})
    row = tuned(df, "quality").iloc[0]
    assert row["draw"] == 2 and row["learned"] == "2/3" and json.loads(row["params"]) == {"model.lr": 3e-3}
    low = tuned(df, "quality", "minimize").iloc[0]              # among the learned-twice draws, the lower
    assert low["draw"] == 1 and low["quality"] == pytest.approx(0.5)
    no_verdicts = df.drop(columns=["verdict.learned", "verdict.dropped_modes"])     # graphs: the metric decides
    assert tuned(no_verdicts, "quality", "minimize").iloc[0]["draw"] == 1
    assert tuned(no_verdicts, "quality").iloc[0]["draw"] == 0
    with pytest.raises(ValueError, match="direction: 'down' is not allowed"):
        tuned(df, "quality", "down")


def test_a_numeric_verdict_entry_is_fitted_as_a_metric():
    """verdict.learned_step is a step, not a flag: least squares, slope in steps per doubling."""
    xs = np.repeat([32.0, 64.0, 128.0, 256.0], 3)
    df = runs(xs, [False] * xs.size).assign(**{"verdict.learned_step": 2000 - 250 * np.log2(xs / 32)})
    row = trend(df, "x", "learned_step", n_boot=200).iloc[0]
    assert row["fit"] == "least squares" and row["slope"] == pytest.approx(-250)
    assert trend(df, "x", "learned", n_boot=200).iloc[0]["fit"] == "logistic"


def test_tuned_runs_keeps_each_cells_winning_draw():
    """Two cells tuned separately: draw 0 wins in cell x = 1 (learns more), draw 1 in x = 2."""
    a = runs([1] * 2, [False, False], metric=[0.5, 0.5], draw=0)
    b = runs([1] * 2, [True, True], metric=[0.9, 0.9], draw=1)
    c = runs([2] * 2, [True, False], metric=[0.4, 0.4], draw=0)
    d = runs([2] * 2, [False, False], metric=[0.3, 0.3], draw=1)
    df = pd.concat([a, b, c, d], ignore_index=True)
    kept = tuned_runs(df, ["trait.x"], "quality")
    assert sorted(zip(kept["trait.x"], kept["draw"])) == [(1, 0), (1, 0), (2, 1), (2, 1)]


def test_trend_command_on_an_exported_study(capsys):
    assert main(["trend", "fig-disconnected-lines", "--trait", "n_components", "--outcome", "gap_mass"]) == 0
    out = capsys.readouterr().out
    assert "least squares" in out and "gan" in out and "vae" in out
    assert main(["trend", "fig-disconnected-lines", "--trait", "colour", "--outcome", "gap_mass"]) == 2
    assert "'colour' is not a column" in capsys.readouterr().err


def test_busy_time_counts_overlaps_once_and_skips_pauses():
    t = lambda m: datetime.datetime(2026, 12, 1) + datetime.timedelta(minutes=m)
    spans = [(t(0), t(10)), (t(5), t(12)), (t(11), t(13)), (t(60), t(70))]      # a pause of 47 min
    got = busy_time(spans)
    assert got["busy_s"] == 23 * 60 and got["span_s"] == 70 * 60 and got["first"].endswith("00:00:00")
    assert busy_time([]) == {}


def test_records_from_before_quality_get_it_from_the_same_columns():
    old = read_export("fig-ring-quick")                     # exported before quality was defined
    p, c = old["support_precision"], old["coverage"]
    assert np.allclose(old["quality"], 2 * p * c / (p + c)) and old["quality"].notna().all()


def test_atlas_configs_are_found():
    assert {"ring.yaml", "arcs.yaml"} <= set(ATLAS)


@pytest.mark.parametrize("config", ATLAS)
def test_atlas_study_is_exported_complete_and_adds_up(config):
    raw = yaml.safe_load((figures.CONFIGS / config).read_text())
    assert exported(raw["study"]), f"{raw['study']} is not in results/"
    df = read_export(raw["study"])
    axes = [f"data.{k.split('.', 1)[1]}" if k.startswith("data.") else k for k in raw["grid"]]
    assert set(df["model"]) == set(raw["models"])
    per_cell = df.groupby(["model", *axes]).size()
    assert len(per_cell) == len(raw["models"]) * math.prod(len(v) for v in raw["grid"].values())
    assert per_cell.min() >= 5 and raw["seeds"] >= 5
    if raw["data"]["family"] == "graphs":        # no ground-truth verdicts for graphs: metrics only
        assert "verdict.outcome" not in df and df[raw["objective"]["metric"]].notna().all()
        return
    t = outcome_table(df, axes)
    sums = t.groupby(["model", *[a.split(".", 1)[1] for a in axes]]).agg(k=("k", "sum"), n=("n", "first"))
    failed = df[df["status"] == "failed"].groupby(["model", *axes]).size().reindex(per_cell.index, fill_value=0)
    assert (sums["k"].to_numpy() == sums["n"].to_numpy()).all()
    assert (sums["n"].to_numpy() == (per_cell - failed).to_numpy()).all()


@pytest.mark.parametrize("config", CROSS)
def test_cross_study_is_exported_complete_and_crosses_its_traits(config):
    """The predictor's cross studies: every model kind on every drawn distribution, each with the
    config's seeds, and the drawn knobs spread over their ranges without moving together."""
    raw = yaml.safe_load((figures.CONFIGS / config).read_text())
    assert exported(raw["study"]), f"{raw['study']} is not in results/"
    df = read_export(raw["study"])
    space = {k: v for k, v in raw["search"]["space"].items() if k.startswith("data.")}
    per_cell = df.groupby(["model", *space]).size()
    assert set(df["model"]) == set(raw["models"])
    assert len(per_cell) == len(raw["models"]) * raw["search"]["budget"] and (per_cell == raw["seeds"]).all()
    cells = df.drop_duplicates(list(space))[list(space)]
    for knob, spec in space.items():
        assert cells[knob].nunique() >= (len(spec) if isinstance(spec, list) else 4), knob
    rho = cells.rank().corr().to_numpy()[np.triu_indices(len(space), 1)]
    assert np.abs(rho).max() < 0.9, rho


@pytest.mark.parametrize("config", ATLAS + CROSS)
def test_atlas_learning_rates_are_the_tuning_studys_winners(config):
    raw = yaml.safe_load((figures.CONFIGS / config).read_text())
    tuning = json.loads((Path(EXPORTS) / f"{raw['tuned_on']}.json").read_text())["sweep"]     # its own objective
    won = tuned(read_export(raw["tuned_on"]), tuning["objective"]["metric"],
                tuning["objective"].get("direction", "maximize")).set_index("model")
    for model, section in raw["models"].items():
        for key, value in json.loads(won.loc[model, "params"]).items():
            assert section[key.split(".", 1)[1]] == pytest.approx(value, rel=1e-3), (model, key)


def test_clusters_of_copies_resample_like_their_rows():
    """A run's modes resampled together: r identical copies of each row, clustered, give the
    unclustered fit and interval exactly (least squares), while treating the copies as independent
    narrows the interval by about sqrt(r)."""
    rng = np.random.default_rng(3)
    xs = np.repeat([1.0, 2.0, 3.0, 4.0], 6)
    q = 0.2 * xs + rng.normal(0, 0.3, xs.size)
    base = runs(xs, [False] * xs.size, metric=q)
    copies = base.loc[base.index.repeat(5)].reset_index(drop=True)
    plain = trend(base, "x", "quality").iloc[0]
    clustered = trend(copies, "x", "quality", cluster="trial").iloc[0]
    naive = trend(copies, "x", "quality").iloc[0]
    for k in ("slope", "lo", "hi"):
        assert clustered[k] == pytest.approx(plain[k], rel=1e-9)
    assert (naive["hi"] - naive["lo"]) < 0.6 * (plain["hi"] - plain["lo"])


def test_mode_rows_take_weights_from_the_family_and_drops_from_the_final_evaluation():
    from analysis.atlas import mode_drops, mode_rows
    final = {"step": 100, "dropped": [2, 3]}
    df = pd.DataFrame({"model": ["gan", "gan", "vae"], "trial": [0, 1, 2], "seed": [0, 1, 0],
                       "status": ["complete", "diverged", "complete"], "trait.n_modes": [4, 4, 4],
                       "trait.imbalance": [8.0, 8.0, 8.0],
                       "history": [[{"step": 50, "dropped": []}, final], [final], [{"step": 100, "dropped": []}]]})
    rows = mode_rows(df)
    assert len(rows) == 8 and set(rows["trial"]) == {0, 2}               # the diverged run says nothing
    gan = rows[rows["model"] == "gan"]
    w = 8.0 ** (-np.arange(4) / 3)
    assert np.allclose(gan["trait.mode_weight"], 4 * w / w.sum(), rtol=1e-6)
    assert np.allclose(gan["trait.log2_mode_weight"], np.log2(4 * w / w.sum()), atol=1e-6)
    assert gan["verdict.mode_dropped"].tolist() == [0, 0, 1, 1] and rows["verdict.mode_dropped"].sum() == 2
    _, table = mode_drops(df)
    assert table["n"].sum() == 8 and table["k"].sum() == 2
    assert set(table["mode_weight"]) == {2.0, 1.0, 0.5, 0.25}            # 1.83, 0.92, 0.46, 0.23 to powers of 2
