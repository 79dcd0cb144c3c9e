// Log-scale geometry shared by the sparklines and the spread chart. Values spanning many orders
// of magnitude (a gradient norm of 1e-9 beside one of 3) only read on a log scale. Zero cannot be
// placed on it, yet "exactly zero" is the most telling value here (a frozen variable, a constant
// output), so zeros get their own line under the log range; null (no finite value) leaves a gap.

const MIN_DECADES = 1;

// The decades [lo, hi] (log10) spanned by the positive finite values of some series, or null.
export function logDomain(seriesList) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of seriesList) {
    for (const value of values ?? []) {
      if (typeof value === "number" && value > 0 && Number.isFinite(value)) {
        const decade = Math.log10(value);
        lo = Math.min(lo, decade);
        hi = Math.max(hi, decade);
      }
    }
  }
  if (lo === Infinity) return null;
  // At least one decade high: noise of a few percent must not fill the box and look like a swing,
  // and a flat series is drawn mid-height.
  if (hi - lo >= MIN_DECADES) return [lo, hi];
  const middle = (lo + hi) / 2;
  return [middle - MIN_DECADES / 2, middle + MIN_DECADES / 2];
}

// The first and last step of some step lists, or null.
export function stepDomain(stepLists) {
  let first = Infinity;
  let last = -Infinity;
  for (const steps of stepLists) {
    for (const step of steps ?? []) {
      first = Math.min(first, step);
      last = Math.max(last, step);
    }
  }
  return first === Infinity ? null : [first, last];
}

// Maps (step, value) to (x, y) in a box of `width` x `height` whose bottom `zeroBand` pixels hold
// the zero line. y() is null for a value that cannot be drawn.
export function projector({ width, height, zeroBand, pad, steps, decades }) {
  const [first, last] = steps;
  const top = pad;
  const bottom = height - zeroBand - pad;
  const zeroY = height - pad;
  const x = (step) =>
    last === first ? width / 2 : pad + ((step - first) / (last - first)) * (width - 2 * pad);
  const y = (value) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return null;
    if (value === 0) return zeroY;
    if (decades === null) return null;
    const [lo, hi] = decades;
    return bottom - ((Math.log10(value) - lo) / (hi - lo)) * (bottom - top);
  };
  return { x, y, zeroY, top, bottom };
}

// An SVG path through the drawable points, broken where a value is missing. A lone point becomes
// a dot (a zero-length segment drawn with round caps).
export function linePath(steps, values, project) {
  const parts = [];
  let drawing = false;
  steps.forEach((step, index) => {
    const y = project.y(values[index]);
    if (y === null) {
      drawing = false;
      return;
    }
    const point = `${round(project.x(step))} ${round(y)}`;
    parts.push(drawing ? `L${point}` : `M${point}h0.01`);
    drawing = true;
  });
  return parts.join("");
}

function round(n) {
  return Math.round(n * 10) / 10;
}
