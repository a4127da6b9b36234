"""xtreme-harness: XTREME zero-shot cross-lingual evaluation with official-scorer parity."""

__version__ = "0.2.0"

from .errors import UserError  # noqa: E402


def evaluate(*args, **kwargs):
    """Python twin of ``xtreme-eval``; see :func:`xtreme_harness.evaluation.evaluate`."""
    from .evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def score(*args, **kwargs):
    """Python twin of ``xtreme-score``; see :func:`xtreme_harness.scoring.score_folders`."""
    from .scoring import score_folders

    return score_folders(*args, **kwargs)


__all__ = ["UserError", "evaluate", "score", "__version__"]
