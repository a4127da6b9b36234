"""A whole STILTs run: pretrained encoder -> English intermediate task(s) -> English targets.

Output folder (a suite that ``xtreme-eval --model OUT --tasks all`` takes as is)::

    OUT/recipe.yaml          the effective recipe (file + command-line overrides)
    OUT/train_info.json      package version, git commit, command, data files (bytes, sha256), phase summaries
    OUT/encoder/             the intermediate encoder (or the pretrained one for the baseline): BUCC, Tatoeba
    OUT/<task>/              one fine-tuned checkpoint per target (xquad and mlqa: the same SQuAD model)
    OUT/train/<phase>/       train_log.jsonl, checkpoint-last/ while running, done.json when finished

Every checkpoint carries ``xtreme_train.json`` and the config attributes
``xtreme_intermediate`` (the intermediate task names, [] for the baseline),
``xtreme_base_model``, ``xtreme_seed`` and ``xtreme_mlm``; ``xtreme_train.json``
holds the training record (``training``: seed, intermediate tasks, MLM, the
base model with its revision and content fingerprint, the encoder's parameter
count and the target phase's hyper-parameters) that ``xtreme-eval`` copies
into ``results.json["model"]["training"]``.
Rerunning the same command skips finished phases and resumes an interrupted one.

A recipe with several seeds (``seeds``) is a sweep of one run: one suite per
seed in ``OUT/seed-<n>/``, listed in ``OUT/sweep.json`` (:func:`run_suites`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from ..io.errors import UserError
from ..io.files import (
    atomic_write_json,
    check_destination,
    make_folder,
    write_error,
    atomic_write_text,
    check_regular,
    file_signature,
    output_path,
)
from ..io.jsonfile import read_json
from ..io.version import __version__
from ..producers.checkpoints import position_limit
from ..sweeps import SweepSuite, read_sweep, write_sweep
from ..tasks.registry import get_intermediate
from ..tasks.sources import read_intermediate
from .files import (
    RESTART_HINT,
    describe_change,
    digest,
    fix_modes,
    hold_output,
    model_fingerprint,
    read_state,
    remove_leftovers,
    uninterrupted,
)
from .formats import TaskData, mlm_features, train_features
from .loop import (
    Hyper,
    Phase,
    discard_last,
    get_accelerator,
    read_saved_state,
    run_phase,
    saved_state,
)
from .recipes import (
    TARGETS,
    PhasePlan,
    Recipe,
    check_model_length,
    git_commit,
    task_settings,
    validate_recipe,
)

TRAIN_SCHEMA = "xtreme-harness/train/v1"
MANAGED = ("recipe.yaml", "train_info.json", "encoder", "train", *TARGETS)  # what a run writes into --out


def _say(msg: str) -> None:
    print(f"xtreme-train: {msg}", file=sys.stderr, flush=True)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _spec_digest(spec) -> str:
    """A task spec by content (columns, labels, features, sources), not by the file it came from."""
    d = dataclasses.asdict(spec)
    d.pop("source_file", None)
    return digest(d)


# --- checkpoints -----------------------------------------------------------------------

def _restore(dst: Path) -> None:
    old = dst.parent / f".{dst.name}.old"
    if not dst.exists() and old.exists():
        os.replace(old, dst)


def write_checkpoint(dst: Path, write: Callable[[Path], None]) -> None:
    """Write a checkpoint folder next to ``dst``, then swap it in: never a half-written checkpoint (a Ctrl-C
    waits for the swap), every file with the modes the umask gives."""
    dst = Path(dst)
    check_destination(dst, "checkpoint folder")
    tmp, old = dst.parent / f".{dst.name}.tmp", dst.parent / f".{dst.name}.old"
    with uninterrupted():
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            write(tmp)
            fix_modes(tmp)
            if dst.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:  # a full disk or a read-only folder: one line, and no half checkpoint swapped in
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(exc, dst, "checkpoint folder") from None


def encoder_parameters(model) -> int:
    """The encoder's parameter count: the transformer under any task head (``base_model``), each shared tensor
    once, without the pooler (which only some heads use), so every checkpoint of a suite reports the same."""
    base = getattr(model, "base_model", model)
    return sum(p.numel() for name, p in base.named_parameters() if not name.startswith("pooler."))


def _save_hf(model, tokenizer, dst: Path, meta: dict) -> None:
    from .heads import quiet

    model.config.xtreme_intermediate = list(meta["intermediate"])
    model.config.xtreme_base_model = meta["base_model"]
    if isinstance(meta.get("training"), dict):
        meta = {**meta, "training": {**meta["training"], "parameters": encoder_parameters(model)}}
        model.config.xtreme_seed = meta["training"]["seed"]
        model.config.xtreme_mlm = meta["training"]["mlm"]
    with quiet():
        model.save_pretrained(str(dst), safe_serialization=True)
    tokenizer.save_pretrained(str(dst))
    (dst / "xtreme_train.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from ..producers.transformers_import import transformers_name

    AutoTokenizer = transformers_name("AutoTokenizer")
    if str(path).startswith((".", "/", "~")) and not Path(path).expanduser().exists():
        raise UserError("model folder not found", path)
    try:
        tok = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load the tokenizer of {path}: {str(exc).splitlines()[0][:200]}") from None
    if not getattr(tok, "is_fast", False):
        raise UserError(f"the tokenizer of {path} has no fast (Rust) version; training features need one")
    return tok


# --- data ------------------------------------------------------------------------------

def _read_target_file(spec, path: Path, limit):
    from ..families import family_of

    check_regular(path, "training data file")
    return family_of(spec).read(spec, {"data": path}, "en", limit), [{"split": "file", **file_signature(path)}]


def target_data(unit: str, served: list[str], recipe: Recipe, hyper: Hyper, split: str):
    """English train or dev examples of a training unit, and where they came from, as the tasks' specs say
    (``train_source``: a split or a file under the data folder, the dev data to select on, and the intermediate
    spec or hub copy read when the file is absent); ``--train-file``/``--dev-file`` override."""
    from ..tasks.data import read_split, split_files
    from ..tasks.registry import get_task

    spec = get_task(served[0])
    src = spec.train_source
    files = recipe.train_files if split == "train" else recipe.dev_files
    limit = hyper.limit_train if split == "train" else hyper.limit_dev
    override = next((files[n] for n in [*served, unit] if n in files), None)
    data_dir = Path(recipe.data_dir)
    if override:
        return _read_target_file(spec, Path(override), limit)
    path_key, split_key = ("path", "split") if split == "train" else ("dev_path", "dev_split")
    if src.get(path_key):
        path = data_dir / src[path_key]
        if path.is_file():
            return _read_target_file(spec, path, limit)
    elif src.get(split_key):
        path = split_files(spec, data_dir, "en", src[split_key])["data"]
        if path.is_file():
            return read_split(spec, data_dir, "en", src[split_key], limit), [{"split": src[split_key],
                                                                             **file_signature(path)}]
    else:
        return [], []  # no dev data to select on (TyDiQA's dev file is XTREME's test set)
    if split == "dev":
        return [], []
    if src.get("fallback"):
        _say(f"{path} not found; reading {unit}'s English training data through the {src['fallback']} spec")
        loaded = read_intermediate(get_intermediate(src["fallback"]), "train", recipe.intermediate_data_dir or data_dir,
                                   recipe.intermediate_source, limit)
        return loaded.examples, loaded.provenance
    if recipe.intermediate_source == "local" or spec.hf is None or "train" not in spec.hf.splits:
        raise UserError(f"English training file for {unit} not found (give one with --train-file {unit}=FILE)",
                        path)
    _say(f"{path} not found; reading {spec.task} English train from the hub")
    return read_split(spec, "hf", "en", "train", limit), [{"split": "train", "hf": spec.hf.path}]


def _task_data(name: str, spec, train: list, dev: list, tokenizer, labels, settings, provenance: list,
               **stats) -> TaskData:
    feats = train_features(spec, train, tokenizer, labels, settings)
    return TaskData(name=name, kind=spec.family, labels=labels, features=list(feats), spec=spec,
                    dev_examples=dev or None, max_length=settings["max_length"],
                    doc_stride=settings.get("doc_stride", 128), max_query_length=settings.get("max_query_length", 64),
                    provenance=provenance,
                    stats={"train_examples": len(train), "dev_examples": len(dev), **stats, **feats.stats})


def build_target_task(unit: str, served: list[str], recipe: Recipe, hyper: Hyper, tokenizer) -> TaskData:
    from ..tasks.registry import get_task

    spec = get_task(served[0])
    train, prov = target_data(unit, served, recipe, hyper, "train")
    dev, dprov = target_data(unit, served, recipe, hyper, "dev")
    if not train:
        raise UserError(f"no English training examples for {unit}")
    labels = list(spec.labels) if spec.labels else None
    settings = task_settings(spec, hyper)
    td = _task_data(unit, spec, train, dev, tokenizer, labels, settings, prov + dprov)
    # dev windows as the task's own spec sets them
    td.doc_stride = spec.features.get("doc_stride", hyper.doc_stride)
    td.max_query_length = spec.features.get("max_query_length", hyper.max_query_length)
    return td


def build_intermediate_tasks(recipe: Recipe, hyper: Hyper, tokenizer) -> list[TaskData]:
    out = []
    data_dir = recipe.intermediate_data_dir or recipe.data_dir
    for name in recipe.intermediate:
        spec = get_intermediate(name, recipe.task_dirs)
        train = read_intermediate(spec, "train", data_dir, recipe.intermediate_source, hyper.limit_train)
        if not train.examples:
            raise UserError(f"intermediate task {name} has no training examples (sources: "
                            f"{', '.join(s.name for s in spec.sources)})")
        dev = read_intermediate(spec, "dev", data_dir, recipe.intermediate_source, hyper.limit_dev)
        labels = list(spec.labels) if spec.labels else None
        if spec.labels_from_data:
            labels = sorted({t for ex in train.examples for t in ex.tags})
        settings = task_settings(spec, hyper, intermediate=True)
        out.append(_task_data(name, spec, train.examples, dev.examples, tokenizer, labels, settings,
                              train.provenance + dev.provenance, skipped=train.skipped))
    if recipe.mlm_data:
        lines, prov = [], []
        for path in recipe.mlm_data:
            p = Path(path)
            from ..io.files import read_lines

            lines.extend(ln.strip() for ln in read_lines(p, "MLM data file") if ln.strip())
            prov.append({"source": "mlm", **file_signature(p)})
        if hyper.limit_train:
            lines = lines[:hyper.limit_train]
        feats = mlm_features(lines, tokenizer, recipe.mlm_max_length)
        if not feats:
            raise UserError("the MLM data files hold no usable lines")
        out.append(TaskData(name="mlm", kind="mlm", labels=None, features=feats, provenance=prov,
                            stats={"lines": len(lines)}))
    return out


def _mlm_config(tokenizer) -> dict:
    if tokenizer.mask_token_id is None:
        raise UserError("--mlm-data needs a tokenizer with a mask token")
    return {"mask_id": tokenizer.mask_token_id, "vocab_size": len(tokenizer),
            "special_ids": sorted(set(tokenizer.all_special_ids))}


# --- the run ---------------------------------------------------------------------------

@dataclasses.dataclass
class RunOptions:
    device: str = "auto"
    overwrite: bool = False
    progress: bool = True
    keep_last: bool = False
    cli_hyper: dict | None = None
    command: list[str] | None = None
    on_step: Callable[[dict], None] | None = None
    restart_phase: bool = False  # train an interrupted phase again from its first step instead of resuming it


_DONE_HINT = "delete it to train the phase again, or pass --overwrite"


def _done(work: Path, fingerprint: str, inputs: dict, outputs: list[Path]) -> dict | None:
    """The record of a finished phase whose inputs are those of this run, or None (not finished, or its
    checkpoints are gone); a finished phase trained from other inputs is an error naming what changed."""
    marker = work / "done.json"
    if not marker.exists() and not marker.is_symlink():
        return None
    done = read_state(marker, "finished-phase record", {"fingerprint": (str,)}, _DONE_HINT)
    if done["fingerprint"] != fingerprint:
        change = describe_change(done.get("inputs"), inputs) if isinstance(done.get("inputs"), dict) else None
        raise UserError(f"this folder holds a finished {work.name} phase trained with other settings or inputs "
                        f"({change or 'recorded by an earlier version of the harness'}); pass --overwrite to "
                        "retrain it, or use another --out", marker)
    for o in outputs:
        _restore(o)
    if all((o / "config.json").is_file() for o in outputs):
        return done
    return None


def clean_output(out: Path) -> None:
    """Remove what a previous run wrote here (and nothing else)."""
    for name in MANAGED:
        for p in (out / name, out / f".{name}.tmp", out / f".{name}.old"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()


def run(recipe: Recipe, out: str | os.PathLike, options: RunOptions | None = None) -> dict[str, Any]:
    """Run (or resume) every phase of ``recipe`` into ``out``; returns train_info.

    Everything the user handed in is checked before anything is written: the recipe and flags
    (:func:`~.recipes.validate_recipe`), the output path, the training files' language, the base model
    and its tokenizer, and the lengths against the model's positions. The output folder is then held
    (a lock) while leftovers of a killed run are removed and the phases run."""
    opts = options or RunOptions()
    if recipe.seeds is not None:
        return run_suites(seed_suites(recipe), out, opts)
    plans = validate_recipe(recipe, opts.cli_hyper)
    out = output_path(out, "--out", folder=True)
    local_base = Path(recipe.base_model).expanduser().is_dir()
    base_fp = model_fingerprint(recipe.base_model) if local_base else None  # before anything reads it
    acc = get_accelerator(recipe.precision, opts.device)
    main = acc.is_main_process
    tokenizer = load_tokenizer(recipe.base_model, recipe.trust_remote_code)
    if base_fp is None:
        base_fp = model_fingerprint(recipe.base_model)
    check_model_length(recipe, plans, position_limit(recipe.base_model, tokenizer), recipe.base_model,
                       opts.cli_hyper)
    out.mkdir(parents=True, exist_ok=True)
    with hold_output(out) if main else contextlib.nullcontext():
        if main:
            if opts.overwrite:
                clean_output(out)
            remove_leftovers(out)
        acc.wait_for_everyone()
        return _run(recipe, out, opts, acc, tokenizer, base_fp)


def _run(recipe: Recipe, out: Path, opts: RunOptions, acc, tokenizer, base_fp: dict) -> dict[str, Any]:
    main = acc.is_main_process
    info: dict[str, Any] = {"schema": "xtreme-harness/train-run/v1", "harness_version": __version__,
                            "git_commit": git_commit(), "created": _now(), "command": opts.command,
                            "recipe": recipe.to_dict(), "cli_hyperparameters": opts.cli_hyper or {},
                            "base_model": base_fp, "phases": {}}
    old_info = out / "train_info.json"
    if old_info.is_file():
        try:
            prev = read_json(old_info, "run record")
        except UserError:
            prev = None  # rewritten below; the phases' own done.json files are the record that counts
        if isinstance(prev, dict) and isinstance(prev.get("created"), str):
            info["created"] = prev["created"]
    if main:
        header = (f"# Effective recipe of this run (recipe file + command-line flags), written by xtreme-harness "
                  f"{__version__}{', git ' + info['git_commit'] if info['git_commit'] else ''} on {_now()}.\n"
                  f"# Command-line hyper-parameters, applied to every phase: {json.dumps(opts.cli_hyper or {})}\n")
        atomic_write_text(out / "recipe.yaml", header + recipe.to_yaml())
        _write_info(out, info)

    # What every phase's numbers depend on besides its own settings and data.
    common = {"harness_version": __version__, "base": base_fp, "precision": acc.mixed_precision}
    # Starting from a checkpoint that is itself an intermediate one carries its history along.
    inherited, original = _lineage(recipe.base_model)
    names = inherited + list(recipe.intermediate)
    base_meta = {"schema": TRAIN_SCHEMA, "harness_version": __version__, "base_model": original,
                 "init_model": recipe.base_model, "intermediate": names, "seed": recipe.seed,
                 "training": training_record(recipe, names, original, base_fp)}
    encoder_dir = out / "encoder"
    if recipe.intermediate or recipe.mlm_data:
        inter_fp = _intermediate_phase(recipe, out, opts, acc, tokenizer, info, base_meta, common)
        init = str(encoder_dir)
    else:
        inter_fp = _baseline_encoder(recipe, out, opts, acc, tokenizer, info, base_meta, common)
        init = recipe.base_model
    for unit, served in recipe.units():
        _target_phase(unit, served, recipe, out, opts, acc, tokenizer, info, base_meta, init, inter_fp, common)
    if main:
        _write_info(out, info)
        _say(f"done: suite in {out} (targets: {', '.join(recipe.targets) or 'none'}; encoder: {encoder_dir})")
    return info


def mlm_record(recipe: Recipe) -> dict[str, Any] | None:
    """The MLM part of a training record: the data files as the recipe names them and their share of batches."""
    if not recipe.mlm_data:
        return None
    return {"data": list(recipe.mlm_data), "weight": float(recipe.mlm_weight if recipe.intermediate else 1.0)}


# Hyper-parameters that never change the weights (resume is exact whatever they are): not part of the record
# that tells one configuration from another.
_BOOKKEEPING = ("save_every", "log_every")


def target_record(hyper: Hyper) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(hyper).items() if k not in _BOOKKEEPING}


def training_record(recipe: Recipe, names: list[str], original: str, base_fp: dict) -> dict[str, Any]:
    """``results.json["model"]["training"]`` as the checkpoint records it (``parameters`` is counted when a
    checkpoint is saved, ``target`` filled by the target phase). A base that is itself an intermediate
    checkpoint passes on its base model's identity and its MLM, where it recorded them."""
    inherited = _inherited_training(recipe.base_model) if names != list(recipe.intermediate) else None
    fingerprint = None
    if isinstance(base_fp.get("files"), dict):
        fingerprint = digest({n: f.get("digest") for n, f in sorted(base_fp["files"].items())})
    record = {"seed": recipe.seed, "intermediate": list(names), "mlm": mlm_record(recipe), "base_model": original,
              "base_model_revision": base_fp.get("revision"), "base_model_fingerprint": fingerprint,
              "parameters": None, "target": {}}
    if inherited:
        for key in ("base_model_revision", "base_model_fingerprint"):
            record[key] = inherited.get(key)
        if record["mlm"] is None:
            record["mlm"] = inherited.get("mlm")
    return record


def _inherited_training(base: str) -> dict[str, Any] | None:
    path = Path(base) / "xtreme_train.json"
    if not path.is_file():
        return None
    try:
        data = read_json(path, "training record")
    except UserError:
        return None
    t = data.get("training") if isinstance(data, dict) else None
    return t if isinstance(t, dict) else None


def _lineage(base: str) -> tuple[list[str], str]:
    """(intermediate tasks already behind ``base``, the pretrained model they started from)."""
    cfg = Path(base) / "config.json"
    if not cfg.is_file():
        return [], base
    try:
        data = read_json(cfg, "model config")
    except UserError:
        return [], base
    if not isinstance(data, dict):
        return [], base
    inherited = data.get("xtreme_intermediate") or []
    if not isinstance(inherited, list) or not all(isinstance(n, str) for n in inherited):
        return [], base
    origin = data.get("xtreme_base_model")
    # No intermediate history: the checkpoint itself is the pretrained model (e.g. after MLM-only training).
    return list(inherited), (origin if isinstance(origin, str) and origin else base) if inherited else base


def _write_info(out: Path, info: dict) -> None:
    with uninterrupted():
        atomic_write_json(out / "train_info.json", info)


def _reuse(work: Path, name: str, fp: str, inputs: dict, outputs: list[Path], info: dict, opts, acc) -> bool:
    """A finished phase with these very inputs: record it and clear what a kill after its end left."""
    done = _done(work, fp, inputs, outputs)
    if done is None:
        return False
    info["phases"][name] = done
    if acc.is_main_process and not opts.keep_last:
        discard_last(work)
    return True


