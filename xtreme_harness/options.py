"""Every option of an evaluation run, declared once (:class:`EvalOptions`).

``xtreme-eval``'s flags, a suite manifest's ``defaults``, the lm-eval
``xtreme-encoder`` model's ``model_args``, ``settings.json`` (the options that
change figures, which an output folder holds one set of) and ``results.json``'s
``config`` are all read off these declarations, and every value, whichever way
it arrives, is checked by :func:`xtreme_harness.io.options.check`. The options
that depart from XTREME's protocol say so here (``official``), which is how a
run that chooses one is marked wherever its figures are shown.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .io.errors import UserError
from .io.files import output_path
from .io.options import (
    API,
    FLAG,
    MANIFEST,
    MODEL_ARGS,
    check,
    declared,
    default_of,
    option,
    parse_pairs,
)
from .io.options import unofficial as _unofficial
from .mining import EXACT, SEARCHES
from .spec import FEATURES

LOW, HIGH = FEATURES["max_length"][1:]  # the sub-token lengths any feature may have, as specs declare them
VERSIONS = ("xtreme", "xtreme-r")
LMEVAL = "lm-eval"
DATA_ENV = "XTREME_DATA_DIR"
DEFAULT_DATA_DIR = "download"
RESULTS_ROOT = "xtreme-results"

_EVERYWHERE = (FLAG, API, MANIFEST, MODEL_ARGS)
_MODEL_SIDE = (FLAG, API, MODEL_ARGS)


def _data_dir() -> str:
    return os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR


@dataclass
class EvalOptions:
    """The options of ``xtreme-eval`` and of ``xtreme_harness.evaluate``, native and lm-eval backends alike."""

    model: str = option("", "checkpoint folder, hub id, suite folder (<task>/ checkpoints [+ encoder/]), suite "
                            "manifest (.yaml) or sentence-transformers folder; with --backend lm-eval, an lm-eval "
                            "model type (hf, vllm, xtreme-encoder, ...)", flag="--model", figures=True)
    label_map: Any = option(None, "rename a single checkpoint's labels to the task's (LABEL_0=entailment,...); several "
                                  "may map to one (B-MISC=O,I-MISC=O)", kind=str, nullable=True, flag="--label-map",
                            metavar="CKPT_LABEL=TASK_LABEL,...", figures=True)
    tasks: str = option("all", "'all' (the benchmark's tasks) or a comma-separated list", flag="--tasks")
    languages: str = option("all", "'all' or a comma-separated list of ISO 639-1 codes", flag="--languages")
    data_dir: str = option(None, "XTREME download layout folder, 'hf', or 'hf:<local dataset copy>' (default: "
                                 f"${DATA_ENV} or ./{DEFAULT_DATA_DIR})", kind=str, default_factory=_data_dir,
                           flag="--data-dir", figures=True)
    split: str = option("test", "split to evaluate", choices=("test", "dev"), flag="--split", figures=True)
    output: str | None = option(None, "output folder (results.json, predictions/, records/) (default: "
                                      f"{RESULTS_ROOT}/<model>-<version>[-dev], one per model, benchmark and split)",
                                kind=str, nullable=True, flag="--output")
    batch_size: Any = option("auto", "sequences per batch, or auto (a token budget that fits the device)", kind=int,
                             low=1, special=("auto",), flag="--batch-size", sources=_MODEL_SIDE)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps", flag="--device", sources=_MODEL_SIDE)
    dtype: str = option("auto", "model precision", choices=("auto", "float32", "bfloat16", "float16"), flag="--dtype",
                        figures=True, sources=_MODEL_SIDE)
    limit: int | None = option(None, "only the first N examples per language (queries for retrieval)", kind=int,
                               low=1, nullable=True, flag="--limit", figures=True)
    retrieval_layer: int | None = option(None, "hidden layer for retrieval embeddings (0 = embeddings; default: 8 "
                                               "of 12, 14 of 24)", kind=int, low=0, nullable=True,
                                         flag="--retrieval-layer", figures=True, sources=_EVERYWHERE,
                                         aliases=("layer",))
    pooling: str = option("mean", "how retrieval embeddings pool a layer's states", choices=("mean", "cls"),
                          flag="--pooling", figures=True, sources=_EVERYWHERE)
    max_length: int | None = option(None, "override the task's max sequence length", kind=int, low=LOW, high=HIGH,
                                    nullable=True, unit="sub-tokens", flag="--max-length", figures=True,
                                    sources=_EVERYWHERE)
    qa_nbest: str = option("padded", "QA n-best over every padded position, as XTREME's run_squad.py (default), or "
                                     "over real tokens only", choices=("padded", "real-tokens"), flag="--qa-nbest",
                           figures=True, sources=_MODEL_SIDE, official="padded",
                           unofficial="QA n-best over real tokens only (--qa-nbest real-tokens), not over XTREME's "
                                      "padded positions")
    qa_answer_text: str = option("xtreme", "a QA span's text as XTREME writes it, projected onto whitespace words "
                                           "(default), or the context sliced at the span's character offsets",
                                 choices=("xtreme", "offsets"), flag="--qa-answer-text", figures=True,
                                 sources=_MODEL_SIDE, official="xtreme",
                                 unofficial="QA answers sliced from the context (--qa-answer-text offsets), not "
                                            "projected onto whitespace words as XTREME")
    tagging_windows: str = option("chunks", "long tagging sentences cut into consecutive chunks, as XTREME's "
                                            "preprocessing (default), or into overlapping windows",
                                  choices=("chunks", "overlap"), flag="--tagging-windows", figures=True,
                                  sources=_MODEL_SIDE, official="chunks",
                                  unofficial="long tagging sentences in overlapping windows (--tagging-windows "
                                             "overlap), not XTREME's consecutive chunks")
    retrieval_search: str = option(EXACT, "how BUCC's margin k-NN is searched: exact (default, XTREME's), or "
                                            "approximately with the candidates re-scored exactly: pca (exact search "
                                            "in 128 principal directions) or ivf (FAISS IVF, nprobe 64); not the "
                                            "official protocol", choices=SEARCHES, flag="--retrieval-search",
                                   figures=True, official=EXACT,
                                   unofficial="BUCC's margin k-NN searched approximately (--retrieval-search), not "
                                              "exactly as XTREME")
    version: str = option("xtreme", "benchmark version", choices=VERSIONS, flag="--version", figures=True)
    task_dirs: list = option(None, "extra folder of task spec YAMLs (repeatable)", kind=list, default_factory=list,
                             flag="--task-dir", metavar="DIR", figures=True)
    trust_remote_code: bool = option(False, "allow checkpoints that ship their own code", flag="--trust-remote-code",
                                     store="store_true", sources=_MODEL_SIDE)
    allow_pickle: bool = option(False, "allow pickled pytorch_model.bin weights", flag="--allow-pickle",
                                store="store_true", sources=_MODEL_SIDE)
    embedding_cache: str | None = option(None, "folder to cache retrieval embeddings in (keyed by model, layer, "
                                               "pooling and text hash)", nullable=True, flag="--embedding-cache")
    feature_cache: bool = option(True, "no on-disk cache of tokenised features (kept in $XTREME_FEATURE_CACHE, "
                                       "default ~/.cache/xtreme-harness/features, at most "
                                       "$XTREME_FEATURE_CACHE_MAX bytes, default 2G; keyed by the tokenizer's and "
                                       "the data's content, so a second run over the same data and tokenizer "
                                       "skips tokenisation)", flag="--no-feature-cache", store="store_false")
    progress: bool = option(True, "no progress bars", flag="--no-progress", store="store_false")
    overwrite: bool = option(False, "replace what --output holds from other settings (otherwise such a folder is "
                                    "refused)", flag="--overwrite", store="store_true")
    backend: str = option("native", "native: our engine on fine-tuned checkpoints; lm-eval: --model is an lm-eval "
                                    "model type run on the xtreme_* lm-eval tasks", choices=("native", LMEVAL),
                          flag="--backend", figures=True)
    model_args: str = option("", "lm-eval model arguments, key=value,... (e.g. pretrained=PATH); --backend lm-eval "
                                 "only", flag="--model-args", figures=True)
    gen_kwargs: str | None = option(None, "lm-eval generation overrides for the QA tasks, key=value,... (e.g. "
                                          "max_gen_toks=32)", nullable=True, flag="--gen-kwargs", figures=True)
    apply_chat_template: bool = option(False, "wrap prompts in the model's chat template (--backend lm-eval)",
                                       flag="--apply-chat-template", store="store_true", figures=True)
    seed: int = option(0, "random seed of the lm-eval backend (few-shot sampling, generation)", kind=int, low=0,
                       flag="--seed", figures=True)
    verbose: bool = option(False, "show lm-eval's own log (--backend lm-eval)", flag="--verbose", store="store_true")

    LMEVAL_ONLY = ("model_args", "gen_kwargs", "apply_chat_template", "seed", "verbose")
    NOT_RECORDED = ("progress", "overwrite", "verbose", "feature_cache")  # no option here changes a figure

    @classmethod
    def build(cls, values: Mapping[str, Any], source: str = "option") -> "EvalOptions":
        """Options from typed values (the Python API, parsed flags): unknown names refused, each value checked."""
        opts = declared(cls)
        unknown = sorted(set(values) - set(opts))
        if unknown:
            raise UserError(f"unknown {source}(s): {', '.join(unknown)} (known: {', '.join(sorted(opts))})")
        for name, value in values.items():
            opt = opts[name][1]
            if isinstance(value, str) and opt.kind in (int, float, bool) and value not in opt.special:
                from .io.options import from_text

                values = {**values, name: from_text(opt, value, _flag(name))}
            else:
                check(opt, value, _flag(name))
        return cls(**values)

    def validate(self) -> "EvalOptions":
        """What no single option can check: required, combined and file-system facts, before any work."""
        if not self.model:
            raise UserError("--model is required" + (": an lm-eval model type such as hf, vllm or xtreme-encoder "
                                                     "(with --model-args pretrained=PATH)" if self.backend == LMEVAL
                                                     else " (see xtreme-eval --help)"))
        if self.backend != LMEVAL:
            for name in self.LMEVAL_ONLY:
                f, _ = declared(type(self))[name]
                if getattr(self, name) != default_of(f):
                    raise UserError(f"{_flag(name)} applies to --backend lm-eval only")
        if isinstance(self.label_map, str):
            self.label_map = parse_label_map(self.label_map)
        from .tasks.data import data_source

        source = data_source(self.data_dir)
        if not source.hub and not source.folder.is_dir():
            raise UserError(_no_data_message(self.data_dir))
        if source.hub and source.local and not Path(source.local).expanduser().is_dir():
            raise UserError("local copy of the hub dataset not found (expected hf:FOLDER)", source.local)
        if not self.output:
            self.output = default_output(self)
        self.output = str(output_path(self.output, "--output", folder=True))
        if self.embedding_cache:
            self.embedding_cache = str(output_path(self.embedding_cache, "--embedding-cache", folder=True))
        return self

    def settings(self) -> dict[str, Any]:
        """The options that change figures, with paths normalised (``dir/`` and ``./dir`` are one folder): an
        output folder holds the files of one such set."""
        out = {}
        for name, (_, opt) in declared(type(self)).items():
            if not opt.figures or (name in self.LMEVAL_ONLY and self.backend != LMEVAL):
                continue
            out[name] = getattr(self, name)
        out["model"] = _normal_path(self.model)
        out["data_dir"] = _normal_source(self.data_dir)
        out["task_dirs"] = [_normal_path(d) for d in self.task_dirs]
        if self.backend != LMEVAL:
            out.pop("backend")
        return out

    def config(self) -> dict[str, Any]:
        """What ``results.json`` records of the run's options."""
        return {name: getattr(self, name) for name in declared(type(self))
                if name not in self.NOT_RECORDED and (self.backend == LMEVAL or name not in self.LMEVAL_ONLY)
                and not (name == "backend" and self.backend != LMEVAL)}

    def family_settings(self) -> dict[str, Any]:
        """The options that are family settings (laid over each spec's ``features``)."""
        return {"max_length": self.max_length, "nbest_over": self.qa_nbest, "windows": self.tagging_windows,
                "answer_text": self.qa_answer_text, "search": self.retrieval_search}

    def replace(self, **changes: Any) -> "EvalOptions":
        opts = declared(type(self))
        for name, value in changes.items():
            check(opts[name][1], value, _flag(name))
        return dataclasses.replace(self, **changes)


