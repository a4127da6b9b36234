"""``xtreme-eval --backend lm-eval``: run the xtreme_* tasks through ``lm_eval.simple_evaluate``, write our results.

lm-eval drives the model (any of its backends: ``hf``, ``vllm``, API models,
or our ``xtreme-encoder``); the data, the gold labels and the figures stay
ours. The logged samples are turned back into the official submission files
and scored with the very functions ``xtreme-score`` uses, so the figures in
``results.json`` are official ones whatever produced the predictions (the
task YAMLs make lm-eval report the same numbers; ``stats`` keeps lm-eval's own
for comparison). There is no resume here: lm-eval runs all requests at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.io import atomic_write_text
from ..data.readers import read_split
from ..errors import UserError
from ..evaluation import EvalConfig
from ..families import Predictions, family_of
from ..outputs import OutputFolder
from ..results import Results, plan_languages, score_and_write
from ..spec import TaskSpec, builtin_task_dir, resolve_tasks
from . import LMEVAL_TASKS, flag, task_name, tasks_path
from .forms import FORMS, form_of

ENCODER = "xtreme-encoder"
# The options an lm-eval run records in results.json's config (the engine's own ones do not apply).
RECORDED = ("model", "model_args", "tasks", "languages", "data_dir", "split", "output", "batch_size", "device",
            "dtype", "limit", "version", "task_dirs", "gen_kwargs", "apply_chat_template", "trust_remote_code", "seed",
            "qa_nbest", "tagging_windows", "qa_answer_text")


@dataclass
class LMEvalConfig(EvalConfig):
    """``xtreme-eval --backend lm-eval``: ``model`` is an lm-eval model type (hf, vllm, xtreme-encoder, dummy)."""

    model_args: str = ""
    gen_kwargs: str | None = None
    apply_chat_template: bool = False
    seed: int = 0

    def validate(self) -> "LMEvalConfig":
        batch = str(self.batch_size).strip().lower()
        if batch.startswith("auto"):  # lm-eval's own 'auto:N' is passed through
            self.batch_size = "auto"
            super().validate()
            self.batch_size = batch
            return self
        return super().validate()


def _log(msg: str) -> None:
    print(f"xtreme-eval: {msg}", file=sys.stderr, flush=True)


def parse_model_args(text: str | None) -> dict[str, str]:
    """``key=value,key=value`` as lm-eval splits it (values stay strings here)."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise UserError(f"--model-args: expected key=value pairs separated by commas, got '{part}'")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def model_args_for(cfg: LMEvalConfig) -> str:
    """The user's model arguments plus what our own flags imply (never overriding what they set)."""
    args = parse_model_args(cfg.model_args)
    extra = []
    if cfg.allow_pickle and cfg.model == ENCODER and "allow_pickle" not in args:
        extra.append("allow_pickle=True")
    if cfg.dtype != "auto" and "dtype" not in args:
        extra.append(f"dtype={cfg.dtype}")
    if cfg.trust_remote_code and "trust_remote_code" not in args:
        extra.append("trust_remote_code=True")
    if cfg.model == ENCODER:  # the heads follow the same protocol options as native xtreme-eval
        extra += [f"{key}={getattr(cfg, key)}" for key in ("qa_nbest", "tagging_windows", "qa_answer_text")
                  if key not in args and getattr(cfg, key) != EvalConfig.__dataclass_fields__[key].default]
    return ",".join([a for a in [cfg.model_args.strip().strip(",")] if a] + extra)


