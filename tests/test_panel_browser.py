"""The "training is stuck" panel in a real browser: Debian's Chromium driven by Playwright.

- Static checks (fast): tb_stuckplugin/static/ is an exact copy of frontend/, and the panel's code
  uses no API that parses HTML.
- Against a fixture server (tests/panel_fixture_server.py) for what real runs cannot easily show:
  200 variables, a failing backend, an empty logdir, the clipboard, in-place updates in detail.
- Against a real `tensorboard` process over runs written by the real summary ops (healthy, stuck,
  frozen layer, no data, hostile names, and one that turns stuck while TensorBoard runs): the tab,
  the overview, a report, the filter, escaping, live updates, screenshots, a narrow window. They
  come last, so that TensorBoard and the live writer run only while they are needed.

What the panel shows is compared with what the backend answers, not with hard-coded wording.
Screenshots go to test-artifacts/panel/; with STUCK_UPDATE_DOCS_SCREENSHOTS=1 the overview and
report screenshots (light and dark) are also written to docs/.

    .venv/bin/python -m pytest tests/test_panel_browser.py
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import runs_for_tests
from browser_session import PageProblems, launch_chromium, open_page
from panel_fixture_server import PanelFixtureServer
from panel_fixtures import HOSTILE_RUN as FIXTURE_HOSTILE_RUN
from panel_fixtures import HOSTILE_VARIABLE, fixture_reports
from playwright.sync_api import Browser, Frame, FrameLocator, Page, expect, sync_playwright
from tensorboard_process import TensorBoardProcess

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
ARTIFACTS = ROOT / "test-artifacts" / "panel"
DOCS = ROOT / "docs"

# The words next to each status icon (frontend/format.js): the status is never told by colour alone.
STATUS_WORDS = {"stuck": "Stuck", "warning": "Warning", "ok": "OK", "no_data": "No data"}

# The real runs: name -> kind of tests/runs_for_tests.py. The hostile name would open a dialog if
# the panel (or TensorBoard) ever parsed it as HTML.
HOSTILE_RUN = "<img src=x onerror=alert(document.domain)> \"quoted\" 'run'"
REAL_RUNS = {
    "healthy": "healthy",
    "lr_zero": "lr_zero",
    "frozen_layer": "frozen_layer",
    "scalars_only": "scalars_only",
    HOSTILE_RUN: "hostile",
}
LIVE_RUN = "live_turns_stuck"

PANEL_IFRAME = "iframe[src*='plugin_entry.html?name=stuck']"
# Waits (not assertions on time): how long something may take to appear.
APPEAR_MS = 60_000
TURN_STUCK_MS = 180_000


# --- Static checks ------------------------------------------------------------------------------


def test_static_folder_is_an_exact_copy_of_frontend():
    spec = importlib.util.spec_from_file_location("frontend_sync", FRONTEND / "sync.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    assert sync.differences() == [], "run: python frontend/sync.py"


def test_panel_code_never_parses_html():
    # Names from the logs must reach the page as text: no API that turns a string into markup.
    html_apis = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment"
    )
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(FRONTEND.glob("*.js"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if html_apis.search(line)
    ]
    assert offenders == []


# --- Shared browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def save_screenshot(page: Page, name: str, *, docs: bool = False) -> Path:
    """Save a PNG under test-artifacts/panel/ (and docs/ when asked to update the docs' images)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs and os.environ.get("STUCK_UPDATE_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOCS / f"{name}.png")
    return path


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 120) -> object:
    """Poll `condition` until it returns something truthy; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def has_horizontal_overflow(document: Page | Frame) -> bool:
    """Whether the panel's document is wider than its window (a horizontal scrollbar)."""
    return document.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


def open_run(panel: FrameLocator | Page, run: str) -> None:
    """Click a run in the overview (of a page or TensorBoard's iframe) and wait for its report."""
    panel.locator(".run-row", has=panel.get_by_text(run, exact=True)).click()
    expect(panel.locator(".report-heading")).to_have_text(run)
    expect(panel.locator(".report-headline")).to_be_visible(timeout=APPEAR_MS)


# --- Fixture server: UI behaviours that real runs do not easily show ---------------------------


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[PanelFixtureServer]:
    with PanelFixtureServer(fixture_reports()) as server:
        yield server


