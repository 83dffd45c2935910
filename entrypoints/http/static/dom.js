// Building DOM nodes without HTML strings: h("p", {class: "x"}, "text", child).
// Strings always become text nodes; attributes are set one by one (never `style`, never `on…`);
// event handlers are passed as `on: {click: fn}`.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === "class") {
      node.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "text") {
      node.textContent = value;
    } else if (name in node && typeof value !== "string") {
      node[name] = value; // properties such as disabled, selected, value
    } else if (name === "style" || name.startsWith("on")) {
      throw new Error(`refusing attribute ${name}`);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

export const $ = (id) => document.getElementById(id);

export function show(node, visible = true) { node.hidden = !visible; }

// Decimal strings are exact: shown digit for digit, only grouped by thousands (never via a float).
export function credits(value) {
  if (value === null || value === undefined || value === "") return "—";
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(String(value));
  if (!m) return String(value);
  return `${m[1]}${m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${m[3] || ""}`;
}

// A stable colour (0–7) per agent key, the same in the council list and in every bubble.
export function hueOf(key) {
  let n = 0;
  for (const c of String(key || "")) n = (n * 31 + c.charCodeAt(0)) >>> 0;
  return n % 8;
}

export function integer(value) {
  return typeof value === "number" ? value.toLocaleString("en") : "—";
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString("en", { dateStyle: "medium", timeStyle: "short" });
}

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
