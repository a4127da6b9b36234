"""The demo: synthetic XTREME data, a tiny encoder built from scratch, a STILTs suite, xtreme-eval.

``python -m xtreme_harness.demo run --out demo`` (``make demo``) shows the whole
pipeline end to end in about two minutes on an idle 2-core CPU (its last line says how long it took), with
nothing downloaded:

1. demo data in XTREME's layout for the nine XTREME and three XTREME-R tasks (``demo_data``; en, de, es, zh);
2. a WordPiece tokenizer trained on that corpus and a tiny random XLM-R-shaped
   encoder (hidden 64, 2 layers), saved as a normal checkpoint;
3. a short MLM pre-training on the multilingual corpus, so that the languages
   share some representation (the model's "pretraining");
4. the STILTs recipe: a demo NLI intermediate task, then English fine-tuning on
   the seven trainable XTREME tasks and XCOPA (on demo COPA) into ``OUT/suite/``
   (+ ``OUT/suite/encoder/``);
5. ``xtreme_harness.evaluate`` on the suite into ``OUT/results/`` (XTREME) and
   ``OUT/results-xtreme-r/`` (XTREME-R), and a leaderboard of each
   (``OUT/leaderboard.md``, ``OUT/leaderboard-xtreme-r.md``).

Finished steps are reused on a rerun (``--rebuild`` starts over). The numbers
are those of a toy model on toy data: they show that the machinery works, not
how good any real model is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

from .io.errors import UserError

LANGUAGES = ("en", "de", "es", "zh")
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0-3, mask after


def _say(msg: str) -> None:
    print(f"demo: {msg}", file=sys.stderr, flush=True)


# --- builders (also used by the tests) ---------------------------------------------------

def build_tokenizer(texts: Iterable[str], out_dir: str | Path | None = None, vocab_size: int = 3000):
    """An XLM-R-style fast tokenizer (``<s> a </s></s> b </s>``) with a WordPiece vocabulary of ``texts``.

    The vocabulary is chosen here rather than by ``tokenizers``' WordPiece trainer, which breaks ties between
    equally frequent pieces in its hash map's order, different in every process: the same corpus then gave a
    different tokenizer, and a different demo model, on every build. Here: the special tokens, every
    character (alone and as a ``##`` continuation), then whole words by frequency and spelling.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from .producers.transformers_import import transformers_name

    PreTrainedTokenizerFast = transformers_name("PreTrainedTokenizerFast")

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                            lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for word in counts for c in word})
    pieces = list(dict.fromkeys([*SPECIAL_TOKENS, *chars, *("##" + c for c in chars)]))
    known = set(pieces)
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(pieces) >= vocab_size:
            break
        if word not in known:
            pieces.append(word)
            known.add(word)
    tok = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="<unk>",
                                     max_input_chars_per_word=64))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.add_special_tokens(SPECIAL_TOKENS)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                   sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                   model_input_names=["input_ids", "attention_mask"], model_max_length=512)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def build_encoder(out_dir: str | Path, tokenizer, hidden: int = 64, layers: int = 2, heads: int = 4,
                  seed: int = 0, max_positions: int = 514):
    """A random-init XLM-R masked-LM checkpoint (safetensors + the tokenizer) of the given shape."""
    import torch

    from .producers.transformers_import import transformers_module

    transformers = transformers_module()
    torch.manual_seed(seed)
    cfg = transformers.XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=hidden * 4, max_position_embeddings=max_positions, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    model = transformers.XLMRobertaForMaskedLM(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .train.heads import quiet

    with quiet():
        model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


def demo_corpus(data_dir: str | Path, languages: Sequence[str] = LANGUAGES) -> list[str]:
    """Every sentence of the nine XTREME tasks' demo data (all splits and languages), read through the readers.

    The XTREME-R tasks render the same world in the same words, so their text adds nothing the tokenizer
    and the MLM pretraining need.
    """
    from .formats.examples import PairExample, QAExample, RetrievalSet, TaggingExample
    from .spec import benchmark_tasks
    from .tasks.data import available, read_split
    from .tasks.registry import registry

    texts: list[str] = []
    seen_ctx: set[str] = set()
    xtreme = set(benchmark_tasks("xtreme"))
    for spec in (s for s in registry().values() if s.task in xtreme):
        for lang in languages:
            for split in spec.splits:
                if not available(spec, data_dir, lang, split):
                    continue
                exs = read_split(spec, data_dir, lang, split)
                if isinstance(exs, RetrievalSet):
                    texts.extend(exs.source)
                    texts.extend(exs.target)
                    continue
                for ex in exs:
                    if isinstance(ex, PairExample):
                        texts += [ex.text_a, ex.text_b]
                    elif isinstance(ex, TaggingExample):
                        texts.append(" ".join(ex.tokens))
                    elif isinstance(ex, QAExample):
                        texts.append(ex.question)
                        if ex.context not in seen_ctx:
                            seen_ctx.add(ex.context)
                            texts.append(ex.context)
    return [t for t in texts if t.strip()]


DEMO_NLI_SPEC = """# Demo intermediate task: English NLI from the demo data (written by xtreme_harness.demo).
task: demo_nli
name: Demo NLI
description: English premise/hypothesis pairs from the demo data, used as the STILTs intermediate task.
family: classification
labels: [contradiction, entailment, neutral]
features: {{max_length: 128}}
sources:
  - name: demo_nli
    local: {{train: "{train}", dev: "{dev}", format: tsv_pair}}
"""


# --- the demo ------------------------------------------------------------------------------

def run_demo(out: str | Path = "demo", languages: Sequence[str] = LANGUAGES, seed: int = 0, size: str = "small",
             rebuild: bool = False, evaluate: bool = True, progress: bool = True) -> dict | None:
    """Build (or reuse) everything under ``out`` and evaluate the suite; returns results.json or None."""
    from .demo_data import write_demo_data
    from .train.pipeline import RunOptions, run
    from .train.recipes import XTREME_TARGETS, Recipe

    out = Path(out)
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)  # hidden-64 models gain nothing from threads; busy machines lose a lot
    if rebuild and out.exists():
        for name in ("data", "base", "pretrained", "suite", "specs", "results", "results-xtreme-r", "corpus.txt",
                     "leaderboard.md", "leaderboard-xtreme-r.md"):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = out / "data"
    if not (data / ".complete").is_file():
        _say(f"writing demo data ({size}, {', '.join(languages)}) to {data}")
        write_demo_data(data, list(languages), seed=seed, size=size)
        (data / ".complete").write_text("ok\n")
    corpus_file = out / "corpus.txt"
    base = out / "base"
    if not (base / "model.safetensors").is_file():
        texts = demo_corpus(data, languages)
        corpus_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
        _say(f"training a WordPiece tokenizer on {len(texts)} demo sentences; building a tiny XLM-R encoder")
        tok = build_tokenizer(texts, None)
        build_encoder(base, tok, seed=seed)

    common = {"lr": 1e-3, "warmup_ratio": 0.06, "save_every": 10_000, "log_every": 20, "eval_batch_size": 128}
    pretrained = out / "pretrained"
    # Step 3: the tiny model's "pretraining": MLM only on the multilingual corpus.
    pre = Recipe(base_model=str(base), seed=seed, precision="no", data_dir=str(data), intermediate=[],
                 mlm_data=[str(corpus_file)], mlm_weight=1.0, mlm_max_length=64, targets=[],
                 intermediate_hyperparameters={**common, "epochs": 1, "batch_size": 32, "lr": 2e-3})
    run(pre, pretrained, RunOptions(device="cpu", progress=progress, command=["xtreme_harness.demo", "pretrain"]))

    specs = out / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "demo_nli.yaml").write_text(DEMO_NLI_SPEC.format(
        train=(data / "xnli" / "train-en.tsv").resolve().as_posix(),
        dev=(data / "xnli" / "dev-en.tsv").resolve().as_posix()), encoding="utf-8")
    suite = out / "suite"
    recipe = Recipe(base_model=str(pretrained / "encoder"), seed=seed, precision="no", data_dir=str(data),
                    intermediate=["demo_nli"], task_dirs=[str(specs)], targets=[*XTREME_TARGETS, "xcopa"],
                    intermediate_hyperparameters={**common, "epochs": 3, "batch_size": 32, "max_length": 128},
                    hyperparameters={**common, "epochs": 4, "max_length": 128},
                    target_hyperparameters={"pawsx": {"epochs": 8},
                                            "squad": {"max_length": 192, "batch_size": 16, "epochs": 6},
                                            "tydiqa": {"max_length": 192, "batch_size": 16, "epochs": 6},
                                            "xcopa": {"epochs": 8, "batch_size": 16}})
    run(recipe, suite, RunOptions(device="cpu", progress=progress, command=["xtreme_harness.demo", "run"]))
    _say(f"suite ready in {suite} ({time.perf_counter() - t0:.0f} s)")
    if not evaluate:
        return None
    from .leaderboard.boards import make_board
    from .run import evaluate as xtreme_evaluate
    from .tasks.report import format_scores

    results = None
    for version, folder in (("xtreme", "results"), ("xtreme-r", "results-xtreme-r")):
        scored = xtreme_evaluate(model=str(suite), tasks="all", data_dir=str(data), output=str(out / folder),
                                 device="cpu", progress=progress, version=version)
        board = out / ("leaderboard.md" if version == "xtreme" else f"leaderboard-{version}.md")
        make_board([str(out / folder)], out=str(board), reference="none", title=f"Demo {version.upper()} board",
                   say=lambda msg: None)
        print(f"\n# {version.upper()}\n{format_scores(scored)}")
        _say(f"{version}: results in {out / folder / 'results.json'}, board in {board}")
        results = results or scored
    _say(f"done in {time.perf_counter() - t0:.0f} s")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xtreme_harness.demo",
                                description="Build the demo data, a tiny encoder and a STILTs suite, then evaluate it.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="build (or reuse) everything and run xtreme-eval on the suite")
    r.add_argument("--out", default="demo")
    r.add_argument("--languages", default=",".join(LANGUAGES))
    r.add_argument("--size", default="small", choices=["tiny", "small"])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--rebuild", action="store_true", help="start over instead of reusing finished steps")
    r.add_argument("--no-eval", action="store_true", help="stop after building the suite")
    r.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        run_demo(args.out, [x.strip() for x in args.languages.split(",") if x.strip()], args.seed, args.size,
                 args.rebuild, not args.no_eval, not args.no_progress)
    except UserError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
