// The per-variable table of a report: each variable's latest gradient norm and relative update
// with their history as sparklines (one shared log scale per column, so rows compare), its flags,
// sorting by any column and filtering by name, for models with hundreds of variables.
import { el, setAttr, setPathText, setText, syncChildren } from "./dom.js";
import { FLAG_WORDS, formatNumber, plural } from "./format.js";
import { logDomain, stepDomain } from "./log_scale.js";
import { createSparkline } from "./sparkline.js";

// Rows drawn at once; more on request (each row holds two SVGs).
const ROW_LIMIT = 200;

// Flags that mean the variable does not learn at all.
const BLOCKING_FLAGS = new Set(["frozen", "missing", "non_finite", "exploding"]);

const COLUMNS = [
  { key: "name", label: "Variable", compare: (a, b) => a.name.localeCompare(b.name) },
  { key: "flags", label: "Flags", compare: (a, b) => flagRank(b) - flagRank(a) },
  { key: "grad_norm", label: "Gradient norm", compare: byNumber("grad_norm") },
  { key: "update_ratio", label: "Relative update", compare: byNumber("update_ratio") },
];

export function createVariablesTable() {
  const state = {
    sortKey: null,
    descending: false,
    filter: "",
    flaggedOnly: false,
    limit: ROW_LIMIT,
  };
  let variables = [];
  let scales = null;

  const filterInput = el("input", {
    type: "search",
    class: "filter-input",
    placeholder: "Filter by name",
    "aria-label": "Filter variables by name",
    autocomplete: "off",
    spellcheck: "false",
  });
  const flaggedInput = el("input", { type: "checkbox" });
  const count = el("span", { class: "count", "aria-live": "polite" });
  const headers = COLUMNS.map((column) => createHeader(column));
  const body = el("tbody");
  const showAll = el("button", { type: "button", class: "link-button" });
  const more = el("p", { class: "more", hidden: true }, showAll);
  const emptyNote = el("p", { class: "muted", hidden: true });
  const table = el(
    "table",
    { class: "variables-table" },
    el("thead", {}, el("tr", {}, ...headers.map((h) => h.element))),
    body,
  );
  const element = el(
    "section",
    { class: "variables", "aria-labelledby": "variables-heading" },
    el("h3", { id: "variables-heading" }, "Variables"),
    el(
      "div",
      { class: "table-tools" },
      filterInput,
      el("label", { class: "checkbox" }, flaggedInput, "Only flagged"),
      count,
    ),
    emptyNote,
    table,
    more,
  );

  filterInput.addEventListener("input", () => {
    state.filter = filterInput.value;
    draw();
  });
  flaggedInput.addEventListener("change", () => {
    state.flaggedOnly = flaggedInput.checked;
    draw();
  });
  showAll.addEventListener("click", () => {
    state.limit = Infinity;
    draw();
  });

  function createHeader(column) {
    const button = el("button", { type: "button", class: "sort-button" }, column.label);
    const arrow = el("span", { class: "sort-arrow", "aria-hidden": "true" });
    button.append(arrow);
    const th = el("th", { scope: "col", class: `col-${column.key}` }, button);
    button.addEventListener("click", () => {
      // First click sorts ascending (problems first for the numbers), the next one reverses.
      state.descending = state.sortKey === column.key ? !state.descending : false;
      state.sortKey = column.key;
      draw();
    });
    return {
      element: th,
      update() {
        const sorted = state.sortKey === column.key;
        setAttr(th, "aria-sort", sorted ? (state.descending ? "descending" : "ascending") : null);
        setText(arrow, sorted ? (state.descending ? " ▼" : " ▲") : "");
      },
    };
  }

  // A new report: keep the filter, sort and scroll position; update rows in place.
  function update(report) {
    variables = (report.variables ?? []).map((v, order) => ({ ...v, order }));
    scales = {
      grad_norm: columnScale(variables, "grad_norm"),
      update_ratio: columnScale(variables, "update_ratio"),
    };
    draw();
  }

  function draw() {
    const needle = state.filter.trim().toLowerCase();
    const matching = variables.filter(
      (v) =>
        v.name.toLowerCase().includes(needle) && (!state.flaggedOnly || (v.flags ?? []).length > 0),
    );
    const sorted = sortRows(matching, state);
    const shown = sorted.slice(0, state.limit);
    syncChildren(body, shown, (v) => v.name, createRow);
    headers.forEach((h) => h.update());
    setText(count, `Showing ${shown.length} of ${plural(variables.length, "variable")}`);
    setAttr(more, "hidden", shown.length === sorted.length);
    setText(showAll, `Show all ${sorted.length} matching variables`);
    setAttr(emptyNote, "hidden", variables.length > 0 && matching.length > 0);
    setText(
      emptyNote,
      variables.length === 0
        ? "No per-variable data in this run: log gradient_norms and weight_deltas to see it."
        : "No variable matches the filter.",
    );
  }

  function createRow() {
    const name = el("code", { class: "var-name" });
    const meta = el("span", { class: "var-meta" });
    const flags = el("ul", { class: "flags" });
    const gradValue = el("span", { class: "value" });
    const ratioValue = el("span", { class: "value" });
    const gradLine = createSparkline("gradient norm");
    const ratioLine = createSparkline("relative update");
    const element = el(
      "tr",
      {},
      el("th", { scope: "row", class: "col-name" }, name, meta),
      el("td", { class: "col-flags", "data-label": "Flags" }, flags),
      el("td", { class: "col-number", "data-label": "Gradient norm" }, gradValue, gradLine.element),
      el(
        "td",
        { class: "col-number", "data-label": "Relative update" },
        ratioValue,
        ratioLine.element,
      ),
    );
    return {
      element,
      update(v) {
        const flagList = v.flags ?? [];
        setAttr(element, "class", rowClass(flagList));
        setPathText(name, v.name);
        setText(meta, [v.shape, v.dtype].filter(Boolean).join(" · "));
        syncChildren(flags, flagList, (f) => f, createFlag);
        setText(gradValue, formatNumber(v.grad_norm));
        setText(ratioValue, formatNumber(v.update_ratio));
        gradLine.update(seriesOf(v, "grad_norm"), scales.grad_norm);
        ratioLine.update(seriesOf(v, "update_ratio"), scales.update_ratio);
      },
    };
  }

  return { element, update };
}

