"""Published reference rows: data files with their source, never figures typed into code.

Each file (``reference/*.yaml`` in the package, mirrored in the repository's
``leaderboard/`` folder) holds rows of task averages as a paper printed them,
with the citation and table they come from. A figure nobody checked is null,
so a reference row is usually partial and shows no XTREME score.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any


from ..data.io import read_json, read_text
from ..errors import UserError
from ..scoring import overall_scores
from ..spec import benchmark, registry
from ..yamlfile import load_yaml
from .entries import PROTOCOLS, Entry, TaskScore

SCHEMA = "xtreme-harness/reference/v1"


def reference_dir() -> Path:
    return Path(str(resources.files("xtreme_harness.leaderboard") / "reference"))


def available() -> dict[str, Path]:
    """Shipped reference sets by id (the file name without its extension)."""
    d = reference_dir()
    files = sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")) + sorted(d.glob("*.json")) if d.is_dir() else []
    # The XTREME paper's baselines first: every other set is read against them.
    return {p.stem: p for p in sorted(files, key=lambda p: (p.stem != "xtreme-paper", p.stem))}


def resolve(arg: str | None) -> list[Entry]:
    """``all``, ``none`` or a comma list of shipped ids and/or paths to reference files."""
    if arg is None or arg.strip() in ("", "all"):
        return [e for p in available().values() for e in load_reference(p)]
    if arg.strip() == "none":
        return []
    out: list[Entry] = []
    known = available()
    for item in (x.strip() for x in arg.split(",")):
        if not item:
            continue
        if item in known:
            out.extend(load_reference(known[item]))
        elif os.path.exists(item) or item.endswith((".yaml", ".yml", ".json")):
            out.extend(load_reference(item))
        else:
            raise UserError(f"unknown reference '{item}' (known: {', '.join(known) or 'none'}, all, none, "
                            "or a path to a reference file)")
    return out


def load_reference(path: str | os.PathLike) -> list[Entry]:
    path = os.fspath(path)
    if path.endswith(".json"):
        data = read_json(path, "reference file")
    else:
        data, _ = load_yaml(read_text(path, "reference file"), path)
    return parse_reference(data, path)


def parse_reference(data: Any, path: str = "<reference>") -> list[Entry]:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UserError(f"not a reference file: expected a mapping with schema: {SCHEMA}", path)
    source = data.get("source")
    if not isinstance(source, dict) or not source.get("citation") or not source.get("table"):
        raise UserError("a reference file needs source.citation and source.table", path)
    version = str(data.get("version") or "xtreme")
    try:
        bench = benchmark(version)
    except UserError as exc:
        raise UserError(exc.message, path) from None
    specs = registry()
    ref_id = str(data.get("id") or Path(path).stem)
    short = str(source.get("short") or ref_id)
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise UserError("'rows' must be a non-empty list", path)
    out = []
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not isinstance(row.get("tasks"), dict):
            raise UserError(f"{where} needs a 'name' and a 'tasks' mapping", path)
        protocol = row.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise UserError(f"{where}.protocol '{protocol}' is not one of: {', '.join(PROTOCOLS)}", path)
        tasks: dict[str, TaskScore] = {}
        for task, figs in row["tasks"].items():
            if task not in specs or task not in bench["tasks"]:
                raise UserError(f"{where}: '{task}' is not a task of {version}", path)
            primary = specs[task].metrics.primary
            if not isinstance(figs, dict):
                raise UserError(f"{where}.tasks.{task} must map figure names to numbers or null", path)
            for k, v in figs.items():
                if k not in primary:
                    raise UserError(f"{where}.tasks.{task}: '{k}' is not a primary figure of {task} "
                                    f"({', '.join(primary)})", path)
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 100):
                    raise UserError(f"{where}.tasks.{task}.{k} must be a percentage (0-100) or null", path)
            avgs = {k: (float(figs[k]) if figs.get(k) is not None else None) for k in primary}
            known = [avgs[k] for k in primary if avgs[k] is not None]
            avg_metric = sum(known) / len(primary) if len(known) == len(primary) else None
            tasks[task] = TaskScore(task=task, primary=primary, avgs=avgs, avg_metric=avg_metric,
                                    complete=avg_metric is not None)
        complete = {t for t, ts in tasks.items() if ts.avg_metric is not None}
        overall, _ = overall_scores({t: {"avg_metric": ts.avg_metric} for t, ts in tasks.items()
                                     if t in complete}, complete, version)
        out.append(Entry(name=f"{row['name']} ({short})", kind="reference", version=version, tasks=tasks,
                         overall=overall, source=" ".join(str(source["citation"]).split()),
                         table=str(source["table"]), reference_id=ref_id, protocol=protocol,
                         intermediate=None, base_model=row.get("base_model")))
    return out