@pytest.fixture
def fixture_page(
    browser, fixture_server
) -> Iterator[tuple[Page, PageProblems, PanelFixtureServer]]:
    """The panel alone (as in its iframe) over fresh fixture reports, refreshing twice a second."""
    fixture_server.reports = fixture_reports()
    fixture_server.fail_status = None
    page, problems = open_page(
        browser, refresh_seconds=0.5, permissions=["clipboard-read", "clipboard-write"]
    )
    page.goto(fixture_server.entry_url)
    expect(page.locator(".run-row").first).to_be_visible(timeout=APPEAR_MS)
    yield page, problems, fixture_server
    page.context.close()
    problems.assert_none()


def runs_requests(server: PanelFixtureServer) -> int:
    with server.lock:
        return server.requests["/data/plugin/stuck/runs"]


def wait_for_refreshes(server: PanelFixtureServer, count: int = 2) -> None:
    """Wait until the panel fetched the runs `count` more times."""
    start = runs_requests(server)
    wait_until(lambda: runs_requests(server) >= start + count, f"{count} refreshes", timeout_s=30)


@pytest.mark.slow
def test_fixture_two_hundred_variables_filter_sort_and_flagged_only(fixture_page):
    page, _, server = fixture_page
    report = server.reports["transformer_200_vars"]
    open_run(page, "transformer_200_vars")
    rows = page.locator(".variables-table tbody tr")
    expect(rows).to_have_count(200)
    expect(page.locator(".count")).to_have_text("Showing 200 of 200 variables")

    page.get_by_label("Filter variables by name").fill("BLOCK_1/")
    expect(rows).to_have_count(10)
    page.get_by_label("Filter variables by name").fill("")
    page.get_by_label("Only flagged").check()
    flagged = [v["name"] for v in report["variables"] if v["flags"]]
    expect(rows.locator(".var-name")).to_have_text(flagged)
    page.get_by_label("Only flagged").uncheck()

    # Sorting by gradient norm puts the smallest (the vanishing block) first, then reverses.
    by_norm = sorted(report["variables"], key=lambda v: v["grad_norm"])
    page.get_by_role("button", name="Gradient norm").click()
    expect(rows.first.locator(".var-name")).to_have_text(by_norm[0]["name"])
    expect(page.locator("th[aria-sort='ascending']")).to_have_text(re.compile("Gradient norm"))
    page.get_by_role("button", name="Gradient norm").click()
    expect(rows.first.locator(".var-name")).to_have_text(by_norm[-1]["name"])
    expect(page.locator("th[aria-sort='descending']")).to_have_count(1)


@pytest.mark.slow
def test_fixture_variables_without_gradient_are_marked(fixture_page):
    page, _, server = fixture_page
    open_run(page, "dead_relu")
    missing = [
        v["name"] for v in server.reports["dead_relu"]["variables"] if "missing" in v["flags"]
    ]
    assert missing
    for name in missing:
        row = page.locator(".variables-table tbody tr", has=page.get_by_text(name, exact=True))
        expect(row.locator(".flag")).to_contain_text(["no gradient"])
        expect(row).to_have_class("row-blocking")
        expect(row.locator(".value").first).to_have_text("–")


@pytest.mark.slow
def test_fixture_refresh_updates_in_place_and_keeps_the_users_place(fixture_page):
    page, _, server = fixture_page
    open_run(page, "transformer_200_vars")
    filter_box = page.get_by_label("Filter variables by name")
    filter_box.fill("block_1")
    page.locator(".report-pane").evaluate("pane => pane.scrollTop = 400")
    page.evaluate(
        """() => {
            document.querySelector('.variables-table tbody tr').__same = true;
            document.querySelector('.run-row[aria-current="true"]').__same = true;
            document.querySelector('.spread').__same = true;
        }"""
    )
    scroll_before = page.locator(".report-pane").evaluate("pane => pane.scrollTop")

    with server.lock:
        report = server.reports["transformer_200_vars"]
        report["headline"] = "Gradients vanish in 11 of 200 variables since step 150"
        report["last_step"] = 5050
        first = next(v for v in report["variables"] if "block_1/" in v["name"])
        first["grad_norm"] = 12.5
    expect(page.locator(".report-headline")).to_have_text(report["headline"])
    expect(page.locator(".variables-table tbody tr").first.locator(".value").first).to_have_text(
        "12.5"
    )
    wait_for_refreshes(server)

    assert page.evaluate(
        """() => document.querySelector('.variables-table tbody tr').__same === true
            && document.querySelector('.run-row[aria-current="true"]').__same === true
            && document.querySelector('.spread').__same === true"""
    ), "refresh rebuilt elements instead of updating them"
    expect(filter_box).to_have_value("block_1")
    expect(filter_box).to_be_focused()
    assert page.locator(".report-pane").evaluate("pane => pane.scrollTop") == scroll_before


