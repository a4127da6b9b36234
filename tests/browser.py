"""Headless Chromium for the board tests: find it, run it with the flags this machine needs, read its PNGs.

Without ``--disable-background-networking`` (and the component-update, sync and QUIC switches) Chromium opens
connections at start-up that are refused here; every run gets a fresh ``--user-data-dir``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]
WIDTH, HEIGHT = 1400, 900


def find_chromium() -> str | None:
    given = os.environ.get("XTREME_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def need_chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium (/usr/bin/chromium); .ci/run installs it from Debian's packages")
    return path


def run(page: Path, *action: str, width: int = WIDTH, height: int = HEIGHT, timeout: int = 120) -> str:
    """Chromium on ``page`` with one action (``--dump-dom`` or ``--screenshot=FILE``); its stdout. A browser that
    is there but fails is a test failure, not a skip."""
    browser = need_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                               "--run-all-compositor-stages-before-draw", *action, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"chromium exit {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout


def dump_dom(page: Path, **kw) -> str:
    dom = run(page, "--dump-dom", **kw)
    assert "<html" in dom, dom[:500]
    return dom


def screenshot(page: Path, png: Path, **kw) -> Path:
    run(page, f"--screenshot={png}", **kw)
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    return png


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    head = png.read_bytes()[:24]
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])
