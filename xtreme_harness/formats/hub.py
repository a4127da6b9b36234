"""Datasets on the Hugging Face hub (or a local copy of one), loaded through ``datasets.load_dataset``.

One loader for every hub read (XTREME tasks with ``--data-dir hf``, the
intermediate tasks' hub sources): errors become one line naming the dataset,
config and split (an unreachable hub included), a local copy is re-read
instead of served stale from ``datasets``' cache, and the read is noted in the
run's record of inputs (the local copy's files, or the hub repository with the
revision it resolved to and the dataset's fingerprint).
"""

from __future__ import annotations

from pathlib import Path

from ..io import reads
from ..io.errors import UserError
from ..io.messages import listing, show

# Errors of the hub stack that mean "not reachable / not there / not allowed": the user's environment to fix.
_HUB_MODULES = ("datasets", "huggingface_hub", "requests", "httpx", "httpcore", "fsspec", "urllib3", "aiohttp")


def is_local_copy(path: str) -> bool:
    return Path(path).expanduser().is_dir()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def load(path: str, config: str | None, split: str, revision: str | None = None):
    """One split of a hub dataset (or of a local copy of its repository), as a ``datasets.Dataset``."""
    where = f"{path}{' config ' + repr(config) if config else ''} split '{split}'"
    local = is_local_copy(path)
    if not local:
        _check_reachable(where)
    try:
        import datasets

        datasets.disable_progress_bars()  # they would print on stderr even with --no-progress, around any error
        # datasets keys its cache of a local copy by path, not content: an edited copy would be read stale.
        fresh = {"download_mode": "force_redownload", "verification_mode": "no_checks"} if local else {}
        ds = datasets.load_dataset(path, config, split=split, revision=revision, **fresh)
    except (FileNotFoundError, ValueError, ConnectionError, TimeoutError, OSError) as exc:
        raise UserError(f"cannot load {where}: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - offline, missing or gated datasets are the user's to fix
        if type(exc).__module__.startswith(_HUB_MODULES):
            raise UserError(f"cannot load {where}: {_first_line(exc)}") from None
        raise
    if local:
        reads.note_folder(path, "files")
    else:
        reads.note_dataset(path, config, split, revision or cached_revision(path),
                           str(getattr(ds, "_fingerprint", "") or ""), len(ds))
    return ds


def _check_reachable(where: str) -> None:
    """An unreachable hub, said at once (the datasets library would retry, then fail deep in its stack)."""
    from huggingface_hub import constants

    from ..io.network import hub_reachable

    if not constants.HF_HUB_OFFLINE and not hub_reachable(constants.ENDPOINT):
        raise UserError(f"cannot load {where}: the Hugging Face hub ({constants.ENDPOINT}) cannot be reached; set "
                        "HF_HUB_OFFLINE=1 to read what the local cache holds, or get the files with xtreme-data "
                        "download and name them with --data-dir")


def cached_revision(repo: str, ref: str = "main") -> str | None:
    """The commit the local hub cache holds for ``repo`` at ``ref`` (what an offline load reads), if any."""
    try:
        from huggingface_hub import constants

        refs = Path(constants.HF_HUB_CACHE) / ("datasets--" + repo.replace("/", "--")) / "refs" / ref
        return refs.read_text(encoding="utf-8").strip() or None if refs.is_file() else None
    except (ImportError, OSError):
        return None


def class_names(ds, column: str):
    """ClassLabel names of a (sequence) column, to turn integer labels into the task's label strings."""
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return getattr(inner, "names", None)


def label_name(value, names, labels, where: str):
    """A row's label as a task label: a ClassLabel id (0 <= id < len(names); never a bool or a negative
    index from the end) or a label string."""
    if type(value) is int and names is not None:
        if not 0 <= value < len(names):
            raise UserError(f"label id {value} is not one of the ClassLabel ids 0..{len(names) - 1}", where)
        value = names[value]
    elif type(value) is int:
        value = str(value)
    if not isinstance(value, str):
        raise UserError(f"label {show(value)} is not a label name", where)
    if labels and value not in labels:
        raise UserError(f"label {show(value)} is not in the label set ({listing(labels)})", where)
    return value


def head(ds, limit: int | None):
    """The first ``limit`` rows (all of them without a limit)."""
    return ds if limit is None else ds.select(range(min(limit, len(ds))))
