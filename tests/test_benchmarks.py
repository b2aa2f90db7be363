"""The benchmarks run and print what their readers parse (speed itself is never asserted here)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("GAN", "VAE", "flow", "diffusion")
HEADLINE = re.compile(r"ensemble/sequential at width 64: " + "".join(rf"([\d.]+)x \(K=(\d+), {k}\), " for k in KINDS)
                      + r"(\d+) threads?$")


def run(*args, timeout=300):
    return subprocess.run([*args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_ensemble_benchmark_quick_prints_a_parseable_headline():
    out = run(sys.executable, "benchmarks/ensemble.py", "--quick", "--threads", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    m = HEADLINE.match(lines[-1])
    assert m, lines[-1]
    *pairs, threads = m.groups()
    assert all(float(r) > 0 and k == "8" for r, k in zip(pairs[::2], pairs[1::2])) and threads == "1"
    k1 = re.match(r"K=1 trainer/plain loop at width 64: " + ", ".join(rf"([\d.]+)x \({k}\)" for k in KINDS)
                  + ", 1 thread", lines[-2])
    assert k1 and all(float(r) > 0 for r in k1.groups()), lines[-2]
    for kind in ("GAN", "VAE"):                       # the quick conv settings, each with its profile
        assert any(line.startswith(f"{kind} conv 8 ch, 28x28 K    2 ") for line in lines)
    assert sum("self CPU" in line for line in lines) == 4
    for kind in KINDS:                                # every kind's MLP at K = 1 and 8
        assert sum(line.startswith(f"{kind} mlp width  64 K ") for line in lines) == 2
    assert sum("member-steps/s" in line and "GFLOP/s" in line for line in lines) == 10   # 8 MLP, 2 conv


@pytest.mark.parametrize("args, message", [
    (("--threads", "0"), "ensemble.py: --threads 0 is not allowed; expected integers >= 1"),
    (("--device", "cuda"), "ensemble.py: --device cuda, but CUDA is not available"),
])
def test_ensemble_benchmark_errors_in_one_line(args, message):
    if args[0] == "--device" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = run(sys.executable, "benchmarks/ensemble.py", *args)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith(message), out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: the check would run")
@pytest.mark.parametrize("command", [("bash", "benchmarks/gpu_check.sh"), (sys.executable, "benchmarks/gpu_check.py")])
def test_gpu_check_fails_in_one_line_without_cuda(command):
    out = run(*command, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("gpu_check: CUDA is not available (torch ") and "nothing was checked" in out.stderr
