"""``xtreme-train``: argument parsing only; the work is in :mod:`xtreme_harness.train.pipeline`.

Subcommands (``run`` is the default)::

    xtreme-train [run] (--recipe FILE | --base MODEL) [--intermediate T1[,T2]] [--targets all|T1,T2|none]
                 --out DIR [options]
    xtreme-train sweep --intermediate A,B,C+D --targets xnli,panx --base MODEL --out DIR [--no-baseline]
                 [--dry-run] [run options]
    xtreme-train tasks                 list intermediate tasks and trainable targets
    xtreme-train check RECIPE          validate a recipe and print it as it would run
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Sequence

from ..errors import UserError

SUBCOMMANDS = ("run", "sweep", "tasks", "check")
_HYPER_FLAGS = {
    "lr": float, "epochs": float, "max_steps": int, "batch_size": int, "per_device_batch_size": int,
    "max_length": int, "warmup_ratio": float, "weight_decay": float, "max_grad_norm": float,
    "eval_every": int, "save_every": int, "patience": int, "limit_train": int, "limit_dev": int,
    "log_every": int, "eval_batch_size": int, "freeze_layers": int,
}


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        if "=" not in v:
            raise UserError(f"{flag} expects TASK=PATH, got '{v}'")
        k, path = v.split("=", 1)
        out[k.strip()] = path.strip()
    return out


def add_run_arguments(p) -> None:
    g = p.add_argument_group("what to train")
    g.add_argument("--recipe", help="recipe YAML (flags below override it)")
    g.add_argument("--base", help="pretrained encoder: local folder or hub id (recipe: base_model)")
    g.add_argument("--intermediate", help="intermediate task(s), comma-separated (one shared encoder, one head "
                                          "each); 'none' for the baseline")
    g.add_argument("--targets", help="all | none | comma-separated of xnli,pawsx,udpos,panx,xquad,mlqa,tydiqa")
    g.add_argument("--out", help="output folder: the suite OUT/<task>/ plus OUT/encoder/ (recipe: output)")
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", help="XTREME download layout with the English train/dev files (default: download)")
    d.add_argument("--intermediate-data-dir", help="folder the intermediate specs' local paths are relative to")
    d.add_argument("--intermediate-source", choices=["auto", "local", "hf"],
                   help="intermediate data from local files, the hub, or local when present (auto)")
    d.add_argument("--task-dir", action="append", default=[], help="extra folder of intermediate task YAMLs")
    d.add_argument("--train-file", action="append", metavar="TASK=PATH", help="English training file for a target")
    d.add_argument("--dev-file", action="append", metavar="TASK=PATH", help="English dev file for a target")
    d.add_argument("--mlm-data", nargs="+", metavar="FILE", help="text files (one sentence a line) whose MLM "
                                                                  "batches are mixed into intermediate training")
    d.add_argument("--mlm-weight", type=float, help="share of intermediate batches that are MLM (default 0.1)")
    d.add_argument("--sampling", choices=["proportional", "temperature", "uniform"],
                   help="how tasks are mixed in multi-task intermediate training")
    d.add_argument("--temperature", type=float, help="T for temperature sampling: p ~ n^(1/T)")
    h = p.add_argument_group("hyper-parameters (override the recipe for every phase)")
    for name, typ in _HYPER_FLAGS.items():
        h.add_argument("--" + name.replace("_", "-"), type=typ, dest=name)
    h.add_argument("--freeze-embeddings", action="store_true", default=None,
                   help="keep the word embeddings fixed (saves memory and time)")
    h.add_argument("--seed", type=int)
    r = p.add_argument_group("running")
    r.add_argument("--precision", choices=["auto", "bf16", "fp16", "no"], help="auto: bf16 on GPUs that have it")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda")
    r.add_argument("--overwrite", action="store_true", help="discard what a previous run wrote to --out")
    r.add_argument("--keep-last", action="store_true", help="keep checkpoint-last/ after a phase finishes")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--trust-remote-code", action="store_true", default=None)


def recipe_from_args(args):
    from .recipes import Recipe, load_recipe, parse_targets

    if args.recipe:
        recipe = load_recipe(args.recipe)
    elif args.base:
        recipe = Recipe(base_model=args.base)
    else:
        raise UserError("give --recipe FILE or --base MODEL")
    if args.base:
        recipe.base_model = args.base
    if args.intermediate is not None:
        names = [] if args.intermediate.strip() in ("", "none", "baseline") else \
            [n.strip() for n in args.intermediate.split(",") if n.strip()]
        recipe.intermediate = names
    if args.targets is not None:
        recipe.targets = parse_targets(args.targets)
    for attr, key in (("data_dir", "data_dir"), ("intermediate_data_dir", "intermediate_data_dir"),
                      ("intermediate_source", "intermediate_source"), ("sampling", "sampling"),
                      ("temperature", "temperature"), ("seed", "seed"), ("precision", "precision"),
                      ("trust_remote_code", "trust_remote_code")):
        v = getattr(args, attr)
        if v is not None:
            setattr(recipe, key, v)
    if args.task_dir:
        recipe.task_dirs = list(recipe.task_dirs) + list(args.task_dir)
    if args.mlm_data:
        recipe.mlm_data = list(args.mlm_data)
        if not recipe.mlm_weight:
            recipe.mlm_weight = 0.1
    if args.mlm_weight is not None:
        if not 0 < args.mlm_weight <= 1:
            raise UserError("--mlm-weight must be in (0, 1]")
        recipe.mlm_weight = args.mlm_weight
    if recipe.mlm_data and recipe.intermediate and recipe.mlm_weight >= 1:
        raise UserError("--mlm-weight 1 leaves no batches for the intermediate tasks")
    recipe.train_files.update(_pairs(args.train_file, "--train-file"))
    recipe.dev_files.update(_pairs(args.dev_file, "--dev-file"))
    from .recipes import TARGETS

    for k in list(recipe.train_files) + list(recipe.dev_files):
        if k not in TARGETS and k != "squad":
            raise UserError(f"--train-file/--dev-file: unknown target '{k}' (expected: {', '.join(TARGETS)}, squad)")
    from .intermediate import get_intermediate

    for name in recipe.intermediate:
        get_intermediate(name, recipe.task_dirs)
    if not recipe.targets and not recipe.intermediate and not recipe.mlm_data:
        raise UserError("nothing to train: no intermediate task and --targets none")
    return recipe


def cli_hyper(args) -> dict:
    out = {name: getattr(args, name) for name in _HYPER_FLAGS if getattr(args, name) is not None}
    if args.freeze_embeddings:
        out["freeze_embeddings"] = True
    if out:
        from .recipes import make_hyper

        make_hyper(out)  # validate once, with the flag names the user typed
    return out


def _run(argv: Sequence[str], Parser) -> int:
    from .pipeline import RunOptions, run

    p = Parser(prog="xtreme-train run", description="Train a STILTs suite: pretrained encoder -> English "
                                                    "intermediate task(s) -> English XTREME targets.",
               epilog="Other subcommands: xtreme-train sweep | tasks | check RECIPE. Rerunning the same command "
                      "resumes an interrupted run.")
    add_run_arguments(p)
    args = p.parse_args(list(argv))
    recipe = recipe_from_args(args)
    out = args.out or recipe.output
    if not out:
        raise UserError("--out is required (the suite folder), or 'output' in the recipe")
    opts = RunOptions(device=args.device, overwrite=args.overwrite, progress=not args.no_progress,
                      keep_last=args.keep_last, cli_hyper=cli_hyper(args), command=["xtreme-train", *argv])
    run(recipe, out, opts)
    print(out)
    return 0


def sweep_commands(intermediates: list[str], base: str | None, targets: str | None, out: str,
                   passthrough: list[str], baseline: bool = True) -> list[tuple[str, list[str]]]:
    """(run name, argv of ``xtreme-train run``) for each intermediate choice and the baseline."""
    runs = []
    names = list(intermediates) + (["baseline"] if baseline else [])
    for name in names:
        argv = ["run"]
        if base:
            argv += ["--base", base]
        argv += ["--intermediate", "none" if name == "baseline" else name.replace("+", ",")]
        if targets:
            argv += ["--targets", targets]
        argv += ["--out", str(Path(out) / name)] + list(passthrough)
        runs.append((name, argv))
    return runs


def _sweep(argv: Sequence[str], Parser) -> int:
    p = Parser(prog="xtreme-train sweep",
               description="Run each intermediate task (and the no-intermediate baseline) over the targets, each "
                           "into OUT/<intermediate>/; '+' joins tasks trained together (multi-task). Every other "
                           "flag is passed to each run.")
    p.add_argument("--intermediate", required=True, help="comma-separated runs; a+b is one multi-task run")
    p.add_argument("--base", help="pretrained encoder (or in --recipe)")
    p.add_argument("--targets", help="targets of every run (default: the recipe's, or all)")
    p.add_argument("--out", required=True, help="sweep folder: one suite per run in OUT/<run>/")
    p.add_argument("--no-baseline", action="store_true", help="skip the no-intermediate baseline")
    p.add_argument("--dry-run", action="store_true", help="print the per-run commands only")
    args, rest = p.parse_known_args(list(argv))
    names = [n.strip() for n in args.intermediate.split(",") if n.strip()]
    if not names and args.no_baseline:
        raise UserError("--intermediate is empty and --no-baseline leaves nothing to run")
    runs = sweep_commands(names, args.base, args.targets, args.out, rest, not args.no_baseline)
    # Validate every run before any starts: a typo should not surface after hours of training.
    run_parser = Parser(prog="xtreme-train run")
    add_run_arguments(run_parser)
    for _, argv_run in runs:
        recipe_from_args(run_parser.parse_args(argv_run[1:]))
    print(f"# sweep: {len(runs)} run(s), one suite each under {args.out}; every command below also runs on its own "
          "(e.g. as one cluster job, or under accelerate launch / torchrun)")
    for _, argv_run in runs:
        print(shlex.join(["xtreme-train", *argv_run]))
    sys.stdout.flush()
    if args.dry_run:
        return 0
    for name, argv_run in runs:
        print(f"# run {name}", file=sys.stderr, flush=True)
        _run(argv_run[1:], Parser)
    return 0


def _tasks(argv: Sequence[str], Parser) -> int:
    from .intermediate import registry
    from .recipes import TARGETS, UNIT_OF

    p = Parser(prog="xtreme-train tasks", description="List intermediate tasks and trainable targets.")
    p.add_argument("--task-dir", action="append", default=[])
    args = p.parse_args(list(argv))
    print("intermediate tasks:")
    for name, spec in sorted(registry(tuple(args.task_dir)).items()):
        sources = ", ".join(s.name for s in spec.sources)
        print(f"  {name:<14} {spec.format:<20} {spec.name} [{sources}]")
    print("targets (English training):")
    for t in TARGETS:
        unit = UNIT_OF[t]
        print(f"  {t:<14} trained on {'SQuAD v1.1 (shared by xquad and mlqa)' if unit == 'squad' else unit + ' en'}")
    return 0


def _check(argv: Sequence[str], Parser) -> int:
    from .recipes import load_recipe

    p = Parser(prog="xtreme-train check", description="Validate a recipe and print it as it would run.")
    p.add_argument("recipe")
    args = p.parse_args(list(argv))
    recipe = load_recipe(args.recipe)
    print(recipe.to_yaml(), end="")
    import dataclasses

    keys = ("lr", "epochs", "max_steps", "batch_size", "max_length", "warmup_ratio", "patience")
    print("# resolved per phase:")
    phases = ([("intermediate", recipe.intermediate_hyper())] if recipe.intermediate or recipe.mlm_data else []) + \
        [(unit, recipe.target_hyper(unit)) for unit, _ in recipe.units()]
    for name, h in phases:
        d = dataclasses.asdict(h)
        print(f"#   {name:<13} " + ", ".join(f"{k}={d[k]}" for k in keys if d[k] is not None))
    return 0


def main(argv: Sequence[str] | None, Parser) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        cmd, rest = argv[0], argv[1:]
    else:
        cmd, rest = "run", argv
    if not argv:
        print("usage:\n" + __doc__.split("::", 1)[1].strip("\n").rstrip() + "\n\n(xtreme-train run --help lists the options)",
              file=sys.stderr)
        return 2
    return {"run": _run, "sweep": _sweep, "tasks": _tasks, "check": _check}[cmd](rest, Parser)
