"""collapse_summary on constructed histories, and the EvaluationCallback in a real Trainer."""
import json
import math

import pytest
import pytorch_lightning as pl
import torch

import distributions
from experiments.evaluation import EvaluationCallback
from metrics.collapse import collapse_summary


def history(coverage, captured=None, every=500, n_modes=8):
    out = []
    for i, c in enumerate(coverage):
        h = {"step": every * (i + 1), "coverage": c}
        if captured is not None:
            h.update(captured=captured[i], n_modes=n_modes, modes_captured=float(len(captured[i])))
        out.append(h)
    return out


def test_never_collapses():
    h = history([0.1, 0.4, 0.7, 0.9, 0.95, 0.93], [[0], [0, 1, 2], list(range(6)), list(range(8)), list(range(8)), list(range(8))])
    s = collapse_summary(h)
    assert s["collapsed"] is False and s["onset_step"] is None and s["ever_covered"] is True
    assert s["mode_hopping"] is False and s["n_hops"] == 0        # growth is not hopping
    assert s["peak_coverage"] == 0.95 and s["peak_step"] == 2500
    assert s["final"]["coverage"] == 0.93
    assert json.loads(json.dumps(s)) == s


def test_collapses_at_step_3000():
    # dips below 0.5 at 1500 but recovers: only the final run below the threshold counts
    s = collapse_summary(history([0.3, 0.6, 0.45, 0.9, 0.85, 0.3, 0.2, 0.12]))
    assert s["collapsed"] is True and s["onset_step"] == 3000 and s["ever_covered"] is True
    assert s["mode_hopping"] is None                              # no mode information
    assert s["final"] == {"step": 4000, "coverage": 0.12}


def test_never_learned():
    s = collapse_summary(history([0.0, 0.1, 0.05]))
    assert s["collapsed"] is True and s["onset_step"] == 500 and s["ever_covered"] is False


def test_hops_between_modes():
    captured = [[0], [3], [3], [5], [1, 2], [1, 2, 3, 4, 5, 6]]
    s = collapse_summary(history([0.12, 0.12, 0.13, 0.12, 0.25, 0.7], captured))
    assert s["mode_hopping"] is True and s["n_hops"] == 3 and s["hop_steps"] == [1000, 2000, 2500]
    assert s["modes_visited"] == [0, 1, 2, 3, 5] and s["low_modes"] == 4
    assert s["collapsed"] is False
    stuck = collapse_summary(history([0.12] * 4, [[3]] * 4))
    assert stuck["mode_hopping"] is False and stuck["collapsed"] is True and stuck["onset_step"] == 500
    assert collapse_summary(history([0.12] * 2, [[0], [3]]), low_modes=1)["n_hops"] == 1


@pytest.mark.parametrize("hist, kwargs, words", [
    ([], {}, ["history=[]", "non-empty"]),
    ([{"step": 1}], {}, ["history[0]=", "'coverage'"]),
    ([{"step": 1, "coverage": math.nan}], {}, ["history[0]['coverage']=nan", "finite"]),
    ([{"step": 2, "coverage": 0.1}, {"step": 1, "coverage": 0.1}], {}, ["steps [2, 1]", "increasing"]),
    ([{"step": 1, "coverage": 0.1}], {"coverage_threshold": 0}, ["coverage_threshold=0", "> 0"]),
    ([{"step": 1, "coverage": 0.1, "captured": [0]}], {}, ["low_modes=None", "n_modes"]),
])
def test_bad_histories(hist, kwargs, words):
    with pytest.raises(ValueError) as e:
        collapse_summary(hist, **kwargs)
    assert all(w in str(e.value) for w in words)


# -- the callback -------------------------------------------------------------------------------

class ModeHopper(pl.LightningModule):
    """Emits one mode of the ring per phase (mode ``batch // 4``), with NaN rows in phase 2; draws
    its noise with the generator it is given, as a lab model's ``sample`` does."""

    def __init__(self, centres):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("centres", centres)
        self.batches = 0

    def sample(self, n, generator=None, member=0):
        noise = torch.randn(n, 2, device=self.device, generator=generator)
        x = self.centres[(self.batches // 4) % len(self.centres)] + 0.01 * noise
        if self.batches // 4 == 2:
            x[: n // 10] = float("nan")
        return x

    def training_step(self, batch, batch_idx):
        self.batches += 1
        return (self.w - 1).pow(2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(14, 1), batch_size=1)


def test_callback_records_logs_and_summarises(tmp_path):
    ring = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    cb = EvaluationCallback(ring, every_n_steps=4, n_samples=400, seed=3)
    module = ModeHopper(ring.modes.centres)
    logger = pl.loggers.CSVLogger(tmp_path, name="eval")
    trainer = pl.Trainer(max_epochs=1, callbacks=[cb], logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=5)
    trainer.fit(module)
    assert [h["step"] for h in cb.history] == [4, 8, 12, 14]       # every 4 batches + the end
    assert [h["captured"] for h in cb.history] == [[1], [2], [3], [3]]
    assert [h["mode_mass"] for h in cb.history] == [[1.0 * (i == m) for i in range(8)] for m in (1, 2, 3, 3)]
    assert cb.history[1]["nonfinite_fraction"] == pytest.approx(0.1)
    assert cb.history[1]["mode_hq_fraction"] <= 0.9
    for h in cb.history:
        assert all(math.isfinite(v) for v in h.values() if isinstance(v, float))
        assert h["modes_captured"] == 1.0 and h["coverage"] < 0.2 and h["n_modes"] == 8
    s = collapse_summary(cb.history)
    assert s["collapsed"] and s["onset_step"] == 4 and s["mode_hopping"] and s["hop_steps"] == [8, 12]
    logged = (tmp_path / "eval" / "version_0" / "metrics.csv").read_text()
    assert "eval/coverage" in logged and "eval/modes_captured" in logged
    assert "eval/coverage" in trainer.callback_metrics


def test_callback_fixed_seed_and_untouched_training_rng():
    ring = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    cb = EvaluationCallback(ring, n_samples=300, seed=1)
    module = ModeHopper(ring.modes.centres)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = cb.measure(module), cb.measure(module)
    assert a == b                                                 # same latent batch each time
    assert torch.equal(torch.get_rng_state(), state)              # training randomness untouched
    with pytest.raises(ValueError, match=r"every_n_steps=0 is not allowed"):
        EvaluationCallback(ring, every_n_steps=0)
    with pytest.raises(ValueError, match=r"n_real=3 is not allowed.*> k=5"):
        EvaluationCallback(ring, n_real=3)
