"""K members in one module under a Lightning Trainer against the same K members trained one after
another in a plain PyTorch loop.

    python benchmarks/ensemble.py                  # GAN, VAE, flow and diffusion MLPs, widths 64 and 256, K in
                                                   # 1, 8, 32; conv GAN and VAE on 28x28 triangles, K = 8; all
                                                   # cores, then 1 thread
    python benchmarks/ensemble.py --quick          # width 64, K in 1, 8; a small conv setting: checks it runs
    python benchmarks/ensemble.py --device cuda --threads 4 --K 1 32 256 1024

- trainer: ``models.build(cfg, ..., seeds=range(K))`` fitted by a ``pl.Trainer`` (no logger,
  checkpoints, progress bar or summary) on pre-made Lightning batches [10, K, B, D] (10 steps per
  Lightning batch, the default training path) from an iterable with ``__len__``; timed from the
  second Lightning batch to the last (the first one, 10 steps, is the warm-up).
- plain loop: the same K members as ordinary modules (``models.<kind>.nets``: ``nets.mlp`` or the
  conv nets, built from each member's seed), each with its own fused Adam and noise generator,
  trained one after another on the same data, doing ``train_step``'s work: GAN, one critic and one
  generator update (non-saturating loss); VAE, one Gaussian (conv: Bernoulli) ELBO step; flow, one
  maximum-likelihood step through ``models.flow.log_prob`` (the module's own coupling code, on one
  member's conditioners); diffusion, one epsilon-MSE step (t and noise from the member's generator,
  ``models.diffusion.schedule`` / ``embed``) and the EMA update (ema_decay 0.995, the default, in
  both arms; the loop's EMA is one ``torch._foreach_lerp_`` per member, as timm's ModelEmaV3).
  Flow and diffusion are vector models: MLP settings only. Every member's first 10 steps are the
  warm-up. With ``--seq-cap`` (K above it, e.g. K = 1,024 on a GPU) only that many members are
  trained and the rate per member-step is used.

Rates are member-steps per second. Each round runs both arms (order alternating); a ratio is the
median over rounds of the per-round ratio, which cancels slow drifts in machine load. GFLOP/s
count the matrix multiplies and convolutions of one plain-loop step (``FlopCounterMode``: the
useful work), set against a 2048^3 sgemm (the best of those measured before each setting in the same
process, with the same threads: one taken under load would be too low). For
the conv settings one more profiled round prints each arm's top-5 operators by self CPU time
(self CUDA time on a GPU). Every setting runs at each ``--threads`` count (default: all cores,
then 1), both arms with the same threads. The last line is the headline (first thread count):
``ensemble/sequential at width 64: <r>x (K=<K>, GAN), <r>x (K=<K>, VAE), <r>x (K=<K>, flow),
<r>x (K=<K>, diffusion), <n> thread(s)`` (one line).
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import sys
import time
import warnings

import pytorch_lightning as pl
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import distributions  # noqa: E402
import models  # noqa: E402
from models.diffusion import embed, schedule  # noqa: E402
from models.objectives import OBJECTIVES  # noqa: E402
from models.vae import VAE  # noqa: E402
from lightning_overhead import Cycle  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

S = 10                      # steps per Lightning batch
OBJ = OBJECTIVES["non_saturating"]
KINDS = ("gan", "vae", "flow", "diffusion")        # MLP settings; conv: GAN and VAE
NAMES = {"gan": "GAN", "vae": "VAE", "flow": "flow", "diffusion": "diffusion"}


def model_config(kind: str, arch: str, width: int, batch: int, channels: int) -> dict:
    mlp = {"gan": dict(g_width=width, d_width=width, g_depth=3, d_depth=3, latent_dim=2, loss="non_saturating"),
           "vae": dict(enc_width=width, dec_width=width, enc_depth=3, dec_depth=3, latent_dim=2),
           "flow": dict(width=width, depth=3), "diffusion": dict(width=width, depth=3)}[kind]
    conv = {"arch": "conv", "channels": channels, "latent_dim": 16}
    conv.update({"loss": "non_saturating"} if kind == "gan" else {})
    return models.validate_config({"model": kind, "batch_size": batch, **(mlp if arch == "mlp" else conv)})


class Clock:
    """Seconds from ``start()`` to ``stop()`` (device synchronised), optionally profiled."""

    def __init__(self, device: torch.device, profile: bool = False):
        self.device, self.prof = device, None
        if profile:
            act = torch.profiler.ProfilerActivity
            self.prof = torch.profiler.profile(activities=[act.CPU] + ([act.CUDA] if device.type == "cuda" else []))

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self):
        self._sync()
        self.prof and self.prof.start()
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def stop(self) -> float:
        self._sync()
        self.secs, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        self.prof and self.prof.stop()
        return self.secs


class Timed(pl.Callback):
    def __init__(self, clock: Clock, last: int):
        self.clock, self.last = clock, last

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 1:
            self.threads = torch.get_num_threads()
            self.clock.start()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == self.last:
            self.clock.stop()


def run_trainer(cfg, shape, K, batches, n, device, profile=False) -> tuple[int, Clock]:
    """Member-steps timed (Lightning batches 1..n-1) of the K-member module under a Trainer, and the clock."""
    module = models.build(cfg, data_dim=batches[0].shape[-1], event_shape=shape, seeds=list(range(K)))
    clock = Clock(device, profile)
    timed = Timed(clock, n - 1)
    trainer = pl.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timed])
    threads = torch.get_num_threads()
    trainer.fit(module, train_dataloaders=Cycle(batches, n))
    assert module.steps == n * S and timed.threads == threads and all(d is None for d in module.diverged_at)
    return K * (n - 1) * S, clock


class Plain:
    """The members as ordinary modules, own fused Adam and noise generator each: train_step's work."""

    def __init__(self, cfg: dict, data_dim: int, shape, seeds, device):
        self.cfg, self.kind, self.members = cfg, cfg["model"], []
        kw = dict(betas=(cfg["beta1"], cfg["beta2"]), fused=True)
        if self.kind == "diffusion":
            _, ab = schedule(cfg["schedule"], cfg["timesteps"])
            self.sqrt_ab, self.sqrt_1mab = ab.sqrt().float().to(device), (1 - ab).sqrt().float().to(device)
        for seed in seeds:
            torch.manual_seed(seed)
            b = head = None
            if self.kind == "flow":     # the conditioners a
                a = torch.nn.ModuleList(models.flow.nets(cfg, data_dim)).to(device)
            elif self.kind == "diffusion":  # noise net a; b: its EMA copy's parameters and its own
                a = models.diffusion.nets(cfg, data_dim).to(device)
                if cfg["ema_decay"] > 0:
                    b = (list(copy.deepcopy(a).requires_grad_(False).parameters()), list(a.parameters()))
            else:
                a, b, head = getattr(models, self.kind).nets(cfg, data_dim, shape)
                a, b = a.to(device), b.to(device)
            if self.kind == "gan":      # generator a, critic b
                opts = (torch.optim.Adam(b.parameters(), lr=cfg["lr_d"], **kw),
                        torch.optim.Adam(a.parameters(), lr=cfg["lr_g"], **kw))
            elif self.kind == "vae":    # encoder a, decoder b
                opts = (torch.optim.Adam([*a.parameters(), *b.parameters()], lr=cfg["lr"], **kw),)
            else:
                opts = (torch.optim.Adam(a.parameters(), lr=cfg["lr"], **kw),)
            self.members.append((a, b, head, opts, torch.Generator(device=device).manual_seed(seed),
                                 torch.zeros(cfg["check_every"], 3, device=device)))

    def step(self, k: int, x: torch.Tensor, t: int) -> None:
        a, b, head, opts, noise, window = self.members[k]
        n, latent = x.shape[0], self.cfg.get("latent_dim")
        z = lambda: torch.randn(n, latent, generator=noise, device=x.device)
        if self.kind in ("flow", "diffusion"):
            if self.kind == "flow":
                losses = [-models.flow.log_prob(x, a, self.cfg["max_log_scale"]).mean()]
            else:
                T = self.cfg["timesteps"]
                ts = (torch.rand(n, generator=noise, device=x.device) * T).long().clamp(max=T - 1) + 1
                eps = torch.randn(x.shape, generator=noise, device=x.device)
                x_t = self.sqrt_ab[ts, None] * x + self.sqrt_1mab[ts, None] * eps
                losses = [((eps - a(torch.cat([x_t, embed(ts, self.cfg["time_dim"]).to(x_t)], -1))) ** 2).mean()]
            opts[0].zero_grad(set_to_none=True)
            losses[0].backward()
            opts[0].step()
            if b is not None:           # the EMA, warmed up as the module's
                with torch.no_grad():
                    torch._foreach_lerp_(b[0], b[1], 1 - min(self.cfg["ema_decay"], (1 + t) / (10 + t)))
        elif self.kind == "gan":
            with torch.no_grad():
                fake = a(z())
            r, f = b(torch.cat([x, fake])).view(-1).chunk(2)
            losses = [OBJ.d_loss(r, f)]
            opts[0].zero_grad(set_to_none=True)
            losses[0].backward()
            opts[0].step()
            b.requires_grad_(False)
            losses.append(OBJ.g_loss(None, b(a(z())).view(-1)))
            opts[1].zero_grad(set_to_none=True)
            losses[1].backward()
            opts[1].step()
            b.requires_grad_(True)
        else:
            mu, log_std = a(x).chunk(2, dim=-1)
            out = b(mu + log_std.exp() * z())
            recon = head.log_prob(x, out) if head is not None else VAE._log_normal(x, *out.chunk(2, dim=-1))
            kl = 0.5 * (mu ** 2 + (2 * log_std).exp() - 2 * log_std - 1).sum(-1)
            losses = [-(recon.mean() - self.cfg["beta"] * kl.mean())]
            opts[0].zero_grad(set_to_none=True)
            losses[0].backward()
            opts[0].step()
        torch.stack([l.detach() for l in losses], out=window[t % len(window), :len(losses)])   # the loss window


def run_plain(cfg, shape, members, batches, n, device, profile=False) -> tuple[int, Clock]:
    """Member-steps timed of ``members`` members trained one after another (the first S steps of each
    untimed), and the clock."""
    plain = Plain(cfg, batches[0].shape[-1], shape, range(members), device)
    data = lambda t, k: batches[t // S % len(batches)][t % S, k]
    for k in range(members):
        for t in range(S):
            plain.step(k, data(t, k), t)
    clock = Clock(device, profile)
    clock.start()
    for k in range(members):
        for t in range(S, n * S):
            plain.step(k, data(t, k), t)
    clock.stop()
    return members * (n - 1) * S, clock


def step_flops(cfg, shape, batch: torch.Tensor, device) -> float:
    """Matmul and convolution FLOPs of one member-step (one plain-loop step, counted)."""
    plain = Plain(cfg, batch.shape[-1], shape, [0], device)
    with FlopCounterMode(display=False) as counter:
        plain.step(0, batch[0, 0], 0)
    return float(counter.get_total_flops())


def sgemm_peak(device: torch.device) -> float:
    n = 2048 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    clock, best = Clock(device), float("inf")
    for _ in range(4):
        clock.start()
        torch.mm(a, b)
        best = min(best, clock.stop())
    return 2.0 * n ** 3 / best / 1e9


def make_batches(kind_arch: str, K: int, batch: int, device, count: int = 2) -> tuple[list[torch.Tensor], tuple]:
    """``count`` Lightning batches [S, K, B, D] (member k's rows drawn from one pool at random)."""
    g = torch.Generator().manual_seed(0)
    if kind_arch == "mlp":
        pool = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.05).sample(8192, generator=g)
    else:
        pool = distributions.make("triangles").sample(2 * batch * S, generator=g)
    shape = tuple(pool.shape[1:])
    pool = pool.flatten(1).to(device)
    idx = torch.randint(len(pool), (count, S, K, batch), generator=g).to(device)
    return [pool[i] for i in idx], shape


