"""lm-eval models as producers: ``xtreme-eval --backend lm-eval`` runs the xtreme_* tasks through lm-eval.

lm-eval drives the model (any of its backends: ``hf``, ``vllm``, API models,
or our ``xtreme-encoder``); the data, the gold labels and the figures stay
ours. Each (task, language) is one ``lm_eval.simple_evaluate`` call on the
same model object, so the run loop resumes lm-eval runs as it resumes any
other; the logged samples are turned back into the family's predictions and
scored by the loop with the very functions ``xtreme-score`` uses (``stats``
keeps lm-eval's own figures for comparison). lm-eval's raw results of each
call are kept under ``OUTPUT/lmeval/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from ..families import Predictions
from ..io import progress
from ..io.errors import UserError
from ..io.files import atomic_write_text
from ..io.options import parse_pairs
from ..io.reads import folder_fingerprint
from ..options import EvalOptions
from ..spec import TaskSpec, builtin_task_dir
from ..tasks.data import data_source
from . import LMEVAL_TASKS, flag, task_name, tasks_path
from .forms import FORMS, form_of

ENCODER = "xtreme-encoder"
CPU_AUTO_BATCH = 8  # what --batch-size auto means for an lm-eval model on a CPU


def parse_model_args(text: str | None) -> dict[str, str]:
    """``key=value,key=value`` as lm-eval splits it (values stay strings here); a repeated key is refused."""
    return parse_pairs(text, "--model-args")


def model_args_for(options: EvalOptions) -> str:
    """The user's model arguments plus what our own flags imply (never overriding what they set)."""
    args = parse_model_args(options.model_args)
    extra = []
    if options.allow_pickle and options.model == ENCODER and "allow_pickle" not in args:
        extra.append("allow_pickle=True")
    if options.dtype != "auto" and "dtype" not in args:
        extra.append(f"dtype={options.dtype}")
    if options.trust_remote_code and "trust_remote_code" not in args:
        extra.append("trust_remote_code=True")
    if options.model == ENCODER:  # the heads follow the same protocol options as native xtreme-eval
        fields = EvalOptions.__dataclass_fields__
        extra += [f"{key}={getattr(options, key)}" for key in ("qa_nbest", "tagging_windows", "qa_answer_text")
                  if key not in args and getattr(options, key) != fields[key].default]
    return ",".join([a for a in [options.model_args.strip().strip(",")] if a] + extra)


