"""BUCC mining: time and memory against corpus size, and approximate search against exact.

Scaling (the default): each size runs in its own process so that peak RSS
belongs to that size alone. Exact search costs O(n^2 * dim); sizes whose
projected time would overrun ``--budget`` are not run but printed as an
extrapolation from the largest measured size (time n^2, memory linear),
marked ``~`` as an estimate.

    .venv/bin/python bench/bench_mining.py                 # 10k, 50k, 200k per side
    .venv/bin/python bench/bench_mining.py --sizes 2000 8000 --dim 256

Approximate vs exact (``--compare ivf pca``): for each vector set and size,
one process runs exact mining and one per approximate search; each reports
the k-NN time both ways, the recall of the exact k neighbours in both
directions, the largest cosine error on neighbours found, and the pairs
mined at the F1-best threshold (their F1 against the exact run's pairs, and
against the gold). Exact neighbours and pairs are kept in ``--exact-cache``
so that an expensive exact run (200k) is measured once and reused.
Vector sets (``--vectors``):

* ``isotropic``: the scaling setup (random normal, ``--pairs`` planted
  copies plus noise of the same norm); no neighbourhood structure, the worst
  case for an index.
* ``fitted``: Gaussian vectors with each side's mean and covariance taken
  from real embeddings (``--real-emb``), and planted pairs whose offset from
  their partner is drawn with the covariance of the real gold pairs' offsets;
  planted fraction and width as the real set.
* ``real``: the real BUCC 2018 zh-en sample (dev) set, with the embeddings
  of ``--real-emb`` and the id maps, duplicates and gold of the real files.

``--embed-bucc OUT.npz`` writes ``--real-emb`` first: the harness's own
embedding path (``embedding.embed``, mean pooling, XTREME's layer) over
``--bucc DIR``'s ``zh-en.dev.{zh,en}`` with the encoder ``--model DIR``.

    .venv/bin/python bench/bench_mining.py --embed-bucc runs/bucc-me5-small-l8.npz  # --model: me5-small
    .venv/bin/python bench/bench_mining.py --compare ivf pca --vectors fitted --sizes 50000 200000 \
        --real-emb runs/bucc-me5-small-l8.npz --exact-cache runs/mining-exact
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


# --- approximate vs exact ---------------------------------------------------------------------

VECTORS = ("isotropic", "fitted", "real")
APPROX_FLAGS = ("candidates", "nlist", "nprobe", "train_points", "niter", "pca_dim", "pca_sample")
BUCC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "bucc2018")
ME5 = os.path.expanduser(os.path.join("~", ".cache", "xtreme-shared", "me5-small"))


def read_real_bucc(bucc_dir: str):
    from pathlib import Path

    from xtreme_harness.formats.bitext import read_bucc

    root = Path(bucc_dir)
    return read_bucc({"data": root / "zh-en.dev.zh", "english": root / "zh-en.dev.en",
                      "gold": root / "zh-en.dev.gold"}, "zh")


def embed_bucc(out: str, model_dir: str, bucc_dir: str, threads: int) -> None:
    """Real BUCC sample-set embeddings through the harness's retrieval path (mean pooling, XTREME's layer)."""
    import numpy as np
    import torch
    import transformers

    from xtreme_harness.producers.embedding import HiddenStateEncoder, default_layer
    from xtreme_harness.producers.engine import InferenceEngine, load_kwargs

    torch.set_num_threads(threads)
    rs = read_real_bucc(bucc_dir)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir, **load_kwargs("cpu", "float32")).eval()
    layer = default_layer(model.config.num_hidden_layers)
    engine = InferenceEngine(device="cpu", dtype="float32", batch_size="auto", progress=False)
    t = time.perf_counter()
    encoder = HiddenStateEncoder(model, tok, engine, layer, "mean")
    x = encoder.encode(rs.source, 512, "zh")
    y = encoder.encode(rs.target, 512, "en")
    np.savez(out, x=x, y=y, layer=layer, model=os.path.basename(os.path.normpath(model_dir)))
    print(f"# embedded {len(x):,} + {len(y):,} sentences (layer {layer}) in {time.perf_counter() - t:.0f}s -> {out}",
          file=sys.stderr)


def _fitted(n: int, real_emb: str, bucc_dir: str, seed: int):
    """Gaussian sides with the real sides' mean and covariance; planted pairs offset as the real gold pairs."""
    import numpy as np

    from xtreme_harness import mining

    data = np.load(real_emb)
    rx, ry = mining.normalize(data["x"]), mining.normalize(data["y"])
    rs = read_real_bucc(bucc_dir)
    row_x = {s: i for i, s in enumerate(rs.source_ids)}
    row_y = {s: i for i, s in enumerate(rs.target_ids)}
    gx = np.array([row_x[a] for a, _ in rs.gold_pairs])
    gy = np.array([row_y[b] for _, b in rs.gold_pairs])
    mx, my = rx.mean(0), ry.mean(0)
    offsets = (rx[gx] - mx) - (ry[gy] - my)  # what a translation adds to its partner, language means aside
    rng = np.random.default_rng(seed)

    def sample(real, mean, m):
        w, v = np.linalg.eigh(np.cov(real, rowvar=False).astype(np.float64))
        root = (v * np.sqrt(np.clip(w, 0, None))).astype(np.float32)
        return mean + rng.standard_normal((m, real.shape[1]), dtype=np.float32) @ root.T

    x, y = sample(rx, mx, n), sample(ry, my, n)
    n_pairs = max(1, int(round(n * len(gx) / len(rx))))
    tgt_rows = rng.choice(n, n_pairs, replace=False)
    # offsets ~ N(0, their sample covariance): random combinations of the real ones
    draw = rng.standard_normal((n_pairs, len(offsets)), dtype=np.float32) @ (offsets / np.sqrt(len(offsets)))
    x[:n_pairs] = mx + (y[tgt_rows] - my) + draw
    return x, y, tgt_rows


