"""``xtreme-train data``: the intermediate tasks' hub data staged as the local files their specs name.

Most intermediate tasks have a hub source and a ``local:`` block naming a file
(``anli/anli_v1.0/R1/train.jsonl``, ``MNLI/train.tsv``, ``squad/train-v1.1.json``
...). Staging reads each hub split through ``datasets`` (the hub, or with
``--hub-copies DIR`` a local copy of the repository at ``DIR/<owner>/<name>``)
and writes the file the ``local:`` block describes, in its format and with its
column names, under ``--out``; a run that names that folder as
``--intermediate-data-dir`` then reads its intermediate data offline, with
``--intermediate-source local``. Labels are written by their names (a
ClassLabel id becomes the task's label), so the file reads without the hub's
feature table. Every staged file is read back through the spec's local reader
and must give the examples the hub split gives (ids aside, where the hub has
none), or nothing is kept. ``intermediate-manifest.json`` beside the files
records, per file, the repository, config and split it came from, the revision
asked for and the one resolved, the dataset's fingerprint, the row count, and
the file's size and sha256; a rerun skips what it already describes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import re
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from ..formats import hub
from ..formats.records import classlabel_names, get_path
from ..io.errors import UserError, clip
from ..io.files import (
    atomic_write_bytes,
    atomic_write_json,
    confined_to,
    folder_lock,
    make_folder,
    output_path,
    remove_stale_temps,
)
from ..io.jsonfile import read_json
from ..io.version import __version__
from ..spec import Source, TaskSpec

MANIFEST = "intermediate-manifest.json"
SCHEMA = "xtreme-harness/intermediate-data/v1"
RECORD_FORMATS = ("jsonl", "json", "csv", "tsv", "tsv_pair")


def _say(msg: str) -> None:
    print(f"xtreme-train: {msg}", file=sys.stderr, flush=True)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass
class Job:
    """One file to stage: a source's split of one task."""

    spec: TaskSpec
    source: Source
    split: str
    rel: str  # the local path, relative to --out
    fmt: str

    @property
    def request(self) -> dict[str, Any]:
        """What the file is made of: the hub split asked for (compared on a rerun)."""
        hf = self.source.hf or {}
        return {"path": hf.get("path"), "config": hf.get("config"), "split": hf["splits"][self.split],
                "revision": hf.get("revision"), "columns": _columns(self.source, "local"), "format": self.fmt}


def _columns(source: Source, side: str) -> dict[str, Any]:
    return {**source.columns, **((getattr(source, side) or {}).get("columns") or {})}


