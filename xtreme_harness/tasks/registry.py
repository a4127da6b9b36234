"""The registries of task specs: the built-in ones beside this module, then the user's ``--task-dir`` folders.

A spec is validated against the family it names (:func:`~xtreme_harness.spec.parse_spec`
is handed the families here, so specs never import them). A user spec may take
a built-in task's id only with ``replaces_builtin: true``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..families import FAMILIES
from ..io import reads
from ..io.errors import UserError, clip, os_error
from ..io.files import read_text
from ..io.yamlfile import Locator
from ..spec import TaskSpec, benchmark_tasks, builtin_task_dir, parse_spec


def load_spec(path: str | os.PathLike) -> TaskSpec:
    path = os.fspath(path)
    return parse_spec(read_text(path, "spec file"), path, FAMILIES)


def builtin_intermediate_dir() -> Path:
    return builtin_task_dir() / "intermediate"


def _load_dir(directory: str) -> dict[str, TaskSpec]:
    with reads.paused():
        return _load_dir_cached(directory)


@lru_cache(maxsize=32)
def _load_dir_cached(directory: str) -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    d = Path(directory)
    if not d.is_dir():
        raise UserError("task spec folder not found", directory)
    try:
        names = os.listdir(d)
    except OSError as exc:  # an unreadable folder would otherwise add no task, silently
        raise os_error(exc, d, "task spec folder") from None
    files = sorted(n for n in names if n.endswith(".yaml")) + sorted(n for n in names if n.endswith(".yml"))
    for p in (d / n for n in files):
        if p.name.startswith("_"):
            continue
        spec = load_spec(p)
        if spec.task in specs:
            raise UserError(f"task '{spec.task}' is defined twice (also in {specs[spec.task].source_file})", str(p))
        specs[spec.task] = spec
    return specs


def _registry(builtin: Path, task_dirs, intermediate: bool) -> dict[str, TaskSpec]:
    own = _load_dir(str(builtin))
    specs = dict(own)
    for d in task_dirs or ():
        for name, spec in _load_dir(str(Path(d).resolve())).items():
            if spec.intermediate != intermediate:
                continue
            if (name in own) != spec.replaces_builtin:
                with reads.paused():
                    loc = Locator(read_text(spec.source_file, "task spec"))
                if spec.replaces_builtin:
                    raise UserError(f"'replaces_builtin: true' but there is no built-in task '{name}'",
                                    spec.source_file, loc.line(("replaces_builtin",)))
                raise UserError(f"task '{name}' is a built-in task; give this spec its own 'task' id, or set "
                                "'replaces_builtin: true' to replace it (results then mark the task and leave it "
                                "out of the overall score)", spec.source_file, loc.line(("task",)))
            specs[name] = spec
    return specs


def registry(task_dirs: tuple[str, ...] | list[str] | None = None) -> dict[str, TaskSpec]:
    """All XTREME-style tasks: the built-in specs, then user folders (a built-in id only with replaces_builtin)."""
    return _registry(builtin_task_dir(), tuple(task_dirs or ()), intermediate=False)


def intermediate_registry(task_dirs: tuple[str, ...] | list[str] | None = None) -> dict[str, TaskSpec]:
    """All intermediate (STILTs) tasks: the built-in ones, then user folders."""
    return _registry(builtin_intermediate_dir(), tuple(task_dirs or ()), intermediate=True)


def get_task(name: str, task_dirs=None) -> TaskSpec:
    specs = registry(tuple(task_dirs) if task_dirs else None)
    if name not in specs:
        raise UserError(f"unknown task '{clip(name)}' (known: {clip(', '.join(sorted(specs)), 400)})")
    return specs[name]


def get_intermediate(name: str, task_dirs=None) -> TaskSpec:
    specs = intermediate_registry(tuple(task_dirs) if task_dirs else None)
    if name not in specs:
        raise UserError(f"unknown intermediate task '{name}' (known: {', '.join(sorted(specs))})")
    return specs[name]


def resolve_tasks(arg: str, version: str = "xtreme", task_dirs=None) -> list[TaskSpec]:
    """Turn ``all`` or ``t1,t2`` into specs; ``all`` is the benchmark's tasks."""
    specs = registry(tuple(task_dirs) if task_dirs else None)
    if arg.strip() == "all":
        names = [t for t in benchmark_tasks(version) if t in specs]
    else:
        names = [t.strip() for t in arg.split(",") if t.strip()]
        if not names:
            raise UserError("--tasks is empty (expected 'all' or a comma-separated list of task ids)")
    out = []
    for n in names:
        if n not in specs:
            raise UserError(f"unknown task '{clip(n)}' (known: {clip(', '.join(sorted(specs)), 400)})")
        out.append(specs[n])
    return out
