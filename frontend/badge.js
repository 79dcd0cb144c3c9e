// A status badge: icon and word, so that the status is never told by colour alone.
import { el, setAttr, setText } from "./dom.js";
import { STATUS_WORDS } from "./format.js";
import { statusIcon } from "./icons.js";

export function createBadge() {
  let icon = statusIcon("no_data");
  const word = el("span", { class: "badge-word" });
  const element = el("span", { class: "badge" }, icon, word);
  let shown = null;

  function update(status) {
    if (status === shown) return;
    shown = status;
    setAttr(element, "class", `badge badge-${status}`);
    setText(word, STATUS_WORDS[status] ?? status);
    const next = statusIcon(status);
    icon.replaceWith(next);
    icon = next;
  }

  return { element, update };
}