def plan(specs: list[TaskSpec]) -> tuple[list[Job], list[str]]:
    """The files to stage, and one line per task or source that has nothing to stage (and why)."""
    from ..tasks.sources import _local_format

    jobs, notes = [], []
    for spec in specs:
        found = False
        for src in spec.sources:
            if not src.hf:
                notes.append(f"{spec.task}/{src.name}: no hub source (local files only"
                             + (f": {spec.source_file}" if spec.source_file else "") + ")")
                continue
            if not src.local:
                notes.append(f"{spec.task}/{src.name}: its spec names no local file to stage into; it is read "
                             "from the hub")
                continue
            for split in ("train", "dev"):
                rel = src.local.get(split)
                if not rel or split not in src.hf["splits"]:
                    continue
                if Path(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
                    notes.append(f"{spec.task}/{src.name} {split}: the local path {rel} is not inside the data "
                                 "folder; not staged")
                    continue
                fmt = _local_format(spec, src.local, rel)
                if fmt not in RECORD_FORMATS + ("squad_json",):
                    notes.append(f"{spec.task}/{src.name} {split}: cannot write the {fmt} format; not staged")
                    continue
                jobs.append(Job(spec, src, split, PurePosixPath(rel).as_posix(), fmt))
                found = True
        if not found and not any(n.startswith(f"{spec.task}/") for n in notes):
            notes.append(f"{spec.task}: nothing to stage")
    return jobs, notes


# --- hub records -> the local file --------------------------------------------------------------------------

def _has(rec: Any, path: str) -> bool:
    try:
        get_path(rec, path)
    except KeyError:
        return False
    return True


def _set(obj: dict, path: str, value: Any) -> None:
    """Set a dotted path; ``*`` spreads a list over a list of objects (``question.choices.*.text``)."""
    parts = path.split(".")

    def put(node: Any, i: int, v: Any) -> None:
        key = parts[i]
        if key == "*":
            items = v if isinstance(v, list) else [v]
            while len(node) < len(items):
                node.append({})
            for child, item in zip(node, items):
                put(child, i + 1, item)
            return
        if i == len(parts) - 1:
            node[key] = v
            return
        nxt = parts[i + 1]
        if key not in node:
            node[key] = [] if nxt == "*" else {}
        put(node[key], i + 1, v)

    put(obj, 0, value)


def local_record(job: Job, rec: dict, index: int, names: dict[str, list[str] | None]) -> dict[str, Any]:
    """One hub record in the local block's column names: each column role's value moved from where the hub
    block reads it to where the local block reads it; a label by its name."""
    hub_cols, local_cols = _columns(job.source, "hf"), _columns(job.source, "local")
    out: dict[str, Any] = {}
    for role, lpath in local_cols.items():
        hpath = hub_cols.get(role)
        if hpath is not None:
            value = [get_path(rec, p) for p in hpath] if isinstance(hpath, list) else get_path(rec, str(hpath))
        elif isinstance(lpath, str) and _has(rec, lpath):
            value = get_path(rec, lpath)
        elif role == "id":
            value = f"{job.source.name}-{job.split}-{index}"
        else:
            raise UserError(f"{job.spec.task}/{job.source.name}: the hub records have no column for the role "
                            f"'{role}' its local block reads ({lpath}); add it to the source's hf columns",
                            job.spec.source_file)
        classes = names.get(role)
        if role == "label" and classes and type(value) is int and 0 <= value < len(classes):
            value = classes[value]
        if isinstance(lpath, list):
            values = value if isinstance(value, list) else [value]
            for col, v in zip(lpath, values):
                _set(out, str(col), v)
        else:
            _set(out, str(lpath), value)
    return out


_TSV_BREAKS = re.compile(r"[\t\r\n]")


def tsv_field(text: str) -> str:
    """A field as a TSV file without quoting can hold it: a tab or line break becomes a space."""
    return _TSV_BREAKS.sub(" ", text)


def _cell(value: Any, tsv: bool) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) \
        if isinstance(value, (list, dict)) else str(value)
    return tsv_field(text) if tsv else text