def _flag(name: str) -> str:
    f, opt = declared(EvalOptions)[name]
    return opt.flag or "--" + name.replace("_", "-")


def default_output(o: EvalOptions) -> str:
    """``xtreme-results/<model>-<version>[-dev]``: the folder a run without ``--output`` writes to, so that the
    same checkpoint on XTREME and on XTREME-R (or a second checkpoint) never meet in one folder. An lm-eval model
    is named by its type and ``pretrained`` (``hf-Qwen__Qwen2-0.5B``)."""
    name = _model_name(o.model)
    if o.backend == LMEVAL:
        args = parse_pairs(o.model_args, "--model-args") if o.model_args else {}
        named = args.get("pretrained") or args.get("model") or args.get("path")
        name = f"{name}-{_model_name(named)}" if named else name
    return str(Path(RESULTS_ROOT) / f"{name[:96]}-{o.version}{'-dev' if o.split == 'dev' else ''}")


def _model_name(model: str) -> str:
    """A folder's (or manifest's) own name, or a hub id as the hub cache spells it (``org__name``)."""
    local = Path(os.path.expanduser(model))
    if model and local.exists():
        local = Path(os.path.realpath(local))
        name = local.stem if local.is_file() else local.name
    else:
        name = model.strip("/").replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"


def _normal_path(value: str) -> str:
    """A local path in one spelling (a hub id, which is no path here, as given)."""
    p = Path(os.path.expanduser(value))
    return os.path.realpath(p) if value and p.exists() else value


