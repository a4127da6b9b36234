"""An output folder is held by one run at a time and holds the figures of one set of settings.

Two runs writing one folder would leave ``results.json`` from one and the
predictions from the other; a run with other settings (another model, split,
length or protocol option) would leave its files beside the old ones. So the
run holds an exclusive lock on ``.lock`` while it works (a second run stops at
once with the holder's pid; the file goes when the run ends), ``settings.json``
names the settings the folder's files come from, and every file the run writes
is confined to the folder (never through a link out of it) and listed in
``.xtreme-written``. A run with other settings is refused, or with ``overwrite``
first removes the files listed there (nothing else: a note the user kept beside
the predictions stays, and the run says so).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .io.errors import UserError, clip
from .io.files import (WRITTEN_LOG, atomic_write_json, confined_to, folder_lock, output_path, remove_stale_temps,
                       written_files)
from .io.jsonfile import read_json

SETTINGS = "settings.json"
# What a harness of a version that kept no list of written files writes: the only files removed from such a folder.
_OWN_FILES = ("results.json", "timings.json", SETTINGS)
_OWN_TREES = {"predictions": re.compile(r"[^/]+/test-[^/]+\.[a-z]+"), "labels": re.compile(r"[^/]+/test-[^/]+\.[a-z]+"),
              "records": re.compile(r"[^/]+/[^/]+\.jsonl"), "state": re.compile(r"[^/]+/[^/]+\.json"),
              "lmeval": re.compile(r".+")}


class OutputFolder:
    """``with OutputFolder(path, settings): ...`` -- the folder, locked, holding ``settings``' files only."""

    def __init__(self, path: str | os.PathLike, settings: dict[str, Any], overwrite: bool = False,
                 flag: str = "--output"):
        self.path = output_path(path, flag, folder=True)
        self.settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        self.overwrite, self.flag = overwrite, flag

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = folder_lock(self.path, "writing to", self.flag)
        self._lock.__enter__()
        self._confined = confined_to(self.path, log=True)
        self._confined.__enter__()
        try:
            self._check_settings()
            remove_stale_temps(self.path)
            atomic_write_json(self.path / SETTINGS, self.settings)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.path

    def __exit__(self, *exc) -> None:
        self._confined.__exit__(*exc)
        self._lock.__exit__(*exc)

    def _check_settings(self) -> None:
        file = self.path / SETTINGS
        if not file.exists():
            return
        try:
            before = read_json(file, "settings file")
        except UserError:
            before = None  # damaged: nothing can be trusted to match
        if before == self.settings:
            return
        if not self.overwrite:
            raise UserError(f"this folder holds results of other settings ({_differences(before, self.settings)}); "
                            f"choose another {self.flag}, or pass --overwrite to replace them", self.path)
        removed, kept = remove_written(self.path)
        note = f"--overwrite: removed {removed} file(s) the harness wrote for other settings"
        if kept:
            shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
            note += f"; kept {len(kept)} it did not write: {shown}"
        print(f"xtreme-eval: {note}", file=sys.stderr, flush=True)


def _listed(folder: Path) -> list[str]:
    """The files the harness wrote into ``folder``: its list, or (a folder of an older version) by name."""
    listed = written_files(folder)
    if listed is not None:
        return listed
    out = [name for name in _OWN_FILES if (folder / name).is_file()]
    for tree, pattern in _OWN_TREES.items():
        for dirpath, _, names in os.walk(folder / tree):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), folder / tree)
                if pattern.fullmatch(rel.replace(os.sep, "/")):
                    out.append(f"{tree}/{rel}")
    return out


def remove_written(folder: Path) -> tuple[int, list[str]]:
    """Remove the files the harness wrote into ``folder`` (never through a link, never anything else); return how
    many went and which files the harness's own folders still hold (the user's)."""
    root = os.path.realpath(folder)
    removed = 0
    for rel in _listed(folder):
        p = os.path.join(folder, rel)
        inside = os.path.realpath(p).startswith(root + os.sep)
        if inside and os.path.isfile(p) and not os.path.islink(p):
            os.unlink(p)
            removed += 1
    log = folder / WRITTEN_LOG
    if log.is_file() and not log.is_symlink():
        log.unlink()
    kept = []
    for tree in ("predictions", "labels", "records", "state", "lmeval"):
        top = folder / tree
        if top.is_symlink() or not top.is_dir():
            continue
        for dirpath, dirnames, names in os.walk(top, topdown=False):
            kept += [os.path.relpath(os.path.join(dirpath, n), folder) for n in sorted(names)]
            if not os.listdir(dirpath):
                os.rmdir(dirpath)
    return removed, sorted(kept)


def _differences(before: Any, now: dict[str, Any]) -> str:
    if not isinstance(before, dict):
        return f"its {SETTINGS} is unreadable"
    keys = sorted(set(before) | set(now))
    diffs = [f"{k}: {clip(json.dumps(before.get(k)), 60)} there, {clip(json.dumps(now.get(k)), 60)} now"
             for k in keys if before.get(k) != now.get(k)]
    return "; ".join(diffs[:4]) + ("; ..." if len(diffs) > 4 else "")


__all__ = ["OutputFolder", "SETTINGS", "remove_written"]
