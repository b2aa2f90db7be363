"""experiments.train.run: one run end to end; several steps per Lightning batch change speed only."""
import json
import math

import pytest

from experiments.config import validate
from experiments.train import run

TINY = {"data": {"family": "mixture", "layout": "ring", "n_modes": 4, "std": 0.05},
        "model": {"model": "gan", "g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2, "batch_size": 32,
                  "check_every": 10, "lr_g": 1e-3, "lr_d": 1e-3},
        "train": {"steps": 65, "eval_every": 20, "eval_samples": 200, "final_real": 200, "plots": True,
                  "tensorboard": True}}


def with_train(**train):
    return {**TINY, "train": {**TINY["train"], **train}}


def test_steps_per_batch_gives_identical_records(tmp_path):
    one = run(with_train(steps_per_batch=1), tmp_path / "one")
    ten = run(with_train(steps_per_batch=10), tmp_path / "ten")
    assert one["status"] == ten["status"] == "complete" and one["steps"] == ten["steps"] == 65
    assert one["metrics"] == ten["metrics"] and one["verdict"] == ten["verdict"]
    strip = lambda h: [{k: v for k, v in e.items() if k != "global_step"} for e in h]
    assert strip(one["history"]) == strip(ten["history"])
    assert [e["step"] for e in ten["history"]] == [20, 40, 60, 65]
    shots = sorted(p.name for p in (tmp_path / "ten" / "samples").iterdir())
    assert shots == [f"step_{s:07d}.png" for s in (20, 40, 60, 65)]
    assert list((tmp_path / "ten").glob("* seed=0/events.out.tfevents.*"))     # a TensorBoard run named for it
    saved = json.loads((tmp_path / "ten" / "config.json").read_text())
    assert saved["train"]["steps_per_batch"] == 10


def test_injected_nan_with_several_steps_per_batch(tmp_path):
    cfg = with_train(steps_per_batch=5)
    cfg["model"] = {**cfg["model"], "debug_nan_at_step": 23}
    rec = run(cfg, tmp_path)
    assert rec["status"] == "diverged" and rec["diverged_at"] == 23 and rec["steps"] == 30
    assert rec["metrics_step"] == 20 and all(h["step"] <= 30 for h in rec["history"])


@pytest.mark.parametrize("every,expected", [(250, 10), (25, 5), (7, 7), (11, 1)])
def test_default_steps_per_batch_divides_eval_every(every, expected):
    assert validate(with_train(eval_every=every))["train"]["steps_per_batch"] == expected


def test_steps_per_batch_must_divide_eval_every():
    with pytest.raises(ValueError, match=r"train: key steps_per_batch=3 is not allowed; expected null or a "
                                         r"divisor of eval_every=20"):
        validate(with_train(steps_per_batch=3))


def test_each_member_logs_its_own_tensorboard_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from experiments.train import run_group
    cfg = lambda seed: {"data": {"family": "mixture", "n_modes": 4},                     # noqa: E731
                        "model": {"model": "vae", "enc_width": 16, "dec_width": 16, "check_every": 20},
                        "train": {"steps": 40, "eval_every": 20, "seed": seed, "eval_samples": 200, "final_real": 200}}
    recs = run_group([cfg(0), cfg(1)], [tmp_path / "a", tmp_path / "b"])
    losses = []
    for rec, name in zip(recs, "ab"):
        ea = EventAccumulator(str(tmp_path / name / f"vae mixture seed={'ab'.index(name)}"))   # train.run_name
        ea.Reload()
        assert {"train/loss", "train/kl", "eval/coverage"} <= set(ea.Tags()["scalars"])
        losses.append([e.value for e in ea.Scalars("train/loss")])
        assert [e.value for e in ea.Scalars("eval/coverage")] == pytest.approx([h["coverage"] for h in rec["history"]])
        assert rec["execution"]["members"] == 2 and rec["execution"]["member"] == "ab".index(name)
    assert len(losses[0]) == 2 and losses[0] != losses[1]                # each member's own losses


def test_a_likelihood_model_records_its_held_out_log_likelihood_and_the_gap_to_the_truth(tmp_path):
    vae = {**TINY, "model": {"model": "vae", "enc_width": 16, "dec_width": 16, "enc_depth": 1, "dec_depth": 1,
                             "batch_size": 32}}
    m = run(vae, tmp_path / "vae")["metrics"]
    assert math.isfinite(m["log_likelihood"])
    # a 65-step VAE is far from the mixture: the truth beats its bound by a wide margin
    assert m["likelihood_gap"] > 0.5
    assert "log_likelihood" not in run(TINY, tmp_path / "gan")["metrics"]          # a GAN has none