def compare_vectors(kind: str, n: int, dim: int, pair_frac: float, seed: int, real_emb: str, bucc_dir: str):
    """(x, y, src_ids, tgt_ids, src_sents, tgt_sents, gold pairs) of one vector set."""
    import numpy as np

    if kind == "real":
        data = np.load(real_emb)
        rs = read_real_bucc(bucc_dir)
        return data["x"], data["y"], rs.source_ids, rs.target_ids, rs.source, rs.target, set(rs.gold_pairs)
    if kind == "fitted":
        x, y, tgt_rows = _fitted(n, real_emb, bucc_dir, seed)
    else:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, dim), dtype=np.float32)
        y = rng.standard_normal((n, dim), dtype=np.float32)
        tgt_rows = rng.choice(n, max(1, int(n * pair_frac)), replace=False)
        x[:len(tgt_rows)] = y[tgt_rows] + rng.standard_normal((len(tgt_rows), dim), dtype=np.float32)
    src_ids = [f"x{i}" for i in range(n)]
    tgt_ids = [f"e{i}" for i in range(n)]
    gold = {(src_ids[i], tgt_ids[j]) for i, j in enumerate(tgt_rows.tolist())}
    return x, y, src_ids, tgt_ids, src_ids, tgt_ids, gold


def _recall(found, truth) -> float:
    hits = (found[:, :, None] == truth[:, None, :]).any(1).sum()
    return float(hits / max(1, truth.size))


def _cos_error(sims, idx, ref_sims, ref_idx) -> float:
    """Largest |cosine - exact cosine| over the neighbours both searches returned."""
    import numpy as np

    same = idx[:, :, None] == ref_idx[:, None, :]
    if not same.any():
        return 0.0
    diff = np.abs(sims[:, :, None] - ref_sims[:, None, :])
    return float(diff[same].max())


