"""Sentence-embedding throughput for retrieval (BUCC, Tatoeba): engine vs. naive loop, side by side.

naive  = float32, every sentence padded to a fixed length (128, and XTREME's
         retrieval maximum 512), batches of 32 in arrival order, mean pooling
         over non-pad tokens of one hidden layer
engine = the project's own path: ``HiddenStateEncoder.encode`` (the function
         ``xtreme-eval`` calls for retrieval) on an ``InferenceEngine`` with
         ``batch_size="auto"``: length-sorted dynamic batching, padding only to
         each batch's longest sentence, SDPA, auto dtype (float32 on CPU)

Both sides run the same model on the same token ids and pool the same layer
(XTREME's choice by default: 8 of 12, 14 of 24, two thirds otherwise), and the
embeddings must agree: cosine >= 0.9999 for every sentence when the engine runs
in float32 (in half precision the agreement is reported, not required).

Inputs are real sentences when the data is here: an equal share of every
Tatoeba ``<xx>-en.*`` file and the second column of the BUCC 2018
``zh-en.dev.<lang>`` files, tokenised with an XLM-R sentencepiece tokenizer
(``--tokenizer DIR``; by default the one in ``~/.cache/xtreme-shared/me5-small``
when present) with ``truncation=True, max_length=512`` as ``xtreme-eval`` does.
Without data or tokenizer the token ids are synthetic with similar lengths.
Tokenisation happens before timing, for both sides.

The model is a random-weight XLM-R-shaped encoder (speed does not depend on the
weights) or, with ``--model DIR``, a real encoder loaded with ``AutoModel``.
The 512-padded naive loop costs about 5x the 128 one, so on CPU it runs on an
evenly spread subset (``--subset-512``); its per-sentence cost does not depend
on which sentences, since every one is padded to 512.

    python bench/bench_embed.py --threads 1 --repeats 3                # CPU, small shape, 2000 sentences
    python bench/bench_embed.py --device cuda --shape large --json embed-gpu.json
    python bench/bench_embed.py --model ~/.cache/xtreme-shared/me5-small --sentences 320 --subset-512 64
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import glob
import json
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchcommon import encoder_flops, loadavg, machine, peak_tflops  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from xtreme_harness.producers.engine import InferenceEngine, load_kwargs, resolve_device  # noqa: E402
from xtreme_harness.producers.embedding import HiddenStateEncoder, default_layer  # noqa: E402

SHAPES = {  # xlm-roberta-shaped encoders
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
VOCAB = 250002
BOS, PAD, EOS = 0, 1, 2
MAX_LEN = 512  # what xtreme-eval truncates retrieval inputs to
NAIVE_BATCH = 32
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
_ME5 = os.path.expanduser(os.path.join("~", ".cache", "xtreme-shared", "me5-small"))


# --- inputs --------------------------------------------------------------------------

def _spread(items: list, k: int) -> list:
    """k items taken evenly over the whole list (not just its head)."""
    if k >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def read_sentences(n: int, tatoeba_dir: str, bucc_dir: str) -> tuple[list[str], str]:
    """Up to n real sentences: half Tatoeba (every <xx>-en.* file alike), half BUCC zh-en dev (both sides)."""
    tat_files = sorted(p for p in glob.glob(os.path.join(tatoeba_dir, "*-en.*")) if os.path.isfile(p))
    bucc_files = [p for p in (os.path.join(bucc_dir, "zh-en.dev.zh"), os.path.join(bucc_dir, "zh-en.dev.en"))
                  if os.path.isfile(p)]
    groups = []
    if tat_files:
        groups.append(("Tatoeba", tat_files, False))
    if bucc_files:
        groups.append(("BUCC zh-en dev", bucc_files, True))
    sentences, parts = [], []
    for g, (name, files, tabbed) in enumerate(groups):
        share = n // len(groups) + (1 if g < n % len(groups) else 0)
        got = []
        for f, path in enumerate(files):
            per_file = share // len(files) + (1 if f < share % len(files) else 0)
            with open(path, encoding="utf-8") as fh:
                lines = [ln.rstrip("\n") for ln in fh]
            if tabbed:
                lines = [ln.split("\t", 1)[1] for ln in lines if "\t" in ln]
            lines = [ln.strip() for ln in lines if ln.strip()]
            got += _spread(lines, per_file)
        sentences += got
        parts.append(f"{len(got)} {name} ({len(files)} files)")
    return sentences, " + ".join(parts)


def synthetic_ids(n: int, seed: int = 0) -> list[list[int]]:
    """<s> ... </s> with lengths like the real mix: half Tatoeba-like (median 10), half BUCC-like (median 26)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    lengths = np.concatenate([np.exp(rng.normal(np.log(10), 0.4, size=n - half)),
                              np.exp(rng.normal(np.log(26), 0.3, size=half))])
    lengths = np.clip(np.round(lengths), 4, MAX_LEN).astype(int)
    return [[BOS] + rng.integers(5, VOCAB, size=int(k) - 2).tolist() + [EOS] for k in lengths]


