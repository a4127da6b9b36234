"""The console scripts: every option of every command is defined here, once; the work is in the Python API.

Exit codes: 0 success, 2 usage error or bad input (one line on stderr, no
traceback), 1 an unexpected internal error (with traceback, as a bug).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

from .io.errors import UserError


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already states it or there is none to state."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or "%(default)" in text or action.default in (None, False, True, [], "",
                                                                              argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit 2, and shows every default in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see {self.prog} --help)")


def _versions_asked(argv: Sequence[str] | None) -> bool:
    """A bare ``--version`` (no value after it: eval, score and export take ``--version xtreme|xtreme-r``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return any(a == "--version" and (i + 1 == len(args) or args[i + 1].startswith("-"))
               for i, a in enumerate(args))


def _run(prog: str, body: Callable[[], int | None], argv: Sequence[str] | None = None) -> int:
    """The one error boundary (:mod:`xtreme_harness.io.boundary`), shared with ``python -m xtreme_harness.lmeval``;
    a bare ``--version`` prints the harness's version and its libraries' on every command."""
    from .io.boundary import run_command

    if _versions_asked(argv):
        from .io.version import versions_line

        print(versions_line(prog))
        return 0
    saved = gc.get_threshold()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        return run_command(prog, body)
    finally:
        gc.set_threshold(*saved)


#: The cyclic garbage collector's thresholds while a command runs. With torch and transformers imported the
#: heap holds about a million objects, and at Python's default (700, 10, 10) reading a language's data and
#: decoding its predictions set off full collections that walk all of them: 0.8 s of a 3.6 s PAN-X run
#: (de+es, tiny model). Collecting every 50,000 net allocations instead costs 0.09 s there; the data the
#: harness keeps makes few reference cycles, so little waits longer to be freed.
COLLECTOR_THRESHOLDS = (50_000, 20, 20)


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


VERSIONS = ["xtreme", "xtreme-r"]


# --- xtreme-score --------------------------------------------------------------------

def score_main(argv: Sequence[str] | None = None) -> int:
    def body():
        p = _Parser(prog="xtreme-score", description="Score prediction folders exactly as XTREME's evaluate.py does.")
        p.add_argument("--predictions", required=True, help="folder with <task>/test-<lang>.<ext> predictions")
        p.add_argument("--labels", required=True, help="folder with <task>/test-<lang>.<ext> gold labels")
        p.add_argument("--tasks", help="comma-separated task ids (default: every task present on both sides)")
        p.add_argument("--version", default="xtreme", choices=VERSIONS, help="benchmark version: its tasks and "
                                                                          "languages, and its score")
        p.add_argument("--json", dest="json_out", help="write the scores as JSON to this file")
        p.add_argument("--task-dir", action="append", default=[], help="extra folder of task spec YAMLs")
        args = p.parse_args(argv)
        from .io.files import atomic_write_json, output_path
        from .tasks.report import format_scores
        from .tasks.scoring import score_folders

        if args.json_out:
            args.json_out = output_path(args.json_out, "--json")
        result = score_folders(args.predictions, args.labels, _csv(args.tasks), args.version, args.task_dir)
        if args.json_out:
            atomic_write_json(args.json_out, result)
        print(format_scores(result))
        return 0

    return _run("xtreme-score", body, argv)


# --- xtreme-data ---------------------------------------------------------------------

def data_main(argv: Sequence[str] | None = None) -> int:
    """``xtreme-data download|verify|list``: the command lives in :mod:`xtreme_harness.download`."""
    def body():
        from .download import build_parser, run_command

        return run_command(build_parser(_Parser).parse_args(argv))

    return _run("xtreme-data", body, argv)


# --- xtreme-eval ---------------------------------------------------------------------

def eval_parser(prog: str = "xtreme-eval") -> argparse.ArgumentParser:
    """Every option of ``xtreme-eval``, native and lm-eval backends alike, from their one declaration."""
    from .io.options import add_arguments, declared
    from .options import EvalOptions

    p = _Parser(prog=prog, description="Score a checkpoint, a suite of per-task checkpoints, a manifest, a "
                                       "sentence-transformers model or an lm-eval model on XTREME.")
    lmeval = set(EvalOptions.LMEVAL_ONLY) | {"backend"}
    add_arguments(p, EvalOptions, [n for n in declared(EvalOptions) if n not in lmeval])
    g = p.add_argument_group("lm-eval backend")
    add_arguments(p, EvalOptions, [n for n in declared(EvalOptions) if n in lmeval], group=g)
    g.add_argument("--lm-eval-tasks-path", action="store_true",
                   help="print the folder of the xtreme_* lm-eval task YAMLs (for lm_eval --include_path) and exit")
    return p


def eval_command(argv: Sequence[str] | None, prog: str = "xtreme-eval", backend: str | None = None) -> int:
    from .io.options import given_flags
    from .options import EvalOptions

    args = eval_parser(prog).parse_args(argv)
    if args.lm_eval_tasks_path:
        from .lmeval import tasks_path

        print(tasks_path())
        return 0
    values = given_flags(EvalOptions, args)
    if backend:
        values["backend"] = backend
    from .producers.distributed import is_main
    from .run import SWEEP_RESULTS, run
    from .tasks.report import format_scores, format_summary

    options = EvalOptions.build(values, "flag")
    results = run(options)
    if not is_main():
        return 0
    if results.get("schema") == SWEEP_RESULTS:  # a sweep: one ordinary results.json per suite
        for path, doc in results["suites"].items():
            print(f"## {path}\n{format_scores(doc)}\n")
        print(f"results: {len(results['suites'])} suite(s) under {results['output']} (xtreme-leaderboard "
              f"{results['output']} puts them on one board)")
        return 0
    from .io.jsonfile import read_json

    timings = Path(options.output) / "timings.json"
    print(format_summary(results, read_json(timings) if timings.is_file() else None))
    print(f"\nresults: {Path(options.output) / 'results.json'}")
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    return _run("xtreme-eval", lambda: eval_command(argv), argv)


# --- xtreme-train --------------------------------------------------------------------

TRAIN_SUBCOMMANDS = ("run", "sweep", "data", "tasks", "check")
TRAIN_USAGE = """\
    xtreme-train [run] (--recipe FILE | --base MODEL) [--intermediate T1[,T2]] [--targets all|T1,T2|none]
                 --out DIR [options]
    xtreme-train [run] ... --seeds 1,2,3 --out DIR   one suite per seed: DIR/seed-<n>/, listed in DIR/sweep.json
    xtreme-train sweep --intermediate A,B,C+D --targets xnli,panx --base MODEL --out DIR [--seeds 1,2,3]
                 [--no-baseline] [--dry-run] [run options]
    xtreme-train data --intermediate all|T1,T2 --out DIR [--hub-copies DIR]   stage intermediate data locally
    xtreme-train tasks                 list intermediate tasks and trainable targets
    xtreme-train check RECIPE          validate a recipe and print it as it would run"""


def _hyper_flags() -> dict:
    """The hyper-parameters that are command-line flags, as Hyper's fields declare them: name -> (field, Opt)."""
    from .io.options import declared
    from .train.loop import Hyper

    return {name: (f, opt) for name, (f, opt) in declared(Hyper).items() if opt.flag}


def _per_task_defaults() -> set[str]:
    """Hyper-parameters whose default depends on the task (the specs' ``train_source`` blocks)."""
    from .train.recipes import INTERMEDIATE_DEFAULTS, UNIT_OF, target_defaults

    return set(INTERMEDIATE_DEFAULTS).union(*(target_defaults(u) for u in set(UNIT_OF.values())))


def add_train_run_arguments(p) -> None:
    g = p.add_argument_group("what to train")
    g.add_argument("--recipe", help="recipe YAML (flags below override it)")
    g.add_argument("--base", help="pretrained encoder: local folder or hub id (recipe: base_model)")
    g.add_argument("--intermediate", help="intermediate task(s), comma-separated (one shared encoder, one head "
                                          "each); 'none' for the baseline")
    g.add_argument("--targets", help="all (XTREME's seven) | none | comma-separated of xnli,pawsx,udpos,panx,"
                                     "xquad,mlqa,tydiqa,xcopa")
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
    from .io.options import default_of

    per_task = _per_task_defaults()
    for name, (f, opt) in _hyper_flags().items():
        flag = "--" + name.replace("_", "-")
        if opt.kind is bool:
            h.add_argument(flag, action="store_true", default=None, dest=name, help=opt.help)
            continue
        default = default_of(f)
        shown = (None if "(default" in opt.help else "per task, as xtreme-train tasks lists" if name in per_task
                 else None if default is None else f"{default:g}" if isinstance(default, float) else str(default))
        h.add_argument(flag, type=opt.kind, dest=name, help=opt.help + (f" (default: {shown})" if shown else ""))
    h.add_argument("--seed", type=int, help="seed of data order, dropout and new heads (default: 42)")
    h.add_argument("--seeds", metavar="S1,S2,...", help="one suite per seed, each in OUT/seed-<n>/ (a sweep "
                                                       "run: OUT/<run>/seed-<n>/), listed in OUT/sweep.json")
    r = p.add_argument_group("running")
    r.add_argument("--precision", choices=["auto", "bf16", "fp16", "no"], help="auto: bf16 on GPUs that have it")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda")
    r.add_argument("--overwrite", action="store_true", help="discard what a previous run wrote to --out")
    r.add_argument("--restart-phase", action="store_true",
                   help="train an interrupted phase again from its first step instead of resuming it (needed when "
                        "its saved state is damaged or incomplete); finished phases are kept")
    r.add_argument("--keep-last", action="store_true", help="keep checkpoint-last/ after a phase finishes")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--trust-remote-code", action="store_true", default=None,
                   help="allow a base model that ships its own code (recipe: trust_remote_code)")


def _cli_hyper(args) -> dict:
    """The hyper-parameter flags given, each checked (finite, in range) and named as the user typed it."""
    from .train.recipes import hyper_problem

    out = {name: getattr(args, name) for name in _hyper_flags() if getattr(args, name) is not None}
    for name, value in out.items():
        problem = hyper_problem(name, value)
        if problem:
            raise UserError(f"--{name.replace('_', '-')} {problem}")
    return out


def _train_run(argv: Sequence[str]) -> int:
    from .train.pipeline import run
    from .train.recipes import recipe_from_options, recipe_output

    p = _Parser(prog="xtreme-train run", description="Train a STILTs suite: pretrained encoder -> English "
                                                     "intermediate task(s) -> English XTREME targets.",
                epilog="Other subcommands: xtreme-train sweep | tasks | check RECIPE. Rerunning the same command "
                       "resumes an interrupted run.")
    add_train_run_arguments(p)
    args = p.parse_args(list(argv))
    if args.out is not None:
        from .io.files import output_path

        output_path(args.out, "--out", folder=True)  # before the recipe, the model or any data is read
    cli_hyper = _cli_hyper(args)
    recipe = recipe_from_options(args)
    out = args.out or recipe_output(recipe)
    if not out:
        raise UserError("--out is required (the suite folder), or 'output' in the recipe")
    run(recipe, out, _run_options(args, cli_hyper, ["xtreme-train", *argv]))
    print(out)
    return 0


