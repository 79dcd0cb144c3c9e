// Words and numbers as the panel shows them.

export const STATUS_WORDS = {
  stuck: "Stuck",
  warning: "Warning",
  ok: "OK",
  no_data: "No data",
};

const KIND_TITLES = {
  non_finite: "NaN or Inf values",
  missing_gradients: "Missing gradients",
  frozen_weights: "Frozen weights",
  vanishing_gradients: "Vanishing gradients",
  exploding_gradients: "Exploding gradients",
  dead_units: "Dead units",
  invariant_outputs: "Outputs ignore the input",
  repeated_batch: "Same batch repeated",
  degenerate_batch: "Degenerate batch",
};

export const FLAG_WORDS = {
  frozen: "frozen",
  missing: "no gradient",
  vanishing: "vanishing",
  exploding: "exploding",
  dead_units: "dead units",
  non_finite: "NaN/Inf",
  not_trainable: "not trainable",
};

// "frozen_weights" -> "Frozen weights"; an unknown kind is shown as its own words.
export function kindTitle(kind) {
  return KIND_TITLES[kind] ?? humanize(kind);
}

// "gradient_norm" -> "gradient norm".
export function humanize(key) {
  return String(key).replaceAll("_", " ");
}

// A number in at most 3 significant digits; tiny and huge ones in exponent form.
export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(2);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return String(Number(value.toPrecision(3)));
}

// An evidence value: a number, a string, or a list of numbers.
export function formatValue(value) {
  if (Array.isArray(value)) return value.map(formatNumber).join(", ");
  return formatNumber(value);
}

export function formatStep(step) {
  return step === null || step === undefined ? "–" : `step ${step.toLocaleString("en-US")}`;
}

// How long ago a wall time (seconds since the epoch) was, in one rounded unit.
export function timeAgo(wallTime, nowMs = Date.now()) {
  if (wallTime === null || wallTime === undefined) return "never";
  const seconds = Math.max(0, Math.round(nowMs / 1000 - wallTime));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

// The wall time as a local date and time, for tooltips and <time datetime>.
export function isoTime(wallTime) {
  if (wallTime === null || wallTime === undefined) return null;
  return new Date(wallTime * 1000).toISOString();
}

export function localTime(wallTime) {
  return wallTime === null || wallTime === undefined
    ? ""
    : new Date(wallTime * 1000).toLocaleString();
}

export function plural(count, word, many = `${word}s`) {
  return `${count.toLocaleString("en-US")} ${count === 1 ? word : many}`;
}
