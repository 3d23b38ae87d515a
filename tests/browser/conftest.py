"""Browser tests of the portal and GraphiQL against a running hub (scripts/browser.sh starts one
with `serve --development` over demo data and sets HUB_BROWSER_URL).

Every test's page fails the test on: a request to anything but 127.0.0.1, a console error, an
uncaught exception, or a Content-Security-Policy violation. Tests that provoke an error on purpose
name the console messages they expect.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, sync_playwright

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("HUB_BROWSER_CHROMIUM", "/usr/bin/chromium")
ROLES = ["ATF", "ICE", "CBP", "STATE", "OVERSIGHT"]

# Records every CSP violation the document reports (the init script is injected by the browser
# before the page's own scripts and is not itself subject to the page's CSP).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("HUB_BROWSER_URL")
    if not url:
        pytest.fail("HUB_BROWSER_URL is not set: run the browser tests through scripts/browser.sh")
    host = urlparse(url).hostname
    assert host == "127.0.0.1", f"the hub under test must be on 127.0.0.1, not {host}"
    return url.rstrip("/")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Watch:
    """What a page did that a test must not let pass unnoticed."""

    def __init__(self) -> None:
        self.external: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def allow_console(self, pattern: str) -> None:
        """Expects console errors matching `pattern` (a regular expression)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_console(self) -> list[str]:
        return [m for m in self.console_errors if not any(p.search(m) for p in self.allowed)]


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser, base_url, watch, request) -> Page:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-US",
        timezone_id="UTC",
        accept_downloads=True,
        service_workers="block",
    )

    def only_loopback(route):
        parsed = urlparse(route.request.url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname != "127.0.0.1":
            watch.external.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_loopback)
    context.add_init_script(CSP_PROBE)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: watch.page_errors.append(str(e)))
    pg.on("websocket", lambda ws: watch.external.append(ws.url) if urlparse(ws.url).hostname != "127.0.0.1" else None)
    yield pg
    violations = []
    try:
        for frame in pg.frames:
            violations += frame.evaluate("() => window.__csp || []")
    except Exception:  # the page may already be closed
        pass
    context.close()
    assert not watch.external, f"requests left 127.0.0.1: {watch.external}"
    assert not watch.page_errors, f"uncaught exceptions: {watch.page_errors}"
    assert not violations, f"Content-Security-Policy violations: {violations}"
    assert not watch.unexpected_console(), f"console errors: {watch.unexpected_console()}"


def screenshot(page: Page, name: str) -> None:
    """Saves the page under tests/browser/screenshots/ (ignored by git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, role: str, scopes: tuple[str, ...] = ()) -> None:
    """Signs in through the development role picker and waits for the navigation."""
    page.goto(f"{base_url}/")
    for scope in scopes:
        page.get_by_label(re.compile(f'"{scope}"|«{scope}»')).check()
    page.locator(f'button[data-role="{role}"]').click()
    page.locator("nav.sections").wait_for()


def sections(page: Page) -> list[str]:
    return page.locator("nav.sections a").evaluate_all("els => els.map(e => e.dataset.section)")


def wait_idle(page: Page) -> None:
    """Waits until no view is loading any more."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]') && ![...document.querySelectorAll('.status')].some(s => /Loading|Cargando/.test(s.textContent))")