function createFlag(flag) {
  const blocking = BLOCKING_FLAGS.has(flag);
  return {
    element: el(
      "li",
      { class: `flag ${blocking ? "flag-blocking" : "flag-note"}` },
      FLAG_WORDS[flag] ?? flag,
    ),
    update() {},
  };
}

function rowClass(flags) {
  if (flags.some((f) => BLOCKING_FLAGS.has(f))) return "row-blocking";
  return flags.length > 0 ? "row-flagged" : "";
}

// Sorted by the chosen column, model order breaking ties and when no column is chosen.
function sortRows(rows, { sortKey, descending }) {
  const column = COLUMNS.find((c) => c.key === sortKey);
  if (!column) return rows;
  return [...rows].sort((a, b) => {
    const missing = missingRank(a, sortKey) - missingRank(b, sortKey);
    if (missing !== 0) return missing;
    const order = column.compare(a, b);
    return (descending ? -order : order) || a.order - b.order;
  });
}

// Rows without a value go last in both directions.
function missingRank(row, key) {
  return (key === "grad_norm" || key === "update_ratio") && (row[key] ?? null) === null ? 1 : 0;
}

function byNumber(key) {
  return (a, b) => (a[key] ?? 0) - (b[key] ?? 0);
}

// Blocking flags outrank the others; more flags outrank fewer.
function flagRank(row) {
  const flags = row.flags ?? [];
  return flags.filter((f) => BLOCKING_FLAGS.has(f)).length * 100 + flags.length;
}

// One column's series of a variable: {steps, values}. When gradients and weights were recorded at
// different steps, the backend gives the field its own step list ("grad_norm_steps").
function seriesOf(variable, key) {
  const series = variable.series ?? {};
  return { steps: series[`${key}_steps`] ?? series.steps ?? [], values: series[key] ?? [] };
}

// The log scale and step range shared by a column's sparklines, so that rows compare.
function columnScale(variables, key) {
  const all = variables.map((v) => seriesOf(v, key));
  return {
    decades: logDomain(all.map((s) => s.values)),
    steps: stepDomain(all.map((s) => s.steps)),
  };
}
