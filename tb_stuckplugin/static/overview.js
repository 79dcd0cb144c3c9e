// The runs overview: every run with its status (icon and word), the one-line headline, the last
// step and when it was written, most urgent first as the backend orders them. Each row is a button:
// Enter or Space opens the run's report, the arrow keys move between runs.
import { createBadge } from "./badge.js";
import { el, setAttr, setPathText, setText, syncChildren } from "./dom.js";
import { formatStep, plural } from "./format.js";
import { statusIcon } from "./icons.js";
import { createTimeAgo, setWallTime } from "./time_ago.js";

export function createOverview({ onOpen }) {
  const verdictIcon = el("span", { class: "verdict-icon" });
  const verdictText = el("span");
  const verdict = el("p", { class: "verdict", role: "status" }, verdictIcon, verdictText);
  const counts = el("p", { class: "counts muted" });
  const list = el("ul", { class: "run-list", "aria-label": "Runs, most urgent first" });
  const element = el(
    "section",
    { class: "overview", "aria-labelledby": "runs-heading" },
    el("h2", { id: "runs-heading", class: "visually-hidden" }, "Runs"),
    verdict,
    counts,
    list,
  );
  let shownVerdict = null;

  list.addEventListener("keydown", (event) => moveFocus(list, event));

  function update(runs, selected) {
    const tally = countByStatus(runs);
    const [status, text] = verdictFor(runs.length, tally);
    if (status !== shownVerdict) {
      shownVerdict = status;
      verdictIcon.replaceChildren(statusIcon(status));
      setAttr(verdict, "class", `verdict verdict-${status}`);
    }
    setText(verdictText, text);
    setText(
      counts,
      runs.length === 0
        ? ""
        : `${tally.stuck} stuck · ${tally.warning} warning · ${tally.ok} ok · ` +
          `${tally.no_data} without data`,
    );
    syncChildren(list, runs, (r) => r.run, () => createRow(onOpen));
    for (const item of list.children) {
      const button = item.firstChild;
      setAttr(button, "aria-current", button.dataset.run === selected ? "true" : null);
    }
  }

  return { element, update };
}

function createRow(onOpen) {
  const badge = createBadge();
  const name = el("span", { class: "run-name" });
  const headline = el("span", { class: "run-headline" });
  const step = el("span");
  const ago = createTimeAgo();
  const since = el("span", {}, " · ", ago);
  const meta = el("span", { class: "run-meta" }, step, since);
  const button = el(
    "button",
    { type: "button", class: "run-row" },
    el("span", { class: "run-title" }, badge.element, name),
    headline,
    meta,
  );
  button.addEventListener("click", () => onOpen(button.dataset.run));
  return {
    element: el("li", {}, button),
    update(run) {
      button.dataset.run = run.run;
      setAttr(button, "class", `run-row run-${run.status}`);
      badge.update(run.status);
      setPathText(name, run.run);
      setText(headline, run.headline);
      setText(step, run.last_step === null ? "no data yet" : `last ${formatStep(run.last_step)}`);
      since.hidden = run.last_wall_time === null;
      setWallTime(ago, run.last_wall_time);
    },
  };
}

function countByStatus(runs) {
  const tally = { stuck: 0, warning: 0, ok: 0, no_data: 0 };
  for (const run of runs) tally[run.status] = (tally[run.status] ?? 0) + 1;
  return tally;
}

// The one sentence that answers "is any of my runs stuck?".
function verdictFor(total, tally) {
  if (total === 0) return ["no_data", "No runs in this logdir yet"];
  if (tally.stuck > 0) {
    const verb = tally.stuck === 1 ? "is" : "are";
    return ["stuck", `${tally.stuck} of ${plural(total, "run")} ${verb} stuck`];
  }
  if (tally.warning > 0) {
    return ["warning", `No run is stuck; ${plural(tally.warning, "run")} with warnings`];
  }
  if (tally.ok > 0) return ["ok", "No run is stuck"];
  return ["no_data", "No run has tb-stuckplugin data yet"];
}

// Arrow keys, Home and End move the focus between the run buttons.
function moveFocus(list, event) {
  const buttons = [...list.querySelectorAll(".run-row")];
  const index = buttons.indexOf(document.activeElement);
  if (index === -1) return;
  const target = {
    ArrowDown: Math.min(index + 1, buttons.length - 1),
    ArrowUp: Math.max(index - 1, 0),
    Home: 0,
    End: buttons.length - 1,
  }[event.key];
  if (target === undefined) return;
  event.preventDefault();
  buttons[target].focus();
}
