"""Byte-identity of ``xtreme-eval``'s outputs across two trees: record real-data runs with one tree, compare.

Speed work must not change a single output byte. ``record`` runs
``xtreme-eval`` of one tree (``PYTHONPATH=TREE``, one thread, CPU) over a fixed
list of real-data runs into ``OUT/<run>/``; ``compare`` walks two such folders
and reports every file that differs:

* ``predictions/``, ``labels/``, ``records/``: compared byte for byte;
* ``results.json``: byte for byte once ``created`` (a timestamp) and ``config.output`` (the output
  folder, another one on each side) are removed;
* ``state/<task>/<lang>.json``: once ``seconds`` (wall time) is removed;
* ``settings.json`` byte for byte; ``timings.json`` is not compared.

Suites (built once into ``bench/.cache``, as ``bench_pipeline.py`` builds its own):

* ``tiny``: the bench suite (random 1-layer, 32-wide XLM-R models with the real
  250k-piece XLM-R sentencepiece tokenizer of me5-small), plus an ``xcopa`` head;
* ``me5``: me5-small with a random head per task (real 12-layer compute);
* ``wordpiece``: the suite ``tests/tiny.py`` builds (a WordPiece tokenizer with
  token type ids, 2-layer models), ``xcopa`` included.

Every family is covered: xnli, pawsx (classification), xcopa (multiple choice),
udpos, panx (tagging), xquad, mlqa dev, tydiqa (QA), tatoeba, bucc2018 dev zh
(retrieval) and lareqa (ranking, XTREME-R).

    python bench/check_outputs.py record --tree /work/speed-before --out runs/outputs-before
    python bench/check_outputs.py record --tree . --out runs/outputs-after
    python bench/check_outputs.py compare runs/outputs-before runs/outputs-after
    python bench/check_outputs.py record --tree . --out runs/o --suites tiny --only xnli,panx   # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"

# (run name, task, split, languages or None for all, --limit, extra flags)
RUNS = {
    "tiny": [
        ("xnli", "xnli", "test", None, 300, []),
        ("pawsx", "pawsx", "dev", None, 300, []),
        ("xcopa", "xcopa", "test", None, None, ["--version", "xtreme-r"]),
        ("udpos", "udpos", "test", None, 300, []),
        ("panx", "panx", "dev", None, 300, []),
        ("xquad", "xquad", "test", None, 100, []),
        ("mlqa", "mlqa", "dev", None, 100, []),
        ("tydiqa", "tydiqa", "test", None, 100, []),
        ("tatoeba", "tatoeba", "test", "de,ja,zh,ar,kk", 200, []),
        ("bucc2018", "bucc2018", "dev", "zh", 2000, []),
        ("lareqa", "lareqa", "test", "de,en,zh", 50, ["--version", "xtreme-r"]),
        ("xquad-offsets", "xquad", "test", "de,zh", 60, ["--qa-nbest", "real-tokens", "--qa-answer-text", "offsets"]),
        ("panx-overlap", "panx", "dev", "de,zh", 300, ["--tagging-windows", "overlap", "--max-length", "32"]),
    ],
    "me5": [
        ("xnli", "xnli", "test", None, 40, []),
        ("pawsx", "pawsx", "dev", None, 40, []),
        ("xcopa", "xcopa", "test", None, 40, ["--version", "xtreme-r"]),
        ("udpos", "udpos", "test", None, 40, []),
        ("panx", "panx", "dev", None, 40, []),
        ("xquad", "xquad", "test", None, 15, []),
        ("mlqa", "mlqa", "dev", None, 15, []),
        ("tydiqa", "tydiqa", "test", None, 15, []),
        ("tatoeba", "tatoeba", "test", "de,zh", 100, []),
        ("bucc2018", "bucc2018", "dev", "zh", 200, []),
        ("lareqa", "lareqa", "test", "de,en", 20, ["--version", "xtreme-r"]),
    ],
    "wordpiece": [
        ("xnli", "xnli", "test", None, 200, []),
        ("pawsx", "pawsx", "dev", None, 200, []),
        ("xcopa", "xcopa", "test", None, 100, ["--version", "xtreme-r"]),
        ("udpos", "udpos", "test", None, 200, []),
        ("panx", "panx", "dev", None, 200, []),
        ("xquad", "xquad", "test", None, 60, []),
        ("mlqa", "mlqa", "dev", None, 60, []),
        ("tydiqa", "tydiqa", "test", None, 60, []),
        ("tatoeba", "tatoeba", "test", "de,zh", 200, []),
        ("bucc2018", "bucc2018", "dev", "zh", 1000, []),
        ("lareqa", "lareqa", "test", "de,en", 30, ["--version", "xtreme-r"]),
    ],
}


def _tiny_xcopa(root: Path, tokenizer_dir: Path) -> None:
    """A random 1-layer, 32-wide XLMRobertaForMultipleChoice with the XLM-R tokenizer (the bench suite has none)."""
    import torch
    import transformers

    from pipeline_models import _copy_tokenizer, _done, _finish

    folder = root / "xcopa"
    if _done(folder):
        return
    tok = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(100)
    cfg = transformers.XLMRobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=514, type_vocab_size=1, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    tmp = root / ".xcopa.tmp"
    transformers.XLMRobertaForMultipleChoice(cfg).save_pretrained(str(tmp))
    _copy_tokenizer(tokenizer_dir, tmp)
    _finish(folder, tmp)


def _me5_xcopa(root: Path, me5: Path) -> None:
    import torch
    import transformers

    from pipeline_models import _copy_tokenizer, _done, _finish

    folder = root / "xcopa"
    if _done(folder):
        return
    torch.manual_seed(100)
    transformers.logging.set_verbosity_error()
    model = transformers.AutoModelForMultipleChoice.from_pretrained(str(me5))
    tmp = root / ".xcopa.tmp"
    model.save_pretrained(str(tmp))
    _copy_tokenizer(me5, tmp)
    _finish(folder, tmp)


def ensure_suites(cache: Path, names) -> dict[str, Path]:
    sys.path.insert(0, str(HERE))
    from pipeline_models import ensure_me5, ensure_suite

    tasks = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
    out = {}
    if "tiny" in names:
        out["tiny"] = ensure_suite("tiny", cache, tasks)
        _tiny_xcopa(out["tiny"], ensure_me5(cache))
    if "me5" in names:
        out["me5"] = ensure_suite("me5", cache, tasks)
        _me5_xcopa(out["me5"], ensure_me5(cache))
    if "wordpiece" in names:
        folder = cache / "suite-wordpiece"
        if not (folder / ".complete").is_file():
            sys.path.insert(0, str(ROOT / "tests"))
            from tiny import build_suite

            build_suite(folder)
            (folder / ".complete").write_text("ok\n")
        out["wordpiece"] = folder
    return out


def env_for(tree: Path, threads: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS",
                "RAYON_RS_NUM_CPUS"):
        env[key] = str(threads)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONHASHSEED="0",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(tree))
    return env


def record(args) -> int:
    suites = ensure_suites(args.cache.resolve(), args.suites.split(","))
    only = set(args.only.split(",")) if args.only else None
    out_root = args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    times = {}
    failed = 0
    for suite_name in args.suites.split(","):
        for name, task, split, langs, limit, extra in RUNS[suite_name]:
            if only and name not in only and task not in only:
                continue
            out = out_root / f"{suite_name}-{name}"
            cmd = [sys.executable, "-c", "import sys, torch; torch.set_num_threads(1); from xtreme_harness import cli; "
                   "sys.exit(cli.eval_main(sys.argv[1:]))",
                   "--model", str(suites[suite_name]), "--tasks", task, "--split", split, "--data-dir",
                   str(args.data_dir), "--output", str(out), "--device", "cpu", "--no-progress", "--overwrite"]
            if langs:
                cmd += ["--languages", langs]
            if limit:
                cmd += ["--limit", str(limit)]
            cmd += extra + args.extra
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env_for(args.tree.resolve()), capture_output=True, text=True,
                                  cwd=str(out_root))
            secs = time.perf_counter() - t0
            times[out.name] = round(secs, 2)
            status = "ok" if proc.returncode == 0 else f"rc={proc.returncode}"
            print(f"{out.name:24s} {status} {secs:7.1f}s", flush=True)
            if proc.returncode != 0:
                failed += 1
                print(proc.stderr[-3000:], file=sys.stderr)
    (out_root / "times.json").write_text(json.dumps(times, indent=1))
    return 1 if failed else 0


def _normal(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name == "results.json" or path.parent.parent.name == "state":
        doc = json.loads(data)
        doc.pop("created", None)
        doc.pop("seconds", None)
        if isinstance(doc.get("config"), dict):  # where the run wrote to: another folder on each side
            doc["config"].pop("output", None)
        return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
    return data


def compare(args) -> int:
    a_root, b_root = args.a.resolve(), args.b.resolve()
    runs = sorted(p.name for p in a_root.iterdir() if p.is_dir())
    bad = 0
    for run in runs:
        a, b = a_root / run, b_root / run
        if not b.is_dir():
            print(f"{run}: missing on the right")
            bad += 1
            continue
        names = set()
        for side in (a, b):
            names |= {p.relative_to(side) for p in side.rglob("*")
                      if p.is_file() and p.name != "timings.json" and ".lock" not in p.name}
        diff = []
        for rel in sorted(names):
            pa, pb = a / rel, b / rel
            if not pa.is_file() or not pb.is_file():
                diff.append(f"{rel} (only {'left' if pa.is_file() else 'right'})")
            elif _normal(pa) != _normal(pb):
                diff.append(str(rel))
        files = len(names)
        if diff:
            bad += 1
            print(f"{run}: {len(diff)} of {files} files differ: {', '.join(diff[:8])}{' ...' if len(diff) > 8 else ''}")
        else:
            print(f"{run}: identical ({files} files)")
    print("ALL IDENTICAL" if not bad else f"{bad} run(s) differ")
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--tree", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--suites", default="tiny,wordpiece,me5")
    r.add_argument("--only", default=None, help="comma-separated run names or tasks")
    r.add_argument("--data-dir", type=Path, default=DATA)
    r.add_argument("--cache", type=Path, default=HERE / ".cache")
    r.add_argument("extra", nargs="*", help="extra xtreme-eval flags (after --)")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args(argv)
    return record(args) if args.cmd == "record" else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
