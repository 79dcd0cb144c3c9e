"""Debian's Chromium driven by Playwright, with pages that record what went wrong in them.

    with sync_playwright() as p:
        browser = launch_chromium(p)          # fails (never skips) when Chromium is missing
        page, problems = open_page(browser, color_scheme="dark", refresh_seconds=1)
        ...
        problems.assert_none()                # console errors, uncaught exceptions, dialogs

`playwright install` cannot download browsers here, so the system's /usr/bin/chromium is used.
"""

from __future__ import annotations

import dataclasses
import json
import os

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright

CHROMIUM = os.environ.get("STUCK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The panel's refresh interval is read from this localStorage key (frontend/refresh_control.js).
REFRESH_KEY = "tb-stuckplugin.refresh-seconds"


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch headless Chromium; raise with a hint if it is not installed."""
    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
            "or set STUCK_CHROMIUM to a Chromium binary"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclasses.dataclass
class PageProblems:
    """Console errors, uncaught exceptions and dialogs (alert, confirm) seen by a page."""

    console_errors: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} at {message.location}")

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_none(self) -> None:
        found = dataclasses.asdict(self)
        assert not any(found.values()), f"problems in the page:\n{json.dumps(found, indent=1)}"


def open_page(
    browser: Browser,
    *,
    color_scheme: str = "light",
    width: int = 1280,
    height: int = 800,
    refresh_seconds: float | None = None,
    permissions: list[str] | None = None,
) -> tuple[Page, PageProblems]:
    """A page in a fresh context, recording its problems; `refresh_seconds` sets the panel's interval.

    Close it with `page.context.close()`.
    """
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=color_scheme,
        permissions=permissions or [],
    )
    if refresh_seconds is not None:
        context.add_init_script(f"localStorage.setItem({REFRESH_KEY!r}, {str(refresh_seconds)!r})")
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on("dialog", problems.on_dialog)
    return page, problems
