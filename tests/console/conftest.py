"""Fixtures for the console's browser tests: the whole stack (from tests/e2e), Debian's chromium (installed with
apt-get when missing; a failure to install fails the tests) and a Playwright page signed in as alice.

Screenshots go to test-artifacts/console/.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright, expect
from tests.e2e.conftest import stack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "console"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

__all__ = ["chromium", "context", "shots", "stack"]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; installed by apt-get when missing (root on CI). Never skipped."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail("chromium is missing and apt-get is not available to install it", pytrace=False)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # A new machine's package lists may be empty or old: refresh them first.
        subprocess.run([apt, "update"], capture_output=True, text=True, timeout=600, env=env)
        done = subprocess.run([apt, "install", "-y", "chromium"], capture_output=True,
                              text=True, timeout=900, env=env)
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"apt-get install chromium failed: {done.stderr[-2000:]}", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
async def context(chromium: Path) -> AsyncIterator[BrowserContext]:
    """A chromium of its own (fresh user-data-dir), driven by Playwright; the browser Playwright downloads is
    never used."""
    with tempfile.TemporaryDirectory(prefix="esap-console-chromium-") as profile:
        async with async_playwright() as playwright:
            made = await playwright.chromium.launch_persistent_context(
                profile, executable_path=str(chromium), headless=True, args=ARGS,
                viewport={"width": 1280, "height": 800}, accept_downloads=True)
            made.set_default_timeout(30_000)
            expect.set_options(timeout=20_000)  # a job page waits for the catalog to store a job just created
            try:
                yield made
            finally:
                await made.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
