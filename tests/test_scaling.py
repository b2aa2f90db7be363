"""The batch-size study's table (analysis.scaling): the tuned draw per batch size, runs learned,
and steps, samples and CPU seconds to learn, on a hand-made table with known answers, and on the
committed study when it is exported."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import figures, scaling
from analysis.stats import wilson
from experiments.results import exported, read_export


def run(trial, batch, draw, learned, step, quality, runtime=10.0, steps=1000, status="complete"):
    """One row of a study table: its final verdict, first learned step and a history ending at ``steps``."""
    return {"trial": trial, "model": "gan", "draw": draw, "seed": trial, "status": status,
            "model.batch_size": batch, "model.lr_g": 1e-4 * (draw + 1), "model.lr_d": 3e-4 * (draw + 1),
            "runtime_s": runtime, "quality": quality, "verdict.learned": learned,
            "verdict.learned_step": step if learned else None,
            "history": [{"step": s} for s in range(250, steps + 1, 250)]}


@pytest.fixture
def table():
    rows = [
        # batch 32: draw 0 learns 2 of 3 (steps 500 and 1000), draw 1 learns 1 of 3 but has the better quality
        run(0, 32, 0, True, 500, 0.8), run(1, 32, 0, True, 1000, 0.7), run(2, 32, 0, False, None, 0.2),
        run(3, 32, 1, True, 250, 0.9), run(4, 32, 1, False, None, 0.85), run(5, 32, 1, False, None, 0.85),
        # batch 128: draw 1 learns all 3, one of draw 0's runs diverged (counted as not learned)
        run(6, 128, 0, True, 750, 0.9), run(7, 128, 0, False, None, math.nan, status="diverged"),
        run(8, 128, 0, True, 250, 0.9),
        run(9, 128, 1, True, 250, 0.6, runtime=40.0), run(10, 128, 1, True, 500, 0.7, runtime=40.0),
        run(11, 128, 1, True, 1000, 0.8, runtime=40.0),
    ]
    return pd.DataFrame(rows)


def test_tuned_draw_and_learning_costs_per_batch_size(table):
    t = scaling.batch_table(table).set_index("batch_size")
    assert list(t.index) == [32, 128]
    assert t.loc[32, "draw"] == 0 and t.loc[128, "draw"] == 1          # most learned first, then quality
    assert t.loc[32, "model.lr_g"] == pytest.approx(1e-4) and t.loc[128, "model.lr_d"] == pytest.approx(6e-4)
    assert (t.loc[32, "learned"], t.loc[32, "n"]) == (2, 3)
    assert t.loc[32, ["learned_share", "learned_lo", "learned_hi"]].tolist() == pytest.approx(list(wilson(2, 3)))
    assert t.loc[32, "quality"] == pytest.approx((0.8 + 0.7 + 0.2) / 3)
    assert t.loc[32, "steps"] == pytest.approx(750)                      # median of 500 and 1000
    assert t.loc[32, "samples"] == pytest.approx(750 * 32)
    assert t.loc[32, "cpu_s"] == pytest.approx(10.0 * 750 / 1000)        # runtime x learned_step / steps
    assert t.loc[128, "steps"] == 500 and t.loc[128, "samples"] == 500 * 128
    assert t.loc[128, "cpu_s"] == pytest.approx(40.0 * 500 / 1000)
    assert t.loc[128, "steps_lo"] <= 500 <= t.loc[128, "steps_hi"]


def test_runs_that_did_not_learn_have_no_cost(table):
    costs = scaling.learning_costs(table, "model.batch_size")
    assert set(costs["trial"]) == {0, 1, 3, 6, 8, 9, 10, 11}
    none = table.assign(**{"verdict.learned": False})
    t = scaling.batch_table(none)
    assert t["learned"].tolist() == [0, 0] and t["steps"].isna().all()
    fig, drawn = scaling.batch_figure(none)                              # draws without a learned run
    assert len(drawn) == 2


def test_a_learned_run_without_its_step_is_an_error(table):
    table.loc[0, "verdict.learned_step"] = None
    with pytest.raises(ValueError, match="trial 0 is learned but has no learned_step"):
        scaling.learning_costs(table, "model.batch_size")


@pytest.mark.skipif(not exported("fig-batch"), reason="the batch-size study is not exported")
def test_committed_batch_study_is_complete():
    raw = yaml.safe_load((figures.CONFIGS / "batch.yaml").read_text())
    df = read_export("fig-batch")
    sizes = raw["grid"]["model.batch_size"]
    per = df.groupby(["model.batch_size", "draw"]).size()
    assert sorted(df["model.batch_size"].unique()) == sizes
    assert len(per) == len(sizes) * raw["search"]["budget"] and (per >= raw["seeds"]).all() and raw["seeds"] >= 5
    t = scaling.batch_table(df)
    assert (t["n"] == raw["seeds"]).all() and np.isfinite(t["quality"]).all()


def test_trend_of_the_tuned_draws_on_the_quick_study(tmp_path):
    """`learnlab trend --tuned` fits only each batch size's winning draw: half the quick study's runs."""
    from learnlab.cli import main
    out = tmp_path / "t.csv"
    assert main(["trend", "fig-batch-quick", "--tuned", "--trait", "batch_size", "--outcome", "quality",
                 "--csv", str(out)]) == 0
    assert pd.read_csv(out)["n"].tolist() == [len(read_export("fig-batch-quick")) // 2]
