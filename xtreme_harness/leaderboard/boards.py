"""``xtreme-leaderboard``: one board from results files and reference rows, rendered in a format."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.errors import UserError
from ..io.files import atomic_write_bytes, atomic_write_text, confined_to, output_path
from .entries import resolve_results_path, results_key

if TYPE_CHECKING:
    from .entries import Entry

FORMAT_OF_SUFFIX = {".md": "md", ".markdown": "md", ".csv": "csv", ".tex": "latex", ".latex": "latex",
                    ".html": "html", ".htm": "html", ".json": "json"}
SORTS = ("score", "size")


def no_reference_rows_notice(version: str) -> str:
    v = version.upper()
    return (f"No published {v} rows are available in the reference data: the project's only allowed source of "
            f"published figures (published_rows.yaml, from which the shipped reference files are transcribed) holds "
            f"{'XTREME rows only' if version != 'xtreme' else f'no {v} rows'}, so this board shows no reference rows "
            "and none were filled in from elsewhere.")


def make_board(results: list[str], fmt: str = "md", out: str | None = None, reference: str = "all",
               per_language: bool = False, compare: tuple[str, str] | None = None, bootstrap: int = 1000,
               seed: int = 12345, plots: str | None = None, no_plots: bool = False, decimals: int = 1,
               title: str | None = None, say=None, sort: str = "score") -> str:
    """The rendered board of ``results`` (files, ``xtreme-eval`` output folders, folders searched recursively
    for results files, lm-eval results files) and the reference rows; written to ``out`` if given.
    ``title``: by default the benchmark version's (``XTREME leaderboard``, ``XTREME-R leaderboard``)."""
    from . import compare as cmp
    from .entries import dedupe_names, expand_inputs, load_results, merge_passes
    from .plots import make_plots
    from .reference import find_row, resolve, shipped
    from .seeds import seed_transfer
    from .tables import build_board, render, sort_runs

    say = say or (lambda msg: print(f"xtreme-leaderboard: {msg}", file=sys.stderr))
    if sort not in SORTS:
        raise UserError(f"--sort must be one of: {', '.join(SORTS)}, not '{sort}'")
    paths = expand_inputs(list(results))
    inputs = paths + [x for x in compare or [] if _is_results(x)]
    inputs += [x.strip() for x in (reference or "").split(",") if x.strip() and os.path.lexists(x.strip())]
    out_path, plots_dir = _outputs(out, plots, inputs)
    compared_rows: dict[str, Entry] = {}  # --compare names that are published rows, not results files
    for extra in compare or []:
        if _is_results(extra):
            if extra not in paths:
                paths.append(extra)
        else:
            compared_rows[extra] = find_row(extra)
    loaded = [load_results(path) for path in _unique(paths)]
    refs = resolve(reference)
    if not loaded and not refs and not compared_rows:
        raise UserError("nothing to show: give at least one results file (or --reference)")
    versions = {e.version for e in loaded}
    if len(versions) > 1:
        raise UserError(f"the results mix benchmark versions ({', '.join(sorted(versions))}); "
                        "a leaderboard compares one version")
    version = next(iter(versions)) if versions else "xtreme"
    asked = len(refs)
    refs = [r for r in refs if r.version == version]
    notices = []
    if version != "xtreme" and not refs and not any(r.version == version for r in shipped()):
        notices.append(no_reference_rows_notice(version))
        if asked and (reference or "all").strip() not in ("", "all"):
            notices.append(f"The {asked} reference row(s) asked for are XTREME rows, not {version.upper()} rows; "
                           "they are left out.")
    runs = merge_passes(loaded)
    for arg, row in compared_rows.items():
        if row.version != version:
            raise UserError(f"--compare: reference row '{row.ref.row_id}' is {row.version}, the runs are {version}",
                            row.ref.path)
        same = next((r for r in refs if r.ref is not None and r.ref.row_id == row.ref.row_id), None)
        if same is None:
            refs.append(row)  # what is compared is on the board too
        else:
            compared_rows[arg] = same
    seeds = seed_transfer(loaded, bootstrap, seed)
    matrix, matrix_note = None, None
    if seeds is None:
        try:
            matrix = cmp.transfer_matrix([e for e in runs if e.training is None])
        except UserError as exc:  # a board without the matrix is still worth showing
            matrix_note = f"No intermediate-task transfer matrix: {exc}"
    elif any(e.training is None and e.intermediate for e in runs):
        matrix_note = ("Runs without model.training (older results files) are left out of the transfer table "
                       "across seeds: it needs each run's seed and training settings.")
    if seeds is not None:
        for m in seeds.missing:
            say(f"transfer table: {m['row']}, {m['task']}, seed(s) {', '.join(map(str, m['seeds']))}: "
                f"{m['reason']}; not in the table")
    if (matrix is not None or seeds is not None) and (reference or "all").strip() in ("", "all"):
        # Beside the runs' own matrix, the published one: delta rows are never in the summary.
        have = {r.ref.row_id for r in refs if r.ref is not None}
        refs += [r for r in shipped() if r.ref.is_delta and r.version == version and r.ref.row_id not in have]
    dedupe_names(runs + refs)

    pair = None
    if compare:
        by_path = {_key(path): e for path, e in zip(_unique(paths), loaded)}
        ea, eb = (compared_rows.get(x) or by_path[_key(x)] for x in compare)
        if ea is eb:
            raise UserError("--compare needs two different results files (or a results file and a reference row)")
        boot = None
        if ea.kind == "run" and eb.kind == "run" and bootstrap:
            boot = cmp.paired_bootstrap(ea, eb, bootstrap, seed)
        pair = (ea, eb, boot)
    board = build_board(runs, refs, per_language=per_language, compare=pair, matrix=matrix, title=title,
                        decimals=decimals, seeds=seeds, sort=sort)
    board.notices = notices + board.notices
    if matrix_note:
        board.notes.insert(0, matrix_note)
        say(matrix_note)

    if plots or (fmt == "html" and not no_plots):
        made = make_plots(sort_runs(runs, sort), [r for r in refs if r.ref is None or not r.ref.is_delta], version)
        if plots_dir is not None:
            _write_plots(made, plots_dir, Path(os.path.realpath(out_path)).parent if out_path else Path.cwd())
        board.plots = [] if fmt == "html" and no_plots else made
    text = render(board, fmt)
    if out_path is not None:
        atomic_write_text(out_path, text)
        say(f"wrote {out_path} ({fmt})")
    return text