@pytest.mark.slow
def test_fixture_failed_fetch_shows_an_error_and_recovers(fixture_page):
    page, problems, server = fixture_page
    expect(page.locator(".finding").first).to_be_visible()
    server.fail_status = 500
    expect(page.get_by_role("alert")).to_contain_text("the fixture server was told to fail")
    # What was shown stays shown while TensorBoard fails.
    expect(page.locator(".run-row")).to_have_count(len(server.reports))
    expect(page.locator(".finding").first).to_be_visible()
    server.fail_status = None
    expect(page.get_by_role("alert")).to_be_hidden()
    # The browser logs each failed request as a console error: those are expected here.
    problems.console_errors = [e for e in problems.console_errors if "500" not in e]


@pytest.mark.slow
def test_fixture_unknown_run_report_says_so(fixture_page):
    page, problems, server = fixture_page
    open_run(page, "baseline")
    with server.lock:
        del server.reports["baseline"]
    expect(page.locator(".report-notice")).to_have_text("TensorBoard no longer knows this run.")
    expect(page.locator(".run-row", has_text="baseline")).to_have_count(0)
    # A report fetched just before the run went away gets a 404, which the browser logs: expected.
    problems.console_errors = [e for e in problems.console_errors if "404" not in e]


@pytest.mark.slow
def test_fixture_no_data_run_shows_copyable_setup_lines(fixture_page):
    page, _, _ = fixture_page
    open_run(page, "scalars_only")
    help_box = page.locator(".report .setup-help")
    code = help_box.locator("pre code")
    expect(code.nth(0)).to_contain_text(
        "stuckplugin.summary.gradient_norms(grads, model.trainable_variables, step=step)"
    )
    expect(code.nth(0)).to_contain_text(
        "stuckplugin.summary.weight_deltas(model.trainable_variables, step=step)"
    )
    expect(code.nth(0)).to_contain_text(
        "stuckplugin.summary.output_spread(predictions, step=step, inputs=x)"
    )
    expect(code.nth(0)).to_contain_text("with writer.as_default():")
    expect(code.nth(0)).to_contain_text("import tb_stuckplugin as stuckplugin")
    expect(code.nth(1)).to_contain_text(
        "model.fit(..., callbacks=[keras.callbacks.TensorBoard(log_dir), "
        "stuckplugin.keras.StuckMonitor(log_dir)])"
    )
    help_box.get_by_role("button", name="Copy").nth(1).click()
    expect(help_box.get_by_text("Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == code.nth(1).text_content()


@pytest.mark.slow
def test_fixture_empty_logdir_shows_setup_until_a_run_appears(fixture_page):
    page, _, server = fixture_page
    with server.lock:
        reports, server.reports = server.reports, {}
    page.reload()
    expect(page.locator(".verdict")).to_have_text("No runs in this logdir yet")
    expect(page.locator(".runs-pane .setup-help")).to_be_visible()
    expect(page.locator(".report-pane")).to_have_text("Select a run to see its report.")

    with server.lock:
        server.reports = {"lr_zero": reports["lr_zero"]}
    expect(page.locator(".report-heading")).to_have_text("lr_zero")
    expect(page.locator(".runs-pane .setup-help")).to_be_hidden()
    expect(page.locator(".verdict")).to_have_text("1 of 1 run is stuck")


@pytest.mark.slow
def test_fixture_keyboard_opens_runs_with_enter_and_space(fixture_page):
    page, _, _ = fixture_page
    rows = page.locator(".run-row")
    rows.first.focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    outline = rows.nth(1).evaluate("row => getComputedStyle(row).outlineStyle")
    page.keyboard.press("Enter")
    expect(page.locator(".report-heading")).to_have_text(rows.nth(1).get_attribute("data-run"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    expect(page.locator(".report-heading")).to_have_text(rows.nth(2).get_attribute("data-run"))
    # Keyboard focus is visible (the outline of :focus-visible), not just the browser default.
    assert outline == "solid"


@pytest.mark.slow
def test_fixture_pause_and_resume(fixture_page):
    page, _, server = fixture_page
    pause = page.get_by_role("button", name="Pause")
    pause.click()
    expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".updated")).to_have_text(re.compile(r"Paused · updated \d+ s ago"))
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".updated")).to_have_text(re.compile(r"^Updated \d+ s ago"))
    wait_for_refreshes(server)