def _custom_specs(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Specs not served by the packaged YAMLs: user tasks, or built-in ones a --task-dir overrides."""
    builtin = builtin_task_dir().resolve()
    return [s for s in specs if s.task not in LMEVAL_TASKS or Path(s.source_file).resolve().parent != builtin]


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


@contextlib.contextmanager
def _bars(progress: bool):
    """``--no-progress`` silences lm-eval's own bars too (it passes ``disable=`` explicitly, so the environment
    cannot): every tqdm bar made inside the block is disabled."""
    if progress:
        yield
        return
    from tqdm import std

    init = std.tqdm.__init__

    def quiet(self, *args, **kwargs):
        kwargs["disable"] = True
        init(self, *args, **kwargs)

    std.tqdm.__init__ = quiet
    try:
        yield
    finally:
        std.tqdm.__init__ = init


def predictions_of(spec: TaskSpec, lang: str, examples: list, samples: list[dict], stats: dict) -> Predictions:
    """lm-eval's logged samples of one (task, language) as the family's predictions."""
    samples = sorted(samples, key=lambda s: s["doc_id"])
    if len(samples) != len(examples) or any(s["doc"]["id"] != ex.id for s, ex in zip(samples, examples)):
        raise RuntimeError(f"{spec.task}/{lang}: lm-eval logged {len(samples)} samples for {len(examples)} examples")
    return form_of(spec).predictions(spec, lang, examples, samples, stats)


class LMEvalProducer:
    """Predictions of an lm-eval model (see the module docstring); ``lm`` may be an lm-eval ``LM`` object."""

    needs_gold = True  # lm-eval scores inside its own run: only labelled data

    def __init__(self, options: EvalOptions, lm: Any = None):
        self.options = options
        self.lm = lm
        self.given = type(lm).__name__ if lm is not None else None  # an LM object handed in, by class
        self.served = None
        self.specs: list[TaskSpec] = []
        self._manager = None
        self._lm_config: dict[str, Any] = {}
        if lm is None and options.model == ENCODER and "pretrained" not in parse_model_args(options.model_args):
            raise UserError(f"--model {ENCODER} needs --model-args pretrained=CHECKPOINT")

    # --- what it serves ---------------------------------------------------------------------------
    def prepare(self, specs):
        skipped: dict[str, str] = {}
        formed = [s for s in specs if form_of(s) is not None]
        for spec in specs:
            if form_of(spec) is None:
                skipped[spec.task] = (f"the lm-eval backend has no form for {spec.family} tasks such as "
                                      f"{spec.task} (it runs: {', '.join(FORMS)})")
        if self.lm is None and self.options.model == ENCODER:
            from ..producers.checkpoints import resolve

            args = parse_model_args(self.options.model_args)
            o = self.options
            self.served = resolve(args["pretrained"], formed, o.trust_remote_code or flag(args.get("trust_remote_code")),
                                  o.allow_pickle or flag(args.get("allow_pickle")), task_dirs=o.task_dirs)
            for task, reason in self.served.skipped.items():
                skipped[task] = f"{ENCODER}: {reason}"
        self.specs = [s for s in formed if s.task not in skipped]
        return skipped

    def defaults(self):
        return {}

    def model_info(self) -> dict[str, Any]:
        import lm_eval

        o, lm = self.options, self.lm
        args = parse_model_args(o.model_args)
        path = args.get("pretrained") or args.get("model") or args.get("path") or (
            o.model if lm is None else type(lm).__name__)
        revision = args.get("revision") or self._lm_config.get("model_sha") or None
        info = {"name": Path(str(path).rstrip("/")).name or str(path), "path": str(path), "revision": revision,
                "kind": "lm-eval", "backend": "lm-eval", "lm_eval_model": o.model if lm is None else type(lm).__name__,
                "model_args": o.model_args, "lm_eval_version": getattr(lm_eval, "__version__", None),
                # An encoder answering through its fine-tuned head is still fine-tuned transfer.
                "protocol": "fine-tuned transfer" if o.model == ENCODER else "zero-shot prompted",
                "intermediate": None, "base_model": None}
        if self.served is not None:  # what native xtreme-eval records of a suite
            info.update(name=self.served.name or info["name"], kind=f"lm-eval ({self.served.kind})",
                        tasks={t: ck.identity() for t, ck in self.served.checkpoints.items()})
        return info

    def identity(self, spec: TaskSpec) -> dict[str, Any]:
        import lm_eval

        o = self.options
        out: dict[str, Any] = {"lm_eval": getattr(lm_eval, "__version__", None),
                               "model": self.given or o.model,  # not the class loaded: the same before and after
                               "model_args": model_args_for(o), "gen_kwargs": o.gen_kwargs,
                               "chat_template": o.apply_chat_template, "seed": o.seed, "batch_size": o.batch_size}
        pretrained = parse_model_args(o.model_args).get("pretrained")
        if pretrained and Path(pretrained).expanduser().is_dir():
            out["pretrained"] = folder_fingerprint(Path(pretrained).expanduser())
        if self.served is not None and spec.task in self.served.checkpoints:
            out["checkpoint"] = folder_fingerprint(self.served.checkpoints[spec.task].path)
        return out

    # --- running ----------------------------------------------------------------------------------
    def _task_manager(self):
        if self._manager is None:
            from lm_eval.tasks import TaskManager

            from . import generate

            o = self.options
            include = [str(tasks_path())]
            for spec in _custom_specs(self.specs):  # user specs get YAMLs of their own, beside the results
                folder = Path(o.output) / "lmeval" / "tasks"
                generate.write(folder, [spec], task_dir=str(Path(spec.source_file).resolve().parent), prune=False)
                if str(folder) not in include:
                    include.append(str(folder))
            src = data_source(o.data_dir)
            where = str(src) if src.hub else str(Path(o.data_dir).resolve())
            metadata = {"xtreme_data_dir": where, "xtreme_split": o.split, "xtreme_limit": o.limit}
            with _quiet_lm_eval(o.verbose):
                self._manager = TaskManager(include_path=include, include_defaults=False, metadata=metadata)
        return self._manager

    def _model(self):
        if self.lm is None:
            from lm_eval.api.registry import get_model

            from . import encoder  # noqa: F401  (registers xtreme-encoder)

            o = self.options
            try:
                cls = get_model(o.model)
            except ValueError:
                from lm_eval.api.registry import model_registry

                raise UserError(f"unknown lm-eval model '{o.model}' (known: "
                                f"{', '.join(sorted(model_registry.keys()))})") from None
            from ..producers.engine import resolve_device

            # lm-eval's hf model takes a missing device to mean cuda; 'auto' is resolved as the native engine does.
            device = str(resolve_device(o.device)) if o.device == "auto" else o.device
            batch = o.batch_size
            if str(batch).startswith("auto") and device.startswith("cpu"):
                # lm-eval's search doubles the batch until memory runs out, and a CPU never says it has: bounded
                batch = CPU_AUTO_BATCH
            extra = {"batch_size": batch, "device": device}
            model_args = model_args_for(o)
            given = parse_model_args(model_args)
            # lm-eval passes both to the constructor; what --model-args says wins over our flags.
            extra = {k: v for k, v in extra.items() if k not in given}
            with _load_errors(o.model):
                self.lm = cls.create_from_arg_string(model_args, extra)
            if o.model == "dummy":
                # lm-eval's dummy logs the special tokens of a 32B model's tokenizer, fetched from the hub.
                self.lm.__dict__["tokenizer"] = None
        return self.lm

    def predict(self, spec: TaskSpec, lang: str, examples: Any, settings) -> Predictions:
        from lm_eval import simple_evaluate
        from lm_eval.utils import handle_non_serializable

        o = self.options
        name = task_name(spec.task, lang)
        manager = self._task_manager()
        with _quiet_lm_eval(o.verbose), _bars(o.progress):
            if self.lm is None:
                progress.status(f"loading lm-eval's {o.model} model", announce=True)
            model = self._model()
            progress.status(f"lm-eval: {name}")
            raw = simple_evaluate(model=model, tasks=[name], task_manager=manager, log_samples=True,
                                  bootstrap_iters=0, gen_kwargs=o.gen_kwargs or None,
                                  apply_chat_template=o.apply_chat_template, random_seed=o.seed,
                                  numpy_random_seed=o.seed, torch_random_seed=o.seed, fewshot_random_seed=o.seed)
        raw = raw or {"results": {}, "samples": {}, "configs": {}, "config": {}}
        self._lm_config = raw.get("config") or {}
        figures = raw["results"].get(name, {})
        key = f",{form_of(spec).filter_name}"
        meta = (raw.get("configs", {}).get(name) or {}).get("metadata") or {}
        stats = {"lm_eval_task": name, "lm_eval_fingerprint": meta.get("xtreme_data_fingerprint"),
                 "lm_eval": {k[:-len(key)]: v for k, v in figures.items() if k.endswith(key) and "_stderr" not in k}}
        kept = {k: v for k, v in raw.items() if k != "samples"}
        atomic_write_text(Path(o.output) / "lmeval" / f"{name}.json",
                          json.dumps(kept, indent=2, ensure_ascii=False, default=handle_non_serializable) + "\n")
        return predictions_of(spec, lang, examples, raw["samples"].get(name, []), stats)

    def close(self) -> None:
        self._manager = None


@contextlib.contextmanager
def _load_errors(model: str):
    """lm-eval's own models fail deep in their constructors on a user's mistake (a missing checkpoint, a bad
    dtype): one line naming the model and the reason."""
    try:
        yield
    except UserError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"lm-eval model '{model}' could not be created: {type(exc).__name__}: {text[:300]}") \
            from None


__all__ = ["ENCODER", "LMEvalProducer", "model_args_for", "parse_model_args", "predictions_of"]
