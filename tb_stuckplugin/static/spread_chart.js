// Output spread beside input spread over steps, for one output_spread tag. Outputs that stop
// varying while the inputs still vary mean the model ignores its input; both flat means the batch
// itself does not vary. Lines are told apart by dash pattern and legend words, not colour alone.
import { el, setAttr, setText, svg } from "./dom.js";
import { formatNumber, formatStep } from "./format.js";
import { linePath, logDomain, projector, stepDomain } from "./log_scale.js";

// The SVG is stretched to the figure's width; strokes keep their width (non-scaling-stroke) and
// labels are HTML, so the chart stays readable on a narrow window.
const WIDTH = 600;
const HEIGHT = 160;
const ZERO_BAND = 16;
const PAD = 6;

const SERIES = [
  { key: "output_spread", name: "Output spread", className: "spread-output" },
  { key: "input_spread", name: "Input spread", className: "spread-input" },
];

export function createSpreadChart() {
  const caption = el("figcaption");
  const lines = SERIES.map((s) =>
    svg("path", { class: `spread-line ${s.className}`, "vector-effect": "non-scaling-stroke" }),
  );
  const zeroLine = svg("line", {
    class: "spread-zero",
    x1: 0,
    x2: WIDTH,
    "vector-effect": "non-scaling-stroke",
  });
  const plot = svg(
    "svg",
    {
      class: "spread-plot",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: "none",
      "aria-hidden": "true",
    },
    zeroLine,
    ...lines,
  );
  const yTop = el("span", { class: "y-label" });
  const yBottom = el("span", { class: "y-label" });
  const yZero = el("span", { class: "y-label" }, "0");
  const xFirst = el("span");
  const xLast = el("span");
  const latest = SERIES.map(() => el("strong"));
  const legend = el(
    "ul",
    { class: "legend" },
    ...SERIES.map((s, i) =>
      el("li", {}, legendSample(s.className), el("span", {}, `${s.name} (latest `, latest[i], ")")),
    ),
  );
  const empty = el("p", { class: "muted", hidden: true }, "No spread recorded yet.");
  const element = el(
    "figure",
    { class: "spread" },
    caption,
    el(
      "div",
      { class: "spread-chart" },
      el("div", { class: "y-labels" }, yTop, yBottom, yZero),
      plot,
    ),
    el("div", { class: "x-labels" }, xFirst, xLast),
    legend,
    empty,
  );

  function update(output) {
    const series = output.series ?? {};
    const steps = series.steps ?? [];
    setText(caption, `Spread across the batch, relative to scale (log scale): ${output.tag}`);
    const decades = logDomain(SERIES.map((s) => series[s.key]));
    const range = stepDomain([steps]);
    setAttr(empty, "hidden", range !== null);
    setAttr(plot, "visibility", range === null ? "hidden" : null);
    if (range === null) return;
    const project = projector({
      width: WIDTH,
      height: HEIGHT,
      zeroBand: ZERO_BAND,
      pad: PAD,
      steps: range,
      decades,
    });
    SERIES.forEach((s, i) => {
      const values = series[s.key] ?? [];
      setAttr(lines[i], "d", linePath(steps, values, project));
      setText(latest[i], formatNumber(lastFinite(values)));
    });
    setAttr(zeroLine, "y1", project.zeroY);
    setAttr(zeroLine, "y2", project.zeroY);
    placeLabel(yTop, decades && 10 ** decades[1], project.top);
    placeLabel(yBottom, decades && 10 ** decades[0], project.bottom);
    placeLabel(yZero, 0, project.zeroY);
    setText(xFirst, formatStep(range[0]));
    setText(xLast, formatStep(range[1]));
  }

  return { element, update };
}

// A y-axis label at its height in the plot (as a share of the plot's height), or hidden.
function placeLabel(label, value, y) {
  setAttr(label, "hidden", value === null);
  if (value === null) return;
  setText(label, formatNumber(value));
  label.style.top = `${((y / HEIGHT) * 100).toFixed(2)}%`;
}

function legendSample(className) {
  return svg(
    "svg",
    { class: "legend-sample", viewBox: "0 0 28 8", width: 28, height: 8, "aria-hidden": "true" },
    svg("path", { class: `spread-line ${className}`, d: "M1 4H27" }),
  );
}

function lastFinite(values) {
  for (let i = values.length - 1; i >= 0; i--) {
    if (typeof values[i] === "number" && Number.isFinite(values[i])) return values[i];
  }
  return null;
}
