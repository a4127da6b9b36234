"""Export an ``xtreme-eval`` output folder as an official XTREME submission folder.

The official submission is ``<task>/test-<lang>.<ext>`` for every task and
language of the benchmark. A submission with a hole is rejected after upload,
so the export checks every file is there and readable in its format first,
and by default writes nothing when something is missing.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..io.errors import UserError, os_error
from ..io.files import check_destination, confined_to, output_path, umask
from ..spec import TaskSpec, benchmark
from ..tasks.registry import registry
from ..tasks.results import read_results
from ..tasks.scoring import task_languages


@dataclass
class ExportReport:
    out: Path
    written: list[str] = field(default_factory=list)  # relative paths
    missing: list[str] = field(default_factory=list)  # relative paths of absent files
    ignored: list[str] = field(default_factory=list)  # files present but not part of the benchmark

    @property
    def complete(self) -> bool:
        return not self.missing


def _kind_of(path: Path, what: str) -> str | None:
    """``dir``, ``file`` or ``other`` for what is at ``path``, None when nothing is; a refusal of the system
    (a link loop, no permission) is an error naming the path, never "missing"."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.lexists(path):  # a dangling link
            raise UserError(f"{what} is a symbolic link to nothing", str(path)) from None
        return None
    except OSError as exc:
        raise os_error(exc, path, what) from None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _predictions_root(src: Path) -> tuple[Path, Path | None]:
    """The predictions folder and the results file (if any) of an xtreme-eval output folder."""
    kind = _kind_of(src, "results folder")
    if kind == "file":
        src, kind = src.parent, "dir"
    if kind != "dir":
        raise UserError("results folder not found" if kind is None else "expected a results folder", str(src))
    results = src / "results.json"
    has_results = _kind_of(results, "results file") is not None  # a FIFO or a folder is refused when read
    if _kind_of(src / "predictions", "predictions folder") == "dir":
        return src / "predictions", results if has_results else None
    if any(_kind_of(src / t, "predictions folder") == "dir" for t in registry()):
        return src, None  # a bare predictions folder
    raise UserError("no predictions/ folder here (expected an xtreme-eval --output folder)", str(src))


# The first harness version whose Tatoeba submission has XTREME's orientation (one line per sorted English line).
TATOEBA_EN2XX_SINCE = (0, 2)


def _version_tuple(text) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(text).split(".")[:2])
    except ValueError:
        return ()


def _check_results(results: Path) -> dict:
    """The run's results.json, refused when its predictions cannot make a valid submission."""
    raw, _ = read_results(results)
    tasks = raw["tasks"]
    not_test = sorted(t for t, s in tasks.items() if s.get("split") not in (None, "test"))
    if not_test:
        raise UserError(f"predictions of {', '.join(not_test)} are for split "
                        f"'{tasks[not_test[0]].get('split')}'; a submission needs the test split", str(results))
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    if config.get("limit"):
        raise UserError(f"this run used --limit {config['limit']}; a submission needs every test example",
                        str(results))
    made_by = _version_tuple(raw.get("harness_version"))
    if "tatoeba" in tasks and made_by and made_by < TATOEBA_EN2XX_SINCE:
        raise UserError(f"its Tatoeba predictions were written by xtreme-harness {raw.get('harness_version')}, "
                        "which wrote one line per non-English sentence; XTREME scores one line per sorted English "
                        "sentence: rerun xtreme-eval on tatoeba", str(results))
    return tasks


def _validate(spec: TaskSpec, path: Path, expected: int | None) -> None:
    """Read the file in its submission format: a malformed file fails here, naming the line.

    ``expected`` is the number of examples the run scored (``results.json``'s
    ``n``): one line or entry per example (per sorted English line for
    Tatoeba), one sentence per sentence for tagging.
    """
    from ..families import family_of

    count = family_of(spec).read_output(spec, str(path))
    if count is not None and expected is not None and count != expected:
        unit = {"tags": "sentences", "qa_json": "answers", "ranking_json": "queries"}.get(spec.submission_format, "lines")
        raise UserError(f"{count} {unit} but the run scored {expected} examples; expected one per example", str(path))


def export_submission(src: str | os.PathLike, out: str | os.PathLike, version: str = "xtreme",
                      allow_partial: bool = False, force: bool = False) -> ExportReport:
    """Copy ``predictions/<task>/test-<lang>.<ext>`` into ``out`` for every task and language of ``version``."""
    out = output_path(out, "--out (the submission folder)", folder=True)
    bench = benchmark(version)
    pred_root, results = _predictions_root(Path(src))
    if os.path.realpath(out) == os.path.realpath(pred_root) or Path(os.path.realpath(pred_root)) in \
            Path(os.path.realpath(out)).parents:
        raise UserError(f"--out lies inside the predictions it exports ({pred_root}); expected a folder outside it",
                        str(out))
    run_tasks = _check_results(results) if results is not None else {}
    specs = registry()
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError("output folder is not empty (use --force to write into it)", str(out))

    report = ExportReport(out)
    todo: list[tuple[Path, str]] = []
    wanted: set[str] = set()
    for task in bench["tasks"]:
        spec = specs.get(task)
        if spec is None:
            report.missing.append(f"{task}/ (no task spec in this harness)")
            continue
        for lang in task_languages(spec, version):
            rel = f"{task}/test-{lang}.{spec.submission_ext}"
            wanted.add(rel)
            path = pred_root / rel
            if _kind_of(path, "prediction file") is not None:  # a folder or a FIFO is refused by the reader
                expected = ((run_tasks.get(task) or {}).get("n") or {}).get(lang)
                _validate(spec, path, expected)
                todo.append((path, rel))
            else:
                report.missing.append(rel)
    try:
        found = sorted(pred_root.rglob("*"))
    except OSError as exc:
        raise os_error(exc, pred_root, "predictions folder") from None
    for p in found:
        rel = p.relative_to(pred_root).as_posix()
        if p.is_file() and rel not in wanted:
            report.ignored.append(rel)
    if report.missing and not allow_partial:
        shown = ", ".join(report.missing[:12]) + (f" and {len(report.missing) - 12} more"
                                                   if len(report.missing) > 12 else "")
        raise UserError(f"{len(report.missing)} of {len(report.missing) + len(todo)} submission files are missing "
                        f"({shown}); nothing written (--allow-partial writes the rest)", str(pred_root))

    # Build next to the target and move it in, so a failed export never leaves half a folder.
    target_exists = out.is_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name[:64]}.", dir=out.parent))
    try:
        os.chmod(stage, 0o777 & ~umask())  # mkdtemp's folder is private; the submission gets the usual mode
        for path, rel in todo:
            dest = stage / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            report.written.append(rel)
        if target_exists:
            with confined_to(out):  # never into a linked task folder, nor over a linked file
                for _, rel in todo:
                    check_destination(out / rel, "submission file")
                for _, rel in todo:
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(stage / rel, out / rel)
        else:
            os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return report


