"""Benchmark: chunked ``metrics.manifold.prdc`` against a straightforward full-matrix version.

    python benchmarks/metrics.py            # n = m = 2,000 / 10,000 / 50,000 in 2-D and 64-D
    python benchmarks/metrics.py --quick    # 2,000 and 10,000 only
    python benchmarks/metrics.py --threads 1   # both versions single-threaded

Each measurement runs in a fresh subprocess so that its peak resident memory (getrusage
ru_maxrss, which sees torch's allocations) belongs to that case alone; "start" is the resident
memory after imports and data, before the metric runs. The full-matrix baseline (torch.cdist,
kthvalue, comparisons on whole n x m matrices, float32) is skipped where its matrices would
take more than a quarter of the machine's memory. Both compute precision, recall, density and
coverage with k = 5 on two standard Gaussian samples (seeds 0 and 1).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 5


def full_matrix_prdc(real, fake, k):
    import torch
    r_real = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    r_fake = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values
    d = torch.cdist(real, fake)
    in_real = d < r_real[:, None]
    return {"precision": in_real.any(0).double().mean().item(),
            "recall": (d < r_fake[None, :]).any(1).double().mean().item(),
            "density": in_real.sum().item() / (k * fake.shape[0]),
            "coverage": in_real.any(1).double().mean().item()}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def run_case(impl: str, n: int, dim: int, repeats: int, threads: int) -> dict:
    """In the subprocess: time one implementation, report time and memory."""
    sys.path.insert(0, ROOT)
    import torch
    if threads:
        torch.set_num_threads(threads)
    from metrics.manifold import prdc
    real = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(n, dim, generator=torch.Generator().manual_seed(1))
    fn = prdc if impl == "chunked" else full_matrix_prdc
    start = rss_mb()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(real, fake, K)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"time": min(times), "peak_mb": peak, "start_mb": start, "result": out,
            "threads": torch.get_num_threads()}


def measure(impl: str, n: int, dim: int, repeats: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--case", impl, str(n), str(dim), str(repeats), str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only n = 2,000 and 10,000")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--case", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        impl, n, dim, repeats, threads = args.case
        print(json.dumps(run_case(impl, int(n), int(dim), int(repeats), int(threads))))
        return

    total_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    sizes = [2000, 10000] if args.quick else [2000, 10000, 50000]
    print(f"prdc (k={K}), n = m, standard Gaussian data; {os.cpu_count()} CPUs, {total_mb / 1024:.0f} GiB RAM, "
          f"load average {os.getloadavg()[0]:.1f} at start; time = best of repeats (3, 2, 1 "
          "for the three sizes); peak = max resident memory of the case's own process")
    print(f"{'n':>7} {'D':>3} | {'chunked s':>9} {'peak MB':>8} {'start MB':>8} | "
          f"{'full s':>8} {'peak MB':>8} | {'speed-up':>8} {'memory':>7} | max |diff|")
    t0 = time.perf_counter()
    for n in sizes:
        for dim in (2, 64):
            repeats = 3 if n <= 2000 else 2 if n <= 10000 else 1
            c = measure("chunked", n, dim, repeats, args.threads)
            # Full version: three float32 n x n matrices (one alive at a time) plus two boolean ones.
            full_need = (4 + 2) * n * n / 2 ** 20
            row = f"{n:>7} {dim:>3} | {c['time']:>9.3f} {c['peak_mb']:>8.0f} {c['start_mb']:>8.0f} | "
            if full_need > total_mb / 4:
                row += (f"{'skipped':>8} {'':>8} | {'':>8} {'':>7} | full matrices need ~{full_need / 1024:.0f} GiB "
                        f"> 1/4 of RAM")
            else:
                f = measure("full", n, dim, repeats, args.threads)
                diff = max(abs(c["result"][key] - f["result"][key]) for key in c["result"])
                row += (f"{f['time']:>8.3f} {f['peak_mb']:>8.0f} | {f['time'] / c['time']:>7.1f}x "
                        f"{(f['peak_mb'] - f['start_mb']) / max(c['peak_mb'] - c['start_mb'], 1):>6.0f}x | {diff:.1e}")
            print(row, flush=True)
    print(f"torch threads: {c['threads']}; load average {os.getloadavg()[0]:.1f} at the end; "
          f"total {time.perf_counter() - t0:.0f} s. 'memory' = ratio of the "
          "growth above start; max |diff| = largest difference of the four numbers (the float32 "
          "full-matrix version is not exact at ties and near-ties; the chunked one is)")


if __name__ == "__main__":
    main()
