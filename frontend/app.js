// The panel: a header with the refresh control, the runs overview, and the selected run's report.
// Wide windows show the overview and the report side by side, narrow ones one above the other.
import { ApiError, fetchReport, fetchRuns } from "./api.js";
import { el, setText } from "./dom.js";
import { createOverview } from "./overview.js";
import { createRefreshControl } from "./refresh_control.js";
import { createReport } from "./report.js";
import { createSetupHelp } from "./setup_help.js";
import { refreshTimes } from "./time_ago.js";

const GONE = "TensorBoard no longer knows this run.";

// Builds the UI into document.body and starts refreshing. Never throws on a failed fetch: the error
// is shown and the next refresh tries again.
export function render() {
  document.documentElement.lang = "en";
  document.title = "Stuck training";
  document.head.append(el("link", { rel: "stylesheet", href: "./static/style.css" }));
  document.head.append(
    el("meta", { name: "viewport", content: "width=device-width, initial-scale=1" }),
  );

  let runs = [];
  let selected = null;
  let report = null;
  let reportRequest = 0;

  const overview = createOverview({ onOpen: open });
  const refreshControl = createRefreshControl(refresh);
  const alert = el("p", { class: "alert", role: "alert", hidden: true });
  const noRuns = createSetupHelp(
    "TensorBoard has no runs in this logdir yet. To see here whether training is stuck, " +
      "add these lines to the training script:",
  );
  noRuns.hidden = true;
  const reportPane = el(
    "main",
    { class: "report-pane" },
    el("p", { class: "muted placeholder" }, "Select a run to see its report."),
  );
  document.body.replaceChildren(
    el(
      "div",
      { class: "app" },
      el(
        "header",
        { class: "topbar" },
        el("h1", {}, "Is training stuck?"),
        refreshControl.element,
      ),
      alert,
      el(
        "div",
        { class: "layout" },
        el("nav", { class: "runs-pane", "aria-label": "Runs" }, overview.element, noRuns),
        reportPane,
      ),
    ),
  );

  setInterval(() => {
    refreshControl.tick();
    refreshTimes();
  }, 1000);
  refreshControl.start();

  // One refresh: the runs, then the selected run's report. Returns whether the runs arrived.
  async function refresh() {
    try {
      runs = (await fetchRuns()).runs ?? [];
    } catch (error) {
      showAlert(`Could not read the runs: ${error.message}. Retrying on the next refresh.`);
      return false;
    }
    showAlert(null);
    noRuns.hidden = runs.length > 0;
    if (selected === null && runs.length > 0) {
      // Nothing open yet: open the most urgent run (open() updates the list and loads the report).
      open(runs[0].run, { focus: false });
      return true;
    }
    overview.update(runs, selected);
    if (selected === null) return true;
    if (runs.some((r) => r.run === selected)) await loadReport();
    else report.showProblem(GONE);
    return true;
  }

  // Opens a run's report; on a narrow window (report below the list) it scrolls there and takes
  // the focus, so a keyboard user lands on what they opened.
  function open(run, { focus = true } = {}) {
    if (run !== selected) {
      selected = run;
      report = createReport(run);
      reportPane.replaceChildren(report.element);
      loadReport();
    }
    overview.update(runs, selected);
    if (focus && window.matchMedia("(max-width: 900px)").matches) {
      report.heading.focus({ preventScroll: true });
      report.element.scrollIntoView({ block: "start" });
    }
  }

  // Fetches the selected run's report; an answer for a run no longer selected, or older than one
  // already shown, is dropped.
  async function loadReport() {
    const request = ++reportRequest;
    const view = report;
    try {
      const data = await fetchReport(selected);
      if (request === reportRequest) view.update(data);
    } catch (error) {
      if (!(error instanceof ApiError)) console.error(error);
      if (request !== reportRequest) return;
      view.showProblem(
        error instanceof ApiError && error.status === 404
          ? GONE
          : `Could not read this report: ${error.message}. Retrying on the next refresh.`,
      );
    }
  }

  function showAlert(message) {
    alert.hidden = message === null;
    if (message !== null) setText(alert, message);
  }
}