@pytest.mark.slow
def test_fixture_hostile_texts_stay_text(fixture_page):
    page, problems, _ = fixture_page
    open_run(page, FIXTURE_HOSTILE_RUN)
    expect(page.locator(".variables-table tbody .var-name").first).to_have_text(HOSTILE_VARIABLE)
    expect(page.locator(".finding .targets code")).to_have_text([HOSTILE_VARIABLE])
    expect(page.locator(".cause")).to_have_text(
        "<script>window.__xss=4</script> A cause with markup."
    )
    expect(page.locator(".spread figcaption")).to_contain_text("<img src=x onerror=window.__xss=6>")
    assert page.evaluate("() => window.__xss") is None
    assert page.evaluate("() => document.querySelectorAll('img, a, [onerror]').length") == 0
    assert problems.dialogs == []


@pytest.mark.slow
def test_fixture_narrow_window_has_no_horizontal_overflow(browser, fixture_server):
    fixture_server.reports = fixture_reports()
    for scheme in ("light", "dark"):
        page, problems = open_page(browser, color_scheme=scheme, width=480, refresh_seconds=0.5)
        page.goto(fixture_server.entry_url)
        for run in ("transformer_200_vars", FIXTURE_HOSTILE_RUN, "scalars_only", "dead_relu"):
            open_run(page, run)
            assert not has_horizontal_overflow(page), f"{run} overflows at 480 px ({scheme})"
        page.context.close()
        problems.assert_none()


# --- Real TensorBoard ---------------------------------------------------------------------------


@dataclasses.dataclass
class Board:
    """A running TensorBoard over the real runs, and the switch that makes the live run stuck."""

    tensorboard: TensorBoardProcess
    stuck_file: Path

    @property
    def url(self) -> str:
        return self.tensorboard.url

    def runs(self) -> list[dict]:
        return self.tensorboard.get_json("/data/plugin/stuck/runs")["runs"]

    def report(self, run: str) -> dict:
        return self.tensorboard.get_json(f"/data/plugin/stuck/report?run={quote(run, safe='')}")


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Iterator[Board]:
    """TensorBoard (--reload_interval 1) over the real runs, plus a live run that trains healthily
    (a writer process, one step every 0.5 s) until the test creates its stuck file."""
    logdir = tmp_path_factory.mktemp("panel") / "logs"
    for name, kind in REAL_RUNS.items():
        runs_for_tests.write_run(logdir, name, kind)
    stuck_file = logdir.parent / "turn-stuck"
    writer = runs_for_tests.start_live_writer(
        logdir, LIVE_RUN, stuck_file, steps=100_000, step_delay=0.5
    )
    tensorboard = TensorBoardProcess(logdir, reload_interval=1)
    try:
        tensorboard.start()
        board = Board(tensorboard, stuck_file)
        wait_until(lambda: all_runs_loaded(board), "TensorBoard to load every run")
        yield board
    finally:
        tensorboard.stop()
        writer.stop()


def all_runs_loaded(board: Board) -> bool:
    """Every real run is listed, and the live one has data already."""
    runs = {r["run"]: r for r in board.runs()}
    return set(runs) >= set(REAL_RUNS) | {LIVE_RUN} and runs[LIVE_RUN]["last_step"] is not None


@pytest.fixture
def tb_page(browser: Browser) -> Iterator[tuple[Page, PageProblems]]:
    """A 1280x800 light page whose panel refreshes every second; fails the test on page problems."""
    page, problems = open_page(browser, refresh_seconds=1)
    yield page, problems
    page.context.close()
    problems.assert_none()


def open_panel(page: Page, board: Board) -> FrameLocator:
    """Open TensorBoard on the panel's tab and wait for the panel to list runs."""
    page.goto(f"{board.url}/#stuck")
    panel = page.frame_locator(PANEL_IFRAME)
    expect(panel.locator(".run-row").first).to_be_visible(timeout=APPEAR_MS)
    return panel


