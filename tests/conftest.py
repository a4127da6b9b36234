"""Shared fixtures: where ../shared is, and skipping cleanly where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("XTREME_SHARED", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"
GOLDEN = SHARED / "golden"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def shared_data() -> Path:
    return need(SHARED_DATA)


@pytest.fixture
def golden() -> Path:
    return need(GOLDEN)


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """A datasets cache of this test's own: the module reads HF_DATASETS_CACHE once, at import."""
    import datasets

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache
