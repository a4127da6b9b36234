"""Leaderboards from results files: tables, reference rows, comparisons, plots and submission export.

The XTREME score shown is always recomputed from the task figures with the
official aggregation (:func:`xtreme_harness.tasks.scoring.overall_scores`) and
checked against the file, so a board never disagrees with ``evaluate.py``.
"""

from __future__ import annotations

from .compare import BootstrapResult, paired_bootstrap, transfer_gap, transfer_matrix
from .entries import Entry, TaskScore, entry_from_dict, load_results
from .export import ExportReport, export_submission
from .reference import load_reference
from .reference import resolve as load_references
from .tables import Board, build_board, render

__all__ = ["Board", "BootstrapResult", "Entry", "ExportReport", "TaskScore", "build_board", "entry_from_dict",
           "export_submission", "load_reference", "load_references", "load_results", "paired_bootstrap",
           "render", "transfer_gap", "transfer_matrix"]