def _run_options(args, cli_hyper: dict, command: list[str]):
    from .train.pipeline import RunOptions

    return RunOptions(device=args.device, overwrite=args.overwrite, progress=not args.no_progress,
                      keep_last=args.keep_last, cli_hyper=cli_hyper, command=command,
                      restart_phase=args.restart_phase)


def sweep_commands(intermediates: list[str], base: str | None, targets: str | None, out: str,
                   passthrough: list[str], baseline: bool = True,
                   seeds: list[int] | None = None, mlm: bool = False) -> list[tuple[str, list[str]]]:
    """(suite folder relative to ``out``, argv of ``xtreme-train run``) for each intermediate choice and the
    baseline; with ``seeds``, one per run and seed (``<run>/seed-<n>``, ``--seed n``). Runs that also train MLM
    batches (``mlm``) go to ``<run>-mlm/`` (``mlm/`` without an intermediate task), so that a sweep with MLM
    and one without can share --out and every configuration keeps its folder."""
    runs = []
    names = list(intermediates) + (["baseline"] if baseline else [])
    for name in names:
        argv = ["run"]
        if base:
            argv += ["--base", base]
        argv += ["--intermediate", "none" if name == "baseline" else name.replace("+", ",")]
        if targets:
            argv += ["--targets", targets]
        folder = ("mlm" if name == "baseline" else f"{name}-mlm") if mlm else name
        for seed in seeds if seeds is not None else [None]:
            rel = folder if seed is None else f"{folder}/seed-{seed}"
            extra = [] if seed is None else ["--seed", str(seed)]
            runs.append((rel, argv + ["--out", str(Path(out) / rel)] + extra + list(passthrough)))
    return runs


