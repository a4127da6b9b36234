"""Shared fixtures: where ../shared is, and skipping cleanly where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("XTREME_SHARED", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"
GOLDEN = SHARED / "golden"


@pytest.fixture(scope="session", autouse=True)
def _feature_cache(tmp_path_factory):
    """The on-disk feature cache of the test session's own (xtreme-eval keeps one by default), so that tests
    neither read a user's entries nor leave theirs behind; subprocesses inherit it."""
    if "XTREME_FEATURE_CACHE" in os.environ:
        yield
        return
    os.environ["XTREME_FEATURE_CACHE"] = str(tmp_path_factory.mktemp("feature-cache"))
    try:
        yield
    finally:
        os.environ.pop("XTREME_FEATURE_CACHE", None)


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine the thread barriers make
    every step several times slower: a module that trains or runs them asks for one thread
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``) and gives the count back at its end."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """A datasets cache of this test's own: the module reads HF_DATASETS_CACHE once, at import."""
    import datasets

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


ME5_DIR = Path(os.environ.get("XTREME_ME5_SMALL", Path.home() / ".cache" / "xtreme-shared" / "me5-small"))


def me5_small() -> Path:
    """multilingual-e5-small in Hugging Face format, built once by ../shared/tools/build-me5-small (else skip)."""
    import subprocess

    if (ME5_DIR / "model.safetensors").is_file() and (ME5_DIR / "tokenizer.json").is_file():
        return ME5_DIR
    tool = SHARED / "tools" / "build-me5-small"
    if not tool.is_file():
        pytest.skip(f"{tool} is not available")
    try:
        built = subprocess.run(["bash", str(tool), str(ME5_DIR)], capture_output=True, text=True, timeout=1200)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build me5-small: {exc}")
    if built.returncode != 0 or not (ME5_DIR / "model.safetensors").is_file():
        pytest.skip(f"cannot build me5-small: {built.stderr[-300:]}")
    return ME5_DIR


@pytest.fixture(scope="session")
def me5() -> Path:
    return me5_small()
