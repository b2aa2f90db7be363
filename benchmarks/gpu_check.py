"""Every model kind on a CUDA GPU: K = 4 members train 50 steps under ``Trainer(accelerator='gpu')``
with finite losses, and member k matches its own K = 1 run on the GPU.

    .venv/bin/python benchmarks/gpu_check.py        # one line per kind; exit 1 on a failure
                                                    # (one line, exit 1, where CUDA is absent)
    .venv/bin/python benchmarks/gpu_check.py --device cpu   # the same checks on the CPU

The test suite is CPU-only; this is its GPU counterpart for the member-batched models
(models/members.py: ``BatchedMLP`` / ``FastMLP`` for the MLPs, ``VmapNet`` for conv and graph
nets). Kinds: GAN mlp / conv / graph (relaxed edges, GCN critic) and VAE mlp / conv / graph,
small nets, default learning rates (a GAN at 1e-3 amplifies float rounding ~1e4-fold in 50
steps), 10 steps per Lightning batch. TF32 is off, so both runs are float32 throughout.
"Matches" means: member k's final weights differ from its single run's by less than ``--tol``
(default 1%) of the distance that run's weights moved in training (whole-state Euclidean norms),
and both loss histories agree to 1e-3. The maximum absolute difference is printed too.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import models  # noqa: E402

K, MEMBER, STEPS, S = 4, 2, 50, 10
SMALL = {"gan": {"g_width": 32, "d_width": 32, "g_depth": 2, "d_depth": 2},
         "vae": {"enc_width": 32, "dec_width": 32, "enc_depth": 2, "dec_depth": 2}}
CASES = {   # name: (config, event shape)
    "GAN mlp": ({"model": "gan", **SMALL["gan"]}, (2,)),
    "GAN conv": ({"model": "gan", "arch": "conv", "channels": 8, "latent_dim": 8}, (1, 28, 28)),
    "GAN graph": ({"model": "gan", "arch": "graph", "d_arch": "gcn", "edges": "relaxed", **SMALL["gan"]}, (8, 8)),
    "VAE mlp": ({"model": "vae", **SMALL["vae"]}, (2,)),
    "VAE conv": ({"model": "vae", "arch": "conv", "channels": 8, "latent_dim": 8}, (1, 28, 28)),
    "VAE graph": ({"model": "vae", "arch": "graph", **SMALL["vae"]}, (8, 8)),
}


class Batches:
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def data(shape, seed: int, batch: int, device) -> torch.Tensor:
    """[STEPS, batch, *shape]: normal vectors, images in [0, 1], or symmetric 0/1 graphs."""
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 1:
        return torch.randn(STEPS, batch, *shape, generator=g).to(device)
    x = torch.rand(STEPS, batch, *shape, generator=g)
    if len(shape) == 2:
        a = (x > 0.5).float().triu(1)
        x = a + a.transpose(-1, -2)
    return x.to(device)


def fit(cfg, shape, seeds, device) -> pl.LightningModule:
    module = models.build(cfg, data_dim=math.prod(shape), event_shape=shape, seeds=seeds)
    per = torch.stack([data(shape, s, module.config["batch_size"], device) for s in seeds], 1)   # [STEPS, k, B, ...]
    batches = [per[i:i + S] for i in range(0, STEPS, S)]                                         # [S, k, B, ...]
    trainer = pl.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=Batches(batches))
    return module


def flat(state: dict) -> torch.Tensor:
    return torch.cat([t.detach().double().flatten().cpu() for _, t in sorted(state.items())])


def check(name: str, cfg: dict, shape, device, tol: float) -> str | None:
    """None if the kind passes, else why not."""
    cfg = {**cfg, "batch_size": 32, "check_every": 10}
    t0 = time.perf_counter()
    many = fit(cfg, shape, list(range(K)), device)
    if many.steps != STEPS or any(d is not None for d in many.diverged_at):
        return f"steps {many.steps}, diverged_at {many.diverged_at}"
    losses = [v for k in range(K) for h in many.history[k] for n, v in h.items() if n != "step"]
    if not losses or not all(math.isfinite(v) for v in losses) or not torch.isfinite(flat(many.state_dict())).all():
        return "non-finite losses or weights"
    alone = fit(cfg, shape, [MEMBER], device)
    start = models.build(cfg, data_dim=math.prod(shape), event_shape=shape, seeds=[MEMBER]).state_dict()
    got, want, init = flat(many.member_state_dict(MEMBER)), flat(alone.state_dict()), flat(start)
    moved = (want - init).norm().item()
    rel, worst = (got - want).norm().item() / moved, (got - want).abs().max().item()
    hist = max(abs(a[n] - b[n]) / max(1.0, abs(b[n])) for a, b in zip(many.history[MEMBER], alone.history[0])
               for n in many.loss_names)
    print(f"{name:9s}: K={K} x {STEPS} steps on {device}, losses finite; member {MEMBER} vs its K=1 run: "
          f"{100 * rel:.3f}% of the distance trained ({moved:.3g}), max |diff| {worst:.2e}, losses {hist:.1e}; "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    if not rel < tol or not hist < 1e-3:
        return (f"member {MEMBER} differs from its K=1 run by {100 * rel:.3f}% (tolerance {100 * tol:g}%), "
                f"losses by {hist:.1e}")
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tol", type=float, default=0.01, help="allowed difference, a fraction of the distance trained")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: CUDA is not available (torch {torch.__version__} sees no GPU): nothing was checked",
              file=sys.stderr)
        sys.exit(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(device) if a.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {name}", flush=True)
    failures = []
    for name, (cfg, shape) in CASES.items():
        try:
            why = check(name, cfg, shape, device, a.tol)
        except Exception as err:                     # noqa: BLE001 - one line per failing kind
            why = f"{type(err).__name__}: {err}"
        if why:
            failures.append(f"{name}: {why}")
    for line in failures:
        print(f"FAILED {line}", file=sys.stderr)
    print(f"gpu_check: {len(CASES) - len(failures)}/{len(CASES)} model kinds pass on {device}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
