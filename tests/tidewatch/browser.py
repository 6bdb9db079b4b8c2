"""Headless Chromium for the status page tests: the page as rendered, and its text.

``render(url)`` returns the DOM after the page's scripts ran (a virtual-time budget lets
the first refreshes happen without waiting in real time), optionally saving a
screenshot first; ``text(dom)`` is its visible text with whitespace collapsed, for
regular expressions over table rows. A missing Chromium skips (or, in CI, fails) the
test through ``tests.support.tools``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support import tools

__all__ = ["render", "text"]


def render(url: str, screenshot: Path | None = None) -> str:
    chromium = tools.require_tool(tools.CHROMIUM)
    profile = tempfile.mkdtemp()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
        "--virtual-time-budget=8000",
    ]
    try:
        if screenshot is not None:
            subprocess.run(
                [chromium, *flags, f"--screenshot={screenshot}", url],
                capture_output=True,
                timeout=90,
                check=False,
            )
        result = subprocess.run(
            [chromium, *flags, "--dump-dom", url], capture_output=True, timeout=90, check=True
        )
        return result.stdout.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
