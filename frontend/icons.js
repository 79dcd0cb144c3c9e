// Status icons, told apart by shape (octagon, triangle, circle, dashed circle) as well as colour.
// They are decoration: the status word next to them is what screen readers read.
import { svg } from "./dom.js";

const SHAPES = {
  // A stop sign with a bar.
  stuck: () => [
    svg("path", { d: "M5 1h6l4 4v6l-4 4H5l-4-4V5z", class: "icon-body" }),
    svg("path", { d: "M4.5 8h7", class: "icon-mark" }),
  ],
  // A warning triangle with an exclamation mark.
  warning: () => [
    svg("path", { d: "M8 1.2 15.2 14.5H0.8z", class: "icon-body" }),
    svg("path", { d: "M8 5.8v4.2M8 12v0.3", class: "icon-mark" }),
  ],
  // A disc with a check mark.
  ok: () => [
    svg("circle", { cx: 8, cy: 8, r: 7, class: "icon-body" }),
    svg("path", { d: "M4.5 8.3 7 10.8l4.6-5", class: "icon-mark" }),
  ],
  // A dashed ring: nothing to show.
  no_data: () => [svg("circle", { cx: 8, cy: 8, r: 6.2, class: "icon-ring" })],
};

// The icon of a run status (stuck/warning/ok/no_data) or a finding severity (error/warning).
export function statusIcon(status) {
  const shape = status === "error" ? "stuck" : status;
  const parts = (SHAPES[shape] ?? SHAPES.no_data)();
  return svg(
    "svg",
    {
      class: `icon icon-${shape}`,
      viewBox: "0 0 16 16",
      "aria-hidden": "true",
      focusable: "false",
    },
    ...parts,
  );
}
