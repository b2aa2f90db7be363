"""TensorBoard compares runs: each run is named by its key, holds its sample images at every
evaluation, and its HParams entry carries the config keys and traits with the final metrics and
the verdict's flags (no placeholder hp_metric)."""
import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from experiments.config import load
from experiments.sweep_config import key_name
from experiments.train import run_group

CONFIGS = Path(__file__).resolve().parent.parent / "experiments" / "configs"


def test_runs_are_named_hold_images_and_compare_in_hparams(tmp_path):
    cfg = load(CONFIGS / "ring_gan.yaml", ["train.steps=200", "train.eval_every=100", "train.tensorboard=true",
                                            "train.plots=true"])
    other = {**cfg, "train": {**cfg["train"], "seed": 1}}
    names = [key_name(json.dumps({"data.n_modes": 8, "draw": 0, "model": "gan", "seed": s})) for s in (0, 1)]
    assert names == ["gan n_modes=8 draw=0 seed=0", "gan n_modes=8 draw=0 seed=1"]
    recs = run_group([cfg, other], [tmp_path / "a", tmp_path / "b"], names=names)
    for folder, name, rec, seed in zip(("a", "b"), names, recs, (0, 1)):
        ea = EventAccumulator(str(tmp_path / folder / name), size_guidance={"images": 0})
        ea.Reload()
        tags = ea.Tags()
        assert [e.step for e in ea.Images("samples")] == [100, 200]          # the picture at each evaluation
        assert "hp_metric" not in tags["scalars"]
        finals = {t for t in tags["scalars"] if t.startswith(("final/", "verdict/"))}
        assert {f"final/{k}" for k in ("coverage", "modes_captured", "support_precision")} <= finals
        assert {f"verdict/{k}" for k in ("dropped_modes", "blurred", "learned")} <= finals
        got = ea.Scalars("final/modes_captured")[-1].value
        assert got == rec["metrics"]["modes_captured"]
        content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hp = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hp["data.n_modes"].number_value == 8 and hp["model.loss"].string_value == "non_saturating"
        assert hp["trait.min_separation"].number_value > 0 and hp["train.seed"].number_value == seed