class Pretokenized:
    """Stands in for the tokenizer ``embed`` calls: 'sentence' i maps to token ids prepared before timing."""

    def __init__(self, ids: list[list[int]]):
        self.ids = ids

    def __call__(self, sentences, truncation=True, max_length=MAX_LEN):
        rows = [self.ids[int(s)] for s in sentences]
        if truncation:
            rows = [r if len(r) <= max_length else r[:max_length - 1] + r[-1:] for r in rows]
        return {"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows]}


def pretokenized_rows(ids: list[list[int]], sentences, max_length: int = MAX_LEN):
    """The engine's token rows for 'sentence' i = ids[i], cut as ``Pretokenized`` cuts them."""
    from xtreme_harness.families.tokens import Rows, flat

    out = Pretokenized(ids)(sentences, truncation=True, max_length=max_length)["input_ids"]
    values, starts = flat(out)
    return Rows(values, starts)


# --- the two sides -------------------------------------------------------------------

def build_model(shape: str):
    import transformers

    torch.manual_seed(0)
    config = transformers.XLMRobertaConfig(
        vocab_size=VOCAB, max_position_embeddings=MAX_LEN + 2, type_vocab_size=1, pad_token_id=PAD,
        bos_token_id=BOS, eos_token_id=EOS, **SHAPES[shape])
    return transformers.XLMRobertaModel(config).eval()


def load_real_model(path: str):
    import transformers

    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(path, **load_kwargs("cpu", "float32"))
    except ValueError:  # no SDPA for this architecture
        model = transformers.AutoModel.from_pretrained(path, **{k: v for k, v in load_kwargs("cpu", "float32").items()
                                                                if k != "attn_implementation"})
    return model.eval()


def naive_run(model, ids: list[list[int]], layer: int, device, pad_len: int, pad_id: int,
              batch: int = NAIVE_BATCH) -> tuple[np.ndarray, float, float]:
    """The loop most retrieval scripts use: pad everything to pad_len, fixed batch, arrival order, fp32."""
    model.to(device=device, dtype=torch.float32)
    out = []
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            chunk = ids[s:s + batch]
            x = torch.full((len(chunk), pad_len), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), pad_len), dtype=torch.long)
            for r, row in enumerate(chunk):
                row = row if len(row) <= pad_len else row[:pad_len - 1] + row[-1:]  # truncate, keep </s>
                x[r, :len(row)] = torch.tensor(row)
                mask[r, :len(row)] = 1
            x, mask = x.to(device), mask.to(device)
            hidden = model(input_ids=x, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
            m = mask.unsqueeze(-1).float()
            out.append(((hidden.float() * m).sum(1) / m.sum(1)).cpu().numpy())
    return np.concatenate(out), time.perf_counter() - t0, time.process_time() - c0


def engine_run(model, ids: list[list[int]], layer: int, args) -> tuple[np.ndarray, InferenceEngine, float, float]:
    """The project's retrieval path, unchanged: ``embedding.embed`` on a fresh auto-sized engine."""
    engine = InferenceEngine(device=args.device, dtype=args.dtype, batch_size="auto",
                             max_tokens_per_batch=args.max_tokens, progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    encoder = HiddenStateEncoder(model, None, engine, layer, "mean")
    encoder.features = lambda texts, max_length: pretokenized_rows(ids, texts, max_length)  # ids made beforehand
    emb = encoder.encode([str(i) for i in range(len(ids))], MAX_LEN, "bench")
    return emb, engine, time.perf_counter() - t0, time.process_time() - c0


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a - b|, smallest per-sentence cosine)."""
    if len(a) == 0:
        return 0.0, 1.0
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(np.abs(a - b).max()), float(cos.min())


# --- main ----------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", help="engine dtype (the naive loop is always float32)")
    p.add_argument("--shape", choices=sorted(SHAPES), default=None, help="random encoder; default small on CPU, "
                   "large on GPU")
    p.add_argument("--model", default=None, help="a real encoder folder (AutoModel) instead of random weights")
    p.add_argument("--layer", type=int, default=None, help="hidden layer to pool (default: XTREME's choice)")
    p.add_argument("--sentences", type=int, default=None, help="default: 2000 on CPU, 20000 on GPU")
    p.add_argument("--subset-512", type=int, default=None, help="sentences for the 512-padded naive loop "
                   "(default: 320 on CPU, all on GPU; 0 skips it)")
    p.add_argument("--max-tokens", type=int, default=None, help="engine token budget (batch x max length)")
    p.add_argument("--tokenizer", default=None, help="XLM-R tokenizer folder (default: --model, else "
                   f"{_ME5} when present)")
    p.add_argument("--synthetic", action="store_true", help="synthetic token ids even when data and tokenizer exist")
    p.add_argument("--tatoeba", default=os.path.join(_DATA, "tatoeba"), help="folder with <xx>-en.<xx|en>")
    p.add_argument("--bucc", default=os.path.join(_DATA, "bucc2018"), help="folder with zh-en.dev.<zh|en>")
    p.add_argument("--repeats", type=int, default=1, help="runs per side; the best time is kept")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--min-cosine", type=float, default=0.9999)
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's peak for MFU (default: known GPUs' dense bf16 peak; none on CPU)")
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    gpu = device.type != "cpu"
    n = args.sentences or (20000 if gpu else 2000)
    if args.threads:
        torch.set_num_threads(args.threads)

    # Inputs: real sentences through the tokenizer when both exist, synthetic ids otherwise.
    tok_dir = args.tokenizer or args.model or (_ME5 if os.path.isdir(_ME5) else None)
    sentences, source = ([], "")
    if tok_dir and not args.synthetic:
        sentences, source = read_sentences(n, args.tatoeba, args.bucc)
    tok = None
    if sentences:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tok_dir)
        ids = tok(sentences, truncation=True, max_length=MAX_LEN)["input_ids"]
        source = f"real sentences: {source}; tokenizer {os.path.basename(os.path.normpath(tok_dir))}"
    else:
        why = ("--synthetic" if args.synthetic else "no tokenizer" if not tok_dir
               else f"no Tatoeba/BUCC files under {args.tatoeba} / {args.bucc}")
        ids = synthetic_ids(n)
        source = f"synthetic ids, Tatoeba/BUCC-like lengths ({why})"
    lengths = np.array([len(r) for r in ids])
    tokens = int(lengths.sum())

    if args.model:
        model = load_real_model(args.model)
        model_name = f"{os.path.basename(os.path.normpath(args.model))} ({model.config.model_type}, hidden " \
                     f"{model.config.hidden_size}, {model.config.num_hidden_layers} layers)"
    else:
        shape = args.shape or ("large" if gpu else "small")
        model = build_model(shape)
        model_name = f"random-weight xlm-roberta-{shape} shape (hidden {SHAPES[shape]['hidden_size']}, " \
                     f"{SHAPES[shape]['num_hidden_layers']} layers)"
        if max(max(r) for r in ids) >= VOCAB:
            p.error("the tokenizer's ids exceed the XLM-R vocabulary of the random model")
    n_layers = model.config.num_hidden_layers
    layer = args.layer if args.layer is not None else default_layer(n_layers)
    if not 0 <= layer <= n_layers:
        p.error(f"--layer {layer} is outside 0..{n_layers}")
    pad_id = tok.pad_token_id if tok is not None and tok.pad_token_id is not None else \
        (model.config.pad_token_id if model.config.pad_token_id is not None else PAD)
    engine_model = copy.deepcopy(model)  # the engine casts in place; the naive side stays exact float32

    sub_n = len(ids) if args.subset_512 is None and gpu else (320 if args.subset_512 is None else args.subset_512)
    sub_n = min(sub_n, len(ids))
    sub_idx = (np.linspace(0, len(ids) - 1, sub_n).round().astype(int) if sub_n else np.zeros(0, int))
    sub_ids = [ids[i] for i in sub_idx]

    # Warm up every path on a slice (allocator, kernels, first-call overheads).
    naive_run(model, ids[:64], layer, device, 128, pad_id)
    if sub_n:
        naive_run(model, ids[:NAIVE_BATCH], layer, device, 512, pad_id)
    engine_run(engine_model, ids[:64], layer, args)

    sides = ["naive128", "engine"] + (["naive512"] if sub_n else [])
    best: dict[str, tuple] = {s: (float("inf"),) for s in sides}
    load_before = loadavg()
    for rep in range(max(1, args.repeats)):
        k = rep % len(sides)
        for side in sides[k:] + sides[:k]:  # rotate who goes first: same background load on every side
            if side == "engine":
                emb, engine, wall, cpu = engine_run(engine_model, ids, layer, args)
                stats = (engine.stats.padded_tokens, engine.stats.batches, str(engine.dtype).replace("torch.", ""))
            elif side == "naive128":
                emb, wall, cpu = naive_run(model, ids, layer, device, 128, pad_id)
                stats = (len(ids) * 128, -(-len(ids) // NAIVE_BATCH), "float32")
            else:
                emb, wall, cpu = naive_run(model, sub_ids, layer, device, 512, pad_id)
                stats = (sub_n * 512, -(-sub_n // NAIVE_BATCH), "float32")
            if wall < best[side][0]:
                best[side] = (wall, cpu, emb, *stats)
    load_after = loadavg()

    eng = best["engine"]
    fits = lengths <= 128
    diff128, cos128 = agreement(best["naive128"][2][fits], eng[2][fits])
    rows = [dict(method=f"naive (fp32, pad 128, batch {NAIVE_BATCH}, arrival order)", key="naive128",
                 sentences=len(ids), tokens=tokens, max_abs_diff=diff128, min_cosine=cos128,
                 compared=int(fits.sum()))]
    if sub_n:
        diff512, cos512 = agreement(best["naive512"][2], eng[2][sub_idx])
        rows.append(dict(method=f"naive (fp32, pad 512, batch {NAIVE_BATCH}, arrival order)", key="naive512",
                         sentences=sub_n, tokens=int(lengths[sub_idx].sum()), max_abs_diff=diff512,
                         min_cosine=cos512, compared=sub_n))
    rows.append(dict(method=f"engine ({eng[5]}, sorted, dynamic, batch auto)", key="engine",
                     sentences=len(ids), tokens=tokens))
    cfg = model.config
    peak = peak_tflops(device, args.peak_tflops)
    for r in rows:
        key = r.pop("key")
        wall, cpu, _, padded, batches, _ = best[key]
        flops = encoder_flops(cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size,
                              lengths[sub_idx] if key == "naive512" else lengths)
        r.update(seconds=wall, cpu_seconds=cpu, padded_tokens=int(padded), batches=int(batches),
                 sentences_per_s=r["sentences"] / wall, tokens_per_s=r["tokens"] / wall,
                 model_tflops=flops / wall / 1e12, mfu=(flops / wall / (peak * 1e12)) if peak else None)
    eng_row = rows[-1]
    for r in rows[:-1]:
        r["engine_speedup"] = eng_row["sentences_per_s"] / r["sentences_per_s"]

    info = dict(
        date=_dt.date.today().isoformat(), machine=machine(device), device=str(device),
        threads=torch.get_num_threads(), torch=torch.__version__,
        transformers=__import__("transformers").__version__, model=model_name, layer=layer, layers=n_layers,
        pooling="mean over non-pad tokens", sentences=len(ids), inputs=source, real_tokens=tokens,
        median_len=float(np.median(lengths)), p95_len=float(np.percentile(lengths, 95)), max_len=int(lengths.max()),
        longer_than_128=int((~fits).sum()), subset_512=sub_n, repeats=int(args.repeats),
        loadavg_before=load_before, loadavg_after=load_after, rows=rows)

    print(f"{info['date']} | {info['machine']}, {info['threads']} torch thread(s) | torch {info['torch']} | "
          f"transformers {info['transformers']}")
    print(f"{model_name} | layer {layer} of {n_layers}, mean pooling | {len(ids)} sentences, {source} | "
          f"{tokens} real tokens, length median {info['median_len']:.0f}, p95 {info['p95_len']:.0f}, "
          f"max {info['max_len']} ({info['longer_than_128']} over 128) | best of {args.repeats} | "
          f"load average {load_before} -> {load_after}\n")
    print("| method | sentences | batches | padded positions | seconds | CPU seconds | sentences/s | "
          "real tokens/s | model TFLOP/s | MFU | engine / this |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['engine_speedup']:.2f}x" if "engine_speedup" in r else ""
        mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        print(f"| {r['method']} | {r['sentences']} | {r['batches']} | {r['padded_tokens']} | {r['seconds']:.2f} | "
              f"{r['cpu_seconds']:.2f} | {r['sentences_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
              f"{r['model_tflops']:.3f} | {mfu} | {ratio} |")
    print()
    failed = False
    for r in rows[:-1]:
        print(f"engine vs {r['method'].split(',')[1].strip()}: max |embedding diff| {r['max_abs_diff']:.2e}, "
              f"min cosine {r['min_cosine']:.7f} over {r['compared']} sentences")
        failed |= r["min_cosine"] < args.min_cosine
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
    if failed and eng[5] == "float32":
        print(f"error: float32 engine and naive loop embeddings disagree (cosine < {args.min_cosine})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
