"""Batched ensembles (models.ensemble) against training the same members one after another.

    python benchmarks/ensemble.py                 # K in 1, 8, 32, 128 at widths 64 and 256; all cores, then 1 thread
    python benchmarks/ensemble.py --quick         # K in 1, 8, width 64 only, a few steps: checks it runs
    python benchmarks/ensemble.py --threads 1 --batch 128 --chunk 16

Both arms train K non-saturating GAN members (3-layer MLPs, latent 2, 2-D data, batch 256, fused
Adam, one critic and one generator update per step) on the same pre-made batches:

- ensemble: ``models.ensemble.EnsembleGAN.step`` on [K, B, D] batches (batched layers, ``torch.bmm``,
  run by ``models.batched.FastMLP``'s hand-written backward; per-member noise generators;
  divergence masking; loss window);
- sequential: a plain PyTorch loop over the members, each an ordinary ``nets.mlp`` pair with its
  own Adam and noise generator, doing ``models.GAN.train_step``'s work without Lightning.

- chunked (K > --chunk only): the K members as EnsembleGANs of ``--chunk`` members, one after
  another (``train_members(..., chunk=c)``).

Rates are member-steps per second (K members x steps / seconds), timed after a warm-up step. Each
round runs both arms back to back (order alternating); the ratio reported is the median over
rounds of the per-round ratio, which cancels slow drifts in machine load. GFLOP/s count the
matrix multiplies only (forward and backward of every linear layer, the model's useful work), set
against a large sgemm measured in the same process with the same thread count.

Thread counts: by default the whole run is done twice, first with all the machine's cores as torch
intra-op threads (torch's default: "the machine", the target's setting), then with one thread
("per core": what each of a sweep's one-thread workers gets). Both arms always get the same
threads. A plain loop's 256 x 64 matrix multiplies are too small to split over cores, while the
ensemble's batched multiplies split over members, so the two settings differ only for the ensemble.
Two threads are only faster on an otherwise idle machine (see the README on oversubscription).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import distributions  # noqa: E402
import models  # noqa: E402
from models.ensemble import EnsembleGAN  # noqa: E402
from models.nets import mlp  # noqa: E402

DEPTH, LATENT, DIM, BATCH = 3, 2, 2, 256


def config(width: int) -> dict:
    return models.validate_config({"model": "gan", "loss": "non_saturating", "g_width": width, "d_width": width,
                                   "g_depth": DEPTH, "d_depth": DEPTH, "latent_dim": LATENT, "batch_size": BATCH,
                                   "check_every": 50})


def linear_flops(in_dim: int, width: int, out_dim: int, n: int) -> float:
    dims = [in_dim] + [width] * DEPTH + [out_dim]
    return sum(2.0 * n * a * b for a, b in zip(dims, dims[1:]))


def step_flops(width: int) -> float:
    """Matmul FLOPs of one member-step: critic step G(B) + D fwd/bwd on 2B; generator step G fwd/bwd,
    D fwd + input-gradient backward on B."""
    g, d = linear_flops(LATENT, width, DIM, BATCH), linear_flops(DIM, width, 1, BATCH)
    return g + 3 * 2 * d + 3 * g + 2 * d


class Chunked:
    """The K members as EnsembleGANs of ``chunk`` members each, stepped one after another
    (what ``train_members(..., chunk=c)`` does: smaller activations, but K / chunk times the calls)."""

    def __init__(self, width: int, seeds: list[int], chunk: int):
        self.chunk = chunk
        self.parts = [EnsembleGAN([config(width)] * len(seeds[i:i + chunk]), DIM, seeds[i:i + chunk])
                      for i in range(0, len(seeds), chunk)]

    def step(self, x: torch.Tensor) -> None:
        for i, part in enumerate(self.parts):
            part.step(x[i * self.chunk:(i + 1) * self.chunk])


class Sequential:
    """The same K members trained one after another in a plain PyTorch loop."""

    def __init__(self, width: int, seeds: list[int]):
        cfg = config(width)
        self.members = []
        for seed in seeds:
            torch.manual_seed(seed)
            gen = mlp(LATENT, DIM, width=width, depth=DEPTH, activation=cfg["activation"])
            crit = mlp(DIM, 1, width=width, depth=DEPTH, activation=cfg["activation"])
            kw = dict(betas=(cfg["beta1"], cfg["beta2"]), fused=True)
            self.members.append((gen, crit, torch.optim.Adam(crit.parameters(), lr=cfg["lr_d"], **kw),
                                 torch.optim.Adam(gen.parameters(), lr=cfg["lr_g"], **kw),
                                 torch.Generator().manual_seed(seed), torch.zeros(50, 2)))

    def step(self, x: torch.Tensor, t: int) -> None:
        for k, (gen, crit, opt_d, opt_g, noise, window) in enumerate(self.members):
            xr = x[k]
            with torch.no_grad():
                xf = gen(torch.randn(BATCH, LATENT, generator=noise))
            r, f = crit(torch.cat([xr, xf])).view(-1).chunk(2)
            loss_d = F.softplus(-r).mean() + F.softplus(f).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            for p in crit.parameters():
                p.requires_grad_(False)
            loss_g = F.softplus(-crit(gen(torch.randn(BATCH, LATENT, generator=noise))).view(-1)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for p in crit.parameters():
                p.requires_grad_(True)
            torch.stack([loss_d.detach(), loss_g.detach()], out=window[t % 50])   # the same loss bookkeeping


def timed(arm, data: torch.Tensor, steps: int) -> float:
    """Seconds for ``steps`` steps after one warm-up step."""
    arm.step(data[0], 0) if isinstance(arm, Sequential) else arm.step(data[0])
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        x = data[t % len(data)]
        arm.step(x, t) if isinstance(arm, Sequential) else arm.step(x)
    return time.perf_counter() - t0


def sgemm_peak(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def main() -> None:
    global BATCH
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="K in 1, 8 at width 64, few steps")
    cores = os.cpu_count() or 1
    ap.add_argument("--threads", type=int, nargs="+", default=sorted({cores, 1}, reverse=True),
                    help=f"torch intra-op thread counts, one full run each (default: {cores} = all cores, then 1)")
    ap.add_argument("--batch", type=int, default=BATCH, help=f"samples per member batch (default {BATCH})")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per setting (default 2, quick 1)")
    ap.add_argument("--chunk", type=int, default=8, help="members per call of the chunked arm (K > chunk only)")
    args = ap.parse_args()
    if min(args.threads) < 1:
        ap.error(f"--threads must be positive thread counts, got {args.threads}")
    BATCH = args.batch
    print(f"torch {torch.__version__}, cpus {cores}, load average {load()} (1/5/15 min; others share this machine)")
    print(f"GAN: non_saturating, {DEPTH} hidden layers, latent {LATENT}, data {DIM}-D, batch {BATCH}, fused Adam")
    headlines = [line for threads in args.threads for line in measure(threads, args)]
    print(f"load average at the end: {load()}")
    print("\n".join(headlines[1:] + headlines[:1]))     # the headline last: width 64, first thread count


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(threads: int, args: argparse.Namespace) -> list[str]:
    """Every (width, K) setting at ``threads`` intra-op threads; returns the summary lines."""
    torch.set_num_threads(threads)
    ks, widths = ((1, 8), (64,)) if args.quick else ((1, 8, 32, 128), (64, 256))
    rounds = args.rounds or (1 if args.quick else 2)
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.05)
    peak = sgemm_peak()
    where = f"{threads} thread{'s' if threads > 1 else ''}" + (" = all cores" if threads == os.cpu_count() else "")
    print(f"--- {where}: sgemm 2048x2048 peak {peak:.1f} GFLOP/s")
    headline = {}
    for width in widths:
        flops = step_flops(width)
        target = 1.5e9 if args.quick else 6e9                   # matmul FLOPs per timed arm and round
        for K in ks:
            steps = max(2, min(200, int(target / (flops * K))))
            data = dist.sample(4 * K * BATCH, generator=torch.Generator().manual_seed(0)).view(4, K, BATCH, DIM)
            seeds = list(range(K))
            arms = {"ensemble": EnsembleGAN([config(width)] * K, DIM, seeds), "sequential": Sequential(width, seeds)}
            if K > args.chunk:
                arms["chunked"] = Chunked(width, seeds, args.chunk)
            ratios = {name: [] for name in arms if name != "sequential"}
            rates = {name: [] for name in arms}
            for rnd in range(rounds):
                order = list(arms) if rnd % 2 == 0 else list(arms)[::-1]
                secs = {}
                for name in order:
                    secs[name] = timed(arms[name], data, steps)
                    rates[name].append(K * steps / secs[name])
                for name in ratios:
                    ratios[name].append(secs["sequential"] / secs[name])
            med = {name: statistics.median(r) for name, r in rates.items()}
            ratio = {name: statistics.median(r) for name, r in ratios.items()}
            gf = lambda rate: f"{rate * flops / 1e9:5.1f} GFLOP/s, {100 * rate * flops / 1e9 / peak:4.1f}% of sgemm"
            print(f"width {width:3d} K {K:3d} ({steps:3d} steps x {rounds} rounds): "
                  f"sequential {med['sequential']:6.1f} member-steps/s ({gf(med['sequential'])}); "
                  f"ensemble {med['ensemble']:6.1f} ({gf(med['ensemble'])}) = {ratio['ensemble']:.2f}x"
                  + (f"; chunks of {args.chunk} {med['chunked']:6.1f} ({gf(med['chunked'])}) = {ratio['chunked']:.2f}x"
                     if "chunked" in ratio else ""))
            headline.setdefault(width, []).append((K, ratio))
    lines = []
    for width, rows in headline.items():
        K, ratio = rows[-1]
        best = max((r, name, k) for k, rs in rows for name, r in rs.items())
        lines.append(f"ensemble/sequential at width {width}: {max(ratio.values()):.1f}x at K={K}, {where} "
                     f"(one call {ratio['ensemble']:.2f}x" + (f", chunks of {args.chunk} {ratio['chunked']:.2f}x"
                                                              if "chunked" in ratio else "")
                     + f"; best {best[0]:.2f}x: {best[1]} at K={best[2]})")
    return lines

if __name__ == "__main__":
    main()