def _train_sweep(argv: Sequence[str]) -> int:
    from .train.recipes import recipe_from_options

    p = _Parser(prog="xtreme-train sweep", allow_abbrev=False,  # --seed is passed on, not read as --seeds
                description="Run each intermediate task (and the no-intermediate baseline) over the targets, each "
                            "into OUT/<intermediate>/ (with --seeds, OUT/<intermediate>/seed-<n>/); '+' joins tasks "
                            "trained together (multi-task). Every other flag is passed to each run. OUT/sweep.json "
                            "lists the suites, for xtreme-eval --model OUT.")
    p.add_argument("--intermediate", required=True, help="comma-separated runs; a+b is one multi-task run")
    p.add_argument("--base", help="pretrained encoder (or in --recipe)")
    p.add_argument("--targets", help="targets of every run (default: the recipe's, or all)")
    p.add_argument("--out", required=True, help="sweep folder: one suite per run in OUT/<run>/")
    p.add_argument("--no-baseline", action="store_true", help="skip the no-intermediate baseline")
    p.add_argument("--seeds", metavar="S1,S2,...", help="train every run once per seed, into OUT/<run>/seed-<n>/ "
                                                       "(or the recipe's seeds)")
    p.add_argument("--dry-run", action="store_true", help="print the per-suite commands only (writes nothing)")
    args, rest = p.parse_known_args(list(argv))
    names = [n.strip() for n in args.intermediate.split(",") if n.strip()]
    if not names and args.no_baseline:
        raise UserError("--intermediate is empty and --no-baseline leaves nothing to run")
    from .io.files import output_path
    from .train.pipeline import PlannedSuite, run_suites
    from .train.recipes import parse_seeds

    output_path(args.out, "--out", folder=True)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    run_parser = _Parser(prog="xtreme-train run")
    add_train_run_arguments(run_parser)

    def planned(runs, with_seeds: bool):
        """Every suite's recipe, checked before any trains: a typo should not surface after hours of training."""
        out = []
        for rel, argv_run in runs:
            run_args = run_parser.parse_args(argv_run[1:])
            if with_seeds and seeds is not None and run_args.seed is not None:
                raise UserError("give --seed (one suite per run) or --seeds (one suite per run and seed), not both")
            recipe = recipe_from_options(run_args)
            if with_seeds and seeds is not None:
                recipe.seeds, recipe.flags["seeds"] = list(seeds), "--seeds"
            out.append((rel, argv_run, run_args, recipe))
        return out

    suites = planned(sweep_commands(names, args.base, args.targets, args.out, rest, not args.no_baseline), True)
    chosen = suites[0][3].seeds  # --seeds, else the recipe's seeds: every run shares them
    mlm = bool(suites[0][3].mlm_data)  # --mlm-data, else the recipe's: every run shares them too
    if chosen is not None:
        from .train.recipes import validate_recipe

        validate_recipe(suites[0][3])  # --seeds 1,1 is named as such before the commands are laid out
    if chosen is not None or mlm:
        suites = planned(sweep_commands(names, args.base, args.targets, args.out, rest, not args.no_baseline,
                                        seeds=chosen, mlm=mlm), chosen is None)  # each suite names its one seed
    if mlm and not args.no_baseline:
        print("xtreme-train: every run of this sweep trains MLM batches, the one without an intermediate task too "
              f"(into {Path(args.out) / 'mlm'}): the board's baseline (no intermediate task, no MLM) comes from a "
              "sweep without MLM data into the same --out", file=sys.stderr)
    print(f"# sweep: {len(suites)} suite(s) under {args.out}, listed in {Path(args.out) / 'sweep.json'}; every "
          "command below also runs on its own (e.g. as one cluster job, or under accelerate launch / torchrun); "
          "rerunning the sweep afterwards trains nothing and lists them")
    for _, argv_run, _, _ in suites:
        print(shlex.join(["xtreme-train", *argv_run]))
    sys.stdout.flush()
    if args.dry_run:
        return 0
    first = suites[0][2]
    plan = [PlannedSuite(rel, recipe, ["xtreme-train", *argv_run]) for rel, argv_run, _, recipe in suites]
    run_suites(plan, args.out, _run_options(first, _cli_hyper(first), ["xtreme-train", "sweep", *argv]))
    return 0


