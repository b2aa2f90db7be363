"""Lightning's per-step overhead on a small GAN: the models.GAN module with one member
(``models.build(cfg, dim, seeds=[0])``, K = 1) under a Trainer versus a plain PyTorch loop doing
the same work (same nets and initial weights, same objective functions, same fused Adam, same
sync-free loss bookkeeping and divergence check), in one process, interleaved over rounds.
benchmarks/ensemble.py measures K > 1 (and K = 1 for the VAE too).

    python benchmarks/lightning_overhead.py            # 2-D data, 3 x 64 and 3 x 256 MLPs, batch 256
    python benchmarks/lightning_overhead.py --quick    # a few steps, to check that it runs

Both arms take pre-made batches from a list (no DataLoader, no sampling), so the ratio measures
Lightning's overhead only. The Lightning arm runs with ``k`` steps per Lightning batch
([k, batch, dim] tensors; k = 1 is the ordinary one-batch-one-step loop; k = 10 is what
``learnlab train`` and sweeps use by default, ``train.steps_per_batch``). Steps per second are
timed after ``--warmup`` steps, from inside the loop (a callback in the Lightning arm), in wall
time and in this process's CPU time (less sensitive to other processes on a shared machine);
``end-to-end`` includes building the module and the Trainer. Each round runs every arm once
(order rotating); a ratio is the median over rounds of that round's ratio to the plain loop,
which cancels slow drifts in machine load. The load average is printed: read ratios taken
under load with care.
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
from experiments.config import AUTO_STEPS_PER_BATCH as DEFAULT_K  # noqa: E402
from models.nets import mlp  # noqa: E402
from models.objectives import OBJECTIVES  # noqa: E402


def config(width: int, batch: int) -> dict:
    return models.validate_config({"model": "gan", "loss": "non_saturating", "g_width": width, "d_width": width,
                                   "g_depth": 3, "d_depth": 3, "latent_dim": 2, "batch_size": batch})


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class Timer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = clocks()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.end = clocks()


def rates(timed_steps: int, start, end, all_steps: int, t0: float) -> dict[str, float]:
    return {"wall": timed_steps / (end[0] - start[0]), "cpu": timed_steps / (end[1] - start[1]),
            "e2e": all_steps / (end[0] - t0)}


class Cycle:
    """Yields ``n`` pre-made batches, cycling through a list."""

    def __init__(self, batches: list[torch.Tensor], n: int):
        self.batches, self.n = batches, n

    def __iter__(self):
        return (self.batches[i % len(self.batches)] for i in range(self.n))

    def __len__(self):
        return self.n


def run_lightning(cfg: dict, batches: list[torch.Tensor], steps: int, warmup: int, k: int) -> dict[str, float]:
    """models.GAN under a Trainer; with ``k`` > 1 each Lightning batch is [k, batch, dim] = k steps."""
    t0 = time.perf_counter()
    if k > 1:
        batches = [torch.stack([batches[(i + j) % len(batches)] for j in range(k)]) for i in range(0, len(batches), k)]
    module = models.build(cfg, data_dim=batches[0].shape[-1], seeds=[0])
    timer = Timer(warmup // k)
    trainer = pl.Trainer(accelerator="auto", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, train_dataloaders=Cycle(batches, -(-steps // k)))
    assert module.steps == steps == trainer.global_step and module.diverged_at == [None]
    return rates(steps - warmup // k * k, timer.start, timer.end, steps, t0)


def run_plain(cfg: dict, batches: list[torch.Tensor], steps: int, warmup: int) -> dict[str, float]:
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
            start = clocks()
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
    return rates(steps - warmup, start, clocks(), steps, t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few steps and one round: only checks that it runs")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=None,
                   help="steps per run (default max(200, 4e6 / width^2): 976 at width 64, 200 at 256; quick 60)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per run (default 50, quick 10)")
    p.add_argument("--rounds", type=int, default=None, help="rounds, each running every arm once (default 9, quick 1)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--k", type=int, nargs="+", default=[1, 10],
                   help="steps per Lightning batch ([k, batch, dim] tensors); one ratio line per k")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads in both arms (default 1: small nets gain nothing from more, and on a "
                        "busy machine spinning threads distort the timing)")
    a = p.parse_args()
    warmup = a.warmup if a.warmup is not None else (10 if a.quick else 50)
    rounds = a.rounds or (1 if a.quick else 9)
    steps_for = lambda width: a.steps or (60 if a.quick else max(200, 4_000_000 // width ** 2))

    torch.set_num_threads(a.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.05)
    g = torch.Generator(device=device).manual_seed(0)
    batches = [dist.sample(a.batch, generator=g) for _ in range(50)]
    print(f"device {device}, torch {torch.__version__}, lightning {pl.__version__}, threads {a.threads}, "
          f"batch {a.batch}, {warmup} warm-up steps, {rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for width in a.widths:
        cfg, steps = config(width, a.batch), steps_for(width)
        arms = ["plain"] + [f"k={k}" for k in a.k]
        res = {arm: [] for arm in arms}
        for i in range(rounds):
            for arm in arms[i % len(arms):] + arms[:i % len(arms)]:       # rotate the order each round
                if arm == "plain":
                    res[arm].append(run_plain(cfg, batches, steps, warmup))
                else:
                    res[arm].append(run_lightning(cfg, batches, steps, warmup, int(arm[2:])))

        def ratio(arm: str, clock: str) -> tuple[float, list[float]]:
            rs = [lt[clock] / pl_[clock] for lt, pl_ in zip(res[arm], res["plain"])]
            return statistics.median(rs), rs

        speed = ", ".join(f"{arm} {statistics.median(r['wall'] for r in res[arm]):.0f}" for arm in arms)
        print(f"width {width}, {steps} steps per run, steps/s (wall, median of {rounds}; k = steps per Lightning "
              f"batch): {speed}; load average {os.getloadavg()[0]:.1f}")
        for arm in arms[1:]:
            print(f"  lightning {arm}: per-round wall ratios {' '.join(f'{r:.2f}' for r in ratio(arm, 'wall')[1])}; "
                  f"CPU-time ratio {ratio(arm, 'cpu')[0]:.2f}; end-to-end incl. setup {ratio(arm, 'e2e')[0]:.2f}")
        for arm in arms[1:]:
            default = " (learnlab's default)" if arm == f"k={DEFAULT_K}" else ""
            print(f"width {width} lightning {arm}{default} ratio lightning/plain: {ratio(arm, 'wall')[0]:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
