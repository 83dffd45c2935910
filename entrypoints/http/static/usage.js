// Usage: credits and calls by day and by model, from GET /usage/summary, as SVG bar charts and tables.

import { get } from "./api.js";
import { $, credits, h, integer, replaceChildren, s } from "./dom.js";

const METRIC_LABEL = { credits: "credits", llm_calls: "calls" };

// A bar chart drawn as SVG elements (no library, no inline style): one bar per item, its value on top.
// `width` is the box's own width in CSS pixels, so the labels keep their size on a phone.
export function barChart(items, metric, { label = (i) => i.key, title, width = 600 } = {}) {
  if (!items.length) return h("p", { class: "muted" }, "Nothing used yet.");
  const height = 220, top = 24, bottom = 44, left = 8, right = 8;
  const values = items.map((i) => Number(i[metric]) || 0);
  const max = Math.max(...values) || 1;
  const slot = (width - left - right) / items.length;
  const bar = Math.max(4, Math.min(64, slot * 0.7));
  const chart = s("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img",
    "aria-label": title || `${METRIC_LABEL[metric] || metric} per item`, preserveAspectRatio: "xMidYMid meet",
  });
  chart.append(s("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: "axis" }));
  items.forEach((item, n) => {
    const value = values[n];
    const barHeight = Math.max(value > 0 ? 2 : 0, ((height - top - bottom) * value) / max);
    const x = left + slot * n + (slot - bar) / 2;
    const y = height - bottom - barHeight;
    const shown = metric === "credits" ? credits(item[metric]) : integer(item[metric]);
    chart.append(s("g", { class: `bar hue-${n % 8}` },
      s("title", { text: `${label(item)}: ${shown} ${METRIC_LABEL[metric] || metric}` }),
      s("rect", { x, y, width: bar, height: barHeight, rx: 3 }),
      s("text", { x: x + bar / 2, y: y - 6, "text-anchor": "middle", class: "value", text: shown }),
      s("text", { x: x + bar / 2, y: height - bottom + 18, "text-anchor": "middle", class: "label", text: shorten(label(item), slot) }),
    ));
  });
  return chart;
}

function shorten(text, room) {
  const fits = Math.max(3, Math.floor(room / 8));
  return text.length > fits ? `${text.slice(0, fits - 1)}…` : text;
}

function summaryTable(items, keyName) {
  if (!items.length) return null;
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, [keyName, "calls", "in tokens", "out tokens", "credits", "USD"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((i) => h("tr", {},
      h("td", {}, i.key), h("td", {}, integer(i.llm_calls)), h("td", {}, integer(i.input_tokens)),
      h("td", {}, integer(i.output_tokens)), h("td", {}, credits(i.credits)), h("td", {}, i.provider_cost_usd ?? "—")))));
}

let cache = null;

export async function showUsage() {
  const metric = $("usage-metric").value;
  if (!cache) {
    const [byDay, byModel] = await Promise.all([get("/usage/summary?group_by=day"), get("/usage/summary?group_by=model")]);
    cache = { day: byDay.items, model: byModel.items };
  }
  const day = cache.day.slice(-14); // the last two weeks that have usage
  const width = Math.max(280, Math.round($("chart-day").clientWidth || 600));
  replaceChildren($("chart-day"), barChart(day, metric, { label: (i) => i.key.slice(5), title: `${METRIC_LABEL[metric]} by day`, width }));
  replaceChildren($("table-day"), summaryTable(cache.day, "day"));
  replaceChildren($("chart-model"), barChart(cache.model, metric, { title: `${METRIC_LABEL[metric]} by model`, width }));
  replaceChildren($("table-model"), summaryTable(cache.model, "model"));
}

export function forgetUsage() { cache = null; }
