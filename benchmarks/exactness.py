"""How exact is "member k equals its single run"? Float rounding, measured, against seed spread.

    python benchmarks/exactness.py                  # ring_gan.yaml, K = 4, 1,500 steps, float32 and float64
    python benchmarks/exactness.py --steps 300 --members 2     # quick

Member k of a K-member module and the same seed trained alone (K = 1) do the same arithmetic up to
float rounding (a batched matrix multiply may sum in another order). A GAN's dynamics amplify such
differences, so the question is how fast. For each precision this trains the K members together
and each alone, on the same data, and prints at each evaluation: the largest generator-output
difference between member and single run on a fixed latent batch (relative to the output scale),
and, for scale, the same difference between two different seeds. In float64 the rounding starts
~1e9 times smaller, so if the float32 gap is rounding, float64 must stay exact far longer.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import pytorch_lightning as pl
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import models  # noqa: E402
from distributions.data import DistributionDataModule  # noqa: E402
from experiments.config import load, make_distribution  # noqa: E402
from experiments.train import quiet_logs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Probe(pl.Callback):
    """Every ``every`` steps: each member's generator output on one fixed latent batch."""

    def __init__(self, every: int):
        self.every, self.outputs = every, {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if module.steps % self.every == 0:
            self.outputs[module.steps] = torch.stack([
                module.sample(512, torch.Generator().manual_seed(99), member=k).double() for k in range(module.K)])


def train(cfg: dict, seeds: list[int], precision: str, every: int) -> dict[int, torch.Tensor]:
    dist = make_distribution(cfg)
    module = models.build(cfg["model"], data_dim=2, seeds=seeds)
    data = DistributionDataModule([dist] * len(seeds), batch_size=cfg["model"]["batch_size"], seed=seeds,
                                  steps=cfg["train"]["steps"], steps_per_batch=10)
    probe = Probe(every)
    pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, callbacks=[probe], precision=precision,
               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(module, data)
    return probe.outputs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=os.path.join(ROOT, "experiments", "configs", "ring_gan.yaml"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--every", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    quiet_logs()
    cfg = load(args.config, [f"train.steps={args.steps}"])
    seeds = list(range(args.members))
    print(f"{args.config}: K = {args.members} members vs each alone, {args.steps} steps, 1 thread")
    for precision in ("32-true", "64-true"):
        together = train(cfg, seeds, precision, args.every)
        alone = [train(cfg, [s], precision, args.every) for s in seeds]
        print(f"\nprecision {precision}: max |member - single run| / output std, and seed 0 vs seed 1 for scale")
        for step, out in together.items():
            single = torch.stack([a[step][0] for a in alone])
            scale = single.std().item()
            gap = (out - single).abs().max().item() / scale
            seeds_gap = (single[0] - single[1]).abs().max().item() / scale if len(seeds) > 1 else math.nan
            print(f"  step {step:6d}: member vs alone {gap:9.2e}   seed 0 vs 1 {seeds_gap:9.2e}")


if __name__ == "__main__":
    main()
