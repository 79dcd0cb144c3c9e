// One finding of a run's report: what is wrong, since which step, the numbers that decided it, the
// variables it concerns, and the likely causes with what to check, most likely first.
import { el, setAttr, setPathText, setText, syncChildren } from "./dom.js";
import { formatStep, formatValue, humanize, kindTitle } from "./format.js";
import { statusIcon } from "./icons.js";

// Targets shown before the rest fold into "N more".
const SHOWN_TARGETS = 6;

export function createFinding() {
  const severityWord = el("span");
  const severity = el("span", { class: "badge" }, severityWord);
  let severityIcon = null;
  const title = el("h3", { class: "finding-title" });
  const since = el("span", { class: "since" });
  const message = el("p", { class: "finding-message" });
  const evidence = el("dl", { class: "evidence" });
  const targetsLabel = el("span", { class: "targets-label" });
  const shownTargets = el("ul", { class: "targets-list" });
  const moreSummary = el("summary");
  const moreTargets = el("ul", { class: "targets-list" });
  const more = el("details", { class: "targets-more" }, moreSummary, moreTargets);
  const targets = el("div", { class: "targets" }, targetsLabel, shownTargets, more);
  const causes = el("ol", { class: "causes" });
  const causesBlock = el(
    "div",
    { class: "causes-block" },
    el("h4", {}, "Likely causes, most likely first"),
    causes,
  );
  const element = el(
    "article",
    { class: "finding" },
    el("header", { class: "finding-header" }, severity, title, since),
    message,
    evidence,
    targets,
    causesBlock,
  );

  function update(finding) {
    const level = finding.severity === "error" ? "error" : "warning";
    setAttr(element, "class", `finding finding-${level}`);
    if (severity.dataset.level !== level) {
      severity.dataset.level = level;
      setAttr(severity, "class", `badge badge-${level === "error" ? "stuck" : "warning"}`);
      severityIcon?.remove();
      severityIcon = statusIcon(level);
      severity.prepend(severityIcon);
      setText(severityWord, level === "error" ? "Error" : "Warning");
    }
    setText(title, kindTitle(finding.kind));
    const sinceStep = finding.since_step;
    setText(since, sinceStep === null ? "since: unknown" : `since ${formatStep(sinceStep)}`);
    setText(message, finding.message);
    updateEvidence(evidence, finding.evidence ?? {});
    updateTargets(finding.targets ?? []);
    const causeList = finding.causes ?? [];
    setAttr(causesBlock, "hidden", causeList.length === 0);
    syncChildren(causes, causeList.map((c, i) => ({ ...c, i })), (c) => c.i, createCause);
  }

  function updateTargets(names) {
    setAttr(targets, "hidden", names.length === 0);
    setText(targetsLabel, names.length === 1 ? "Concerns" : `Concerns (${names.length})`);
    const keyed = names.map((name, i) => ({ name, i }));
    syncChildren(shownTargets, keyed.slice(0, SHOWN_TARGETS), (t) => t.i, createTarget);
    const rest = keyed.slice(SHOWN_TARGETS);
    setAttr(more, "hidden", rest.length === 0);
    setText(moreSummary, `and ${rest.length} more`);
    syncChildren(moreTargets, rest, (t) => t.i, createTarget);
  }

  return { element, update };
}

function updateEvidence(list, evidence) {
  const entries = Object.entries(evidence).map(([key, value]) => ({ key, value }));
  syncChildren(list, entries, (e) => e.key, () => {
    const term = el("dt");
    const value = el("dd");
    return {
      element: el("div", { class: "evidence-item" }, term, value),
      update(e) {
        setText(term, humanize(e.key));
        setText(value, formatValue(e.value));
      },
    };
  });
}

function createTarget() {
  const code = el("code");
  return {
    element: el("li", {}, code),
    update(t) {
      setPathText(code, t.name);
    },
  };
}

function createCause() {
  const cause = el("p", { class: "cause" });
  const check = el("span", { class: "check-text" });
  return {
    element: el(
      "li",
      {},
      cause,
      el("p", { class: "check" }, el("span", { class: "check-label" }, "What to check: "), check),
    ),
    update(c) {
      setText(cause, c.cause);
      setText(check, c.check);
    },
  };
}
