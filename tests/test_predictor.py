"""The atlas predictor: its fitting code against known answers, the stored predictor against the
committed atlas tables, and `learnlab predict` on a user's points, images and graphs."""
import json
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import linear, validation
from analysis import predictor as P
from learnlab.cli import main
from learnlab.predict import validation_path


@pytest.fixture(scope="module")
def pred():
    return P.load()


def test_ridge_and_gcv_recover_known_coefficients():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 3))
    y = 0.5 + Z @ [1.0, -2.0, 0.0] + 0.01 * rng.normal(size=400)
    a, b = linear.ridge(Z, y, linear.gcv_lambda(Z, y))
    assert a == pytest.approx(0.5, abs=1e-2) and b == pytest.approx([1.0, -2.0, 0.0], abs=1e-2)
    assert linear.gcv_lambda(Z, y) == linear.LAMBDAS[0]             # no noise to shrink against
    noise = rng.normal(size=400)
    assert linear.gcv_lambda(Z, noise) > 10                          # nothing to fit: shrink hard
    _, b = linear.ridge(Z, y, 400.0)                                 # lam = n: slopes x var / (var + 1)
    assert b == pytest.approx([0.5, -1.0, 0.0], abs=0.1)
    A, B = linear.ridge(np.stack([Z, Z]), np.stack([y, 2 * y]), 1e-3)          # a batch of two problems
    assert A == pytest.approx([0.5, 1.0], abs=2e-2) and B[1] == pytest.approx([2.0, -4.0, 0.0], abs=2e-2)


def test_group_cv_penalty_shrinks_what_does_not_carry_to_other_groups():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(8), 50)
    Z = rng.normal(size=(400, 3))
    y = 0.5 + Z @ [1.0, -2.0, 0.0] + 0.01 * rng.normal(size=400)
    assert linear.group_cv_lambda(Z, y, groups) == linear.LAMBDAS[0]        # the same law in every group
    assert linear.group_cv_lambda(Z, rng.normal(size=400), groups) > 10     # nothing to fit
    # each group sits at its own point of feature space with its own arbitrary level: the rows of
    # one group look learnable (GCV keeps a small penalty), nothing carries to an unseen group
    Zg = rng.normal(size=(8, 3))[groups] + 0.05 * rng.normal(size=(400, 3))
    yg = rng.normal(size=8)[groups] + 0.05 * rng.normal(size=400)
    assert linear.group_cv_lambda(Zg, yg, groups) > 10 * linear.gcv_lambda(Zg, yg)
    assert linear.group_cv_lambda(Zg, yg, groups % 2) == linear.gcv_lambda(Zg, yg)   # 2 groups: GCV


def test_logistic_recovers_known_coefficients_from_counts():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(300, 2))
    n = np.full(300, 200)
    k = rng.binomial(n, linear.sigmoid(-0.5 + Z @ [1.5, 0.0]))
    a, b = linear.logistic(Z, k, n, prior_sd=100.0)
    assert a == pytest.approx(-0.5, abs=0.05) and b == pytest.approx([1.5, 0.0], abs=0.05)
    a, b = linear.logistic(Z, n, n)                                  # every run failed: large, finite
    assert 5 < a < math.inf and np.abs(b).max() < 0.05                # the prior holds the slopes near 0
    a, b = linear.logistic(Z[:, :0], np.full(300, 50), n)             # no features: the pooled log-odds
    assert a == pytest.approx(math.log(50 / 150), abs=1e-3) and b.shape == (0,)