def panel_frame(page: Page) -> Frame:
    """The panel's iframe in TensorBoard's page, to run scripts in its document."""
    return page.frame(url=lambda url: "plugin_entry.html" in url)


def expect_overview_matches(panel: FrameLocator, runs: list[dict]) -> None:
    """The overview lists these runs in this order with their status word, class and headline."""
    rows = panel.locator(".run-row")
    expect(rows.locator(".run-name")).to_have_text([r["run"] for r in runs], timeout=APPEAR_MS)
    expect(rows.locator(".badge-word")).to_have_text([STATUS_WORDS[r["status"]] for r in runs])
    expect(rows.locator(".run-headline")).to_have_text([r["headline"] for r in runs])
    for index, run in enumerate(runs):
        expect(rows.nth(index)).to_have_class(re.compile(rf"\brun-{run['status']}\b"))


@pytest.mark.slow
def test_tab_is_listed_and_overview_shows_every_run(board, tb_page):
    page, _ = tb_page
    tab_name = board.tensorboard.get_json("/data/plugins_listing")["stuck"]["tab_name"]
    page.goto(f"{board.url}/")
    page.get_by_text(tab_name, exact=True).click()
    panel = page.frame_locator(PANEL_IFRAME)

    runs = board.runs()
    assert {r["status"] for r in runs} >= {"stuck", "warning", "ok", "no_data"}
    expect_overview_matches(panel, runs)
    expect(panel.locator(".updated")).to_have_text(re.compile(r"Updated \d+ s ago"))
    # The hostile run name is text; nothing in it became an element.
    expect(panel.get_by_text(HOSTILE_RUN, exact=True)).to_have_count(1)
    assert (
        panel_frame(page).evaluate("() => document.querySelectorAll('img, [onerror]').length") == 0
    )


@pytest.mark.slow
def test_stuck_run_report_shows_findings_causes_and_frozen_variables(board, tb_page):
    page, _ = tb_page
    panel = open_panel(page, board)
    open_run(panel, "lr_zero")
    report = board.report("lr_zero")
    assert report["status"] == "stuck" and report["findings"]

    findings = panel.locator(".finding")
    expect(findings).to_have_count(len(report["findings"]))
    for index, finding in enumerate(report["findings"]):
        card = findings.nth(index)
        expect(card.locator(".finding-message")).to_have_text(finding["message"])
        expect(card.locator(".since")).to_contain_text(f"step {finding['since_step']}")
        expect(card.locator(".cause")).to_have_text([c["cause"] for c in finding["causes"]])
        expect(card.locator(".check-text")).to_have_text([c["check"] for c in finding["causes"]])
        expect(card.locator(".targets code")).to_have_text(finding["targets"])

    rows = panel.locator(".variables-table tbody tr")
    expect(rows.locator(".var-name")).to_have_text([v["name"] for v in report["variables"]])
    for index, variable in enumerate(report["variables"]):
        flags = rows.nth(index).locator(".flag")
        if "frozen" in variable["flags"]:
            expect(flags.filter(has_text="frozen")).to_have_count(1)
        else:
            expect(flags.filter(has_text="frozen")).to_have_count(0)
    assert any("frozen" in v["flags"] for v in report["variables"])
    # Each variable's two series are drawn.
    expect(rows.first.locator("path.spark-line")).to_have_count(2)


@pytest.mark.slow
def test_variable_filter_narrows_the_table(board, tb_page):
    page, _ = tb_page
    panel = open_panel(page, board)
    open_run(panel, "frozen_layer")
    names = [v["name"] for v in board.report("frozen_layer")["variables"]]
    needle = "hidden"
    assert 0 < len([n for n in names if needle in n]) < len(names)

    table_names = panel.locator(".variables-table tbody .var-name")
    expect(table_names).to_have_text(names)
    panel.get_by_label("Filter variables by name").fill(needle)
    expect(table_names).to_have_text([n for n in names if needle in n])
    panel.get_by_label("Filter variables by name").fill("no such variable")
    expect(table_names).to_have_count(0)
    expect(panel.get_by_text("No variable matches the filter.")).to_be_visible()
    panel.get_by_label("Filter variables by name").fill("")
    expect(table_names).to_have_text(names)


