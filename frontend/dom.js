// A tiny DOM helper. Everything that comes from the logs (run and variable names, messages) goes
// into the page as text nodes or attribute values, never as HTML: this iframe is same-origin with
// TensorBoard, so markup injected here would run with TensorBoard's privileges.

const SVG_NS = "http://www.w3.org/2000/svg";

// el("div", {class: "x", "aria-label": name}, "text", child) builds an HTML element.
export function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

// svg("path", {d: "M0 0"}) builds an SVG element.
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    setAttr(node, name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

// Sets an attribute (removed for null, undefined, false); does nothing if the value is unchanged.
export function setAttr(node, name, value) {
  if (value === null || value === undefined || value === false) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
    return;
  }
  const text = value === true ? "" : String(value);
  if (node.getAttribute(name) !== text) node.setAttribute(name, text);
}

// Sets a node's text; does nothing if it is unchanged, so refreshes do not touch the layout.
export function setText(node, text) {
  const value = String(text ?? "");
  if (node.textContent !== value) node.textContent = value;
}

// Sets a name that may break after each "/" (variable paths, run folders): text nodes with <wbr>
// between them, so that long names wrap at their separators instead of widening the layout.
export function setPathText(node, text) {
  const value = String(text ?? "");
  if (node.textContent === value) return;
  const parts = value.split(/(?<=\/)/);
  node.replaceChildren(...parts.flatMap((part, i) => (i === 0 ? [part] : [el("wbr"), part])));
}

// Keeps `parent`'s children in the order of `items`, one component per key. A component is
// {element, update(item)}: existing ones are updated in place, new ones made with create(item),
// those whose key is gone removed. Elements are moved only when their position changed, and the
// focused element gets its focus back if a move took it away.
const components = new WeakMap();

export function syncChildren(parent, items, keyOf, create) {
  const previous = components.get(parent) ?? new Map();
  const current = new Map();
  const focused = document.activeElement;
  items.forEach((item, index) => {
    const key = keyOf(item);
    const component = previous.get(key) ?? create(item);
    component.update(item);
    current.set(key, component);
    const there = parent.children[index];
    if (there !== component.element) parent.insertBefore(component.element, there ?? null);
  });
  for (const [key, component] of previous) {
    if (!current.has(key)) component.element.remove();
  }
  components.set(parent, current);
  if (focused && focused.isConnected && document.activeElement !== focused) {
    focused.focus({ preventScroll: true });
  }
}
