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


def format_summary(result: dict[str, Any], seconds: dict[str, float] | None = None) -> str:
    """The table ``xtreme-eval`` ends with: per task, the languages scored of those the benchmark has, the
    examples, the figures and the seconds this run spent (0 where every language was reused), then the
    benchmark's score and what coverage it had."""
    tasks = result.get("tasks") or {}
    coverage = result.get("coverage") or {}
    seconds = seconds or {}
    rows = [("task", "languages", "examples", "seconds", "figures (average over languages)")]
    for task, score in tasks.items():
        cov = coverage.get(task, {})
        n = score.get("n") or {}
        scored = len(cov.get("languages", n))
        total = scored + len(cov.get("missing", []))
        figures = ", ".join(f"{k[4:]} {v:.2f}" for k, v in score.items()
                            if k.startswith("avg_") and k != "avg_metric" and isinstance(v, (int, float)))
        rows.append((task, f"{scored} of {total}" if total != scored else str(scored),
                     f"{sum(v for v in n.values() if isinstance(v, int)):,}", f"{seconds.get(task, 0.0):.1f}",
                     figures or "no gold labels: predictions written, not scored"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}"
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][4]))
    rest = format_scores({**result, "tasks": {}})
    return "\n".join(lines) + ("\n" + rest if rest else "")
