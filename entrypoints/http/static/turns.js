// A turn on the page: one view model, fed either by a finished Turn from the API or by its events as
// they stream, and rendered as a user bubble followed by one bubble per step.
//
// Events are applied only when their seq is past the last one applied, so a replay or a resumed
// stream can never duplicate text. Step kinds, statuses and usage fields are rendered generically:
// a kind or status this page does not know yet still shows, under its own name.

import { get } from "./api.js";
import { credits, h, hueOf, integer, when } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

export const TERMINAL = new Set(["turn_completed", "turn_failed"]);

export function modelFromTurn(turn) {
  return {
    id: turn.id,
    sessionId: turn.session_id,
    turnIndex: turn.turn_index,
    mode: turn.mode,
    status: turn.status,
    userMessage: turn.user_message ?? "",
    createdAt: turn.created_at,
    steps: (turn.steps || []).map((s) => ({ ...s, text: s.content ?? "" })),
    usage: turn.usage ?? null,
    stopReason: turn.stop_reason ?? null,
    orchestration: turn.orchestration ?? null,
    error: null,
    stopping: null, // the stop mode asked for while the turn still runs
    lastSeq: 0,
    connection: "idle",
  };
}

export function liveModel(sessionId, userMessage) {
  return modelFromTurn({ id: null, session_id: sessionId, user_message: userMessage, status: "running", steps: [] });
}

function stepAt(model, index) {
  let step = model.steps.find((s) => s.index === index);
  if (!step) {
    step = { index, kind: "agent", status: "running", text: "" };
    model.steps.push(step);
    model.steps.sort((a, b) => a.index - b.index);
  }
  return step;
}

// Applies one SSE event; false when it was already applied (seq not past the last one).
export function applyEvent(model, { id, event, data }) {
  const seq = id ?? data?.seq;
  if (typeof seq === "number" && seq <= model.lastSeq) return false;
  if (data?.turn_id) model.id = data.turn_id;
  switch (event) {
    case "turn_started":
      model.turnIndex = data.turn_index;
      model.mode = data.mode;
      model.status = "running";
      break;
    case "step_started": {
      // A repeated step_started (the step runs again after a crash) starts its text afresh.
      const step = stepAt(model, data.index);
      Object.assign(step, {
        kind: data.kind, agent_key: data.agent_key, agent_name: data.agent_name, model: data.model,
        status: "running", text: "", error: null, usage: null,
      });
      break;
    }
    case "step_delta":
      stepAt(model, data.index).text += data.text ?? "";
      break;
    case "step_completed": {
      const step = stepAt(model, data.index);
      Object.assign(step, { status: data.status, text: data.content ?? step.text, error: data.error ?? null, usage: data.usage ?? null });
      break;
    }
    case "turn_completed": {
      const finished = modelFromTurn(data.turn);
      Object.assign(model, finished, { lastSeq: model.lastSeq });
      break;
    }
    case "turn_failed":
      model.status = "failed";
      model.error = data.error ?? { code: "turn_failed", detail: "The turn could not run." };
      break;
    default:
      break; // stream_closed and anything newer: nothing to show
  }
  if (typeof seq === "number") model.lastSeq = seq;
  return true;
}

// ---- rendering ------------------------------------------------------------------------------

const KIND_LABEL = { agent: null, manager: "Manager decision", synthesis: "Synthesis" };

function usageLine(usage) {
  if (!usage) return null;
  const input = usage.input_tokens;
  const cached = usage.cached_input_tokens;
  const parts = [];
  if (typeof usage.llm_calls === "number") parts.push(`${integer(usage.llm_calls)} call${usage.llm_calls === 1 ? "" : "s"}`);
  if (typeof input === "number") parts.push(`${integer(input)} in${cached ? ` (${integer(cached)} cached)` : ""}`);
  if (typeof usage.output_tokens === "number") parts.push(`${integer(usage.output_tokens)} out tokens`);
  if (usage.credits !== undefined) parts.push(`${credits(usage.credits)} credits`);
  return parts.join(" · ");
}

