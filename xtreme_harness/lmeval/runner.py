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
import datetime as _dt
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .. import __version__
from ..data.io import atomic_write_json, atomic_write_text, safe_join
from ..data.readers import read_split
from ..data.submission import write_submission
from ..errors import UserError
from ..scoring import aggregate_task, overall_scores, score_language
from ..spec import TaskSpec, builtin_task_dir, resolve_tasks
from . import LMEVAL_TASKS, task_name, tasks_path
from .utils import answer_text, predicted_index

SCHEMA = "xtreme-harness/results/v1"
ENCODER = "xtreme-encoder"


@dataclass
class LMEvalConfig:
    model: str  # an lm-eval model type: hf, vllm, xtreme-encoder, dummy, ...
    model_args: str = ""
    tasks: str = "all"
    languages: str = "all"
    data_dir: str = "download"
    split: str = "test"
    output: str = "xtreme-results"
    batch_size: str | int = "auto"
    device: str = "auto"
    dtype: str = "auto"
    limit: int | None = None
    version: str = "xtreme"
    task_dirs: list[str] = field(default_factory=list)
    gen_kwargs: str | None = None
    apply_chat_template: bool = False
    trust_remote_code: bool = False
    seed: int = 0


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
    if cfg.dtype != "auto" and "dtype" not in args:
        extra.append(f"dtype={cfg.dtype}")
    if cfg.trust_remote_code and "trust_remote_code" not in args:
        extra.append("trust_remote_code=True")
    return ",".join([a for a in [cfg.model_args.strip().strip(",")] if a] + extra)