def _outputs(out: str | None, plots: str | None, inputs: list[str]) -> tuple[Path | None, Path | None]:
    """``--out`` and ``--plots``, checked before any work: the right kind, writable places, not an input
    (results files and folders, reference files)."""
    out_path = output_path(out, "--out") if out else None
    plots_dir = output_path(plots, "--plots", folder=True) if plots else None
    if out_path is not None:
        real = Path(os.path.realpath(out_path))
        if plots_dir is not None:
            folder = Path(os.path.realpath(plots_dir))
            if folder == real or real in folder.parents:
                raise UserError(f"--plots ({plots}) would lie in or at the board file --out names; expected a folder "
                                "of its own", str(out_path))
        for arg in inputs:
            try:
                same = os.path.realpath(resolve_results_path(arg)) == str(real)
            except UserError:
                same = False  # reported when the input is read
            if same:
                raise UserError(f"--out names a file the board reads ({arg}); expected a file of its own",
                                str(out_path))
    return out_path, plots_dir


def _write_plots(plots, folder: Path, base: Path) -> None:
    """Write the PNGs (each whole or not at all) and remember where, relative to the rendered file, so
    Markdown can link them."""
    with confined_to(folder):  # never through a link out of the plots folder
        for plot in plots:
            dest = folder / f"{plot.name}.png"
            atomic_write_bytes(dest, plot.png)
            real = Path(os.path.realpath(dest))
            try:
                plot.file = real.relative_to(base).as_posix()
            except ValueError:
                plot.file = str(real)


def _is_results(arg: str) -> bool:
    """A --compare name is a results file or folder when it exists (or looks like one); else a reference row."""
    return os.path.lexists(arg) or arg.endswith(".json")


def _key(path: str) -> str:
    return results_key(path)


def _unique(paths: list[str]) -> list[str]:
    seen, out = set(), []
    for path in paths:
        k = _key(path)
        if k not in seen:
            seen.add(k)
            out.append(path)
    return out