def test_scores_known_answers():
    y = np.array([0.1, 0.4, 0.9, 0.5])
    assert linear.r2(y, y) == 1.0 and linear.r2(y, np.full(4, y.mean())) == pytest.approx(0.0)
    score, pos, neg = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 3, 2]), np.array([4, 1, 0, 0])
    assert linear.auc(score, pos, neg) == 1.0 and linear.auc(-score, pos, neg) == 0.0
    assert linear.auc(np.full(4, 0.3), pos, neg) == 0.5               # one score for all: every pair ties
    rng = np.random.default_rng(2)
    s, p, q = rng.random(50), rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    pairs = [(a > b) + 0.5 * (a == b) for i, a in enumerate(s) for j, b in enumerate(s) for _ in range(p[i] * q[j])]
    assert linear.auc(s, p, q) == pytest.approx(np.mean(pairs))      # brute force over positive x negative runs
    assert linear.auc(np.round(s, 1), p, q) == pytest.approx(
        np.mean([(a > b) + 0.5 * (a == b) for i, a in enumerate(np.round(s, 1)) for j, b in enumerate(np.round(s, 1))
                 for _ in range(p[i] * q[j])]))                      # with ties
    W = np.stack([np.ones(50), rng.integers(0, 3, 50)])               # weights: rows repeated
    assert linear.auc(s, p, q, W)[0] == pytest.approx(linear.auc(s, p, q))
    rep = np.repeat(np.arange(50), W[1].astype(int))
    assert linear.auc(s, p, q, W)[1] == pytest.approx(linear.auc(s[rep], p[rep], q[rep]))
    pr = np.array([0.1, 0.1, 0.7, 0.7])                               # observed shares 1/10 and 7/10: calibrated
    runs, predicted, observed, error = linear.calibration(pr, np.array([1, 0, 7, 0]), np.array([4, 5, 3, 0]))
    assert runs.tolist() == [10, 0, 0, 10, 0] and error == pytest.approx(0.0)
    assert linear.brier(np.array([1.0, 0.0]), np.array([3, 0]), np.array([0, 5])) == 0.0
    assert linear.brier(np.array([0.5]), np.array([1]), np.array([1])) == 0.25


def test_seed_noise_ceiling_is_the_r2_of_the_true_means():
    """ceiling(): measured cell means, each off its true mean by its runs' noise, and the R2 that
    the true means themselves score on them: equal in expectation, 1 without noise."""
    rng = np.random.default_rng(3)
    mu, sd = rng.random(4000), rng.uniform(0.05, 0.3, 4000)
    runs = mu[:, None] + sd[:, None] * rng.normal(size=(4000, 3))
    y, noise = runs.mean(1), runs.var(1, ddof=1) / 3
    assert validation.ceiling(y, noise) == pytest.approx(linear.r2(y, mu), abs=0.02)
    assert 0.5 < validation.ceiling(y, noise) < 0.9                  # the noise is a real share of the spread
    assert validation.ceiling(y, np.zeros(4000)) == 1.0
    W = np.stack([np.ones(4000), rng.integers(0, 3, 4000)])           # weights: cells repeated
    rep = np.repeat(np.arange(4000), W[1].astype(int))
    assert validation.ceiling(y, noise, W)[1] == pytest.approx(validation.ceiling(y[rep], noise[rep]))


def test_within_study_r2_ignores_each_studys_level():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(6), 20)
    y = rng.random(120)
    off = rng.normal(size=6)[groups]                                  # a wrong level per study
    assert validation.within_r2(y, y + off, groups) == pytest.approx(1.0)
    assert linear.r2(y, y + off) < 0
    p = y + 0.1 * rng.normal(size=120)
    yc = y - np.array([y[groups == g].mean() for g in groups])      # by hand: centre both in each study
    pc = p - np.array([p[groups == g].mean() for g in groups])
    assert validation.within_r2(y, p, groups) == pytest.approx(1 - ((yc - pc) ** 2).sum() / (yc ** 2).sum())
    W = np.stack([np.ones(120), rng.integers(0, 3, 120)])           # weights: cells repeated
    rep = np.repeat(np.arange(120), W[1].astype(int))
    assert validation.within_r2(y, p, groups, W)[1] == pytest.approx(validation.within_r2(y[rep], p[rep], groups[rep]))