def _train_data(argv: Sequence[str]) -> int:
    from .train.staging import stage

    p = _Parser(prog="xtreme-train data",
                description="Stage the intermediate tasks' hub data as the local files their specs name, under "
                            "--out, with intermediate-manifest.json (repository, config, split, revision, sha256); "
                            "train with --intermediate-data-dir OUT --intermediate-source local to read them offline.")
    p.add_argument("--intermediate", required=True, help="'all' or comma-separated intermediate tasks")
    p.add_argument("--out", required=True, help="folder to stage into (what --intermediate-data-dir names later)")
    p.add_argument("--task-dir", action="append", default=[], help="extra folder of intermediate task YAMLs")
    p.add_argument("--hub-copies", metavar="DIR", help="read a hub repository owner/name from DIR/owner/name when "
                                                       "that local copy exists (offline)")
    p.add_argument("--overwrite", action="store_true", help="stage again what the manifest says is staged")
    args = p.parse_args(list(argv))
    stage(args.intermediate, args.out, args.task_dir, args.hub_copies, args.overwrite)
    print(args.out)
    return 0


def _train_tasks(argv: Sequence[str]) -> int:
    from .tasks.registry import intermediate_registry
    from .train.recipes import INTERMEDIATE_DEFAULTS, TARGETS, UNIT_OF, target_defaults

    def shown(values: dict) -> str:
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())

    p = _Parser(prog="xtreme-train tasks", description="List intermediate tasks and trainable targets, with "
                                                         "their default hyper-parameters.")
    p.add_argument("--task-dir", action="append", default=[], help="extra folder of intermediate task YAMLs")
    args = p.parse_args(list(argv))
    print(f"intermediate tasks ({shown(INTERMEDIATE_DEFAULTS)}):")
    for name, spec in sorted(intermediate_registry(tuple(args.task_dir)).items()):
        sources = ", ".join(s.name for s in spec.sources)
        print(f"  {name:<14} {spec.family:<20} {spec.name} [{sources}]")
    print("targets (English training):")
    for t in TARGETS:
        unit = UNIT_OF[t]
        what = {"squad": "SQuAD v1.1 (shared by xquad and mlqa)", "xcopa": "English COPA (--train-file xcopa=FILE)"}
        print(f"  {t:<14} trained on {what.get(unit, unit + ' en')}; {shown(target_defaults(unit))}")
    return 0


def _train_check(argv: Sequence[str]) -> int:
    from .train.recipes import load_recipe, recipe_output, validate_recipe

    p = _Parser(prog="xtreme-train check", description="Validate a recipe and print it as it would run.")
    p.add_argument("recipe", help="recipe YAML file")
    args = p.parse_args(list(argv))
    recipe = load_recipe(args.recipe)
    phases = validate_recipe(recipe)  # the very check `run` makes before it starts
    recipe_output(recipe)
    print(recipe.to_yaml(), end="")
    keys = ("lr", "epochs", "max_steps", "batch_size", "max_length", "warmup_ratio", "patience")
    print("# resolved per phase:")
    for plan in phases:
        name, d = plan.name, dataclasses.asdict(plan.hyper)
        print(f"#   {name:<13} " + ", ".join(f"{k}={d[k]}" for k in keys if d[k] is not None))
    return 0


