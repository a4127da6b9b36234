"""The optimisation loop shared by every phase: accelerate, resumable, seeded.

Built on ``accelerate.Accelerator`` so the same code runs on a CPU, one GPU
(bf16 where supported) or many (``accelerate launch`` / ``torchrun``) with no
change. What it guarantees:

* gradient accumulation to the requested effective batch, linear warm-up then
  linear decay, gradient clipping;
* English-dev evaluation every ``eval_every`` steps (default: once per epoch),
  the best checkpoint written out each time the dev score improves, optional
  early stopping after ``patience`` evaluations without improvement;
* ``checkpoint-last/`` every ``save_every`` steps (weights, optimizer,
  scheduler, every RNG, counters), written atomically, so that a killed run
  restarted with the same command resumes at the saved step and ends with the
  same weights as an uninterrupted run;
* a JSON-lines log (loss, lr, dev scores, step) and a tqdm progress bar.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..io.errors import UserError
from ..io.files import check_destination, check_regular, make_folder, write_error
from ..io.options import FLAG, RECIPE, option
from ..options import HIGH, LOW
from .files import RESTART_HINT, fix_modes, load_torch, read_state, uninterrupted
from .formats import TaskData, collate, score_dev
from .sampling import BatchPlan, mixing_weights, shard

LAST = "checkpoint-last"
_ACCELERATOR = None


def _hp(default, help: str, low: float | None = None, above: bool = False, below: float | None = None,
        flag: bool = True, high: float | None = None, kind: type | None = None):
    """A hyper-parameter: its default, its help text and its range (``low`` inclusive, or exclusive with
    ``above``; ``below`` exclusive, ``high`` inclusive), declared once (:func:`xtreme_harness.io.options.option`):
    the recipe schema, the command-line flags (``flag``) and the range checks are all read off it."""
    return option(default, help, kind=kind or (type(default) if default is not None else int), low=low,
                  above=above, below=below, high=high, nullable=default is None, flag=True if flag else None,
                  sources=(FLAG, RECIPE) if flag else (RECIPE,))


_MANY = 10**9  # a count no run reaches: the upper bound of intervals and limits
MAX_MICRO_BATCHES = 10**7  # the batch plan is laid out up front (12 bytes each): months of training
_LONG = 1 << 20  # sub-tokens: no model reads sequences this long


@dataclass
class Hyper:
    """Hyper-parameters of one phase (defaults: the paper's; see ``recipes.target_defaults``)."""

    lr: float = _hp(1e-5, "peak learning rate", 0, above=True, high=1.0)
    epochs: float = _hp(2.0, "passes over the training data (0 with max_steps)", 0, high=100_000)
    max_steps: int | None = _hp(None, "stop after this many optimiser steps", 1, high=MAX_MICRO_BATCHES)
    batch_size: int = _hp(32, "effective batch: per device x devices x accumulation", 1, high=_LONG)
    per_device_batch_size: int | None = _hp(None, "batch per device (the rest is gradient accumulation)", 1,
                                            high=_LONG)
    max_length: int | None = _hp(None, "sub-tokens per sequence (default: the task's own, as xtreme-train tasks lists)", LOW, high=HIGH)
    warmup_ratio: float = _hp(0.1, "share of the steps with linear warm-up", 0, high=1.0)
    weight_decay: float = _hp(0.0, "AdamW weight decay", 0, high=1.0)
    max_grad_norm: float = _hp(1.0, "gradient clipping norm", 0, above=True, high=1e6)
    adam_epsilon: float = _hp(1e-8, "AdamW epsilon", 0, above=True, below=1, flag=False)
    eval_every: int | None = _hp(None, "English-dev evaluation every N steps (default: once per epoch)", 1, high=_MANY)
    save_every: int = _hp(500, "write checkpoint-last/ every N steps (for resuming)", 1, high=_MANY)
    patience: int | None = _hp(None, "stop after N evaluations without improvement", 1, high=_MANY)
    limit_train: int | None = _hp(None, "only the first N training examples per task", 1, high=_MANY)
    limit_dev: int | None = _hp(None, "only the first N dev examples per task", 1, high=_MANY)
    log_every: int = _hp(10, "log the loss every N steps", 1, high=_MANY)
    freeze_embeddings: bool = _hp(False, "keep the word embeddings fixed (saves memory and time)")
    freeze_layers: int = _hp(0, "also keep the lowest N transformer layers fixed", 0, high=10_000)
    doc_stride: int = _hp(128, "QA: step between context windows", 1, flag=False, high=_LONG)
    max_query_length: int = _hp(64, "QA: sub-tokens of the question kept", 1, flag=False, high=_LONG)
    eval_batch_size: int = _hp(64, "batch for dev evaluation", 1, high=_LONG)


@dataclass
class Phase:
    """Everything one training phase needs; ``build_model`` runs after seeding."""

    name: str
    work_dir: Path
    tasks: list[TaskData]
    build_model: Callable[[], torch.nn.Module]
    tokenizer: Any
    hyper: Hyper
    save_best: Callable[[torch.nn.Module, dict], None]
    seed: int = 42
    sampling: str = "proportional"
    temperature: float = 2.0
    mlm_weight: float = 0.0
    mlm: dict | None = None  # mask_id, vocab_size, special_ids
    fingerprint: str = ""
    progress: bool = True
    keep_last: bool = False
    on_step: Callable[[dict], None] | None = None
    inputs: dict | None = None  # what the fingerprint was computed from: names what changed on a refused resume
    restart: bool = False  # discard a saved partial state and train the phase from its first step


def precision_for(precision: str, device: str = "auto") -> str:
    """'auto' -> bf16 on a CUDA device that supports it, else full precision."""
    p = (precision or "auto").lower()
    if p in ("no", "fp32", "float32", "none"):
        return "no"
    if p in ("bf16", "bfloat16"):
        return "bf16"
    if p in ("fp16", "float16"):
        return "fp16"
    if p != "auto":
        raise UserError(f"precision '{precision}': expected auto, bf16, fp16 or no")
    if device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def get_accelerator(precision: str = "auto", device: str = "auto"):
    """One Accelerator per process (its state is process-global and cannot change precision later)."""
    global _ACCELERATOR
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    mp = precision_for(precision, device)
    if _ACCELERATOR is not None:
        if _ACCELERATOR.mixed_precision != mp:
            raise UserError(f"this process already trains with precision {_ACCELERATOR.mixed_precision}; "
                            f"precision {mp} needs a new process")
        return _ACCELERATOR
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda"):
        raise UserError(f"--device {device}: expected auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine")
    mps = getattr(torch.backends, "mps", None)
    no_accelerator = not torch.cuda.is_available() and not (mps is not None and mps.is_available())
    # cpu=True is also what lets torchrun / accelerate launch start multi-process CPU (gloo) training.
    acc = Accelerator(mixed_precision=mp, cpu=device == "cpu" or (device == "auto" and no_accelerator),
                      kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1 and acc.num_processes != world:
        raise UserError(f"launched as {world} processes but accelerate set up {acc.num_processes}; "
                        "check the launcher's environment (WORLD_SIZE, RANK, MASTER_ADDR)")
    _ACCELERATOR = acc
    return acc


# --- resumable state -------------------------------------------------------------------

def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def _last_dir(work: Path) -> Path | None:
    """The complete checkpoint-last, also after a kill between the two renames of a save. A saved state
    that lacks its ``state.json`` cannot be resumed exactly: that is an error (``--restart-phase`` skips it)."""
    last, old = work / LAST, work / (LAST + ".old")
    if (last / "state.json").is_file():
        return last
    if (old / "state.json").is_file():
        return old
    for d in (last, old):
        if d.is_dir() and any(d.iterdir()):
            raise UserError(f"the saved training state is missing, so the run cannot resume exactly; "
                            f"{RESTART_HINT}", d / "state.json")
    return None


def _write_state(path: Path, state: dict) -> None:
    check_destination(path, "trainer state file")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(state, indent=1))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise write_error(exc, path, "trainer state file") from None


def _save_last(work: Path, accelerator, model, optimizer, scheduler, state: dict) -> None:
    """checkpoint-last.tmp, written whole (a Ctrl-C waits for it), then swapped in for checkpoint-last."""
    tmp, last, old = work / (LAST + ".tmp"), work / LAST, work / (LAST + ".old")
    check_destination(last, "resume checkpoint")
    with uninterrupted():
        try:
            _write_last(tmp, last, old, accelerator, model, optimizer, scheduler, state)
        except OSError as exc:  # a full disk: one line naming the folder; the last complete state is kept
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(exc, last, "resume checkpoint") from None


def _write_last(tmp: Path, last: Path, old: Path, accelerator, model, optimizer, scheduler, state: dict) -> None:
    if accelerator.is_main_process:
        from safetensors.torch import save_model

        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(accelerator.unwrap_model(model), str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), tmp / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _write_state(tmp / "state.json", state)  # last: a folder with state.json is complete
        fix_modes(tmp)
        if last.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(last, old)
        os.replace(tmp, last)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


_STATE_SCHEMA = {"step": (int,), "total_steps": (int,), "log_offset": (int,), "bad_evals": (int,),
                 "best": (dict, type(None)), "stopped_early": (bool,), "fingerprint": (str,), "geometry": (dict,),
                 "processes": (int,), "train_seconds": (int, float)}


def read_saved_state(src: Path) -> dict:
    """``state.json`` of a saved checkpoint, checked: a damaged one is an error naming it."""
    path = src / "state.json"
    state = read_state(path, "saved training state", _STATE_SCHEMA, RESTART_HINT)
    if not 0 <= state["step"] <= state["total_steps"] or state["log_offset"] < 0 or state["bad_evals"] < 0:
        raise UserError(f"saved training state has impossible counters (step {state['step']} of "
                        f"{state['total_steps']}); {RESTART_HINT}", path)
    best = state["best"]
    if best is not None and not (isinstance(best.get("score"), (int, float)) and isinstance(best.get("step"), int)):
        raise UserError(f"saved training state has a malformed 'best' record; {RESTART_HINT}", path)
    return state


def saved_state(work: Path, name: str, fingerprint: str, inputs: dict | None, restart: bool,
                rank: int) -> Path | None:
    """The checkpoint-last a rerun resumes from, checked before any work: complete, readable and saved
    from the same inputs; None when there is none (or ``restart`` discards it)."""
    if restart:
        return None
    src = _last_dir(work)
    if src is None:
        return None
    saved = read_saved_state(src)
    if saved["fingerprint"] != fingerprint:
        from .files import describe_change

        change = describe_change(saved.get("inputs"), inputs) if isinstance(saved.get("inputs"), dict) else None
        raise UserError(f"this partial {name} phase was started with other settings or inputs"
                        f"{' (' + change + ')' if change else ' (data, hyper-parameters or model)'}; rerun "
                        "with the same ones, pass --restart-phase or --overwrite to start over, or use "
                        "another --out", src / "state.json")
    _check_complete(src, rank)
    return src


def _check_complete(src: Path, rank: int) -> None:
    """Every file an exact resume needs is there (before anything is loaded)."""
    for name, what in (("model.safetensors", "saved weights"), ("optimizer.pt", "saved optimizer state"),
                       ("scheduler.pt", "saved learning-rate schedule"),
                       (f"rng-{rank}.pt", "saved random-number state")):
        if not (src / name).exists():
            raise UserError(f"{what} is missing, so the run cannot resume exactly; {RESTART_HINT}", src / name)


def _load_last(src: Path, accelerator, model, optimizer, scheduler) -> dict:
    from safetensors.torch import load_model

    rank = accelerator.process_index
    _check_complete(src, rank)
    state = read_saved_state(src)
    weights = src / "model.safetensors"
    check_regular(weights, "saved weights")
    try:
        load_model(accelerator.unwrap_model(model), str(weights), device=str(accelerator.device))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise UserError(f"saved weights cannot be loaded ({_reason(exc)}); {RESTART_HINT}", weights) from None
    for name, what, target in (("optimizer.pt", "saved optimizer state", optimizer),
                               ("scheduler.pt", "saved learning-rate schedule", scheduler)):
        value = load_torch(src / name, what)
        try:
            target.load_state_dict(value)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            raise UserError(f"{what} does not fit this phase ({_reason(exc)}); {RESTART_HINT}", src / name) from None
    rng = src / f"rng-{rank}.pt"
    value = load_torch(rng, "saved random-number state")
    try:
        _set_rng_state(value)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise UserError(f"saved random-number state is malformed ({_reason(exc)}); {RESTART_HINT}", rng) from None
    return state


def _reason(exc: BaseException) -> str:
    from ..io.errors import clip

    return clip((str(exc).strip().splitlines() or [type(exc).__name__])[0], 120)


def discard_last(work: Path) -> None:
    """Remove the resume state of a finished phase (after its done.json is written)."""
    for name in (LAST, LAST + ".old", LAST + ".tmp"):
        shutil.rmtree(work / name, ignore_errors=True)


# --- the loop --------------------------------------------------------------------------

def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    seen = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith("bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _freeze(model: torch.nn.Module, embeddings: bool, layers: int) -> None:
    """Fix the word embeddings and/or the lowest ``layers`` transformer blocks."""
    inner = getattr(model, "model", None) or getattr(model, "encoder", None) or model
    if embeddings or layers:
        emb = inner.get_input_embeddings() if hasattr(inner, "get_input_embeddings") else None
        if emb is not None:
            emb.requires_grad_(False)
    if layers:
        n = getattr(getattr(inner, "config", None), "num_hidden_layers", None)
        blocks = next((m for m in inner.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n), None)
        if blocks is None:
            raise UserError("freeze_layers: cannot find the transformer blocks of this model")
        if layers > len(blocks):
            raise UserError(f"freeze_layers {layers}: the model has {len(blocks)} layers")
        base = getattr(inner, "base_model", inner)
        emb_module = getattr(base, "embeddings", None)
        if emb_module is not None:  # position/type embeddings and their norm sit below layer 0
            emb_module.requires_grad_(False)
        for block in list(blocks)[:layers]:
            block.requires_grad_(False)


def plan_steps(phase: Phase, world: int) -> dict[str, int]:
    """Batch geometry and schedule lengths of a phase on ``world`` processes."""
    h = phase.hyper
    per_device = h.per_device_batch_size or max(1, h.batch_size // world)
    if h.batch_size % (per_device * world):
        raise UserError(f"batch size {h.batch_size} is not a multiple of per-device batch {per_device} x "
                        f"{world} process(es)")
    accum = h.batch_size // (per_device * world)
    micro = per_device * world
    sup = [t for t in phase.tasks if t.kind != "mlm"]
    nb = sum(max(1, math.ceil(len(t.features) / micro)) for t in (sup or phase.tasks))
    if sup and phase.mlm_weight > 0:
        nb = math.ceil(nb / (1.0 - phase.mlm_weight))
    steps_per_epoch = max(1, math.ceil(nb / accum))
    total = h.max_steps or max(1, math.ceil(h.epochs * steps_per_epoch))
    if total * accum > MAX_MICRO_BATCHES:
        raise UserError(f"phase {phase.name}: {total} optimiser steps of {accum} micro-batch(es) each is more than "
                        f"the {MAX_MICRO_BATCHES} micro-batches a run may plan; lower epochs or max_steps")
    return {"per_device": per_device, "accum": accum, "micro": micro, "steps_per_epoch": steps_per_epoch,
            "total_steps": total, "eval_every": h.eval_every or steps_per_epoch,
            "warmup": int(round(h.warmup_ratio * total))}


def _probs(phase: Phase) -> list[float]:
    sup = [i for i, t in enumerate(phase.tasks) if t.kind != "mlm"]
    probs = np.zeros(len(phase.tasks))
    if sup:
        w = mixing_weights([len(phase.tasks[i].features) for i in sup], phase.sampling, phase.temperature)
        probs[sup] = w * (1.0 - (phase.mlm_weight if len(sup) < len(phase.tasks) else 0.0))
    for i, t in enumerate(phase.tasks):
        if t.kind == "mlm":
            probs[i] = phase.mlm_weight if sup else 1.0
    return list(probs / probs.sum())


def _stderr_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run_phase(phase: Phase, accelerator) -> dict[str, Any]:
    """Train one phase to the end (or early stop); returns a summary. Resumes from checkpoint-last, which
    the caller removes (:func:`discard_last`) once the phase is recorded as done."""
    from accelerate.utils import broadcast_object_list, set_seed
    from tqdm.auto import tqdm

    from ..producers.engine import InferenceEngine
    from ..producers.transformers_import import transformers_name

    get_linear_schedule_with_warmup = transformers_name("get_linear_schedule_with_warmup")

    h = phase.hyper
    work = Path(phase.work_dir)
    make_folder(work, "phase folder")
    if not phase.tasks:
        raise UserError(f"phase {phase.name} has no task to train")
    for t in phase.tasks:
        if not t.features:
            raise UserError(f"no training examples for task {t.name} in phase {phase.name}")
    geo = plan_steps(phase, accelerator.num_processes)
    total, accum = geo["total_steps"], geo["accum"]

    set_seed(phase.seed)
    model = phase.build_model()
    if h.freeze_embeddings or h.freeze_layers:
        _freeze(model, h.freeze_embeddings, h.freeze_layers)
    optimizer = torch.optim.AdamW(_param_groups(model, h.weight_decay), lr=h.lr, eps=h.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, geo["warmup"], total)
    model, optimizer = accelerator.prepare(model, optimizer)
    pad_id = phase.tokenizer.pad_token_id if phase.tokenizer.pad_token_id is not None else 0

    plan = BatchPlan([len(t.features) for t in phase.tasks], _probs(phase), geo["micro"], total * accum, phase.seed)
    log_path = work / "train_log.jsonl"
    rank, world = accelerator.process_index, accelerator.num_processes
    state = {"step": 0, "best": None, "bad_evals": 0, "log_offset": 0, "stopped_early": False,
             "fingerprint": phase.fingerprint, "total_steps": total, "train_seconds": 0.0,
             "geometry": {k: geo[k] for k in ("per_device", "accum", "micro")}, "processes": world}
    if phase.inputs is not None:
        state["inputs"] = phase.inputs
    if phase.restart:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            discard_last(work)
            log_path.unlink(missing_ok=True)
        accelerator.wait_for_everyone()
    src = saved_state(work, phase.name, phase.fingerprint, phase.inputs, False, rank)
    if src is not None:
        saved = read_saved_state(src)
        if saved["geometry"] != state["geometry"] or saved["processes"] != world:
            raise UserError(f"{work} was started on {saved['processes']} process(es) with batch geometry "
                            f"{saved['geometry']}; resume it with the same launch (now {world}: "
                            f"{state['geometry']})", src / "state.json")
        state = _load_last(src, accelerator, model, optimizer, scheduler)
    if accelerator.is_main_process:
        if log_path.is_file() and log_path.stat().st_size > state["log_offset"]:
            with open(log_path, "r+b") as f:  # drop lines written after the saved step
                f.truncate(state["log_offset"])
        _log(log_path, {"event": "resume" if state["step"] else "start", "phase": phase.name,
                        "step": state["step"], "total_steps": total, **{k: geo[k] for k in geo},
                        "tasks": {t.name: len(t.features) for t in phase.tasks}, "time": time.time()})
    dev = accelerator.device
    engine = InferenceEngine(device=dev.type if dev.type in ("cpu", "mps") else str(dev), dtype=torch.float32,
                             batch_size=h.eval_batch_size, progress=False, pad_token_id=pad_id)
    dev_tasks = [t for t in phase.tasks if t.dev_examples]
    bar = tqdm(total=total, initial=state["step"], desc=f"train {phase.name}", unit="step", dynamic_ncols=True,
               disable=not (phase.progress and accelerator.is_main_process),
               mininterval=0.5 if _stderr_tty() else 30)
    model.train()
    run_loss, run_n, task_loss = 0.0, 0, {}
    t_start = time.time() - state.get("train_seconds", 0.0)
    step = state["step"]
    stop = False
    while step < total and not stop:
        loss_sum = 0.0
        for a in range(accum):
            m = step * accum + a
            ti, idx = plan.micro(m)
            task = phase.tasks[ti]
            feats = [task.features[i] for i in shard(idx, rank, world)]
            batch = collate(task.kind, feats, pad_id, phase.mlm, np.random.default_rng([phase.seed, 104729, m]))
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            sync = a == accum - 1
            ctx = accelerator.no_sync(model) if not sync and world > 1 else _null()
            with ctx:
                out = model(task=task.name, **batch)
                loss = out.loss / accum
                accelerator.backward(loss)
            value = float(loss.detach()) * accum
            if not math.isfinite(value):
                raise UserError(f"training diverged in phase {phase.name} at step {step + 1} (loss {value}); "
                                "lower the learning rate or use --precision no")
            loss_sum += value
            task_loss.setdefault(task.name, []).append(value)
        if h.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), h.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        run_loss += loss_sum / accum
        run_n += 1
        bar.update(1)
        if run_n and (step % h.log_every == 0 or step == total):
            lr = scheduler.get_last_lr()[0]
            bar.set_postfix(loss=f"{run_loss / run_n:.4f}", lr=f"{lr:.2e}")
            if accelerator.is_main_process:
                _log(log_path, {"step": step, "epoch": round(step / geo["steps_per_epoch"], 4),
                                "loss": run_loss / run_n, "lr": lr,
                                "task_loss": {k: float(np.mean(v)) for k, v in task_loss.items()},
                                "elapsed": round(time.time() - t_start, 2)})
            run_loss, run_n, task_loss = 0.0, 0, {}
        evaluated = False
        if dev_tasks and (step % geo["eval_every"] == 0 or step == total):
            result = [None]
            if accelerator.is_main_process:
                result[0] = _evaluate(phase, dev_tasks, accelerator.unwrap_model(model), engine, step, state,
                                      log_path)
            accelerator.wait_for_everyone()
            if world > 1:
                broadcast_object_list(result)
            state["best"], state["bad_evals"], stop = result[0]
            model.train()
            evaluated = True
            if stop and step < total:
                state["stopped_early"] = True
        state["step"] = step
        state["train_seconds"] = time.time() - t_start
        if step < total and not stop and (evaluated or step % h.save_every == 0):
            state["log_offset"] = log_path.stat().st_size if log_path.exists() else 0
            _save_last(work, accelerator, model, optimizer, scheduler, state)
            if accelerator.is_main_process:
                _log(log_path, {"event": "saved", "step": step})
        if phase.on_step is not None:
            phase.on_step({"phase": phase.name, "step": step, "total_steps": total})
    bar.close()
    if not dev_tasks and accelerator.is_main_process:
        phase.save_best(accelerator.unwrap_model(model), {"step": step, "dev": None})
    accelerator.wait_for_everyone()
    summary = {"phase": phase.name, "steps": step, "total_steps": total, "best_dev": state["best"],
               "stopped_early": state["stopped_early"], "train_seconds": round(time.time() - t_start, 2),
               **{k: geo[k] for k in ("per_device", "accum", "steps_per_epoch")}}
    if accelerator.is_main_process:
        _log(log_path, {"event": "done", **summary})
    accelerator.wait_for_everyone()
    del model, optimizer
    accelerator.free_memory()
    return summary


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _evaluate(phase: Phase, dev_tasks, model, engine, step, state, log_path):
    scores = {}
    for t in dev_tasks:
        scores[t.name] = score_dev(t, model, phase.tokenizer, engine)
    score = float(np.mean([s["score"] for s in scores.values()]))
    best, bad = state["best"], state["bad_evals"]
    improved = best is None or score > best["score"]
    if improved:
        best = {"score": score, "step": step, "tasks": scores}
        bad = 0
        phase.save_best(model, {"step": step, "dev": best})
    else:
        bad += 1
    _log(log_path, {"event": "dev", "step": step, "score": score, "dev": scores, "improved": improved})
    stop = phase.hyper.patience is not None and bad >= phase.hyper.patience
    return best, bad, stop


def _log(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