def _custom_specs(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Specs not served by the packaged YAMLs: user tasks, or built-in ones a --task-dir overrides."""
    builtin = builtin_task_dir().resolve()
    return [s for s in specs if s.task not in LMEVAL_TASKS or Path(s.source_file).resolve().parent != builtin]


def _plan(cfg: LMEvalConfig, specs: list[TaskSpec], served=None):
    """(spec, languages) to run, and why tasks and languages are not run; ``served``: the encoder's checkpoints."""
    skipped_tasks: dict[str, str] = {}
    skipped_langs: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    plan = []
    for spec in specs:
        form = form_of(spec)
        if form is None:
            skipped_tasks[spec.task] = (f"the lm-eval backend has no form for {spec.family} tasks such as "
                                        f"{spec.task} (it runs: {', '.join(FORMS)})")
            continue
        if served is not None and spec.task in served.skipped:
            skipped_tasks[spec.task] = f"{ENCODER}: {served.skipped[spec.task]}"
            continue
        langs = plan_languages(spec, cfg.languages, cfg.split, cfg.data_dir, cfg.version, skipped_langs, missing)
        plan.append((spec, langs))
    return plan, skipped_tasks, skipped_langs, missing


@contextlib.contextmanager
def _quiet_lm_eval(verbose: bool):
    """lm-eval warns once per task about custom datasets and metric defaults; keep the terminal for results."""
    logger = logging.getLogger("lm_eval")
    old = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _make_model(cfg: LMEvalConfig):
    """The model as lm-eval's registry names it; ours is registered before the lookup."""
    from lm_eval.api.registry import get_model

    from . import encoder  # noqa: F401  (registers xtreme-encoder)

    try:
        cls = get_model(cfg.model)
    except ValueError:
        from lm_eval.api.registry import model_registry

        raise UserError(f"unknown lm-eval model '{cfg.model}' (known: {', '.join(sorted(model_registry.keys()))})") \
            from None
    from ..engine import resolve_device

    # lm-eval's hf model takes a missing device to mean cuda; 'auto' is resolved here, as the native engine does.
    device = str(resolve_device(cfg.device)) if cfg.device == "auto" else cfg.device
    extra = {"batch_size": cfg.batch_size, "device": device}
    model_args = model_args_for(cfg)
    given = parse_model_args(model_args)
    # lm-eval passes both to the constructor; what --model-args says wins over our flags.
    extra = {k: v for k, v in extra.items() if k not in given}
    lm = cls.create_from_arg_string(model_args, extra)
    if cfg.model == "dummy":
        # lm-eval's dummy logs the special tokens of a 32B model's tokenizer, fetched from the hub; it has none.
        lm.__dict__["tokenizer"] = None
    return lm


def _model_info(cfg: LMEvalConfig, lm_config: dict[str, Any], lm: Any, served=None) -> dict[str, Any]:
    import lm_eval

    args = parse_model_args(cfg.model_args)
    path = args.get("pretrained") or args.get("model") or args.get("path") or (
        cfg.model if lm is None else type(lm).__name__)
    revision = args.get("revision") or lm_config.get("model_sha") or None
    info = {"name": Path(str(path).rstrip("/")).name or str(path), "path": str(path), "revision": revision,
            "kind": "lm-eval", "backend": "lm-eval", "lm_eval_model": cfg.model if lm is None else type(lm).__name__,
            "model_args": cfg.model_args, "lm_eval_version": getattr(lm_eval, "__version__", None),
            # An encoder answering through its fine-tuned head is still fine-tuned transfer.
            "protocol": "fine-tuned transfer" if cfg.model == ENCODER else "zero-shot prompted",
            "intermediate": None, "base_model": None}
    if served is not None:  # what native xtreme-eval records of a suite
        info.update(name=served.name or info["name"], kind=f"lm-eval ({served.kind})",
                    tasks={t: ck.identity() for t, ck in served.checkpoints.items()})
    return info


def _served(cfg: LMEvalConfig, specs: list[TaskSpec]):
    """The checkpoint that serves each task, when xtreme-encoder answers (as xtreme-eval resolves --model)."""
    if cfg.model != ENCODER:
        return None
    from ..models import resolve

    args = parse_model_args(cfg.model_args)
    return resolve(args["pretrained"], specs, cfg.trust_remote_code or flag(args.get("trust_remote_code")),
                   cfg.allow_pickle or flag(args.get("allow_pickle")))


@contextlib.contextmanager
def _quiet_git():
    """lm-eval records ``git describe`` of the working folder and lets git's 'fatal: not a git repository' through."""
    import subprocess

    import lm_eval.evaluator as evaluator

    def git_hash():
        try:
            out = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, check=True)
            return out.stdout.strip() or None
        except (OSError, subprocess.CalledProcessError):
            return None

    old = getattr(evaluator, "get_git_commit_hash", None)
    evaluator.get_git_commit_hash = git_hash
    try:
        yield
    finally:
        if old is not None:
            evaluator.get_git_commit_hash = old


def predictions_of(spec: TaskSpec, lang: str, examples: list, samples: list[dict], stats: dict) -> Predictions:
    """lm-eval's logged samples of one (task, language) as the family's predictions."""
    samples = sorted(samples, key=lambda s: s["doc_id"])
    if len(samples) != len(examples) or any(s["doc"]["id"] != ex.id for s, ex in zip(samples, examples)):
        raise RuntimeError(f"{spec.task}/{lang}: lm-eval logged {len(samples)} samples for {len(examples)} examples")
    return form_of(spec).predictions(spec, lang, examples, samples, stats)