def train_command(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(f"usage:\n{TRAIN_USAGE}\n\n(xtreme-train run --help lists the options)", file=sys.stderr)
        return 2
    cmd, rest = (argv[0], argv[1:]) if argv[0] in TRAIN_SUBCOMMANDS else ("run", argv)
    return {"run": _train_run, "sweep": _train_sweep, "data": _train_data, "tasks": _train_tasks,
            "check": _train_check}[cmd](rest)


def train_main(argv: Sequence[str] | None = None) -> int:
    return _run("xtreme-train", lambda: train_command(argv), argv)


# --- xtreme-leaderboard --------------------------------------------------------------

LEADERBOARD_USAGE = """xtreme-leaderboard RESULTS|EVAL_DIR... [--format md|csv|latex|html|json] [--out FILE]
         [--reference all|none|ID,MODEL,FILE] [--per-language] [--sort score|size] [--title TITLE]
         [--compare A B] [--bootstrap N] [--seed S] [--plots DIR] [--decimals N]
       xtreme-leaderboard export RESULTS_DIR --out SUBMISSION_DIR [--version xtreme|xtreme-r]
         [--allow-partial] [--force]
       xtreme-leaderboard divergence --model ENCODER --intermediate A,B --tasks T1,T2 [--results EVAL_DIR]
         [--samples N] [--format md|csv|latex|html|json] [--out FILE] (see divergence --help)"""


MAX_RESAMPLES = 1_000_000  # more moves no interval, and the differences alone would need gigabytes


def _board(argv: list[str]) -> int:
    from .leaderboard import compare as cmp
    from .leaderboard.boards import FORMAT_OF_SUFFIX, make_board
    from .leaderboard.tables import FORMATS

    p = _Parser(prog="xtreme-leaderboard", usage=LEADERBOARD_USAGE,
                description="Render XTREME results as a leaderboard (Markdown, CSV, LaTeX or HTML), with "
                            "published reference rows, paired-bootstrap comparisons and transfer matrices. "
                            "'xtreme-leaderboard export DIR --out SUB' writes an official submission folder.")
    p.add_argument("results", nargs="*", metavar="RESULTS",
                   help="results.json files (or xtreme-eval output folders, or xtreme-score --json files)")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from --out's extension, else md)")
    p.add_argument("--out", help="write here instead of standard output")
    p.add_argument("--reference", default="all",
                   help="reference rows: all (default: the zero-shot test rows), none, or a comma list of shipped "
                        "file ids, row ids, model names and/or files")
    p.add_argument("--per-language", action="store_true", help="add a per-language table for each task")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two runs (delta table and paired bootstrap of B − A over examples), or a run with a "
                        "reference row (id or model name; deltas only)")
    p.add_argument("--bootstrap", type=int, default=cmp.DEFAULT_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples (default {cmp.DEFAULT_RESAMPLES}; 0 = delta table only)")
    p.add_argument("--seed", type=int, default=cmp.DEFAULT_SEED, help=f"bootstrap seed (default {cmp.DEFAULT_SEED})")
    p.add_argument("--plots", metavar="DIR", help="also write the PNG plots to this folder")
    p.add_argument("--no-plots", action="store_true", help="leave the plots out of the HTML page")
    p.add_argument("--decimals", type=int, default=1, help="decimals shown (default 1; CSV values keep full precision)")
    p.add_argument("--title", default=None, help="page title (default: XTREME or XTREME-R leaderboard, by version)")
    p.add_argument("--sort", default="score", choices=("score", "size"), help="row order: score, or parameter count")
    a = p.parse_args(argv)
    fmt = a.format or (FORMAT_OF_SUFFIX.get(Path(a.out).suffix.lower(), "md") if a.out else "md")
    if a.decimals < 0 or a.decimals > 10:
        raise UserError("--decimals must be between 0 and 10")
    if not 0 <= a.bootstrap <= MAX_RESAMPLES:
        raise UserError(f"--bootstrap must be from 0 to {MAX_RESAMPLES:,} resamples, not {a.bootstrap}")
    if a.seed < 0:
        raise UserError(f"--seed must be 0 or more, not {a.seed}")
    text = make_board(a.results, fmt=fmt, out=a.out, reference=a.reference, per_language=a.per_language,
                      compare=tuple(a.compare) if a.compare else None, bootstrap=a.bootstrap, seed=a.seed,
                      plots=a.plots, no_plots=a.no_plots, decimals=a.decimals, title=a.title, sort=a.sort)
    if not a.out:
        sys.stdout.write(text)
    return 0


def _export(argv: list[str]) -> int:
    from .leaderboard.export import export_submission

    p = _Parser(prog="xtreme-leaderboard export",
                description="Write an official XTREME submission folder (<task>/test-<lang>.<ext>) from an "
                            "xtreme-eval output folder, checking every task and language is there.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="xtreme-eval --output folder (holds predictions/)")
    p.add_argument("--out", required=True, metavar="SUBMISSION_DIR", help="folder to write the submission into")
    p.add_argument("--version", default="xtreme", choices=VERSIONS, help="benchmark version: its tasks and languages")
    p.add_argument("--allow-partial", action="store_true", help="write what is there even if files are missing")
    p.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    a = p.parse_args(argv)
    report = export_submission(a.results_dir, a.out, a.version, a.allow_partial, a.force)
    tasks = sorted({rel.split("/")[0] for rel in report.written})
    print(f"xtreme-leaderboard: wrote {len(report.written)} files for {len(tasks)} tasks to {report.out}",
          file=sys.stderr)
    if report.ignored:
        print(f"xtreme-leaderboard: not part of {a.version}, left out: {', '.join(report.ignored[:10])}"
              + (f" and {len(report.ignored) - 10} more" if len(report.ignored) > 10 else ""), file=sys.stderr)
    if report.missing:
        print(f"xtreme-leaderboard: INCOMPLETE submission, {len(report.missing)} files missing: "
              + ", ".join(report.missing), file=sys.stderr)
    return 0


def _divergence(argv: list[str]) -> int:
    from .io.files import atomic_write_text, output_path
    from .io.options import add_arguments, given_flags
    from .leaderboard.boards import FORMAT_OF_SUFFIX
    from .leaderboard.divergence import EVAL_FLAGS, DivergenceOptions, render_divergence, run_divergence
    from .options import EvalOptions

    p = _Parser(prog="xtreme-leaderboard divergence",
                description="How far each English intermediate task's data lies from each target task's data per "
                            "language (cosine distance of mean embeddings; MMD² with an RBF kernel), beside the "
                            "transfer deltas of a seed study (--results) and their rank correlation.")
    add_arguments(p, DivergenceOptions)
    add_arguments(p, EvalOptions, EVAL_FLAGS, group=p.add_argument_group("encoder and target data (as xtreme-eval)"))
    args = p.parse_args(argv)
    d = DivergenceOptions(**given_flags(DivergenceOptions, args))
    e = EvalOptions.build(given_flags(EvalOptions, args), "flag")
    fmt = d.format or (FORMAT_OF_SUFFIX.get(Path(d.out).suffix.lower(), "md") if d.out else "md")
    out = output_path(d.out, "--out") if d.out else None
    doc = run_divergence(d, e, say=lambda msg: print(f"xtreme-leaderboard: {msg}", file=sys.stderr))
    text = render_divergence(doc, fmt, d.decimals)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        print(f"xtreme-leaderboard: wrote {out} ({fmt})", file=sys.stderr)
    return 0


def leaderboard_main(argv: Sequence[str] | None = None) -> int:
    def body():
        args = list(sys.argv[1:] if argv is None else argv)
        if args and args[0] == "divergence":
            return _divergence(args[1:])
        return _export(args[1:]) if args and args[0] == "export" else _board(args)

    return _run("xtreme-leaderboard", body, argv)
