"""``xtreme-leaderboard``: one board from results files and reference rows, rendered in a format."""

from __future__ import annotations

import sys
from pathlib import Path
from ..data.io import atomic_write_text
from ..errors import UserError

FORMAT_OF_SUFFIX = {".md": "md", ".markdown": "md", ".csv": "csv", ".tex": "latex", ".latex": "latex",
                    ".html": "html", ".htm": "html"}


def make_board(results: list[str], fmt: str = "md", out: str | None = None, reference: str = "all",
               per_language: bool = False, compare: tuple[str, str] | None = None, bootstrap: int = 1000,
               seed: int = 12345, plots: str | None = None, no_plots: bool = False, decimals: int = 1,
               title: str = "XTREME leaderboard", say=None) -> str:
    """The rendered board of ``results`` (files or folders) and the reference rows; written to ``out`` if given."""
    from . import compare as cmp
    from .entries import dedupe_names, load_results
    from .plots import make_plots
    from .reference import resolve
    from .tables import build_board, render, sort_runs

    say = say or (lambda msg: print(f"xtreme-leaderboard: {msg}", file=sys.stderr))
    paths = list(results)
    for extra in compare or []:
        if extra not in paths:
            paths.append(extra)
    runs = [load_results(path) for path in _unique(paths)]
    refs = resolve(reference)
    if not runs and not refs:
        raise UserError("nothing to show: give at least one results file (or --reference)")
    versions = {e.version for e in runs}
    if len(versions) > 1:
        raise UserError(f"the results mix benchmark versions ({', '.join(sorted(versions))}); "
                        "a leaderboard compares one version")
    version = next(iter(versions)) if versions else "xtreme"
    refs = [r for r in refs if r.version == version]
    dedupe_names(runs + refs)

    pair = None
    if compare:
        by_path = {str(_key(path)): e for path, e in zip(_unique(paths), runs)}
        ea, eb = by_path[str(_key(compare[0]))], by_path[str(_key(compare[1]))]
        if ea is eb:
            raise UserError("--compare needs two different results files")
        boot = cmp.paired_bootstrap(ea, eb, bootstrap, seed) if bootstrap else None
        pair = (ea, eb, boot)
    try:
        matrix, matrix_note = cmp.transfer_matrix(runs), None
    except UserError as exc:  # a board without the matrix is still worth showing
        matrix, matrix_note = None, f"No intermediate-task transfer matrix: {exc}"
    board = build_board(runs, refs, per_language=per_language, compare=pair, matrix=matrix, title=title,
                        decimals=decimals)
    if matrix_note:
        board.notes.insert(0, matrix_note)
        say(matrix_note)

    if plots or (fmt == "html" and not no_plots):
        made = make_plots(sort_runs(runs), refs, version)
        if plots:
            _write_plots(made, Path(plots), Path(out).resolve().parent if out else Path.cwd())
        board.plots = [] if fmt == "html" and no_plots else made
    text = render(board, fmt)
    if out:
        atomic_write_text(out, text)
        say(f"wrote {out} ({fmt})")
    return text


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