def run(cfg: LMEvalConfig, lm: Any = None, verbose: bool = False) -> dict[str, Any]:
    """Evaluate ``cfg.model`` (or an lm-eval ``LM`` object ``lm``) and write results.json; return it."""
    cfg.validate()
    if lm is None and cfg.model == ENCODER and "pretrained" not in parse_model_args(cfg.model_args):
        raise UserError(f"--model {ENCODER} needs --model-args pretrained=CHECKPOINT")
    specs = resolve_tasks(cfg.tasks, cfg.version, cfg.task_dirs)
    served = _served(cfg, [s for s in specs if form_of(s) is not None]) if lm is None else None
    plan, skipped, skipped_langs, missing = _plan(cfg, specs, served)
    settings = {**cfg.settings(), "backend": "lm-eval", "model_args": cfg.model_args, "gen_kwargs": cfg.gen_kwargs,
                "apply_chat_template": cfg.apply_chat_template, "seed": cfg.seed}
    with OutputFolder(cfg.output, settings, cfg.overwrite) as out:
        return _run_in(out, cfg, lm, verbose, specs, served, plan, skipped, skipped_langs, missing)


def _run_in(out: Path, cfg: LMEvalConfig, lm, verbose: bool, specs, served, plan, skipped, skipped_langs,
            missing) -> dict[str, Any]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from . import generate

    include = [str(tasks_path())]
    for spec in _custom_specs([s for s, _ in plan]):  # user specs get YAMLs of their own, beside the results
        folder = out / "lmeval" / "tasks"
        generate.write(folder, [spec], task_dir=str(Path(spec.source_file).resolve().parent), prune=False)
        if str(folder) not in include:
            include.append(str(folder))

    examples: dict[tuple[str, str], list] = {}
    no_gold: dict[str, list[str]] = {}
    names: list[str] = []
    for spec, langs in plan:
        for lang in langs:
            exs = read_split(spec, cfg.data_dir, lang, cfg.split, cfg.limit)
            if family_of(spec).gold(spec, exs) is None:
                no_gold.setdefault(spec.task, []).append(lang)
                _log(f"{spec.task}/{lang}: no gold labels; the lm-eval backend scores labelled data only, skipped")
                continue
            examples[(spec.task, lang)] = exs
            names.append(task_name(spec.task, lang))
    for task, reason in skipped.items():
        _log(f"skipping {task}: {reason}")

    t0 = time.perf_counter()
    lm_results: dict[str, Any] = {"results": {}, "samples": {}, "config": {}}
    if names:
        data_dir = cfg.data_dir if str(cfg.data_dir).startswith("hf") else str(Path(cfg.data_dir).resolve())
        metadata = {"xtreme_data_dir": data_dir, "xtreme_split": cfg.split, "xtreme_limit": cfg.limit}
        with _quiet_lm_eval(verbose):
            tm = TaskManager(include_path=include, include_defaults=False, metadata=metadata)
            model = lm if lm is not None else _make_model(cfg)
            lm_results = simple_evaluate(
                model=model, tasks=names, task_manager=tm, log_samples=True, bootstrap_iters=0,
                gen_kwargs=cfg.gen_kwargs or None, apply_chat_template=cfg.apply_chat_template,
                random_seed=cfg.seed, numpy_random_seed=cfg.seed, torch_random_seed=cfg.seed,
                fewshot_random_seed=cfg.seed) or lm_results
    seconds = time.perf_counter() - t0

    config = {k: getattr(cfg, k) for k in RECORDED}
    results = Results(_model_info(cfg, lm_results.get("config") or {}, lm, served),
                      {**config, "backend": "lm-eval", "lm_eval_tasks": names}, cfg.version, skipped)
    for spec, langs in plan:
        states = {}
        for lang in langs:
            if (spec.task, lang) not in examples:
                continue
            name = task_name(spec.task, lang)
            figures = lm_results["results"].get(name, {})
            key = f",{form_of(spec).filter_name}"
            meta = (lm_results.get("configs", {}).get(name) or {}).get("metadata") or {}
            stats = {"lm_eval_task": name, "lm_eval_fingerprint": meta.get("xtreme_data_fingerprint"),
                     "lm_eval": {k[:-len(key)]: v for k, v in figures.items()
                                 if k.endswith(key) and "_stderr" not in k}}
            predictions = predictions_of(spec, lang, examples[(spec.task, lang)], lm_results["samples"][name], stats)
            states[lang] = score_and_write(out, spec, predictions)
            shown = ", ".join(f"{k}={v:.2f}" for k, v in states[lang]["metrics"].items())
            _log(f"{spec.task}/{lang}: {shown} ({states[lang]['n']} examples)")
        results.add_task(spec, cfg.split, states, langs, no_gold=no_gold.get(spec.task, []),
                         skipped=skipped_langs.get(spec.task, {}), missing_data=missing.get(spec.task, []))
    doc = results.write(out, {"lm_eval": seconds})
    raw = {k: v for k, v in lm_results.items() if k != "samples"}
    from lm_eval.utils import handle_non_serializable

    atomic_write_text(out / "lmeval" / "results.json",
                      json.dumps(raw, indent=2, ensure_ascii=False, default=handle_non_serializable) + "\n")
    return doc