def _normal_source(value: str) -> str:
    from .tasks.data import data_source

    src = data_source(value)
    if src.hub:
        return "hf" + (f":{_normal_path(src.local)}" if src.local else "")
    return _normal_path(str(src.folder))


def _no_data_message(data_dir: str) -> str:
    default = data_dir == DEFAULT_DATA_DIR and not os.environ.get(DATA_ENV)
    lead = f"no data folder '{data_dir}' here" if default else f"data folder not found: {data_dir}"
    return (f"{lead}; get one with 'xtreme-data download --tasks all --dest {DEFAULT_DATA_DIR}', point "
            f"--data-dir (or ${DATA_ENV}) at XTREME's download layout, or read the hub with --data-dir hf")


def parse_label_map(text: str | None) -> dict[str, str] | None:
    """``--label-map KEY=VALUE,...``: checkpoint label name -> task label (a label mapped twice is refused)."""
    if not text:
        return None
    out = parse_pairs(text, "--label-map", "CHECKPOINT_LABEL=TASK_LABEL pairs")
    empty = next((k for k, v in out.items() if not v), None)
    if empty is not None:
        raise UserError(f"--label-map: '{empty}=' needs a label on both sides of '='")
    return out


def unofficial_options(config: Mapping[str, Any]) -> list[str]:
    """What a run's config chose over XTREME's protocol, one phrase each (empty: the official protocol)."""
    return _unofficial(EvalOptions, config)


__all__ = ["EvalOptions", "HIGH", "LOW", "VERSIONS", "parse_label_map", "unofficial_options"]
