"""Run options that depart from XTREME's protocol, named once for the results and the leaderboard.

The defaults are the official scripts' behaviour; each option here is a
choice a user can make instead (see the README's protocol section), and a
run that makes one is marked wherever its figures are shown.
"""

from __future__ import annotations

from typing import Any, Mapping

# (config key, official value, what the other value means)
UNOFFICIAL = (
    ("qa_nbest", "padded",
     "QA n-best over real tokens only (--qa-nbest real-tokens), not over XTREME's padded positions"),
    ("qa_answer_text", "xtreme",
     "QA answers sliced from the context (--qa-answer-text offsets), not projected onto whitespace words as XTREME"),
    ("tagging_windows", "chunks",
     "long tagging sentences in overlapping windows (--tagging-windows overlap), not XTREME's consecutive chunks"),
    ("retrieval_search", "exact",
     "BUCC's margin k-NN searched approximately (--retrieval-search), not exactly as XTREME"),
)


def unofficial_options(config: Mapping[str, Any]) -> list[str]:
    """What a run's config chose over XTREME's protocol, one phrase each (empty: the official protocol)."""
    return [why for key, official, why in UNOFFICIAL if config.get(key, official) != official]
