"""Playwright driving Debian's Chromium against the live server; screenshots go to test-artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed (scripts/test.sh installs Debian's chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server, admin_user) -> Page:
    """A logged-in admin's page at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    login(tab, admin_user.username)
    yield tab
    context.close()


def login(tab: Page, username: str) -> None:
    tab.goto("/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", PASSWORD)
    tab.click("form.login button[type=submit]")
    tab.wait_for_url("**/")


def shot(tab: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def click_next(tab: Page) -> None:
    """Next on the wizard, once the live search has answered the last edit (the form is aria-busy
    until then): a click landing while the live section is swapped can be lost, as a person's
    would be, and the confirm step is then never reached."""
    from playwright.sync_api import expect

    expect(tab.locator("#wizard-form")).not_to_have_attribute("aria-busy", "true")
    expect(tab.locator("#next")).to_be_enabled()
    tab.click("#next")