def _custom_specs(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Specs not served by the packaged YAMLs: user tasks, or built-in ones a --task-dir overrides."""
    builtin = builtin_task_dir().resolve()
    return [s for s in specs if s.task not in LMEVAL_TASKS or Path(s.source_file).resolve().parent != builtin]


def _plan(cfg: LMEvalConfig, specs: list[TaskSpec]):
    from ..evaluation import _languages_for

    skipped_tasks: dict[str, str] = {}
    skipped_langs: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    plan = []
    for spec in specs:
        if spec.family not in ("classification", "qa"):
            skipped_tasks[spec.task] = (f"the lm-eval backend runs classification and QA tasks only; "
                                        f"{spec.task} is a {spec.family} task")
            continue
        if cfg.model == ENCODER and spec.family == "qa":
            skipped_tasks[spec.task] = f"{ENCODER} has no generation; QA needs a generative model (e.g. --model hf)"
            continue
        langs = _languages_for(spec, SimpleNamespace(**asdict(cfg)), skipped_langs, missing)
        plan.append((spec, langs))
    return plan, skipped_tasks, skipped_langs, missing


def _has_gold(spec: TaskSpec, examples: list) -> bool:
    if not examples:
        return False
    if spec.family == "qa":
        return all(ex.answers for ex in examples)
    return all(ex.label is not None for ex in examples)


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


def _model_info(cfg: LMEvalConfig, lm_config: dict[str, Any], lm: Any) -> dict[str, Any]:
    import lm_eval

    args = parse_model_args(cfg.model_args)
    path = args.get("pretrained") or args.get("model") or args.get("path") or (
        cfg.model if lm is None else type(lm).__name__)
    revision = args.get("revision") or lm_config.get("model_sha") or None
    return {"name": Path(str(path).rstrip("/")).name or str(path), "path": str(path), "revision": revision,
            "kind": "lm-eval", "backend": "lm-eval", "lm_eval_model": cfg.model if lm is None else type(lm).__name__,
            "model_args": cfg.model_args, "lm_eval_version": getattr(lm_eval, "__version__", None),
            # An encoder answering through its fine-tuned head is still fine-tuned transfer.
            "protocol": "fine-tuned transfer" if cfg.model == ENCODER else "zero-shot prompted",
            "intermediate": None, "base_model": None}


def _convert(spec: TaskSpec, lang: str, examples: list, samples: list[dict]) -> tuple[Any, Any, list, list]:
    """Logged samples → (predictions in submission form, gold in scorer form, scorer-order predictions, records)."""
    samples = sorted(samples, key=lambda s: s["doc_id"])
    if len(samples) != len(examples) or any(s["doc"]["id"] != ex.id for s, ex in zip(samples, examples)):
        raise RuntimeError(f"{spec.task}/{lang}: lm-eval logged {len(samples)} samples for {len(examples)} examples")
    records = []
    if spec.family == "classification":
        preds, gold = [], []
        for s, ex in zip(samples, examples):
            lls = [float(r[0]) for r in s["filtered_resps"]]
            pred = s["doc"]["labels"][predicted_index(s["filtered_resps"])]
            preds.append(pred)
            gold.append(ex.label)
            records.append({"id": ex.id, "pred": pred, "gold": ex.label, "correct": int(pred == ex.label),
                            "loglikelihoods": lls})
        return preds, gold, preds, records
    from ..metrics.qa import mlqa_example, squad_example

    answers: dict[str, str] = {}
    for s, ex in zip(samples, examples):
        raw = s["filtered_resps"][0]
        pred = answer_text(raw)
        answers[ex.id] = pred
        golds = [a.text for a in ex.answers]
        em, f1 = mlqa_example(pred, golds, lang) if spec.metrics.official == "mlqa" else squad_example(pred, golds)
        records.append({"id": ex.id, "pred": pred, "gold": golds, "em": int(em), "f1": float(f1),
                        "generation": raw if isinstance(raw, str) else str(raw)})
    gold = [[a.text for a in ex.answers] for ex in examples]
    return answers, gold, [answers[ex.id] for ex in examples], records


def run(cfg: LMEvalConfig, lm: Any = None, verbose: bool = False) -> dict[str, Any]:
    """Evaluate ``cfg.model`` (or an lm-eval ``LM`` object ``lm``) and write results.json; return it."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from ..evaluation import write_gold
    from . import generate

    if cfg.split not in ("test", "dev"):
        raise UserError(f"--split must be test or dev, not '{cfg.split}'")
    if cfg.limit is not None and cfg.limit <= 0:
        raise UserError("--limit must be a positive number of examples")
    if not str(cfg.data_dir).startswith("hf") and not Path(cfg.data_dir).is_dir():
        raise UserError("data folder not found (expected XTREME's download layout, or 'hf')", cfg.data_dir)
    if lm is None and cfg.model == ENCODER and "pretrained" not in parse_model_args(cfg.model_args):
        raise UserError(f"--model {ENCODER} needs --model-args pretrained=CHECKPOINT")
    specs = resolve_tasks(cfg.tasks, cfg.version, cfg.task_dirs)
    plan, skipped, skipped_langs, missing = _plan(cfg, specs)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)

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
            if not _has_gold(spec, exs):
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

    task_results: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    complete: set[str] = set()
    for spec, langs in plan:
        per_lang, secondary, counts, stats = {}, {}, {}, {}
        for lang in langs:
            if (spec.task, lang) not in examples:
                continue
            name = task_name(spec.task, lang)
            exs = examples[(spec.task, lang)]
            preds, gold, ordered, records = _convert(spec, lang, exs, lm_results["samples"][name])
            ext = spec.submission_ext
            write_submission(safe_join(out, "predictions", spec.task, f"test-{lang}.{ext}"), spec.submission_format,
                             preds)
            write_gold(safe_join(out, "labels", spec.task, f"test-{lang}.{ext}"), spec, gold, exs)
            atomic_write_text(safe_join(out, "records", spec.task, f"{lang}.jsonl"),
                              "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            per_lang[lang], secondary[lang] = score_language(spec, gold, ordered, lang)
            counts[lang] = len(exs)
            figures = lm_results["results"].get(name, {})
            stats[lang] = {"lm_eval_task": name,
                           "lm_eval": {k.split(",")[0]: v for k, v in figures.items()
                                       if k.endswith(",none") and "_stderr" not in k}}
            shown = ", ".join(f"{k}={v:.2f}" for k, v in per_lang[lang].items())
            _log(f"{spec.task}/{lang}: {shown} ({len(exs)} examples)")
        version_langs = list(spec.languages(cfg.version) or spec.all_languages())
        scored_missing = [lang for lang in version_langs if lang not in per_lang]
        entry: dict[str, Any] = {}
        if per_lang:
            entry = aggregate_task(spec, per_lang, secondary, version_langs, None if scored_missing else version_langs)
        entry.update(split=cfg.split, n=counts, stats=stats)
        task_results[spec.task] = entry
        coverage[spec.task] = {"complete": not scored_missing, "languages": list(per_lang),
                               "missing": scored_missing, "no_gold": no_gold.get(spec.task, []),
                               "skipped": skipped_langs.get(spec.task, {}),
                               "missing_data": missing.get(spec.task, [])}
        if not scored_missing:
            complete.add(spec.task)

    from ..spec import benchmark_tasks

    results = {
        "schema": SCHEMA, "harness_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "model": _model_info(cfg, lm_results.get("config") or {}, lm),
        "config": {**asdict(cfg), "backend": "lm-eval", "lm_eval_tasks": names},
        "version": cfg.version,
        "overall": overall_scores(task_results, complete, cfg.version),
        "tasks": task_results,
        "coverage": coverage,
        "skipped": skipped,
        "partial": not all(t in complete for t in benchmark_tasks(cfg.version)),
        "records": "records",
    }
    atomic_write_json(out / "results.json", results)
    atomic_write_json(out / "timings.json", {"lm_eval": round(seconds, 3)})
    raw = {k: v for k, v in lm_results.items() if k != "samples"}
    from lm_eval.utils import handle_non_serializable

    atomic_write_text(out / "lmeval" / "results.json",
                      json.dumps(raw, indent=2, ensure_ascii=False, default=handle_non_serializable) + "\n")
    return results
