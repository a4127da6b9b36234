"""xtreme-harness: XTREME zero-shot cross-lingual evaluation with official-scorer parity."""

from .io.errors import UserError
from .io.version import __version__


def evaluate(*args, **kwargs):
    """Python twin of ``xtreme-eval``; see :func:`xtreme_harness.run.evaluate`."""
    from .run import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def score(*args, **kwargs):
    """Python twin of ``xtreme-score``; see :func:`xtreme_harness.tasks.scoring.score_folders`."""
    from .tasks.scoring import score_folders

    return score_folders(*args, **kwargs)


__all__ = ["UserError", "evaluate", "score", "__version__"]
