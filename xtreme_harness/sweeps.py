"""``sweep.json``: the suites a STILTs sweep holds, written by ``xtreme-train`` and read by ``xtreme-eval``.

A sweep folder holds one suite per (run, seed), e.g. ``OUT/anli_plus/seed-1/``,
and ``OUT/sweep.json`` lists each suite by its path relative to the folder,
with what it trains (intermediate tasks, MLM, seed, base model, targets) and
the settings it was trained with, so that ``xtreme-eval --model OUT`` can
evaluate every suite into the same relative folder under its output. The file
lives in the run layer because both sides need it: the trainer (above) writes
it, the run loop reads it. A suite is listed as ``planned`` before its
training starts and ``finished`` once it ends; a later sweep into the same
folder adds its suites (a suite of the same path is replaced), so the file
lists everything the folder holds.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .io.errors import UserError
from .io.files import atomic_write_json
from .io.jsonfile import Where, load_json
from .io.messages import shown
from .io.version import __version__

SWEEP_FILE = "sweep.json"
SCHEMA = "xtreme-harness/sweep/v1"
STATUSES = ("planned", "finished")


@dataclass
class SweepSuite:
    """One suite of a sweep: where it is (relative to the sweep folder) and what it trains."""

    path: str  # POSIX, relative, no '..'
    seed: int
    intermediate: list[str]
    mlm: dict[str, Any] | None
    base_model: str
    targets: list[str]
    status: str = "planned"
    settings: dict[str, Any] = field(default_factory=dict)  # the suite's effective recipe and flags
    phases: dict[str, Any] = field(default_factory=dict)  # each phase's resolved hyper-parameters

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "seed": self.seed, "intermediate": list(self.intermediate), "mlm": self.mlm,
                "base_model": self.base_model, "targets": list(self.targets), "status": self.status,
                "settings": self.settings, "phases": self.phases}


def is_sweep(folder: str | os.PathLike) -> bool:
    """A folder holding ``sweep.json`` (what ``xtreme-eval --model`` evaluates suite by suite)."""
    try:
        return (Path(folder).expanduser() / SWEEP_FILE).is_file()
    except (OSError, ValueError):
        return False


def _relative(path: Any) -> bool:
    if not isinstance(path, str) or not path.strip() or "\\" in path:
        return False
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts and "." not in p.parts and str(p) == path


def read_sweep(folder: str | os.PathLike) -> list[SweepSuite]:
    """The suites ``FOLDER/sweep.json`` lists, checked: a bad entry is one line naming the file and line."""
    path = Path(folder).expanduser() / SWEEP_FILE
    doc, _ = load_json(path, "sweep file")
    w = Where(str(path))
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        w.fail(f"not a sweep file: expected an object with \"schema\": \"{SCHEMA}\"", "schema")
    suites = doc.get("suites")
    if not isinstance(suites, list):
        w.fail(f"suites is {shown(suites)}; expected a list of suites", "suites")
    out: list[SweepSuite] = []
    seen: set[str] = set()
    for i, s in enumerate(suites):
        at = ("suites", i)
        if not isinstance(s, dict):
            w.fail(f"suites[{i}] is {shown(s)}; expected an object", *at)
        rel = s.get("path")
        if not _relative(rel):
            w.fail(f"suites[{i}].path is {shown(rel)}; expected a folder relative to the sweep folder, without "
                   "'..'", *at, "path")
        if rel in seen:
            w.fail(f"suites[{i}].path {shown(rel)} is listed twice; expected each suite once", *at, "path")
        seen.add(rel)
        seed = s.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            w.fail(f"suites[{i}].seed is {shown(seed)}; expected an integer", *at, "seed")
        inter = s.get("intermediate")
        if not isinstance(inter, list) or not all(isinstance(x, str) for x in inter):
            w.fail(f"suites[{i}].intermediate is {shown(inter)}; expected a list of task names", *at, "intermediate")
        mlm = s.get("mlm")
        if mlm is not None and not isinstance(mlm, dict):
            w.fail(f"suites[{i}].mlm is {shown(mlm)}; expected null or an object", *at, "mlm")
        targets = s.get("targets")
        if not isinstance(targets, list) or not all(isinstance(x, str) for x in targets):
            w.fail(f"suites[{i}].targets is {shown(targets)}; expected a list of task ids", *at, "targets")
        status = s.get("status", "planned")
        if status not in STATUSES:
            w.fail(f"suites[{i}].status is {shown(status)}; expected one of {', '.join(STATUSES)}", *at, "status")
        base = s.get("base_model")
        if not isinstance(base, str):
            w.fail(f"suites[{i}].base_model is {shown(base)}; expected the base model's name", *at, "base_model")
        out.append(SweepSuite(rel, seed, list(inter), mlm, base, list(targets), status,
                              s.get("settings") if isinstance(s.get("settings"), dict) else {},
                              s.get("phases") if isinstance(s.get("phases"), dict) else {}))
    return out


def write_sweep(folder: str | os.PathLike, suites: list[SweepSuite], command: list[str] | None = None) -> Path:
    """Write ``FOLDER/sweep.json`` (atomically): the suites already listed there, each replaced by a suite of
    the same path in ``suites``, then the new ones. The caller holds the folder's lock."""
    folder = Path(folder)
    path = folder / SWEEP_FILE
    kept: list[SweepSuite] = read_sweep(folder) if path.is_file() else []
    new = {s.path: s for s in suites}
    merged = [new.pop(s.path) if s.path in new else s for s in kept] + list(new.values())
    doc = {"schema": SCHEMA, "harness_version": __version__,
           "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "command": list(command) if command else None, "suites": [s.as_json() for s in merged]}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, doc)
    return path


def check_output_outside(sweep: str | os.PathLike, output: str | os.PathLike) -> None:
    """An evaluation's output folder must not be the sweep folder or lie inside it (it would write results
    into the checkpoints' folders)."""
    root = Path(os.path.realpath(Path(sweep).expanduser()))
    out = Path(os.path.realpath(Path(output).expanduser()))
    if out == root or root in out.parents:
        raise UserError(f"--output {output} lies in the sweep folder {sweep}; expected a folder of its own (each "
                        "suite's results go to the same relative path under it)")


__all__ = ["SCHEMA", "SWEEP_FILE", "SweepSuite", "check_output_outside", "is_sweep", "read_sweep", "write_sweep"]