def test_stored_predictor_round_trips_and_refits_to_the_same_numbers(pred, tmp_path):
    again = P.load(P.save(pred, tmp_path / "p.json"))
    assert (tmp_path / "p.json").read_text() == P.PATH.read_text()
    refit = P.fit(again["rows"], skipped=pred["skipped"], studies=[s["study"] for s in pred["studies"]])
    for kind, models in pred["models"].items():
        for target, f in models.items():
            for key in ("intercept", "coef", "coef_lo", "coef_hi"):
                again = refit["models"][kind][target][key]
                assert again == pytest.approx(f[key], rel=1e-9, abs=1e-12), (kind, target, key)
    std, again_std = pred["standardisation"], refit["standardisation"]
    assert again_std["columns"] == std["columns"] and again_std["used"] == std["used"]
    for key in ("fill", "mean", "sd"):
        assert again_std[key] == pytest.approx(std[key], rel=1e-12)
    assert refit["studies"] == pred["studies"]
    assert pred["cells"] == len(pred["rows"])
    assert {r["study"] for r in pred["rows"]} == {s["study"] for s in pred["studies"]}


def test_rows_reproduce_from_the_committed_tables(pred):
    study = pred["studies"][0]["study"]
    stored = [r for r in pred["rows"] if r["study"] == study]
    cells = P.study_cells(study)
    assert [c for _, c, _ in cells] == [r["cell"] for r in stored]
    assert [P.cell_targets(runs) for _, _, runs in cells] == [r["targets"] for r in stored]
    knobs, _, _ = cells[0]
    again, kind = P.cell_descriptors(knobs)                          # one cell's descriptors, drawn anew
    assert again == pytest.approx(stored[0]["descriptors"], nan_ok=True) and kind == stored[0]["data_kind"] == "points"


def test_validation_table_and_figure_are_reproducible_by_one_command(pred, tmp_path, capsys):
    (tmp_path / "p.json").write_text(P.PATH.read_text())
    assert main(["predict", "--validate", "--importance", "--predictor", str(tmp_path / "p.json"),
                 "--figure", str(tmp_path / "imp")]) == 0
    out = capsys.readouterr().out           # the committed table, to float rounding (BLAS differs by machine)
    a, b = pd.read_csv(tmp_path / "p_validation.csv"), pd.read_csv(validation_path(P.PATH))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)
    assert "leave one study out" in out and "quality R2" in out and "baseline" in out
    assert (tmp_path / "imp.png").stat().st_size > 10_000 and (tmp_path / "imp.pdf").is_file()
    imp = pd.read_csv(tmp_path / "imp.csv")
    assert len(imp) == 2 * len(pred["models"]) * len(P.used_columns(pred["standardisation"]))
    assert ((imp["lo"] <= imp["coef"] + 1e-12) & (imp["coef"] <= imp["hi"] + 1e-12)).mean() > 0.9
    r2 = a[(a["metric"] == "r2") & (a["by"] == "predictor")]
    assert set(r2["model"]) == set(pred["models"]) and (r2["value"] <= 1).all()
    ceil = a[(a["metric"] == "r2") & (a["by"] == "ceiling")].set_index(["scheme", "model"])["value"]
    assert len(ceil) == len(r2) and (ceil >= r2.set_index(["scheme", "model"])["value"]).all()
    assert "ceiling" in out and "within" in out
    within = a[a["metric"] == "r2_within_study"]
    assert len(within) == len(r2) and within["value"].between(-5, 1).all()
    assert set(a["scheme"]) >= {"leave one study out", "leave one family out"}


