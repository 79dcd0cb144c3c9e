// A small line of one variable's series on the shared log scale of its column. The SVG is made
// once; a refresh only changes its path, so nothing flickers.
import { setAttr, setText, svg } from "./dom.js";
import { formatNumber } from "./format.js";
import { linePath, projector } from "./log_scale.js";

const WIDTH = 120;
const HEIGHT = 30;

export function createSparkline(label) {
  const line = svg("path", { class: "spark-line" });
  const last = svg("circle", { class: "spark-last", r: 2.2 });
  const zero = svg("line", {
    class: "spark-zero",
    x1: 0,
    x2: WIDTH,
    y1: HEIGHT - 2,
    y2: HEIGHT - 2,
  });
  const title = svg("title");
  const element = svg(
    "svg",
    { class: "sparkline", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT },
    title,
    zero,
    line,
    last,
  );

  // series: {steps, values}; scale: {decades, steps} shared by the column (see log_scale.js).
  function update(series, scale) {
    const steps = series?.steps ?? [];
    const values = series?.values ?? [];
    if (!scale.steps || steps.length === 0) {
      setAttr(line, "d", null);
      setAttr(last, "visibility", "hidden");
      setText(title, `${label}: not logged`);
      return;
    }
    const project = projector({
      width: WIDTH,
      height: HEIGHT,
      zeroBand: 5,
      pad: 3,
      steps: scale.steps,
      decades: scale.decades,
    });
    setAttr(line, "d", linePath(steps, values, project));
    const end = lastDrawable(steps, values, project);
    setAttr(last, "visibility", end ? null : "hidden");
    if (end) {
      setAttr(last, "cx", end.x.toFixed(1));
      setAttr(last, "cy", end.y.toFixed(1));
    }
    setText(title, describe(label, steps, values));
  }

  return { element, update };
}

function lastDrawable(steps, values, project) {
  for (let i = steps.length - 1; i >= 0; i--) {
    const y = project.y(values[i]);
    if (y !== null) return { x: project.x(steps[i]), y };
  }
  return null;
}

// The tooltip: what the line shows, in numbers.
function describe(label, steps, values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  const range = `steps ${steps[0]}–${steps[steps.length - 1]}`;
  if (finite.length === 0) return `${label}, ${range}: no finite value`;
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return `${label}, ${range} (log scale): min ${formatNumber(min)}, max ${formatNumber(max)}`;
}
