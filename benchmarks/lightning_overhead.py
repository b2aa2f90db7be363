"""Lightning's per-step overhead on a small GAN: the models.GAN module under a Trainer versus a
plain PyTorch loop doing the same work (same nets, same objective functions, same Adam, same
sync-free loss bookkeeping), in one process, interleaved over several rounds.

    python benchmarks/lightning_overhead.py            # 2-D data, 3 x 64 and 3 x 256 MLPs, batch 256
    python benchmarks/lightning_overhead.py --quick    # a few steps, to check that it runs

Both arms take the same pre-made batches from a list (no DataLoader), so the ratio measures
Lightning's overhead only. Steps per second are timed after ``--warmup`` steps, from inside the
loop (a callback in the Lightning arm); the ``end-to-end`` line includes building the Trainer
and its setup. Each round runs both arms back to back (order alternating); the ratio reported is
the median over rounds of the per-round ratio, which cancels slow drifts in machine load.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings

import pytorch_lightning as pl
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import distributions  # noqa: E402
import models  # noqa: E402
from models.nets import mlp  # noqa: E402
from models.objectives import OBJECTIVES  # noqa: E402


def config(width: int, batch: int) -> dict:
    return models.validate_config({"model": "gan", "loss": "non_saturating", "g_width": width, "d_width": width,
                                   "g_depth": 3, "d_depth": 3, "latent_dim": 2, "batch_size": batch})


class Timer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.end = time.perf_counter()


class Cycle:
    """Yields ``n`` pre-made batches, cycling through a list."""

    def __init__(self, batches: list[torch.Tensor], n: int):
        self.batches, self.n = batches, n

    def __iter__(self):
        return (self.batches[i % len(self.batches)] for i in range(self.n))

    def __len__(self):
        return self.n


def run_lightning(cfg: dict, batches: list[torch.Tensor], steps: int, warmup: int, k: int) -> tuple[float, float]:
    """models.GAN under a Trainer; with ``k`` > 1 each Lightning batch is [k, batch, dim] = k steps."""
    t0 = time.perf_counter()
    if k > 1:
        batches = [torch.stack([batches[(i + j) % len(batches)] for j in range(k)]) for i in range(0, len(batches), k)]
    torch.manual_seed(0)
    module = models.build(cfg, data_dim=batches[0].shape[-1])
    timer = Timer(warmup // k)
    trainer = pl.Trainer(accelerator="auto", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, train_dataloaders=Cycle(batches, -(-steps // k)))
    assert module.steps == steps == trainer.global_step and module.diverged_at is None
    return (steps - warmup // k * k) / (timer.end - timer.start), steps / (time.perf_counter() - t0)


def run_plain(cfg: dict, batches: list[torch.Tensor], steps: int, warmup: int) -> tuple[float, float]:
    """The same work as models.GAN.train_step with d_steps=1, written as a plain loop."""
    t0 = time.perf_counter()
    device = batches[0].device
    torch.manual_seed(0)
    data_dim, latent, n = batches[0].shape[1], cfg["latent_dim"], batches[0].shape[0]
    gen = mlp(latent, data_dim, width=cfg["g_width"], depth=cfg["g_depth"]).to(device)
    critic = mlp(data_dim, 1, width=cfg["d_width"], depth=cfg["d_depth"]).to(device)
    kw = dict(betas=(cfg["beta1"], cfg["beta2"]), fused=device.type in ("cpu", "cuda"))
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg["lr_d"], **kw)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg["lr_g"], **kw)
    obj, critic_params = OBJECTIVES[cfg["loss"]], list(critic.parameters())
    check_every = cfg["check_every"]
    window = torch.zeros(check_every, 2, device=device)
    for step in range(steps):
        if step == warmup:
            start = time.perf_counter()
        x = batches[step % len(batches)]
        with torch.no_grad():
            fake = gen(torch.randn(n, latent, device=device))
        r, f = critic(torch.cat([x, fake])).view(-1).chunk(2)
        loss_d = obj.d_loss(r, f)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        for p in critic_params:
            p.requires_grad_(False)
        loss_g = obj.g_loss(None, critic(gen(torch.randn(n, latent, device=device))).view(-1))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in critic_params:
            p.requires_grad_(True)

        torch.stack([loss_d.detach(), loss_g.detach()], out=window[step % check_every])
        if (step + 1) % check_every == 0:
            params = torch.stack([p.detach().sum() for m in (gen, critic) for p in m.parameters()]).sum()
            host = torch.cat([window.flatten(), params.reshape(1)]).cpu()
            assert torch.isfinite(host).all()
    end = time.perf_counter()
    return (steps - warmup) / (end - start), steps / (end - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few steps and one round: only checks that it runs")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=None, help="steps per run (default 2000, quick 60)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per run (default 100, quick 10)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5, quick 1)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--k", type=int, nargs="+", default=[1, 10, 50],
                   help="steps per Lightning batch ([k, batch, dim] tensors); one ratio line per k")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    steps = a.steps or (60 if a.quick else 2000)
    warmup = a.warmup if a.warmup is not None else (10 if a.quick else 100)
    rounds = a.rounds or (1 if a.quick else 5)

    torch.set_num_threads(a.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.05)
    g = torch.Generator(device=device).manual_seed(0)
    batches = [dist.sample(a.batch, generator=g) for _ in range(50)]
    print(f"device {device}, torch {torch.__version__}, lightning {pl.__version__}, threads {a.threads}, "
          f"batch {a.batch}, {steps} steps ({warmup} warm-up) x {rounds} rounds")
    for width in a.widths:
        cfg = config(width, a.batch)
        arms = ["plain"] + [f"lightning k={k}" for k in a.k]
        res = {arm: [] for arm in arms}
        for i in range(rounds):
            for arm in arms[i % len(arms):] + arms[:i % len(arms)]:       # rotate the order each round
                if arm == "plain":
                    res[arm].append(run_plain(cfg, batches, steps, warmup))
                else:
                    res[arm].append(run_lightning(cfg, batches, steps, warmup, int(arm.split("=")[1])))
        speed = ", ".join(f"{arm} {statistics.median(r[0] for r in res[arm]):.0f}" for arm in arms)
        print(f"width {width}: steps/s (median of {rounds}): {speed}")
        for arm in arms[1:]:
            ratios = [lt[0] / pl_[0] for lt, pl_ in zip(res[arm], res["plain"])]
            e2e = statistics.median(lt[1] / pl_[1] for lt, pl_ in zip(res[arm], res["plain"]))
            print(f"  {arm}: per-round ratios {' '.join(f'{r:.2f}' for r in ratios)}; "
                  f"end-to-end incl. Trainer setup {e2e:.2f}")
        for arm in arms[1:]:
            ratios = [lt[0] / pl_[0] for lt, pl_ in zip(res[arm], res["plain"])]
            print(f"width {width} {arm} ratio lightning/plain: {statistics.median(ratios):.2f}")

if __name__ == "__main__":
    main()