def render(job: Job, records: list[dict]) -> bytes:
    """The local file, in the local block's format."""
    if job.fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    if job.fmt == "json":
        return (json.dumps(records, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    if job.fmt in ("csv", "tsv", "tsv_pair"):
        buf = io.StringIO(newline="")
        if job.fmt == "tsv_pair":  # XTREME's headerless columns, by position
            width = 1 + max((int(k) for r in records for k in r if str(k).isdigit()), default=-1)
            for r in records:
                buf.write("\t".join(_cell(r.get(str(i)), True) for i in range(width)) + "\n")
        elif job.fmt == "tsv":
            header = list(dict.fromkeys(k for r in records for k in r))
            buf.write("\t".join(header) + "\n")
            for r in records:
                buf.write("\t".join(_cell(r.get(k), True) for k in header) + "\n")
        else:  # every field quoted: the CSV reader skips spaces after a comma, never inside quotes
            header = list(dict.fromkeys(k for r in records for k in r))
            writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
            writer.writerow(header)
            for r in records:
                writer.writerow([_cell(r.get(k), False) for k in header])
        return buf.getvalue().encode("utf-8")
    raise ValueError(job.fmt)


def squad_json(records: list[dict]) -> bytes:
    """SQuAD JSON from hub rows (id, title, context, question, answers {text, answer_start}): one article per
    title, one paragraph per context, in the order the rows come; a question without answers is impossible."""
    articles: list[dict] = []
    by_title: dict[str, dict] = {}
    by_para: dict[tuple[str, str], dict] = {}
    for r in records:
        title, context = str(r.get("title") or ""), str(r["context"])
        art = by_title.get(title)
        if art is None:
            art = by_title[title] = {"title": title, "paragraphs": []}
            articles.append(art)
        para = by_para.get((title, context))
        if para is None:
            para = by_para[(title, context)] = {"context": context, "qas": []}
            art["paragraphs"].append(para)
        ans = r.get("answers") or {}
        texts, starts = (ans.get("text") or [], ans.get("answer_start") or []) if isinstance(ans, dict) else \
            ([a.get("text") for a in ans], [a.get("answer_start") for a in ans])
        answers = [{"text": t, "answer_start": int(s)} for t, s in zip(texts, starts)]
        para["qas"].append({"id": str(r["id"]), "question": str(r["question"]), "answers": answers,
                            "is_impossible": not answers})
    return (json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False) + "\n").encode("utf-8")


def _squad_rows(job: Job, ds) -> list[dict]:
    cols = _columns(job.source, "hf")
    rows = []
    for i, rec in enumerate(ds):
        row = {role: get_path(rec, str(cols[role])) for role in ("context", "question", "answers") if role in cols}
        row["id"] = get_path(rec, str(cols["id"])) if "id" in cols else f"{job.source.name}-{job.split}-{i}"
        row["title"] = get_path(rec, str(cols["title"])) if "title" in cols else ""
        rows.append(row)
    return rows


# --- staging ------------------------------------------------------------------------------------------------

def _hub_path(path: str, copies: Path | None) -> tuple[str, bool]:
    """Where ``datasets`` reads a hub repository from: its local copy under ``--hub-copies`` when there is one."""
    if copies is not None and not hub.is_local_copy(path):
        local = copies / path
        if local.is_dir():
            return str(local), True
    return path, hub.is_local_copy(path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _comparable(examples: list, tsv: bool) -> list:
    """Examples as a staged file can hold them: ids aside (the hub may have none), and in a TSV file without
    quoting, tabs and line breaks in text as spaces."""
    def text(v):
        if isinstance(v, str):
            return tsv_field(v) if tsv else v
        if isinstance(v, list):
            return [text(x) for x in v]
        return v

    return [dataclasses.replace(ex, **{f.name: text(getattr(ex, f.name)) for f in dataclasses.fields(ex)
                                       if f.name != "id"}, id="") for ex in examples]


def stage_job(job: Job, out: Path, copies: Path | None) -> dict[str, Any]:
    """Load the hub split, write the local file, check it reads back as the hub split does; the manifest entry."""
    from ..tasks.sources import convert, read_source

    hf = job.source.hf
    path, local_copy = _hub_path(hf["path"], copies)
    split = hf["splits"][job.split]
    ds = hub.load(path, hf.get("config"), split, hf.get("revision"))
    cols = _columns(job.source, "hf")
    names = {role: classlabel_names(ds, col) for role, col in cols.items() if isinstance(col, str)}
    if job.fmt == "squad_json":
        data = squad_json(_squad_rows(job, ds))
    else:
        data = render(job, [local_record(job, rec, i, names) for i, rec in enumerate(ds)])
    dest = out / job.rel
    make_folder(dest.parent, "staging folder")
    expected = convert(job.spec, job.source, ds, cols, names, job.split, None, f"{path}:{split}")
    atomic_write_bytes(dest, data)
    staged = read_source(job.spec, job.source, job.split, out, "local")
    tsv = job.fmt in ("tsv", "tsv_pair")
    if staged is None or _comparable(staged.examples, tsv) != _comparable(expected.examples, tsv):
        dest.unlink(missing_ok=True)
        raise UserError(f"{job.spec.task}/{job.source.name} {job.split}: the staged file does not read back as the "
                        f"hub split does ({len(staged.examples) if staged else 0} examples against "
                        f"{len(expected.examples)}); nothing kept", dest)
    revision = hf.get("revision") if local_copy else (hf.get("revision") or hub.cached_revision(hf["path"]))
    return {"task": job.spec.task, "source": job.source.name, "split": job.split, "file": job.rel,
            "format": job.fmt, "hf": {"path": hf["path"], "config": hf.get("config"), "split": split,
                                      "revision_asked": hf.get("revision"), "revision": revision,
                                      "local_copy": path if local_copy else None,
                                      "fingerprint": str(getattr(ds, "_fingerprint", "") or "") or None,
                                      "rows": len(ds)},
            "request": job.request, "examples": len(expected.examples), "skipped": expected.skipped,
            "bytes": len(data), "sha256": _sha256(data), "staged": _now(), "harness_version": __version__}


def _read_manifest(out: Path) -> dict[str, dict]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    doc = read_json(path, "intermediate data manifest")
    files = doc.get("files") if isinstance(doc, dict) and doc.get("schema") == SCHEMA else None
    if not isinstance(files, dict):
        raise UserError(f"not an intermediate data manifest (expected \"schema\": \"{SCHEMA}\" and a 'files' "
                        "object); move it away or choose another --out", path, 1)
    return files


def _is_staged(out: Path, entry: dict | None, job: Job) -> bool:
    if not isinstance(entry, dict) or entry.get("request") != job.request:
        return False
    dest = out / job.rel
    if not dest.is_file() or dest.stat().st_size != entry.get("bytes"):
        return False
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest() == entry.get("sha256")


def stage(intermediate: str, out: str | os.PathLike, task_dirs: list[str] | None = None,
          hub_copies: str | os.PathLike | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Stage ``intermediate`` ('all' or names) into ``out``; returns the manifest."""
    from ..tasks.registry import get_intermediate, intermediate_registry

    out = output_path(out, "--out", folder=True)
    copies = Path(hub_copies).expanduser() if hub_copies else None
    if copies is not None and not copies.is_dir():
        raise UserError("--hub-copies: folder not found (expected DIR/<owner>/<name> copies of hub repositories)",
                        str(copies))
    names = [n.strip() for n in intermediate.split(",") if n.strip()]
    if not names:
        raise UserError("--intermediate is empty; expected 'all' or intermediate task names")
    if names == ["all"]:
        specs = list(intermediate_registry(tuple(task_dirs or ())).values())
    else:
        specs = [get_intermediate(n, task_dirs) for n in dict.fromkeys(names)]
    jobs, notes = plan(specs)
    owners: dict[str, Job] = {}
    for job in jobs:
        first = owners.setdefault(job.rel, job)
        if first.request != job.request:
            raise UserError(f"{first.spec.task}/{first.source.name} and {job.spec.task}/{job.source.name} name the "
                            f"same local file {job.rel} for different hub data; expected one file per hub split",
                            job.spec.source_file)
    unique = list(owners.values())
    for note in notes:
        _say(note)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, "staging data into", "--out"), confined_to(out):  # never through a link out of it
        remove_stale_temps(out)
        files = _read_manifest(out)
        for i, job in enumerate(unique, 1):
            where = f"[{i}/{len(unique)}] {job.spec.task}/{job.source.name} {job.split} -> {out / job.rel}"
            if not overwrite and _is_staged(out, files.get(job.rel), job):
                _say(f"{where}: already staged")
                continue
            entry = stage_job(job, out, copies)
            files[job.rel] = entry
            atomic_write_json(out / MANIFEST, _manifest(files))
            _say(f"{where}: {entry['examples']:,} examples ({entry['hf']['rows']:,} rows"
                 + (f", {entry['skipped']:,} without a usable label" if entry["skipped"] else "")
                 + f", revision {entry['hf']['revision'] or 'of the local copy'})")
        doc = _manifest(files)
        atomic_write_json(out / MANIFEST, doc)
    _say(f"done: {len(unique)} file(s) in {out}; train with --intermediate-data-dir {clip(str(out), 200)} "
         "--intermediate-source local to read them offline")
    return doc


def _manifest(files: dict[str, dict]) -> dict[str, Any]:
    return {"schema": SCHEMA, "harness_version": __version__, "updated": _now(),
            "files": dict(sorted(files.items()))}


__all__ = ["MANIFEST", "SCHEMA", "local_record", "plan", "squad_json", "stage"]
