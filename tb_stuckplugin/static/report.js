// One run's report: the verdict, each finding with its evidence and likely causes, the output
// spread beside the input spread, and the per-variable table. A report view belongs to one run;
// refreshes update it in place, so the filter, sort, open details and scroll position stay.
import { createBadge } from "./badge.js";
import { el, setAttr, setPathText, setText, syncChildren } from "./dom.js";
import { formatStep } from "./format.js";
import { createFinding } from "./findings.js";
import { statusIcon } from "./icons.js";
import { createSetupHelp } from "./setup_help.js";
import { createSpreadChart } from "./spread_chart.js";
import { createTimeAgo, setWallTime } from "./time_ago.js";
import { createVariablesTable } from "./variables.js";

export function createReport(runName) {
  const badge = createBadge();
  const heading = el("h2", { id: "report-heading", class: "report-heading", tabindex: "-1" });
  setPathText(heading, runName);
  const headline = el("p", { class: "report-headline" });
  const step = el("span");
  const ago = createTimeAgo();
  const meta = el("p", { class: "report-meta muted" }, step, " · written ", ago);
  const notice = el("p", { class: "report-notice", role: "status" }, "Loading…");
  const problemsList = el("ul");
  const problems = el(
    "div",
    { class: "read-problems", hidden: true },
    el("p", {}, "Part of this run's data could not be read, so this report may be incomplete:"),
    problemsList,
  );

  const findingsList = el("div", { class: "findings-list" });
  const healthy = el(
    "p",
    { class: "healthy" },
    statusIcon("ok"),
    "No problem found in what this run logs.",
  );
  const findings = el(
    "section",
    { class: "findings", "aria-label": "Findings" },
    el("h3", {}, "Findings"),
    healthy,
    findingsList,
  );
  const chartsList = el("div", { class: "charts-list" });
  const outputs = el(
    "section",
    { class: "outputs" },
    el("h3", {}, "Outputs beside inputs"),
    el(
      "p",
      { class: "muted" },
      "How much the model's outputs vary across a batch, beside how much its inputs vary. " +
        "Outputs flat while inputs vary: the model ignores its input.",
    ),
    chartsList,
  );
  const variables = createVariablesTable();
  const setupHelp = createSetupHelp(
    "This run has no tb-stuckplugin data yet. Add these lines to the training script:",
  );
  const details = el("div", { class: "report-details" }, findings, outputs, variables.element);

  const element = el(
    "article",
    { class: "report", "aria-labelledby": "report-heading" },
    el(
      "header",
      { class: "report-header" },
      el("div", { class: "report-title" }, badge.element, heading),
      headline,
      meta,
    ),
    notice,
    problems,
    details,
    setupHelp,
  );
  for (const part of [badge.element, headline, meta, details, setupHelp]) part.hidden = true;

  function update(report) {
    badge.update(report.status);
    badge.element.hidden = false;
    setText(headline, report.headline);
    headline.hidden = false;
    setText(step, `last ${formatStep(report.last_step)}`);
    setWallTime(ago, report.last_wall_time);
    meta.hidden = report.status === "no_data";
    notice.hidden = true;
    const problemLines = report.problems ?? [];
    problems.hidden = problemLines.length === 0;
    const keyedLines = problemLines.map((text, i) => ({ text, i }));
    syncChildren(problemsList, keyedLines, (line) => line.i, createLine);

    const noData = report.status === "no_data";
    setupHelp.hidden = !noData;
    details.hidden = noData;
    if (noData) return;

    const found = report.findings ?? [];
    healthy.hidden = found.length > 0;
    syncChildren(findingsList, keyFindings(found), (f) => f.key, createFinding);
    const outputList = report.outputs ?? [];
    outputs.hidden = outputList.length === 0;
    syncChildren(chartsList, outputList, (o) => o.tag, createSpreadChart);
    variables.update(report);
  }

  // A failed refresh: say so, and keep what is shown (it is still the latest we know).
  function showProblem(message) {
    setText(notice, message);
    setAttr(notice, "class", "report-notice report-problem");
    notice.hidden = false;
  }

  return { element, heading, update, showProblem };
}

function createLine() {
  const element = el("li");
  return { element, update: (line) => setText(element, line.text) };
}

// Findings keyed by kind and rank within the kind, so each card is updated in place.
function keyFindings(findings) {
  const seen = {};
  return findings.map((finding) => {
    seen[finding.kind] = (seen[finding.kind] ?? 0) + 1;
    return { ...finding, key: `${finding.kind}#${seen[finding.kind]}` };
  });
}
