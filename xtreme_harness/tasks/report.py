"""Human-readable summaries of score dicts for the terminal."""

from __future__ import annotations

from typing import Any


def format_scores(result: dict[str, Any]) -> str:
    lines = []
    overall = result.get("overall") or {}
    tasks = result.get("tasks") or {}
    coverage = result.get("coverage") or {}
    for task, score in tasks.items():
        figures = ", ".join(f"{k[4:]}={v:.2f}" for k, v in score.items()
                            if k.startswith("avg_") and isinstance(v, (int, float)))
        cov = coverage.get(task, {})
        note = ""
        if cov and not cov.get("complete", True):
            miss = list(cov.get("missing", []))
            shown = ", ".join(miss[:6]) + (f" and {len(miss) - 6} more" if len(miss) > 6 else "")
            note = f"  [partial: {len(cov.get('languages', []))} languages scored; missing {shown}]"
        lines.append(f"{task:<10} {figures}{note}")
        sec = score.get("secondary") or {}
        sec_figs = ", ".join(f"{k[4:]}={v:.2f}" for k, v in sec.items() if k.startswith("avg_"))
        if sec_figs:
            lines.append(f"{'':<10} secondary: {sec_figs}")
    if overall:
        lines.append("")
        for k, v in overall.items():
            lines.append(f"{k:<15} {v:.2f}")
    secondary = result.get("overall_secondary") or {}
    for k, v in secondary.items():
        lines.append(f"{k:<15} {v:.2f}  (secondary: evaluate.py reports no {k} for this version)")
    if result.get("partial"):
        name = str(result.get("version") or "xtreme").upper()
        lines.append("")
        lines.append(f"partial coverage: the {name} score needs every task in every language; "
                     "scores above cover what was present")
    return "\n".join(lines)
