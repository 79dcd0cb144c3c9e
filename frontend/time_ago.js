// "3 min ago" labels that stay current: each is a <time> element carrying its wall time, and
// refreshTimes() rewrites the text of all of them once a second.
import { el, setAttr, setText } from "./dom.js";
import { isoTime, localTime, timeAgo } from "./format.js";

export function createTimeAgo() {
  return el("time", { class: "time-ago" });
}

// Sets the wall time (seconds since the epoch, or null) a label counts from.
export function setWallTime(label, wallTime) {
  const known = wallTime !== null && wallTime !== undefined;
  setAttr(label, "data-wall-time", known ? wallTime : null);
  setAttr(label, "datetime", isoTime(wallTime));
  setAttr(label, "title", known ? localTime(wallTime) : null);
  setText(label, timeAgo(wallTime));
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const label of root.querySelectorAll("time[data-wall-time]")) {
    setText(label, timeAgo(Number(label.dataset.wallTime), now));
  }
}
