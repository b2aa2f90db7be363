import json
from pathlib import Path

import pytest
import yaml

from experiments.sweep_config import build_sweep, load_sweep

TINY = Path(__file__).parent / "configs" / "tiny_sweep.yaml"


def tiny(**changes):
    raw = yaml.safe_load(TINY.read_text())
    raw.update(changes)
    return raw


def test_layout_is_every_grid_point_times_seed():
    sweep = load_sweep(TINY)
    assert sweep.study == "tiny" and len(sweep.trials) == 8
    keys = {t.key for t in sweep.trials}
    assert len(keys) == 8
    points = {(t.point["data.n_modes"], t.point["data.radius"], t.seed) for t in sweep.trials}
    assert points == {(m, r, s) for m in (2, 4) for r in (1.0, 2.0) for s in (0, 1)}
    for t in sweep.trials:
        assert t.config["data"]["n_modes"] == t.point["data.n_modes"]
        assert t.config["train"]["seed"] == t.seed
        assert json.loads(t.key)["seed"] == t.seed


def test_ranges_named_models_and_search_draws():
    raw = tiny(grid={"data.n_modes": {"low": 2, "high": 8, "num": 4}, "data.std": {"low": 0.01, "high": 0.1, "num": 2, "log": True}},
               seeds=[3], search={"budget": 3, "seed": 1, "space": {"model.batch_size": [16, 32], "vae": {"model.lr": {"low": 1e-4, "high": 1e-2, "log": True}}}})
    del raw["model"]
    raw["models"] = {"gan": {"model": "gan", "g_width": 8, "d_width": 8}, "vae": {"model": "vae", "enc_width": 8, "dec_width": 8}}
    sweep = build_sweep(raw, "s")
    assert sweep.axes["data.n_modes"] == [2, 4, 6, 8]
    assert sweep.axes["data.std"] == pytest.approx([0.01, 0.1])
    assert len(sweep.trials) == 2 * 4 * 2 * 3
    vae = [t for t in sweep.trials if t.variant == "vae"]
    assert all(1e-4 <= t.hparams["model.lr"] <= 1e-2 and t.config["model"]["lr"] == t.hparams["model.lr"] for t in vae)
    gan = [t for t in sweep.trials if t.variant == "gan"]
    assert all("model.lr" not in t.hparams for t in gan)
    # the same draws in every cell: "hard to learn" means hard after the same tuning budget
    by_cell = {}
    for t in vae:
        by_cell.setdefault(tuple(t.point.values()), []).append((t.draw, t.hparams["model.lr"]))
    assert len({tuple(sorted(v)) for v in by_cell.values()}) == 1


def test_a_name_searched_by_two_model_kinds_is_recorded_with_a_range_covering_both():
    """Optuna keeps one distribution per parameter name: a VAE's and a flow's model.lr with
    different ranges share it, so it must cover both (else a fixed draw of one kind lies outside
    the other's range and Optuna warns for every trial)."""
    raw = tiny(seeds=[0], search={"budget": 4, "seed": 0, "space": {
        "vae": {"model.lr": {"low": 3e-4, "high": 1e-2, "log": True}},
        "flow": {"model.lr": {"low": 1e-5, "high": 1e-3, "log": True}}}})
    del raw["model"]
    raw["models"] = {"vae": {"model": "vae", "enc_width": 8, "dec_width": 8}, "flow": {"model": "flow", "width": 8}}
    sweep = build_sweep(raw, "s")
    lr = sweep.space["model.lr"]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-2, True)
    assert all(lr.low <= t.hparams["model.lr"] <= lr.high for t in sweep.trials)
    assert min(t.hparams["model.lr"] for t in sweep.trials if t.variant == "flow") < 3e-4     # outside the VAE's
    raw["search"]["space"]["flow"] = {"model.lr": [1e-4, 1e-3]}
    with pytest.raises(ValueError, match="model.lr is a list of values for one model kind and a range for another"):
        build_sweep(raw, "s")


@pytest.mark.parametrize("changes,needle", [
    (dict(grid={"data.n_modes": [0, 2]}), "n_modes=0"),
    (dict(grid={"data.n_mode": [2]}), "unknown knob n_mode=2"),
    (dict(grid={"data.n_modes": []}), "grid.data.n_modes=[]"),
    (dict(grid={"n_modes": [2]}), "SECTION.KEY"),
    (dict(data={"family": "blobs"}), "family='blobs'"),
    (dict(model={"model": "transformer"}), "model='transformer'"),
    (dict(model={"model": "gan", "loss": "wasserstein"}), "loss='wasserstein'"),
    (dict(seeds=0), "seeds=0"),
    (dict(ensemble=0), "ensemble=0 is not allowed; expected an integer >= 1"),
    (dict(train={"eval_every": 20, "steps_per_batch": 3}), "steps_per_batch=3 is not allowed"),
    (dict(objective={"metric": "modes_captured", "direction": "up"}), "direction='up'"),
    (dict(objective={}), "objective.metric=None"),
    (dict(colour="red"), "unknown key 'colour'"),
    (dict(search={"budget": 0}), "search.budget=0"),
    (dict(train={"steps": 0}), "steps=0"),
])
def test_bad_sweep_is_one_line(changes, needle):
    with pytest.raises(ValueError) as err:
        build_sweep(tiny(**changes), "s")
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_model_that_does_not_fit_the_data_fails_before_any_trial():
    with pytest.raises(ValueError, match="arch='conv' is not allowed for data of event shape"):
        build_sweep(tiny(model={"model": "gan", "arch": "conv"}), "s")


SIX_KNOBS = {"data.side": {"low": 2, "high": 5}, "data.dim": [2, 3], "data.gap": {"low": 0.0, "high": 0.6},
             "data.noise": {"low": 0.005, "high": 0.05, "log": True}, "data.imbalance": {"low": 1.0, "high": 4.0, "log": True},
             "data.ambient_dim": [8, 32]}                 # a 16-draw cross study's space (atlas-cross-boxes + ambient)


def _design_correlation(design):
    import numpy as np
    import pandas as pd
    search = {"budget": 16, "seed": 1, "space": SIX_KNOBS, **({"design": design} if design else {})}
    raw = tiny(grid={}, seeds=1, search=search, data={"family": "boxes"})
    cells = pd.DataFrame([t.hparams for t in build_sweep(raw, "s").trials])
    assert len(cells) == 16 and all(cells[k].nunique() >= 2 for k in SIX_KNOBS)
    return np.abs(cells.rank().corr().to_numpy()[np.triu_indices(len(SIX_KNOBS), 1)]).max()


def test_a_latin_hypercube_design_does_not_tie_the_first_knob_to_the_sixth():
    """Sobol's 1st and 6th coordinates share their leading bit over 16 points, so ambient_dim (first
    by name) and side (sixth) move together; the lhs design keeps every pair apart."""
    assert _design_correlation(None) == _design_correlation("sobol") >= 0.9        # the default is unchanged
    assert _design_correlation("lhs") < 0.5
    with pytest.raises(ValueError, match=r"^sweep: search.design='halton' is not allowed; expected one of sobol, lhs$"):
        build_sweep(tiny(search={"budget": 2, "design": "halton", "space": {"model.lr_g": [1e-4, 1e-3]}}), "s")