def test_atlas_rows_are_inside_the_atlas_and_nearest_to_themselves(pred):
    for row in pred["rows"][::7]:
        assert P.extrapolation(pred, row["descriptors"]) == []
        (d, near), *_ = P.nearest(pred, row["descriptors"])     # itself, or the same distribution in
        assert d == 0.0 and near["descriptors"] == row["descriptors"]    # another study (ring and weights)
    out = P.predict(pred, pred["rows"][0]["descriptors"])
    for kind, targets in out.items():
        for name, (est, lo, hi) in targets.items():
            assert 0 <= lo <= est <= hi <= 1, (kind, name)
    far = {**pred["rows"][0]["descriptors"], "ambient_dim": 1024.0, "intrinsic_dim_twonn": 60.0}
    notes = P.extrapolation(pred, far)
    assert any(n.startswith("intrinsic_dim_twonn = 60") for n in notes)
    assert any(n.startswith("log2 ambient_dim = 10") for n in notes)


def test_predict_command_on_user_points_images_and_graphs(pred, tmp_path, capsys):
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 2 * np.pi, 600)
    ring = np.stack([np.cos(theta), np.sin(theta)], 1) + 0.02 * rng.normal(size=(600, 2))
    np.save(tmp_path / "p.npy", ring)
    np.savetxt(tmp_path / "p.csv", ring[:300], delimiter=",")
    for name in ("p.npy", "p.csv"):
        assert main(["predict", str(tmp_path / name)]) == 0
        out = capsys.readouterr().out
        assert f"file {tmp_path / name}" in out and "P(failure)" in out and "nearest atlas distributions" in out
        assert all(f"\n{kind:10s} " in out for kind in ("gan", "vae", "flow", "diffusion"))
        assert "OUTSIDE THE ATLAS" in out and "n_samples" in out       # the atlas drew 5000 samples a cell
    row = pred["rows"][0]                                            # an atlas cell itself: inside, nearest to itself
    data = json.loads((P.EXPORTS / f"{row['study']}.json").read_text())["sweep"]["data"]
    knobs = {**{k: v for k, v in data.items() if k not in ("family", "n_train")}, **row["cell"]}
    assert main(["predict", data["family"], *[a for k, v in knobs.items() for a in (f"--{k}", str(v))]]) == 0
    out = capsys.readouterr().out
    assert "inside the atlas's descriptor range" in out and f"1. {row['study']} {P.cell_name(row)} (0.00)" in out
    (tmp_path / "pngs").mkdir()
    (tmp_path / "graphs").mkdir()
    for i in range(60):
        Image.fromarray(rng.integers(0, 256, (6, 8), dtype=np.uint8)).save(tmp_path / f"pngs/g{i:02d}.png")
        nx.write_edgelist(nx.gnp_random_graph(7, 0.5, seed=i), tmp_path / f"graphs/e{i:02d}.edgelist", data=False)
    for folder, kind in (("pngs", "images"), ("graphs", "graphs")):
        assert main(["predict", str(tmp_path / folder)]) == 0
        assert f"no atlas rows for {kind} yet" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    np.save(tmp_path / "nan.npy", np.full((100, 2), np.nan))
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(100, 2)))
    (tmp_path / "bad.json").write_text("{}")
    for argv, needle in ((["predict", str(tmp_path / "ragged.csv")], "cannot be read as numbers"),
                         (["predict", str(tmp_path / "nan.npy")], "100 of 100 samples have non-finite values"),
                         (["predict", str(tmp_path / "none.npy")], "does not exist"),
                         (["predict", str(tmp_path / "ok.npy"), "--n_modes", "3"], "knobs are for a family"),
                         (["predict", "blobs"], "unknown family 'blobs'"),
                         (["predict"], "expected DATA"),
                         (["predict", str(tmp_path / "ok.npy"), "--fit"], "not both"),
                         (["predict", str(tmp_path / "ok.npy"), "--predictor", str(tmp_path / "no.json")],
                          "does not exist"),
                         (["predict", str(tmp_path / "ok.npy"), "--predictor", str(tmp_path / "bad.json")],
                          "cannot be read")):
        assert main(argv) == 2
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and needle in err[0] and not captured.out, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "nan.npy", "ok.npy", "ragged.csv"]
