"""Real headless Chromium (Debian's, driven by Playwright) for the browser tests.

Every browser test uses the ``browser`` fixture from tests/conftest.py, which comes
from here, so that the flags and the ORM allowance live in one place."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's
# hosts, which this closed network refuses (see the machine notes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def launch_browser():
    """A generator yielding a launched Chromium; the fixture wraps it."""
    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is missing: apt-get install -y chromium (bin/test does)"
    )
    # Playwright's sync API keeps an event loop running in this thread for as
    # long as the browser lives, and Django then refuses ORM calls (the tests'
    # own, and pytest-django's flush between tests) as "async": they are still
    # plain synchronous calls, so allow them while the browser is up.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()


def new_page(browser, **options) -> tuple[Page, list[str]]:
    """A fresh context (zh-CN unless told) and page, with a list that collects page
    errors and every HTTP status of 400 or more."""
    options.setdefault("locale", "zh-CN")
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page, errors


def screenshot(page: Page, folder: str, name: str) -> None:
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