def top5(clock: Clock) -> str:
    cuda = clock.device.type == "cuda"
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in clock.prof.key_averages() if getattr(e, key) > 0]
    total = sum(getattr(e, key) for e in events)
    best = sorted(events, key=lambda e: getattr(e, key), reverse=True)[:5]
    return f"self {'CUDA' if cuda else 'CPU'} {total / 1e3:.0f} ms: " + ", ".join(
        f"{e.key[:48]} {100 * getattr(e, key) / total:.0f}%" for e in best)


def measure(setting: tuple, a: argparse.Namespace, device, peak: float) -> float:
    """Time one (kind, arch, width, K) setting, print its line (and profiles); returns the ratio."""
    kind, arch, width, K = setting
    conv = arch == "conv"
    batch = a.conv_batch if conv else a.batch
    cfg = model_config(kind, arch, width, batch, a.channels)
    batches, shape = make_batches(arch, K, batch, device)
    flops = step_flops(cfg, shape, batches[0], device)
    members = min(K, a.seq_cap) if a.seq_cap else K
    n = 1 + max(1, min(a.max_batches, round(a.target / (flops * K * S))))       # Lightning batches per run
    ratios, cpu_ratios, rates = [], [], {"trainer": [], "plain": []}
    for rnd in range(a.rounds):
        done = {}
        for arm in (["trainer", "plain"] if rnd % 2 == 0 else ["plain", "trainer"]):
            done[arm] = (run_trainer(cfg, shape, K, batches, n, device) if arm == "trainer"
                         else run_plain(cfg, shape, members, batches, n, device))
            rates[arm].append(done[arm][0] / done[arm][1].secs)
        (t, ct), (p, cp) = done["trainer"], done["plain"]
        ratios.append(t / ct.secs / (p / cp.secs))
        cpu_ratios.append(t / ct.cpu / (p / cp.cpu))
    med = {arm: statistics.median(r) for arm, r in rates.items()}
    ratio = statistics.median(ratios)
    gf = lambda rate: f"{rate * flops / 1e9:6.1f} GFLOP/s = {100 * rate * flops / 1e9 / peak:4.1f}% of sgemm"
    what = f"{NAMES[kind]} {arch} " + (f"{a.channels} ch, 28x28" if conv else f"width {width:3d}")
    loop = f"plain loop{f' ({members} of {K} members)' if members < K else ''}"
    print(f"{what} K {K:4d} ({(n - 1) * S} steps x {a.rounds}): trainer {med['trainer']:7.1f} member-steps/s "
          f"({gf(med['trainer'])}); {loop} {med['plain']:7.1f} ({gf(med['plain'])}) = {ratio:.2f}x "
          f"[rounds {' '.join(f'{r:.2f}' for r in ratios)}; CPU-time ratio {statistics.median(cpu_ratios):.2f}]",
          flush=True)
    if conv:
        for arm, fn in (("trainer", lambda: run_trainer(cfg, shape, K, batches, 2, device, profile=True)),
                        ("plain loop", lambda: run_plain(cfg, shape, members, batches, 2, device, profile=True))):
            print(f"    {arm:10s} {top5(fn()[1])}", flush=True)
    return ratio