function stepBubble(step) {
  const kind = step.kind || "agent";
  const running = step.status === "running";
  const failed = step.status === "failed";
  const name = step.agent_name || (kind === "agent" ? step.agent_key : KIND_LABEL[kind] || kind);
  const kindLabel = kind in KIND_LABEL ? KIND_LABEL[kind] : kind;
  const head = h("header", { class: "bubble-head" },
    h("span", { class: "agent-name" }, name || "Agent"),
    step.agent_key ? h("span", { class: "chip key" }, `@${step.agent_key}`) : null,
    step.model ? h("span", { class: "chip model", title: "model" }, step.model) : null,
    kindLabel ? h("span", { class: "chip kind" }, kindLabel) : null,
    running ? h("span", { class: "chip status running", "aria-label": "answering" }, h("span", { class: "dots", "aria-hidden": "true" }), "answering")
      : step.status && step.status !== "completed" ? h("span", { class: `chip status status-${step.status}` }, step.status) : null,
  );
  // A stopped step keeps what it had written, with a line saying the answer was cut there.
  const cut = step.status === "stopped"
    ? h("p", { class: "stopped-note muted small" }, step.text ? "Stopped here: the text above is what it had written." : "Stopped before it wrote anything.")
    : null;
  const body = h("div", { class: "md" });
  const decision = step.decision;
  if (kind === "manager" && decision) {
    const asked = decision.action === "call_agent"
      ? [h("span", { class: "arrow", "aria-hidden": "true" }, "→ "), "asks ", h("strong", {}, `@${decision.agent_key}`), decision.instruction ? `: ${decision.instruction}` : ""]
      : [h("span", { class: "arrow", "aria-hidden": "true" }, "■ "), "finishes", decision.reason ? `: ${decision.reason}` : ""];
    body.append(h("p", { class: "decision" }, ...asked));
  } else if (step.text) {
    body.append(renderMarkdown(step.text));
  } else if (running) {
    body.append(h("p", { class: "muted thinking" }, "Thinking…"));
  }
  const instruction = step.instruction ? h("p", { class: "instruction" }, h("span", { class: "muted" }, "Asked by the manager: "), step.instruction) : null;
  const error = step.error ? h("p", { class: "step-error" },
    h("strong", {}, failed ? "Failed: " : "Error: "), h("code", {}, step.error.code || "error"),
    step.error.detail ? ` — ${step.error.detail}` : "") : null;
  const foot = step.usage ? h("footer", { class: "bubble-foot" }, usageLine(step.usage)) : null;
  return h("article", {
    // An agent keeps its colour across turns; the manager's steps have their own (see style.css).
    class: ["bubble", "step", `kind-${kind}`, `status-${step.status || "unknown"}`, step.agent_key ? `hue-${hueOf(step.agent_key)}` : ""],
    dataset: { index: String(step.index), kind, status: step.status || "", agent: step.agent_key || "" },
    "aria-busy": running ? "true" : "false",
  }, head, instruction, body, cut, error, foot);
}

// Why a turn stopped, in words; a reason this page does not know yet still shows under its own name.
const STOP_REASON = {
  user: "by you",
  credit_cap: "credit cap reached",
  call_cap: "agent call cap reached",
  time_cap: "time cap reached",
};

function statusText(model) {
  if (model.status === "running") {
    if (model.connection === "reconnecting") return "Connection lost — reconnecting…";
    if (model.stopping) return "Stopping…";
    return "The council is answering…";
  }
  if (model.status === "stopped") {
    if (model.stopReason === "user") return "Stopped by you";
    return model.stopReason ? `Stopped: ${STOP_REASON[model.stopReason] || model.stopReason.replace(/_/g, " ")}` : "Stopped";
  }
  const base = { completed: "Completed", partial: "Partial: some steps failed", failed: "Failed" }[model.status] || model.status;
  return model.stopReason ? `${base} (${model.stopReason.replace(/_/g, " ")})` : base;
}

