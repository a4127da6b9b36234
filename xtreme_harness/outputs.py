"""An output folder is held by one run at a time and holds the figures of one set of settings.

Two runs writing one folder would leave ``results.json`` from one and the
predictions from the other; a run with other settings (another model, split,
length or protocol option) would leave its files beside the old ones. So the
run holds an exclusive lock on ``.lock`` while it works (a second run stops at
once with the holder's pid), and ``settings.json`` names the settings the
folder's files come from: a run with different ones is refused, or with
``overwrite`` first removes the files this harness wrote there (nothing else).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .io.errors import UserError, clip
from .io.files import atomic_write_json, folder_lock, output_path, remove_stale_temps
from .io.jsonfile import read_json

SETTINGS = "settings.json"
WRITTEN = ("predictions", "labels", "records", "state", "lmeval", "results.json", "timings.json", SETTINGS)


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
        try:
            self._check_settings()
            remove_stale_temps(self.path)
            atomic_write_json(self.path / SETTINGS, self.settings)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self.path

    def __exit__(self, *exc) -> None:
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
        for name in WRITTEN:
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()


def _differences(before: Any, now: dict[str, Any]) -> str:
    if not isinstance(before, dict):
        return f"its {SETTINGS} is unreadable"
    keys = sorted(set(before) | set(now))
    diffs = [f"{k}: {clip(json.dumps(before.get(k)), 60)} there, {clip(json.dumps(now.get(k)), 60)} now"
             for k in keys if before.get(k) != now.get(k)]
    return "; ".join(diffs[:4]) + ("; ..." if len(diffs) > 4 else "")


__all__ = ["OutputFolder", "SETTINGS", "WRITTEN"]
