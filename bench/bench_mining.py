"""BUCC mining time and memory against corpus size, on synthetic embeddings.

Each size runs in its own process so that peak RSS belongs to that size alone.
Exact search costs O(n^2 * dim); sizes whose projected time would overrun
``--budget`` are not run but printed as an extrapolation from the largest
measured size (time n^2, memory linear), marked ``~`` as an estimate.

    .venv/bin/python bench/bench_mining.py                 # 10k, 50k, 200k per side
    .venv/bin/python bench/bench_mining.py --sizes 2000 8000 --dim 256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def one(n: int, dim: int, pair_frac: float, k: int, chunk_size: int, seed: int) -> dict:
    import numpy as np

    from xtreme_harness import mining

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.standard_normal((n, dim), dtype=np.float32)
    n_pairs = max(1, int(n * pair_frac))
    tgt_rows = rng.choice(n, n_pairs, replace=False)
    # planted translations: the partner's vector plus noise of the same norm (cosine ~0.7)
    x[:n_pairs] = y[tgt_rows] + rng.standard_normal((n_pairs, dim), dtype=np.float32)
    src_ids = [f"x{i}" for i in range(n)]
    tgt_ids = [f"e{i}" for i in range(n)]
    gold = {(src_ids[i], tgt_ids[j]) for i, j in enumerate(tgt_rows.tolist())}

    knn_s = 0.0
    real_knn = mining.knn

    def timed_knn(*a, **kw):
        nonlocal knn_s
        t = time.perf_counter()
        out = real_knn(*a, **kw)
        knn_s += time.perf_counter() - t
        return out

    mining.knn = timed_knn
    t0 = time.perf_counter()
    cands = mining.mine_candidates(x, y, src_ids, tgt_ids, src_ids, tgt_ids, k=k, chunk_size=chunk_size)
    threshold, f1, _, _ = mining.best_threshold(cands, gold)
    total_s = time.perf_counter() - t0
    mining.knn = real_knn
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"n": n, "knn_s": knn_s, "total_s": total_s, "peak_rss_mib": peak_kb / 1024,
            "input_mib": 2 * n * dim * 4 / 2**20, "candidates": len(cands), "f1": f1, "threshold": threshold}


def rss_line(measured: list[dict], n: int) -> float:
    """Peak RSS at n on the line through the two largest measured sizes (it grows linearly in n)."""
    b = measured[-1]
    if len(measured) < 2:
        return b["peak_rss_mib"] * n / b["n"]
    a = measured[-2]
    slope = (b["peak_rss_mib"] - a["peak_rss_mib"]) / (b["n"] - a["n"])
    return b["peak_rss_mib"] + slope * (n - b["n"])


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> str:
    import faiss
    import numpy as np

    return (f"Python {platform.python_version()}, numpy {np.__version__}, faiss {faiss.__version__} "
            f"({'GPU' if hasattr(faiss, 'StandardGpuResources') and faiss.get_num_gpus() > 0 else 'CPU'}), "
            f"{os.cpu_count()} CPU cores ({cpu_name()})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000], help="sentences per side")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--pairs", type=float, default=0.01, help="fraction of planted translation pairs")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--chunk-size", type=int, default=16384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for all measured sizes together")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one is not None:
        print(json.dumps(one(args.one, args.dim, args.pairs, args.k, args.chunk_size, args.seed)))
        return 0

    rows: list[dict] = []
    spent = 0.0
    for n in sorted(args.sizes):
        measured = [r for r in rows if not r.get("estimate")]
        last = measured[-1] if measured else None
        projected = last["total_s"] * (n / last["n"]) ** 2 if last else 0.0
        if last and (len(measured) < len(rows) or spent + projected > args.budget):
            ref = last
            scale = (n / ref["n"]) ** 2
            rows.append({"n": n, "knn_s": ref["knn_s"] * scale, "total_s": ref["total_s"] * scale,
                         "peak_rss_mib": rss_line(measured, n), "input_mib": 2 * n * args.dim * 4 / 2**20, "f1": None,
                         "estimate": f"n^2 from {ref['n']:,}"})
            continue
        cmd = [sys.executable, __file__, "--one", str(n), "--dim", str(args.dim), "--pairs", str(args.pairs),
               "--k", str(args.k), "--chunk-size", str(args.chunk_size), "--seed", str(args.seed)]
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        spent += time.perf_counter() - t
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"# {n:,}: {rows[-1]['total_s']:.1f}s", file=sys.stderr, flush=True)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"BUCC mining, synthetic: dim {args.dim}, {args.pairs:.0%} planted pairs, k={args.k}, exact "
          f"search both ways; {time.strftime('%Y-%m-%d')}; {versions()}; load average at the end {load}\n")
    print("| n per side | kNN s (both ways) | total s | peak RSS MiB | input MiB | dev F1 |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        est = r.get("estimate")
        mark = "~" if est else ""
        rss = f"{mark}{r['peak_rss_mib']:,.0f}"
        f1 = f"{r['f1']:.1f}" if r["f1"] is not None else "n/a"
        note = f" (estimate: time {est}, memory linear)" if est else ""
        print(f"| {r['n']:,}{note} | {mark}{r['knn_s']:,.1f} | {mark}{r['total_s']:,.1f} | {rss} | "
              f"{r['input_mib']:,.0f} | {f1} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