export function renderTurn(model, { onLedger } = {}) {
  const user = h("article", { class: "bubble user" },
    h("header", { class: "bubble-head" }, h("span", { class: "agent-name" }, "You"),
      model.mode ? h("span", { class: "chip mode" }, model.mode) : null),
    h("p", { class: "user-text" }, model.userMessage));
  const steps = h("div", { class: "steps" }, model.steps.map(stepBubble));
  const running = model.status === "running";
  const notes = [];
  if (model.orchestration?.fallback) notes.push(h("p", { class: "note" }, `The manager fell back: ${model.orchestration.reason || "no valid decision"}.`));
  if (model.error) notes.push(h("p", { class: "step-error" }, h("strong", {}, "The turn could not run: "), h("code", {}, model.error.code), ` — ${model.error.detail || ""}`));
  const ledger = h("div", { class: "ledger", hidden: true });
  const ledgerButton = !running && model.id ? h("button", {
    type: "button", class: "small", "aria-expanded": "false",
    on: { click: (e) => toggleLedger(model, ledger, e.currentTarget, onLedger) },
  }, "Ledger") : null;
  const foot = h("footer", { class: "turn-foot" },
    h("span", { class: ["turn-status", `status-${model.status}`, model.connection === "reconnecting" ? "reconnecting" : ""] }, running ? h("span", { class: "dots", "aria-hidden": "true" }) : null, statusText(model)),
    !running ? h("span", { class: "turn-usage" }, usageLine(model.usage)) : null,
    model.createdAt ? h("time", { class: "muted", datetime: model.createdAt }, when(model.createdAt)) : null,
    ledgerButton);
  return h("section", {
    class: ["turn", running ? "running" : ""],
    dataset: { turnId: model.id || "", status: model.status, index: model.turnIndex ?? "" },
    "aria-label": `Turn ${(model.turnIndex ?? 0) + 1}`,
  }, user, steps, notes, foot, ledger);
}

async function toggleLedger(model, box, button, onLedger) {
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  box.hidden = !open;
  if (!open || box.dataset.loaded) return;
  box.replaceChildren(h("p", { class: "muted" }, "Loading the ledger…"));
  try {
    const page = await get(`/usage/events?turn_id=${encodeURIComponent(model.id)}&limit=500`);
    box.replaceChildren(ledgerTable(page.items));
    box.dataset.loaded = "1";
    box.scrollIntoView({ block: "nearest" });
  } catch (error) {
    box.replaceChildren(h("p", { class: "form-error" }, `${error.code}: ${error.detail}`));
  }
  onLedger?.();
}

export function ledgerTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No ledger rows for this turn.");
  const columns = [
    ["step", (r) => r.step_index ?? "—"],
    ["purpose", (r) => r.purpose ?? "agent"],
    ["agent", (r) => r.agent_key ?? "—"],
    ["model", (r) => r.model_alias],
    ["status", (r) => r.status],
    ["in", (r) => integer(r.input_tokens_fresh)],
    ["cached", (r) => integer(r.input_tokens_cached)],
    ["out", (r) => integer(r.output_tokens)],
    ["credits", (r) => r.credits_burned],
    ["USD", (r) => r.provider_cost_usd],
    ["ms", (r) => integer(r.latency_ms)],
  ];
  const text = new Set(["purpose", "agent", "model", "status"]); // the other columns are figures
  const cls = (name) => (text.has(name) ? "text" : null);
  return h("div", { class: "table-wrap" }, h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map(([name]) => h("th", { scope: "col", class: cls(name) }, name)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r.status !== "success" ? "bad" : "" },
      columns.map(([name, f]) => h("td", { class: cls(name) }, String(f(r)))))))));
}
