"""The trainer's own files: input fingerprints, the output lock, leftovers of a killed run, safe reads.

A finished or half-finished phase is reused only when nothing that can change
its numbers has changed, so every input is fingerprinted by content (size,
``mtime_ns`` and a digest of the file, or of samples of a large one) rather
than by name. Everything read back from a run folder (JSON state,
optimizer and RNG states) is read without unpickling and refused in one line
when damaged; every checkpoint is written whole (a Ctrl-C waits for it) and
with the modes the user's umask gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from ..io.boundary import uninterrupted  # noqa: F401  (re-exported for the trainer)
from ..io.errors import UserError, clip, os_error
from ..io.files import check_regular, confined_to, folder_lock, remove_stale_temps
from ..io.jsonfile import read_json
from ..io.reads import file_fingerprint as content_fingerprint


def file_fingerprint(path: str | os.PathLike, what: str = "file") -> dict[str, Any]:
    """Size, ``mtime_ns`` and the content digest of :func:`~xtreme_harness.io.reads.file_fingerprint` of a
    regular file: equal fingerprints mean the same content."""
    st = check_regular(path, what)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "digest": content_fingerprint(path)[1]}


def model_fingerprint(name: str) -> dict[str, Any]:
    """A local model folder: every file it holds (weights, config, tokenizer); a hub id: the cached revision."""
    p = Path(name).expanduser()
    if p.is_dir():
        files = {}
        try:
            entries = sorted(p.iterdir())
        except OSError as exc:
            raise os_error(exc, p, "model folder") from None
        for f in entries:
            if f.name.startswith(".") or f.is_dir():
                continue
            files[f.name] = file_fingerprint(f, "model file")
        return {"path": str(p.resolve()), "files": files}
    return {"hub": name, "revision": _hub_revision(name)}


def _hub_revision(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library refuses: transformers will say what is wrong with it
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe_change(before: Any, now: Any, where: str = "") -> str | None:
    """The first input that differs between two fingerprints, in words (None: no difference found)."""
    if isinstance(before, dict) and isinstance(now, dict):
        if "files" in before and "files" in now and isinstance(before["files"], dict):
            old, new = before["files"], now["files"]
            for name in sorted(set(old) | set(new)):
                if name not in new:
                    return f"{where or 'the model'}: {name} was removed"
                if name not in old:
                    return f"{where or 'the model'}: {name} was added"
                if old[name] != new[name]:
                    return f"{where or 'the model'}: {name} changed"
        for key in sorted(set(before) | set(now), key=str):
            if before.get(key) != now.get(key):
                sub = describe_change(before.get(key), now.get(key), f"{where}.{key}" if where else str(key))
                return sub
        return None
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        for i, (a, b) in enumerate(zip(before, now)):
            if a != b:
                return describe_change(a, b, f"{where}[{i}]")
        return None
    if before == now:
        return None
    return f"{where or 'the settings'}: {clip(json.dumps(before, default=str), 60)} then, " \
           f"{clip(json.dumps(now, default=str), 60)} now"


# --- the output folder ----------------------------------------------------------------------

@contextlib.contextmanager
def hold_output(out: Path, flag: str = "--out"):
    """An exclusive lock on ``OUT/.lock`` for the whole run (a second run on the same folder stops at once), and
    every file the run writes confined to ``OUT`` (never through a link out of it)."""
    with folder_lock(out, "training into", flag), confined_to(out):
        yield


def _is_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink()


def _complete(p: Path) -> bool:
    """A checkpoint folder that was swapped in whole: a model config or a trainer state inside."""
    return (p / "config.json").is_file() or (p / "state.json").is_file()


def remove_leftovers(out: Path) -> None:
    """What a killed run leaves (call holding the lock): temporary files and ``*.tmp`` folders go, an
    ``.X.old`` folder goes when ``X`` is whole again and is put back when a kill fell between the two renames."""
    remove_stale_temps(out)
    folders = [out] + ([d for d in sorted((out / "train").iterdir()) if _is_dir(d)] if _is_dir(out / "train") else [])
    for folder in folders:
        for p in sorted(folder.iterdir()):
            if not _is_dir(p) or not p.name.startswith((".", "checkpoint-")):
                continue  # the trainer's own temporary names only: nothing of the user's goes
            if p.name.endswith(".tmp"):
                shutil.rmtree(p)
            elif p.name.endswith(".old"):
                name = p.name[:-len(".old")]
                live = folder / (name[1:] if name.startswith(".") else name)
                if _is_dir(live) and _complete(live):
                    shutil.rmtree(p)
                elif not live.exists() and _complete(p):
                    os.replace(p, live)


def fix_modes(folder: Path) -> None:
    """Give every file in ``folder`` the mode a new file gets under the umask (0666 less it); some writers
    (safetensors among them) create private 0600 files."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [folder, *folder.rglob("*")]:
        if p.is_symlink():
            continue
        mode = (0o777 if p.is_dir() else 0o666) & ~mask
        if stat.S_IMODE(p.stat().st_mode) != mode:
            os.chmod(p, mode)


# --- Ctrl-C ---------------------------------------------------------------------------------


# --- reading run state back -----------------------------------------------------------------

RESTART_HINT = "pass --restart-phase to train this phase again from its first step"


def read_state(path: Path, what: str, schema: dict[str, tuple], hint: str = "") -> dict[str, Any]:
    """A JSON object the trainer wrote, checked against ``schema`` (key -> accepted types; None allowed
    where the types include ``type(None)``)."""
    try:
        data = read_json(path, what)
    except UserError as exc:
        raise UserError(exc.message + (f"; {hint}" if hint else ""), exc.path, exc.line) from None
    if not isinstance(data, dict):
        raise UserError(f"{what} must be a JSON object as xtreme-train writes it" + (f"; {hint}" if hint else ""),
                        path)
    for key, types in schema.items():
        value = data.get(key)
        if key not in data or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise UserError(f"{what} lacks a valid '{key}'; expected a file as xtreme-train writes it"
                            + (f"; {hint}" if hint else ""), path)
    return data


def load_torch(path: Path, what: str, hint: str = RESTART_HINT) -> Any:
    """``torch.load`` of tensors and plain values only (``weights_only``): a pickled object is refused."""
    import torch

    if not path.exists() and not path.is_symlink():
        raise UserError(f"{what} is missing, so the run cannot resume exactly; {hint}", path)
    check_regular(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{what} cannot be read safely ({clip(reason, 120)}); expected tensors and plain values "
                        f"as xtreme-train writes them; {hint}", path) from None


__all__ = ["RESTART_HINT", "describe_change", "digest", "file_fingerprint", "fix_modes", "hold_output",
           "load_torch", "model_fingerprint", "read_state", "remove_leftovers", "uninterrupted"]