@pytest.mark.slow
def test_hostile_run_and_variable_names_are_shown_as_text(board, tb_page):
    page, problems = tb_page
    panel = open_panel(page, board)
    open_run(panel, HOSTILE_RUN)
    variables = [v["name"] for v in board.report(HOSTILE_RUN)["variables"]]
    assert runs_for_tests.HOSTILE_NAME in variables

    expect(panel.locator(".report-heading")).to_have_text(HOSTILE_RUN)
    expect(panel.locator(".variables-table tbody .var-name")).to_have_text(variables)
    frame = panel_frame(page)
    assert frame.evaluate("() => document.querySelectorAll('img, [onerror]').length") == 0
    # render() replaced the entry page's body (and its one script): no script came back in a name.
    assert frame.evaluate("() => document.querySelectorAll('script').length") == 0
    assert problems.dialogs == []


@pytest.mark.slow
def test_screenshots_light_dark_and_narrow_window(board, browser):
    backgrounds = {}
    for scheme in ("light", "dark"):
        page, problems = open_page(browser, color_scheme=scheme, refresh_seconds=1)
        panel = open_panel(page, board)
        expect(panel.locator(".finding").first).to_be_visible(timeout=APPEAR_MS)
        backgrounds[scheme] = panel_frame(page).evaluate(
            "() => getComputedStyle(document.body).backgroundColor"
        )
        save_screenshot(page, f"panel-overview-{scheme}", docs=True)
        open_run(panel, "frozen_layer")
        expect(panel.locator(".variables-table tbody tr").first).to_be_visible()
        panel.locator(".outputs h3").evaluate("heading => heading.scrollIntoView()")
        save_screenshot(page, f"panel-report-{scheme}", docs=True)
        page.context.close()
        problems.assert_none()
    assert backgrounds["light"] != backgrounds["dark"], "prefers-color-scheme is not followed"

    page, problems = open_page(browser, width=480, refresh_seconds=1)
    panel = open_panel(page, board)
    frame = panel_frame(page)
    expect(panel.locator(".finding").first).to_be_visible(timeout=APPEAR_MS)
    assert not has_horizontal_overflow(frame)
    open_run(panel, HOSTILE_RUN)
    expect(panel.locator(".variables-table tbody tr").first).to_be_visible()
    assert not has_horizontal_overflow(frame)
    save_screenshot(page, "panel-narrow")
    open_run(panel, "scalars_only")
    expect(panel.locator(".report .setup-help")).to_be_visible()
    assert not has_horizontal_overflow(frame)
    page.context.close()
    problems.assert_none()


@pytest.mark.slow
def test_run_turning_stuck_changes_its_badge_without_reload(board, tb_page):
    page, _ = tb_page
    panel = open_panel(page, board)
    live_row = panel.locator(".run-row", has=panel.get_by_text(LIVE_RUN, exact=True))
    expect(live_row).to_have_class(re.compile(r"\brun-ok\b"), timeout=APPEAR_MS)

    # The user's place: another run open, a filter typed, the focus in the filter.
    open_run(panel, "frozen_layer")
    filter_box = panel.get_by_label("Filter variables by name")
    filter_box.fill("hidden")
    frame = panel_frame(page)
    frame.evaluate(
        """(run) => {
            window.__notReloaded = true;
            const row = [...document.querySelectorAll('.run-row')].find(b => b.dataset.run === run);
            row.__sameElement = true;
        }""",
        LIVE_RUN,
    )

    board.stuck_file.touch()
    expect(live_row).to_have_class(re.compile(r"\brun-stuck\b"), timeout=TURN_STUCK_MS)
    expect(live_row.locator(".badge-word")).to_have_text(STATUS_WORDS["stuck"])
    expect_overview_matches(panel, board.runs())

    assert frame.evaluate("() => window.__notReloaded === true"), "the panel was reloaded"
    assert frame.evaluate(
        """(run) => [...document.querySelectorAll('.run-row')]
            .find(b => b.dataset.run === run).__sameElement === true""",
        LIVE_RUN,
    ), "the run's row was rebuilt instead of updated"
    expect(panel.locator(".report-heading")).to_have_text("frozen_layer")
    expect(panel.locator(".run-row[aria-current='true'] .run-name")).to_have_text("frozen_layer")
    expect(filter_box).to_have_value("hidden")
    expect(filter_box).to_be_focused()
