"""The lm-eval side of ``xtreme-eval``: its extra flags, and the entry that runs a parsed command line.

``xtreme-eval`` adds these flags with :func:`add_arguments` and hands the
parsed namespace to :func:`dispatch`, which runs :func:`main_lm_eval` when
``--backend lm-eval`` is given.
``python -m xtreme_harness.lmeval.cli`` is the same entry on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from . import tasks_path

BACKENDS = ("native", "lm-eval")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags ``xtreme-eval`` gains for the lm-eval backend."""
    p.add_argument("--backend", default="native", choices=BACKENDS,
                   help="native: our engine on fine-tuned checkpoints; lm-eval: --model is an lm-eval model type "
                        "(hf, vllm, xtreme-encoder, ...) run zero-shot on the xtreme_* lm-eval tasks")
    p.add_argument("--model-args", default="",
                   help="lm-eval model arguments, key=value,... (e.g. pretrained=PATH); --backend lm-eval only")
    p.add_argument("--gen-kwargs", default=None,
                   help="lm-eval generation overrides for the QA tasks, key=value,... (e.g. max_gen_toks=32)")
    p.add_argument("--apply-chat-template", action="store_true",
                   help="wrap prompts in the model's chat template (--backend lm-eval)")
    p.add_argument("--lm-eval-tasks-path", action="store_true",
                   help="print the folder of the xtreme_* lm-eval task YAMLs (for lm_eval --include_path) and exit")


def print_tasks_path() -> int:
    print(tasks_path())
    return 0


def _batch_size(value) -> str | int:
    text = str(value).strip()
    if text.lower().startswith("auto"):
        return text.lower()
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise UserError(f"--batch-size must be 'auto' or a positive integer, not '{value}'")
    return size


def config_from_args(args: argparse.Namespace):
    from .runner import LMEvalConfig

    if not getattr(args, "model", None):
        raise UserError("--model is required: an lm-eval model type such as hf, vllm or xtreme-encoder "
                        "(with --model-args pretrained=PATH)")
    model_args = getattr(args, "model_args", "") or ""
    if getattr(args, "allow_pickle", False) and args.model == "xtreme-encoder" and "allow_pickle" not in model_args:
        model_args = ",".join(a for a in (model_args, "allow_pickle=True") if a)
    return LMEvalConfig(
        model=args.model, model_args=model_args, tasks=args.tasks, languages=args.languages,
        data_dir=args.data_dir, split=args.split, output=args.output, batch_size=_batch_size(args.batch_size),
        device=args.device, dtype=args.dtype, limit=args.limit, version=args.version,
        task_dirs=list(getattr(args, "task_dir", None) or []), gen_kwargs=getattr(args, "gen_kwargs", None),
        apply_chat_template=bool(getattr(args, "apply_chat_template", False)),
        trust_remote_code=bool(getattr(args, "trust_remote_code", False)))


def main_lm_eval(args: argparse.Namespace) -> int:
    """Run a parsed ``xtreme-eval --backend lm-eval`` command line; print the scores."""
    from ..reporting import format_scores
    from .runner import run

    cfg = config_from_args(args)
    results = run(cfg, verbose=bool(getattr(args, "verbose", False)))
    print(format_scores(results))
    print(f"\nresults: {Path(cfg.output) / 'results.json'}")
    return 0


def dispatch(args: argparse.Namespace) -> int | None:
    """What ``xtreme-eval`` does with the lm-eval flags: an exit code when they handled the call, else None.

    ``--lm-eval-tasks-path`` prints and ends; ``--backend lm-eval`` runs here;
    the native backend goes on, refusing flags that only lm-eval understands.
    """
    if getattr(args, "lm_eval_tasks_path", False):
        return print_tasks_path()
    if getattr(args, "backend", "native") == "lm-eval":
        return main_lm_eval(args)
    for flag, value in (("--model-args", getattr(args, "model_args", "")),
                        ("--gen-kwargs", getattr(args, "gen_kwargs", None)),
                        ("--apply-chat-template", getattr(args, "apply_chat_template", False))):
        if value:
            raise UserError(f"{flag} applies to --backend lm-eval only")
    return None


def build_parser(parser_cls=argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = parser_cls(prog="python -m xtreme_harness.lmeval.cli",
                   description="Score an lm-eval model on the XTREME tasks it can answer (as xtreme-eval --backend "
                               "lm-eval).")
    p.add_argument("--model", help="lm-eval model type: hf, vllm, xtreme-encoder, dummy, ...")
    p.add_argument("--tasks", default="all")
    p.add_argument("--languages", default="all")
    p.add_argument("--data-dir", default=os.environ.get("XTREME_DATA_DIR", "download"))
    p.add_argument("--split", default="test", choices=["test", "dev"])
    p.add_argument("--output", default="xtreme-results")
    p.add_argument("--batch-size", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--version", default="xtreme", choices=["xtreme", "xtreme-r"])
    p.add_argument("--task-dir", action="append", default=[])
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--allow-pickle", action="store_true")
    p.add_argument("--verbose", action="store_true", help="show lm-eval's own log")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None, parser_cls=argparse.ArgumentParser) -> int:
    args = build_parser(parser_cls).parse_args(argv)
    args.backend = "lm-eval"  # this entry has no other backend
    code = dispatch(args)
    return 0 if code is None else code


if __name__ == "__main__":
    from ..cli import _Parser, _run

    sys.exit(_run("xtreme-eval", lambda: main(sys.argv[1:], _Parser)))