def compare_job(search: str, args) -> dict:
    """One mining run of one vector set; approximate runs are scored against the cached exact run."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from benchcommon import loadavg

    from xtreme_harness import mining

    load0 = loadavg()
    x, y, sid, tid, ss, ts, gold = compare_vectors(args.vectors, args.job_n, args.dim, args.pairs, args.seed,
                                                   args.real_emb, args.bucc)
    params = approx_params(args)
    found: list = []
    knn_s = 0.0
    real = mining.search_knn

    def timed(*a, **kw):
        nonlocal knn_s
        t = time.perf_counter()
        out = real(*a, **kw)
        knn_s += time.perf_counter() - t
        found.append(out)
        return out

    mining.search_knn = timed
    t0 = time.perf_counter()
    cands = mining.mine_candidates(x, y, sid, tid, ss, ts, k=args.k, chunk_size=args.chunk_size, search=search,
                                   search_params=params)
    total_s = time.perf_counter() - t0
    mining.search_knn = real
    threshold, f1, _, _ = mining.best_threshold(cands, gold)
    pairs = sorted(mining.apply_threshold(cands, threshold))
    row = {"vectors": args.vectors, "n": len(x), "n_y": len(y), "dim": x.shape[1], "search": search,
           "knn_s": knn_s, "total_s": total_s, "gold_f1": f1, "threshold": threshold, "pairs": len(pairs),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "load": [load0, loadavg()], "date": time.strftime("%Y-%m-%d")}
    (fs, fi), (bs, bi) = found
    cache = exact_cache_file(args, len(x))
    if search == "exact":
        np.savez(cache, fwd_sims=fs, fwd_idx=fi, bwd_sims=bs, bwd_idx=bi,
                 pairs=np.array(["\t".join(p) for p in pairs]), row=json.dumps(row))
        return row
    ref = np.load(cache)
    ref_pairs = {tuple(p.split("\t")) for p in ref["pairs"].tolist()}
    common = len(ref_pairs.intersection(pairs))
    row.update(recall_fwd=_recall(fi, ref["fwd_idx"]), recall_bwd=_recall(bi, ref["bwd_idx"]),
               cos_err=max(_cos_error(fs, fi, ref["fwd_sims"], ref["fwd_idx"]),
                           _cos_error(bs, bi, ref["bwd_sims"], ref["bwd_idx"])),
               pairs_f1_vs_exact=200 * common / max(1, len(ref_pairs) + len(pairs)),
               params={k: v for k, v in vars(params).items()})
    return row


def approx_params(args):
    from xtreme_harness.mining import ApproxParams

    return ApproxParams(candidates=args.candidates, nlist=args.nlist, nprobe=args.nprobe,
                        train_points=args.train_points, niter=args.niter, pca_dim=args.pca_dim,
                        pca_sample=args.pca_sample, seed=args.seed)


def exact_cache_file(args, n: int) -> str:
    name = (f"{args.vectors}-n{n}-d{args.dim}-p{args.pairs}-s{args.seed}-k{args.k}"
            if args.vectors == "isotropic" else
            f"{args.vectors}-n{n}-s{args.seed}-k{args.k}-{os.path.splitext(os.path.basename(args.real_emb))[0]}")
    return os.path.join(args.exact_cache, name + ".npz")


def compare(args) -> int:
    import tempfile

    import numpy as np

    if args.vectors != "isotropic" and not (args.real_emb and os.path.isfile(args.real_emb)):
        sys.exit(f"--vectors {args.vectors} needs --real-emb FILE.npz (write it with --embed-bucc)")
    if not args.exact_cache:
        args.exact_cache = tempfile.mkdtemp(prefix="mining-exact-")
    os.makedirs(args.exact_cache, exist_ok=True)
    sizes = [0] if args.vectors == "real" else sorted(args.sizes)
    rows: list[dict] = []
    for n in sizes:
        base = [sys.executable, __file__, "--vectors", args.vectors, "--job-n", str(n)]
        for flag in ("dim", "pairs", "k", "chunk_size", "seed", "real_emb", "bucc", "exact_cache", *APPROX_FLAGS):
            value = getattr(args, flag)
            if value is not None:
                base += [f"--{flag.replace('_', '-')}", str(value)]
        size = len(np.load(args.real_emb)["x"]) if args.vectors == "real" else n
        cache = exact_cache_file(args, size)
        for search in ["exact", *args.compare]:
            if search == "exact" and os.path.isfile(cache) and not args.remeasure:
                row = json.loads(str(np.load(cache)["row"]))
                row["cached"] = True
            else:
                out = subprocess.run(base + ["--job", search], check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"# {args.vectors} {row['n']:,} {search}: kNN {row['knn_s']:.1f}s", file=sys.stderr, flush=True)
    print_compare(rows, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


def _load(row) -> str:
    a, b = row["load"]
    return f"{a:.1f}-{b:.1f}" if a is not None and b is not None else "n/a"


def print_compare(rows: list[dict], args) -> None:
    p = approx_params(args)
    print(f"BUCC mining, approximate vs exact: vectors {args.vectors}, k={args.k}; IVF nlist "
          f"{p.nlist or '4*sqrt(n)'}, nprobe {p.nprobe}, {p.train_points} training rows per list, {p.niter} "
          f"k-means iterations; PCA {p.pca_dim} directions from {p.pca_sample:,} rows a side; "
          f"{p.candidates}k candidates re-scored exactly; {time.strftime('%Y-%m-%d')}; {versions()}\n")
    print("| n per side | search | kNN s (both ways) | speed-up (kNN) | recall@k x→y | recall@k y→x "
          "| max cos error | pairs F1 vs exact | gold F1 | peak RSS MiB | load |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    exact = {}
    for r in rows:
        size = f"{r['n']:,}" + (f" × {r['n_y']:,}" if r["n_y"] != r["n"] else "")
        if r["search"] == "exact":
            exact[r["n"]] = r
            note = f" (cached run of {r['date']})" if r.get("cached") else ""
            print(f"| {size} | exact{note} | {r['knn_s']:,.1f} | 1 | 1 | 1 | 0 | 100 | {r['gold_f1']:.1f} | "
                  f"{r['peak_rss_mib']:,.0f} | {_load(r)} |")
            continue
        ref = exact[r["n"]]
        print(f"| {size} | {r['search']} | {r['knn_s']:,.1f} | {ref['knn_s'] / r['knn_s']:.1f}× | "
              f"{r['recall_fwd']:.4f} | {r['recall_bwd']:.4f} | {r['cos_err']:.1e} | {r['pairs_f1_vs_exact']:.2f} | "
              f"{r['gold_f1']:.1f} | {r['peak_rss_mib']:,.0f} | {_load(r)} |")


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


def _approx_defaults():
    from xtreme_harness.mining import ApproxParams

    return ApproxParams()


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
    cmp = ap.add_argument_group("approximate vs exact")
    cmp.add_argument("--compare", nargs="+", choices=("ivf", "pca"), help="approximate searches to compare")
    cmp.add_argument("--vectors", choices=VECTORS, default="isotropic")
    cmp.add_argument("--real-emb", help="real BUCC embeddings (.npz from --embed-bucc)")
    cmp.add_argument("--bucc", default=os.path.normpath(BUCC_DIR), help="folder of zh-en.dev.{zh,en,gold}")
    cmp.add_argument("--exact-cache", help="folder keeping exact runs for reuse (default: a fresh temp folder)")
    cmp.add_argument("--remeasure", action="store_true", help="run exact again even when cached")
    cmp.add_argument("--json", help="also write every row to this file")
    defaults = _approx_defaults()
    for name in APPROX_FLAGS:
        cmp.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    emb = ap.add_argument_group("real embeddings")
    emb.add_argument("--embed-bucc", metavar="OUT.npz", help="embed the real BUCC sample set and exit")
    emb.add_argument("--model", default=ME5, help="encoder folder for --embed-bucc")
    emb.add_argument("--threads", type=int, default=2, help="torch threads for --embed-bucc")
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--job-n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.embed_bucc:
        embed_bucc(args.embed_bucc, args.model, args.bucc, args.threads)
        return 0
    if args.job:
        print(json.dumps(compare_job(args.job, args)))
        return 0
    if args.compare:
        return compare(args)
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
