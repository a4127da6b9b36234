"""``xtreme-leaderboard``: argument parsing only; the work is in the modules beside it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from ..data.io import atomic_write_text
from ..errors import UserError

USAGE = """xtreme-leaderboard RESULTS... [--format md|csv|latex|html] [--out FILE]
         [--reference all|none|xtreme-paper,x-stilts,FILE] [--per-language]
         [--compare A B] [--bootstrap N] [--seed S] [--plots DIR] [--decimals N]
       xtreme-leaderboard export RESULTS_DIR --out SUBMISSION_DIR [--version xtreme|xtreme-r]
         [--allow-partial] [--force]"""

_EXT = {".md": "md", ".markdown": "md", ".csv": "csv", ".tex": "latex", ".latex": "latex", ".html": "html",
        ".htm": "html"}


def main(argv: Sequence[str] | None, Parser) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "export":
        return export_main(args[1:], Parser)
    return board_main(args, Parser)


def board_main(argv: list[str], Parser) -> int:
    from . import compare as cmp
    from .entries import dedupe_names, load_results
    from .plots import make_plots
    from .reference import resolve
    from .tables import FORMATS, build_board, render, sort_runs

    p = Parser(prog="xtreme-leaderboard", usage=USAGE,
               description="Render XTREME results as a leaderboard (Markdown, CSV, LaTeX or HTML), with "
                           "published reference rows, paired-bootstrap comparisons and transfer matrices. "
                           "'xtreme-leaderboard export DIR --out SUB' writes an official submission folder.")
    p.add_argument("results", nargs="*", metavar="RESULTS",
                   help="results.json files (or xtreme-eval output folders, or xtreme-score --json files)")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from --out's extension, else md)")
    p.add_argument("--out", help="write here instead of standard output")
    p.add_argument("--reference", default="all",
                   help="reference rows: all (default), none, or a comma list of shipped ids and/or files")
    p.add_argument("--per-language", action="store_true", help="add a per-language table for each task")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two runs: delta table and paired bootstrap of B − A over examples")
    p.add_argument("--bootstrap", type=int, default=cmp.DEFAULT_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples (default {cmp.DEFAULT_RESAMPLES}; 0 = delta table only)")
    p.add_argument("--seed", type=int, default=cmp.DEFAULT_SEED, help=f"bootstrap seed (default {cmp.DEFAULT_SEED})")
    p.add_argument("--plots", metavar="DIR", help="also write the PNG plots to this folder")
    p.add_argument("--no-plots", action="store_true", help="leave the plots out of the HTML page")
    p.add_argument("--decimals", type=int, default=1, help="decimals shown (default 1; CSV values keep full precision)")
    p.add_argument("--title", default="XTREME leaderboard")
    a = p.parse_args(argv)

    fmt = a.format or (_EXT.get(Path(a.out).suffix.lower(), "md") if a.out else "md")
    if a.decimals < 0 or a.decimals > 10:
        raise UserError("--decimals must be between 0 and 10")
    if a.bootstrap < 0:
        raise UserError("--bootstrap must be 0 or more")

    paths = list(a.results)
    for extra in a.compare or []:
        if extra not in paths:
            paths.append(extra)
    runs = [load_results(path) for path in _unique(paths)]
    refs = resolve(a.reference)
    if not runs and not refs:
        raise UserError("nothing to show: give at least one results file (or --reference)")
    versions = {e.version for e in runs}
    if len(versions) > 1:
        raise UserError(f"the results mix benchmark versions ({', '.join(sorted(versions))}); "
                        "a leaderboard compares one version")
    version = next(iter(versions)) if versions else "xtreme"
    refs = [r for r in refs if r.version == version]
    dedupe_names(runs + refs)

    compare = None
    if a.compare:
        by_path = {str(_key(path)): e for path, e in zip(_unique(paths), runs)}
        ea, eb = by_path[str(_key(a.compare[0]))], by_path[str(_key(a.compare[1]))]
        if ea is eb:
            raise UserError("--compare needs two different results files")
        boot = cmp.paired_bootstrap(ea, eb, a.bootstrap, a.seed) if a.bootstrap else None
        compare = (ea, eb, boot)
    try:
        matrix, matrix_note = cmp.transfer_matrix(runs), None
    except UserError as exc:  # a board without the matrix is still worth showing
        matrix, matrix_note = None, f"No intermediate-task transfer matrix: {exc}"
    board = build_board(runs, refs, per_language=a.per_language, compare=compare, matrix=matrix,
                        title=a.title, decimals=a.decimals)
    if matrix_note:
        board.notes.insert(0, matrix_note)
        print(f"xtreme-leaderboard: {matrix_note}", file=sys.stderr)

    if a.plots or (fmt == "html" and not a.no_plots):
        plots = make_plots(sort_runs(runs), refs, version)
        if a.plots:
            _write_plots(plots, Path(a.plots), Path(a.out).resolve().parent if a.out else Path.cwd())
        board.plots = [] if fmt == "html" and a.no_plots else plots
    text = render(board, fmt)
    if a.out:
        atomic_write_text(a.out, text)
        print(f"xtreme-leaderboard: wrote {a.out} ({fmt})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _write_plots(plots, folder: Path, base: Path) -> None:
    """Write the PNGs and remember where, relative to the rendered file, so Markdown can link them."""
    folder.mkdir(parents=True, exist_ok=True)
    for plot in plots:
        dest = (folder / f"{plot.name}.png").resolve()
        dest.write_bytes(plot.png)
        try:
            plot.file = dest.relative_to(base).as_posix()
        except ValueError:
            plot.file = str(dest)


def _key(path: str) -> Path:
    from .entries import resolve_results_path

    return resolve_results_path(path).resolve()


def _unique(paths: list[str]) -> list[str]:
    seen, out = set(), []
    for path in paths:
        k = _key(path)
        if k not in seen:
            seen.add(k)
            out.append(path)
    return out


def export_main(argv: list[str], Parser) -> int:
    from .export import export_submission

    p = Parser(prog="xtreme-leaderboard export",
               description="Write an official XTREME submission folder (<task>/test-<lang>.<ext>) from an "
                           "xtreme-eval output folder, checking every task and language is there.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="xtreme-eval --output folder (holds predictions/)")
    p.add_argument("--out", required=True, metavar="SUBMISSION_DIR")
    p.add_argument("--version", default="xtreme", choices=["xtreme", "xtreme-r"])
    p.add_argument("--allow-partial", action="store_true", help="write what is there even if files are missing")
    p.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    a = p.parse_args(argv)
    report = export_submission(a.results_dir, a.out, a.version, a.allow_partial, a.force)
    tasks = sorted({rel.split("/")[0] for rel in report.written})
    print(f"xtreme-leaderboard: wrote {len(report.written)} files for {len(tasks)} tasks to {report.out}",
          file=sys.stderr)
    if report.ignored:
        print(f"xtreme-leaderboard: not part of {a.version}, left out: {', '.join(report.ignored[:10])}"
              + (f" and {len(report.ignored) - 10} more" if len(report.ignored) > 10 else ""), file=sys.stderr)
    if report.missing:
        print(f"xtreme-leaderboard: INCOMPLETE submission, {len(report.missing)} files missing: "
              + ", ".join(report.missing), file=sys.stderr)
    return 0