def _resuming(work: Path, name: str, fp: str, inputs: dict, opts, acc, outputs: list[Path]) -> None:
    """Check a saved partial state before the phase starts (a damaged one stops the run here, in one line),
    and that the best checkpoint it counts on is still there."""
    src = saved_state(work, name, fp, inputs, opts.restart_phase, acc.process_index)
    if src is None:
        return
    state = read_saved_state(src)
    if state["best"] is not None:
        for o in outputs:
            _restore(o)
            if not (o / "config.json").is_file():
                raise UserError(f"the best checkpoint of this partial {name} phase (step {state['best']['step']}) "
                                f"is missing, so the run cannot resume exactly; {RESTART_HINT}", o)
    _say(f"{name}: resuming from step {state['step']} ({src})")


def _intermediate_phase(recipe, out, opts, acc, tokenizer, info, base_meta, common) -> str:
    from .heads import MultiTaskModel, encoder_model

    hyper = recipe.intermediate_hyper(opts.cli_hyper)
    work = out / "train" / "intermediate"
    tasks = build_intermediate_tasks(recipe, hyper, tokenizer)
    prov = [p for t in tasks for p in t.provenance]
    specs = {t.name: _spec_digest(t.spec) for t in tasks if t.spec is not None}
    inputs = {**common, "phase": "intermediate", "tasks": list(recipe.intermediate), "specs": specs,
              "hyper": dataclasses.asdict(hyper), "seed": recipe.seed, "sampling": recipe.sampling,
              "temperature": recipe.temperature, "mlm_weight": recipe.mlm_weight,
              "mlm_max_length": recipe.mlm_max_length, "data": prov}
    fp = digest(inputs)
    name = "+".join(recipe.intermediate) or "mlm"
    if _reuse(work, "intermediate", fp, inputs, [out / "encoder"], info, opts, acc):
        _say(f"intermediate phase ({name}) already finished; reusing {out / 'encoder'}")
        return fp
    _resuming(work, "intermediate", fp, inputs, opts, acc, [out / "encoder"])
    _say(f"intermediate phase: {name} ({', '.join(f'{t.name}: {len(t.features)} features' for t in tasks)})")
    with_mlm = any(t.kind == "mlm" for t in tasks)
    meta = {**base_meta, "phase": "intermediate", "task": "encoder", "hyperparameters": dataclasses.asdict(hyper),
            "sampling": recipe.sampling, "temperature": recipe.temperature, "mlm_weight": recipe.mlm_weight,
            "data": prov, "heads": {t.name: {"kind": t.kind, "labels": t.labels} for t in tasks}}

    def build():
        encoder, mlm = encoder_model(recipe.base_model, with_mlm, recipe.trust_remote_code)
        return MultiTaskModel(encoder, {t.name: (t.kind, t.num_labels) for t in tasks}, mlm)

    def save_best(model, state):
        from safetensors.torch import save_file

        def write(tmp: Path):
            _save_hf(model.encoder, tokenizer, tmp, {**meta, "step": state["step"], "dev": state["dev"],
                                                     "created": _now()})
            heads = {k: v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
            if heads:
                save_file(heads, str(tmp / "xtreme_heads.safetensors"))

        write_checkpoint(out / "encoder", write)

    phase = Phase(name="intermediate", work_dir=work, tasks=tasks, build_model=build, tokenizer=tokenizer,
                  hyper=hyper, save_best=save_best, seed=recipe.seed, sampling=recipe.sampling,
                  temperature=recipe.temperature, mlm_weight=recipe.mlm_weight if recipe.intermediate else 1.0,
                  mlm=_mlm_config(tokenizer) if with_mlm else None, fingerprint=fp, progress=opts.progress,
                  keep_last=opts.keep_last, on_step=opts.on_step, inputs=inputs, restart=opts.restart_phase)
    _restore(out / "encoder")  # a best checkpoint whose swap a kill interrupted
    summary = run_phase(phase, acc)
    _finish(work, fp, inputs, summary, info, "intermediate", tasks, acc, out, opts)
    return fp


def _baseline_encoder(recipe, out, opts, acc, tokenizer, info, base_meta, common) -> str:
    from .heads import encoder_model

    inputs = {**common, "phase": "baseline"}
    fp = digest(inputs)
    work = out / "train" / "baseline"
    if _reuse(work, "baseline", fp, inputs, [out / "encoder"], info, opts, acc):
        return fp
    if acc.is_main_process:
        encoder, _ = encoder_model(recipe.base_model, False, recipe.trust_remote_code)
        meta = {**base_meta, "phase": "baseline", "task": "encoder", "created": _now()}
        write_checkpoint(out / "encoder", lambda tmp: _save_hf(encoder, tokenizer, tmp, meta))
        del encoder
    _finish(work, fp, inputs, {"phase": "baseline"}, info, "baseline", [], acc, out, opts)
    return fp


def _target_phase(unit, served, recipe, out, opts, acc, tokenizer, info, base_meta, init, inter_fp,
                  common) -> None:
    from ..tasks.registry import get_task
    from .heads import HFTaskModel, hf_head_model

    hyper = recipe.target_hyper(unit, opts.cli_hyper)
    work = out / "train" / unit
    task = build_target_task(unit, served, recipe, hyper, tokenizer)
    inputs = {**common, "phase": unit, "served": list(served), "init": inter_fp,
              "spec": _spec_digest(get_task(served[0])), "hyper": dataclasses.asdict(hyper), "seed": recipe.seed,
              "data": task.provenance}
    fp = digest(inputs)
    outputs = [out / t for t in served]
    if _reuse(work, unit, fp, inputs, outputs, info, opts, acc):
        _say(f"{unit} already finished; reusing {', '.join(str(o) for o in outputs)}")
        return
    _resuming(work, unit, fp, inputs, opts, acc, outputs)
    _say(f"target {unit} -> {', '.join(served)}: {task.stats.get('train_examples')} English training examples "
         f"({len(task.features)} features), {task.stats.get('dev_examples')} dev")
    meta = {**base_meta, "phase": "target", "trained_on": unit, "init": init,
            "hyperparameters": dataclasses.asdict(hyper), "data": task.provenance}

    def build():
        return HFTaskModel(hf_head_model(init, task.kind, task.labels, recipe.trust_remote_code), unit)

    def save_best(model, state):
        for t in served:
            training = {**meta["training"], "target": {t: target_record(hyper)}}
            write_checkpoint(out / t, lambda tmp, t=t, training=training: _save_hf(
                model.model, tokenizer, tmp, {**meta, "task": t, "training": training, "step": state["step"],
                                              "dev": state["dev"], "created": _now()}))

    phase = Phase(name=unit, work_dir=work, tasks=[task], build_model=build, tokenizer=tokenizer, hyper=hyper,
                  save_best=save_best, seed=recipe.seed, fingerprint=fp, progress=opts.progress,
                  keep_last=opts.keep_last, on_step=opts.on_step, inputs=inputs, restart=opts.restart_phase)
    for o in outputs:
        _restore(o)
    summary = run_phase(phase, acc)
    _finish(work, fp, inputs, summary, info, unit, [task], acc, out, opts)


def _finish(work: Path, fp: str, inputs: dict, summary: dict, info: dict, name: str, tasks, acc, out: Path,
            opts) -> None:
    """done.json (atomic, a Ctrl-C waits for it), then the phase's resume state goes."""
    if acc.is_main_process:
        make_folder(work, "phase folder")
        record = {"fingerprint": fp, "finished": _now(), **summary,
                  "data": [p for t in tasks for p in t.provenance],
                  "tasks": {t.name: t.stats for t in tasks}, "inputs": inputs}
        with uninterrupted():
            atomic_write_json(work / "done.json", record)
        info["phases"][name] = record
        _write_info(out, info)
        if not opts.keep_last:
            discard_last(work)
    acc.wait_for_everyone()


# --- seeds and sweeps: one suite per (run, seed), listed in OUT/sweep.json ---------------------

@dataclasses.dataclass
class PlannedSuite:
    """One suite of a sweep: its folder relative to the sweep's --out, its recipe (one seed), its command."""

    rel: str
    recipe: Recipe
    command: list[str] | None = None


def seed_suites(recipe: Recipe, prefix: str = "", command: list[str] | None = None) -> list[PlannedSuite]:
    """A recipe with ``seeds``: one suite per seed in ``<prefix>/seed-<n>``; without: one suite in ``prefix``."""
    if recipe.seeds is None:
        return [PlannedSuite(prefix, recipe, command)]
    out = []
    for seed in recipe.seeds:
        one = dataclasses.replace(recipe, seed=seed, seeds=None, flags=dict(recipe.flags))
        rel = f"{prefix}/seed-{seed}" if prefix else f"seed-{seed}"
        out.append(PlannedSuite(rel, one, command))
    return out


def sweep_entry(suite: PlannedSuite, plans: list[PhasePlan], cli_hyper: dict | None,
                status: str = "planned") -> SweepSuite:
    r = suite.recipe
    return SweepSuite(path=suite.rel, seed=r.seed, intermediate=list(r.intermediate), mlm=mlm_record(r),
                      base_model=r.base_model, targets=list(r.targets), status=status,
                      settings={"recipe": r.to_dict(), "cli_hyperparameters": dict(cli_hyper or {})},
                      phases={p.name: target_record(p.hyper) for p in plans})


def run_suites(suites: list[PlannedSuite], out: str | os.PathLike, options: RunOptions | None = None
               ) -> dict[str, Any]:
    """Train (or resume) every suite into ``OUT/<rel>/``, listing them in ``OUT/sweep.json``.

    Every suite's recipe is checked before any trains. The sweep folder is held (a lock) while the list is
    written: each suite is listed as ``planned`` first and ``finished`` when its run ends; a suite already
    finished with the same settings stays ``finished``. Each suite is an ordinary run: a rerun reuses its
    finished phases, so a second identical command trains nothing and an added seed trains only its suites."""
    opts = options or RunOptions()
    out = output_path(out, "--out", folder=True)
    rels = [s.rel for s in suites]
    twice = sorted({r for r in rels if rels.count(r) > 1})
    if twice:
        raise UserError(f"two suites of this sweep would share the folder {out / twice[0]}; expected each run and "
                        "seed once")
    if any(not s.rel for s in suites):
        raise UserError("a sweep's suites need folders of their own under --out")
    plans = [validate_recipe(s.recipe, opts.cli_hyper) for s in suites]
    for s in suites:
        output_path(out / s.rel, "--out", folder=True)
    main = get_accelerator(suites[0].recipe.precision, opts.device).is_main_process if suites else True
    out.mkdir(parents=True, exist_ok=True)
    infos: dict[str, Any] = {}
    with hold_output(out) if main else contextlib.nullcontext():
        entries = [sweep_entry(s, p, opts.cli_hyper) for s, p in zip(suites, plans)]
        if main:
            before = {e.path: e for e in (read_sweep(out) if (out / "sweep.json").is_file() else [])}
            for e in entries:
                old = before.get(e.path)
                if old is not None and old.status == "finished" and old.settings == e.settings and \
                        old.phases == e.phases:
                    e.status = "finished"
            write_sweep(out, entries, opts.command)
        for i, (suite, entry) in enumerate(zip(suites, entries), 1):
            _say(f"sweep: suite {i}/{len(suites)}: {suite.rel} (seed {suite.recipe.seed})")
            one = dataclasses.replace(opts, command=suite.command or opts.command)
            infos[suite.rel] = run(suite.recipe, out / suite.rel, one)
            entry.status = "finished"
            if main:
                write_sweep(out, [entry], opts.command)
    return {"sweep": str(out / "sweep.json"), "suites": infos}