def main() -> None:
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="width 64, K in 1, 8, conv K=2 with 8 channels; few steps")
    ap.add_argument("--threads", type=int, nargs="+", default=sorted({cores, 1}, reverse=True),
                    help=f"torch threads, one full run each, both arms alike (default {cores} = all cores, then 1)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--K", type=int, nargs="+", default=None, help="members, MLP settings (default 1 8 32; quick 1 8)")
    ap.add_argument("--widths", type=int, nargs="+", default=None, help="MLP widths (default 64 256; quick 64)")
    ap.add_argument("--conv-K", type=int, default=None, help="members, conv settings (default 8, quick 2; 0 = none)")
    ap.add_argument("--channels", type=int, default=None, help="conv base channels (default 32, quick 8)")
    ap.add_argument("--batch", type=int, default=256, help="samples per member batch, MLPs (default 256)")
    ap.add_argument("--conv-batch", type=int, default=None, help="samples per member batch, conv (default 32; quick 16)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per setting (default 3, quick 1)")
    ap.add_argument("--seq-cap", type=int, default=None,
                    help="train at most this many members in the plain loop (rate per member-step; default: all on "
                         "the CPU, 32 on a GPU)")
    a = ap.parse_args()
    for name in ("threads", "K"):
        bad = [v for v in (getattr(a, name) or []) if v < 1]
        if bad:
            print(f"ensemble.py: --{name} {bad[0]} is not allowed; expected integers >= 1", file=sys.stderr)
            sys.exit(2)
    if a.device == "cuda" and not torch.cuda.is_available():
        print(f"ensemble.py: --device cuda, but CUDA is not available (torch {torch.__version__})", file=sys.stderr)
        sys.exit(2)
    q = a.quick
    a.K = a.K or ([1, 8] if q else [1, 8, 32])
    a.widths = a.widths or ([64] if q else [64, 256])
    a.conv_K = (2 if q else 8) if a.conv_K is None else a.conv_K
    a.channels = a.channels or (8 if q else 32)
    a.conv_batch = a.conv_batch or (16 if q else 32)
    a.rounds = a.rounds or (1 if q else 3)
    a.seq_cap = a.seq_cap if a.seq_cap is not None else (32 if a.device == "cuda" else 0)
    a.target = (1e9 if q else 3e10) if a.device == "cpu" else 1e12    # matmul FLOPs per arm and round
    a.max_batches = 3 if q else 20
    device = torch.device(a.device)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"torch {torch.__version__}, lightning {pl.__version__}, {a.device}{gpu}, {cores} cpus, load average "
          f"{load()} (1/5/15 min; other jobs may share this machine)")
    print(f"MLPs: 3 hidden layers (GAN, VAE: latent 2; flow: 4 couplings, relu; diffusion: T 1000, silu, EMA 0.995), "
          f"ring data 2-D, batch {a.batch}; conv: {a.channels} channels, latent 16, 28x28 triangles, batch "
          f"{a.conv_batch}; fused Adam; {S} steps per Lightning batch", flush=True)
    settings = [(kind, "mlp", w, K) for w in a.widths for kind in KINDS for K in a.K]
    if a.conv_K:
        settings += [(kind, "conv", 0, a.conv_K) for kind in ("gan", "vae")]
    summary = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        peak = sgemm_peak(device)
        print(f"--- {threads} thread{'s' * (threads > 1)}: sgemm peak {peak:.1f} GFLOP/s; load average {load()}",
              flush=True)
        results = {}
        for s in settings:            # the peak re-measured before each setting: the best seen counts
            peak = max(peak, sgemm_peak(device))
            results[s] = measure(s, a, device, peak)
        print(f"sgemm peak, best of {len(settings) + 1} measured at {threads} thread{'s' * (threads > 1)}: "
              f"{peak:.1f} GFLOP/s (each % above is of the best measured before its setting)", flush=True)
        tail = f"{threads} thread{'s' * (threads > 1)}" + (f" on {a.device}" if a.device != "cpu" else "")
        w = 64 if 64 in a.widths else a.widths[0]
        if 1 in a.K:
            summary.append(f"K=1 trainer/plain loop at width {w}: " + ", ".join(
                f"{results[(kind, 'mlp', w, 1)]:.2f}x ({NAMES[kind]})" for kind in KINDS) +
                f", {tail} (issue 15 asks >= 0.9x)")
        top = max(a.K)
        summary.append(f"ensemble/sequential at width {w}: " + ", ".join(
            f"{results[(kind, 'mlp', w, top)]:.2f}x (K={top}, {NAMES[kind]})" for kind in KINDS) + f", {tail}")
    print(f"load average at the end: {load()}")
    head = summary.index(next(s for s in summary if s.startswith("ensemble/")))
    print("\n".join(summary[:head] + summary[head + 1:] + summary[head:head + 1]))   # the headline last


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
