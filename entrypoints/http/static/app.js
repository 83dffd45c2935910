// The Pantheon page: sign-up, rooms and their councils, sessions, streamed turns, usage.
// Everything goes through the public API (api.js); every node is built with dom.js (no HTML strings).

import { ApiError, allPages, auth, del, get, patch, post, put, whenUnauthorized } from "./api.js";
import { $, credits, h, hueOf, replaceChildren, show, when } from "./dom.js";
import { TurnFollower, forgetRunning, resumeModel, savedRunning } from "./stream.js";
import { liveModel, modelFromTurn, renderTurn } from "./turns.js";
import { forgetUsage, showUsage } from "./usage.js";

const LAST_ROOM = "pantheon.lastRoom";
const LAST_SESSION = "pantheon.lastSession";
const PAGE_TURNS = 20; // turns loaded at once, newest first; older pages on demand
const MODES = {
  manual: "only the agents you tag with @key answer, in the order you tag them",
  roundtable: "every agent answers once, in council order, each reading the earlier answers",
  orchestrator: "a manager model picks who answers next and ends with a synthesis",
};

// The room's caps per turn: the API field, its input, and how a typed value is sent.
const CAPS = [
  { field: "max_credits_per_turn", input: "cap-credits", decimal: true, shown: (v) => `${credits(v)} credits` },
  { field: "max_agent_calls_per_turn", input: "cap-calls", shown: (v) => `${v} agent call${v === 1 ? "" : "s"}` },
  { field: "max_turn_seconds", input: "cap-seconds", shown: (v) => `${v} s` },
];

const state = {
  me: null, models: [], rooms: [], room: null, agents: [], sessions: [], session: null,
  turns: [], olderCursor: null, follower: null, liveNode: null, editing: null,
};

// ---- small helpers --------------------------------------------------------------------------

let noticeTimer = null;
function notify(text, kind = "info") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  show(box);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(box, false), 7000);
}

function describe(error) {
  return error instanceof ApiError ? `${error.detail} (${error.code})` : String(error?.message || error);
}

function formError(id, error) { $(id).textContent = error ? describe(error) : ""; }

async function guarded(task, errorBox) {
  try {
    if (errorBox) formError(errorBox, null);
    return await task();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    if (errorBox) formError(errorBox, error);
    else notify(describe(error), "error");
    return undefined;
  }
}

// A button that asks to be pressed twice (no native dialog: keyboard- and test-friendly).
function confirmButton(label, confirmLabel, action, extra = {}) {
  let armed = null;
  const button = h("button", {
    type: "button", class: "danger", ...extra,
    on: {
      click: async () => {
        if (!armed) {
          button.textContent = confirmLabel;
          button.classList.add("armed");
          armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove("armed"); }, 4000);
          return;
        }
        clearTimeout(armed);
        armed = null;
        await action();
      },
    },
  }, label);
  return button;
}

function modelInfo(alias) { return state.models.find((m) => m.alias === alias); }

function modelHint(alias) {
  const m = modelInfo(alias);
  if (!m) return alias ? `“${alias}” is not in this server's catalog: its steps fail with unknown_model.` : "";
  if (!m.available) {
    return `Unavailable: the provider “${m.provider}” has no API key configured on this server, so this agent's steps would fail with provider_not_configured (nothing is sent or billed).`;
  }
  return `${m.provider} · ${m.provider_model} · ${Number(m.context_window).toLocaleString("en")} tokens of context · ×${m.multiplier} credits`;
}

function modelSelect(id, selected, { allowDefault = false } = {}) {
  const hint = h("p", { class: "muted small model-hint", id: `${id}-hint` });
  const option = (m) => h("option", { value: m.alias, selected: m.alias === selected },
    m.available ? m.alias : `${m.alias} — unavailable`);
  const available = state.models.filter((m) => m.available);
  const unavailable = state.models.filter((m) => !m.available);
  const select = h("select", { id, name: "model", "aria-describedby": `${id}-hint` },
    allowDefault ? h("option", { value: "", selected: !selected }, "server default") : null,
    h("optgroup", { label: "Available" }, available.map(option)),
    unavailable.length ? h("optgroup", { label: "Unavailable (provider not configured)" }, unavailable.map(option)) : null);
  const update = () => {
    hint.textContent = select.value ? modelHint(select.value) : "The manager model configured on the server (PANTHEON_MANAGER_MODEL).";
    hint.classList.toggle("warn", !!select.value && !modelInfo(select.value)?.available);
  };
  select.addEventListener("change", update);
  update();
  return { select, hint };
}

// ---- views ----------------------------------------------------------------------------------

function showView(name) {
  for (const view of ["auth", "rooms", "usage"]) show($(`view-${view}`), view === name);
  const signedIn = name !== "auth";
  show($("nav"), signedIn);
  show($("account"), signedIn);
  for (const view of ["rooms", "usage"]) {
    if (view === name) $(`nav-${view}`).setAttribute("aria-current", "page");
    else $(`nav-${view}`).removeAttribute("aria-current");
  }
}

function showAuth(message) {
  showView("auth");
  show($("new-key"), false);
  show($("signup-form"), true);
  show($("key-form"), true);
  if (message) $("key-error").textContent = message;
}

async function signIn(key) {
  auth.key = key;
  const me = await get("/me");
  state.me = me;
  await enter();
}

function signOut(message) {
  state.follower?.stop();
  auth.key = null;
  forgetRunning();
  localStorage.removeItem(LAST_ROOM);
  localStorage.removeItem(LAST_SESSION);
  Object.assign(state, { me: null, room: null, rooms: [], agents: [], sessions: [], session: null, turns: [], follower: null });
  forgetUsage();
  replaceChildren($("room-list"));
  showAuth(message);
}

function renderAccount() {
  const me = state.me;
  $("who").textContent = me.display_name || me.email;
  $("who").title = me.email;
  const c = me.credits;
  const badge = $("credits");
  if (c && typeof c === "object") {
    const shown = c.available ?? c.balance;
    badge.textContent = `${credits(shown)} credits`;
    badge.title = Object.entries(c).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v ?? "none"}`).join("\n");
    show(badge);
  } else {
    show(badge, false);
  }
}

async function refreshMe() {
  const me = await get("/me").catch(() => null);
  if (me) { state.me = me; renderAccount(); }
}

async function enter() {
  // The rooms view shows once its lists are loaded, so nothing typed into it races the first load.
  state.models = (await get("/models")).items;
  await loadRooms();
  renderAccount();
  showView("rooms");
  const saved = savedRunning();
  const wanted = saved?.roomId || localStorage.getItem(LAST_ROOM);
  const roomId = state.rooms.some((r) => r.id === wanted) ? wanted : state.rooms[0]?.id;
  if (roomId) {
    await openRoom(roomId, saved?.sessionId || localStorage.getItem(LAST_SESSION));
  } else {
    renderRoom();
  }
}

// ---- rooms ----------------------------------------------------------------------------------

async function loadRooms() {
  state.rooms = await allPages("/rooms");
  renderRoomList();
}

function renderRoomList() {
  const items = state.rooms.map((room) => h("li", {},
    h("button", {
      type: "button", class: ["room-link", state.room?.id === room.id ? "active" : ""],
      "aria-current": state.room?.id === room.id ? "true" : null,
      on: { click: () => guarded(() => openRoom(room.id)) },
    }, h("span", { class: "room-link-name" }, room.name), h("span", { class: "chip mode" }, room.pending_mode || room.current_mode))));
  replaceChildren($("room-list"), items.length ? items : h("li", { class: "muted small" }, "No rooms yet."));
}

async function openRoom(roomId, sessionId = null) {
  state.follower?.stop();
  state.follower = null;
  const [room, agents, sessions] = await Promise.all([
    get(`/rooms/${roomId}`), get(`/rooms/${roomId}/agents`), allPages(`/rooms/${roomId}/sessions`),
  ]);
  Object.assign(state, { room, agents: agents.items, sessions: sortSessions(sessions), editing: null });
  localStorage.setItem(LAST_ROOM, roomId);
  renderRoomList();
  renderRoom();
  const session = state.sessions.find((s) => s.id === sessionId) || state.sessions[0] || null;
  await openSession(session);
}

function sortSessions(sessions) {
  return [...sessions].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

function renderRoom() {
  const room = state.room;
  show($("no-room"), !room);
  show($("room-open"), !!room);
  if (!room) return;
  $("room-name").textContent = room.name;
  $("room-goal").textContent = room.goal || "No goal set.";
  const caps = CAPS.filter((c) => room[c.field] !== null && room[c.field] !== undefined).map((c) => c.shown(room[c.field]));
  $("room-caps").textContent = caps.length ? `Caps per turn: ${caps.join(" · ")}` : "";
  show($("room-caps"), caps.length > 0);
  renderModes();
  renderAgents();
  renderSessions();
  renderComposerHint();
}

function renderModes() {
  const room = state.room;
  const next = room.pending_mode || room.current_mode;
  replaceChildren($("mode-buttons"), Object.keys(MODES).map((mode) => h("button", {
    type: "button", class: ["segment", mode === next ? "on" : ""], "aria-pressed": String(mode === next),
    dataset: { mode }, on: { click: () => changeMode(mode) },
  }, mode)));
  const note = $("mode-note");
  if (room.pending_mode && room.pending_mode !== room.current_mode) {
    replaceChildren(note, h("span", { class: "chip pending" }, "pending"), " Now ", h("strong", {}, room.current_mode),
      "; ", h("strong", {}, room.pending_mode), " applies from the next message: ", MODES[room.pending_mode] || "", ".");
  } else {
    replaceChildren(note, h("strong", {}, room.current_mode), ": ", MODES[room.current_mode] || "",
      ". A change applies from the next message.");
  }
}

async function changeMode(mode) {
  await guarded(async () => {
    state.room = await put(`/rooms/${state.room.id}/mode`, { mode });
    updateRoomInList();
    renderModes();
    renderComposerHint();
  });
}

function updateRoomInList() {
  state.rooms = state.rooms.map((r) => (r.id === state.room.id ? state.room : r));
  renderRoomList();
}

async function createRoom(event) {
  event.preventDefault();
  const name = $("new-room-name").value.trim();
  if (!name) { $("new-room-error").textContent = "Give the room a name."; return; }
  await guarded(async () => {
    const room = await post("/rooms", { name });
    $("new-room-name").value = "";
    state.rooms.unshift(room);
    await openRoom(room.id);
    $("add-agent").open = true;
    $("agent-key")?.focus();
  }, "new-room-error");
}

function toggleSettings(open) {
  const form = $("room-settings");
  show(form, open);
  $("room-settings-toggle").setAttribute("aria-expanded", String(open));
  if (!open) return;
  $("room-name-input").value = state.room.name;
  $("room-goal-input").value = state.room.goal || "";
  for (const cap of CAPS) $(cap.input).value = state.room[cap.field] ?? "";
  capErrors(null);
  const { select, hint } = modelSelect("room-manager-input", state.room.manager_model, { allowDefault: true });
  select.name = "manager_model";
  $("room-manager-input").replaceWith(select);
  document.querySelectorAll("#room-settings .model-hint").forEach((n) => n.remove());
  select.after(hint);
  $("room-name-input").focus();
}

// An empty cap is no cap (null). Whole numbers go as numbers; anything else is sent as typed, for
// the server to refuse beside its field (the page does not keep a second copy of the rules).
function capValue(cap) {
  const text = $(cap.input).value.trim();
  if (!text) return null;
  if (cap.decimal) return text;
  return /^\d+$/.test(text) ? Number(text) : text;
}

// Shows each field's refusal beside it (422 `extra[].key`); false when none named a cap field.
function capErrors(error) {
  let placed = false;
  for (const cap of CAPS) {
    const box = $(`${cap.input}-error`);
    const problem = (Array.isArray(error?.extra) ? error.extra : []).find((e) => String(e?.key ?? "").split(".").pop() === cap.field);
    box.textContent = problem ? capMessage(cap, problem) : "";
    $(cap.input).setAttribute("aria-invalid", String(!!problem));
    if (problem && !placed) { $(cap.input).focus(); placed = true; }
  }
  return placed;
}

function capMessage(cap, problem) {
  const hint = $(`${cap.input}-hint`).textContent;
  return `Not accepted: ${problem.message || "invalid value"}. ${hint}`;
}

async function saveSettings(event) {
  event.preventDefault();
  formError("room-settings-error", null);
  capErrors(null);
  try {
    const body = { name: $("room-name-input").value, goal: $("room-goal-input").value };
    body.manager_model = $("room-manager-input").value || null;
    for (const cap of CAPS) body[cap.field] = capValue(cap);
    state.room = await patch(`/rooms/${state.room.id}`, body);
    updateRoomInList();
    renderRoom();
    toggleSettings(false);
    notify("Room saved.");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    if (!(error instanceof ApiError && capErrors(error))) formError("room-settings-error", error);
  }
}

async function deleteRoom() {
  await guarded(async () => {
    const { id, name } = state.room;
    await del(`/rooms/${id}`);
    state.follower?.stop();
    state.rooms = state.rooms.filter((r) => r.id !== id);
    Object.assign(state, { room: null, session: null, turns: [], follower: null });
    localStorage.removeItem(LAST_ROOM);
    renderRoomList();
    renderRoom();
    notify(`Room “${name}” deleted.`);
  });
}

// ---- agents ---------------------------------------------------------------------------------

function renderAgents() {
  const list = state.agents.map((agent, n) => agentItem(agent, n));
  replaceChildren($("agent-list"), list.length ? list : h("li", { class: "muted small" }, "No agents yet: add two or three below."));
  renderAgentForm();
}

function agentItem(agent, n) {
  if (state.editing === agent.id) return agentEditor(agent);
  const info = modelInfo(agent.model);
  const last = n === state.agents.length - 1;
  return h("li", { class: ["agent", `hue-${hueOf(agent.agent_key)}`], dataset: { agent: agent.agent_key } },
    h("div", { class: "agent-main" },
      h("span", { class: "agent-name" }, agent.name),
      h("span", { class: "chip key" }, `@${agent.agent_key}`),
      h("span", { class: ["chip", "model", info && !info.available ? "warn" : ""], title: modelHint(agent.model) },
        agent.model, info && !info.available ? " (unavailable)" : "")),
    agent.role_prompt ? h("p", { class: "muted small role" }, agent.role_prompt) : null,
    h("div", { class: "row tools" },
      h("button", { type: "button", class: "ghost small", disabled: n === 0, "aria-label": `Move ${agent.name} up`, on: { click: () => moveAgent(n, -1) } }, "↑"),
      h("button", { type: "button", class: "ghost small", disabled: last, "aria-label": `Move ${agent.name} down`, on: { click: () => moveAgent(n, 1) } }, "↓"),
      h("button", { type: "button", class: "ghost small", on: { click: () => { state.editing = agent.id; renderAgents(); $(`edit-name-${agent.id}`)?.focus(); } } }, "Edit"),
      confirmButton("Remove", "Really remove?", () => removeAgent(agent), { class: "danger small" })));
}

function agentEditor(agent) {
  const { select, hint } = modelSelect(`edit-model-${agent.id}`, agent.model);
  const name = h("input", { id: `edit-name-${agent.id}`, type: "text", maxlength: "200", value: agent.name, required: true });
  const role = h("textarea", { id: `edit-role-${agent.id}`, rows: "3", maxlength: "20000" });
  role.value = agent.role_prompt;
  const error = h("p", { class: "form-error", role: "alert", id: `edit-error-${agent.id}` });
  const form = h("form", {
    class: "agent-edit", novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        await guarded(async () => {
          await patch(`/rooms/${state.room.id}/agents/${agent.id}`, { name: name.value, model: select.value, role_prompt: role.value });
          state.editing = null;
          await reloadAgents();
        }, error.id);
      },
    },
  },
  h("label", { for: name.id }, "Name"), name,
  h("label", { for: select.id }, "Model"), select, hint,
  h("label", { for: role.id }, "Role prompt"), role,
  h("div", { class: "row" },
    h("button", { type: "submit", class: "primary small" }, "Save"),
    h("button", { type: "button", class: "small", on: { click: () => { state.editing = null; renderAgents(); } } }, "Cancel")),
  error);
  return h("li", { class: "agent editing" }, form);
}

function renderAgentForm() {
  const { select, hint } = modelSelect("agent-model", state.models.find((m) => m.available)?.alias);
  const error = h("p", { class: "form-error", id: "agent-error", role: "alert" });
  const form = $("agent-form");
  replaceChildren(form,
    h("label", { for: "agent-key" }, "Key ", h("span", { class: "muted" }, "(for @tags: a–z, 0–9, _)")),
    h("input", { id: "agent-key", name: "agent_key", type: "text", required: true, maxlength: "32", pattern: "[a-z][a-z0-9_]{0,31}", autocomplete: "off", spellcheck: "false", placeholder: "architect" }),
    h("label", { for: "agent-name" }, "Name"),
    h("input", { id: "agent-name", name: "name", type: "text", required: true, maxlength: "200", placeholder: "Architect" }),
    h("label", { for: "agent-model" }, "Model"), select, hint,
    h("label", { for: "agent-role" }, "Role prompt"),
    h("textarea", { id: "agent-role", name: "role_prompt", rows: "3", maxlength: "20000", placeholder: "You favour simple, proven designs." }),
    h("button", { type: "submit", class: "primary" }, "Add agent"),
    error);
}

async function addAgent(event) {
  event.preventDefault();
  const body = {
    agent_key: $("agent-key").value.trim(), name: $("agent-name").value.trim(),
    model: $("agent-model").value, role_prompt: $("agent-role").value,
  };
  if (!body.name && body.agent_key) body.name = body.agent_key[0].toUpperCase() + body.agent_key.slice(1);
  await guarded(async () => {
    await post(`/rooms/${state.room.id}/agents`, body);
    await reloadAgents();
    $("agent-key").focus();
  }, "agent-error");
}

async function reloadAgents() {
  state.agents = (await get(`/rooms/${state.room.id}/agents`)).items;
  renderAgents();
  renderComposerHint();
  if (!state.turns.length && !state.liveNode) renderHistory(); // its empty-state hint names the next step
}

async function moveAgent(n, delta) {
  const order = [...state.agents];
  const [moved] = order.splice(n, 1);
  order.splice(n + delta, 0, moved);
  await guarded(async () => {
    // Positions become 0…n-1 in the new order; only agents whose position changes are patched.
    for (const [position, agent] of order.entries()) {
      if (agent.position !== position) await patch(`/rooms/${state.room.id}/agents/${agent.id}`, { position });
    }
    await reloadAgents();
    document.querySelector(`#agent-list [data-agent="${moved.agent_key}"] button[aria-label^="Move ${CSS.escape(moved.name)} ${delta < 0 ? "up" : "down"}"]`)?.focus();
  });
}

async function removeAgent(agent) {
  await guarded(async () => {
    await del(`/rooms/${state.room.id}/agents/${agent.id}`);
    await reloadAgents();
  });
}

// ---- sessions and history -------------------------------------------------------------------

function sessionLabel(session, n) {
  const count = session.turn_count ?? 0;
  return `Session ${state.sessions.length - n} · ${count} turn${count === 1 ? "" : "s"} · ${when(session.created_at)}`;
}

function renderSessions() {
  const select = $("session-select");
  replaceChildren(select, state.sessions.length
    ? state.sessions.map((s, n) => h("option", { value: s.id, selected: s.id === state.session?.id }, sessionLabel(s, n)))
    : h("option", { value: "" }, "No session yet"));
  select.disabled = !state.sessions.length;
}

async function openSession(session) {
  state.follower?.stop();
  Object.assign(state, { session, turns: [], olderCursor: null, follower: null, liveNode: null });
  renderSessions();
  if (!session) { renderHistory(); setRunning(false); return; }
  localStorage.setItem(LAST_SESSION, session.id);
  replaceChildren($("history"), h("p", { class: "muted pad" }, "Loading the conversation…"));
  const latest = await get(`/sessions/${session.id}/turns?order=desc&limit=${PAGE_TURNS}`);
  if (state.session?.id !== session.id) return; // another session was opened meanwhile
  const turns = latest.items.slice().reverse();
  const running = turns.find((t) => t.status === "running");
  state.olderCursor = latest.next_cursor;
  state.turns = turns.filter((t) => t !== running).map(modelFromTurn);
  renderHistory();
  if (running) {
    follow(resumeModel(running, savedRunning()));
  } else {
    const saved = savedRunning();
    if (saved?.sessionId === session.id) forgetRunning(); // it finished while the page was away
    setRunning(false);
  }
  scrollToEnd(true);
}

async function newSession() {
  await guarded(async () => {
    const session = await post(`/rooms/${state.room.id}/sessions`, {});
    state.sessions.unshift(session);
    await openSession(session);
    $("message").focus();
  });
}

async function loadOlder() {
  const box = $("history");
  const session = state.session;
  const page = await get(`/sessions/${session.id}/turns?order=desc&limit=${PAGE_TURNS}&cursor=${encodeURIComponent(state.olderCursor)}`);
  if (state.session !== session) return;
  const height = box.scrollHeight;
  state.turns = [...page.items.slice().reverse().map(modelFromTurn), ...state.turns];
  state.olderCursor = page.next_cursor;
  renderHistory();
  box.scrollTop += box.scrollHeight - height; // keep the reader where they were
  $("older-turns")?.focus();
}

function renderHistory() {
  const box = $("history");
  const nodes = state.turns.map((m) => renderTurn(m));
  // Indices are gapless from 0, so the oldest turn shown says how many come before it.
  const hidden = state.olderCursor ? state.turns[0]?.turnIndex ?? 0 : 0;
  const older = state.olderCursor ? h("button", {
    type: "button", class: "older", id: "older-turns", on: { click: () => guarded(loadOlder) },
  }, `Show older turns (${hidden} more)`) : null;
  const empty = !state.turns.length && !state.liveNode
    ? h("div", { class: "empty" }, h("p", {}, state.agents.length ? "No messages yet. Say something to the council." : "Add agents to the council, then say something."))
    : null;
  replaceChildren(box, older, nodes, empty, state.liveNode);
}

function nearEnd(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 80; }
function scrollToEnd(force = false) {
  const box = $("history");
  if (force || nearEnd(box)) box.scrollTop = box.scrollHeight;
}

// ---- sending and following turns ------------------------------------------------------------

function effectiveMode() { return state.room ? state.room.pending_mode || state.room.current_mode : "manual"; }

function renderComposerHint() {
  const mode = effectiveMode();
  const keys = state.agents.map((a) => `@${a.agent_key}`).join(" ");
  const text = !state.agents.length ? "Add an agent to start."
    : mode === "manual" ? `Manual: tag who answers (${keys}). Type @ to pick. Enter sends, Shift+Enter adds a line.`
      : mode === "roundtable" ? "Roundtable: every agent answers in order. Enter sends, Shift+Enter adds a line."
        : "Orchestrator: the manager picks who answers. Enter sends, Shift+Enter adds a line.";
  $("composer-hint").textContent = text;
  $("message").placeholder = mode === "manual" && state.agents.length ? `Ask ${state.agents.map((a) => `@${a.agent_key}`).slice(0, 2).join(" and ")}…` : "Ask the council…";
}

function setRunning(running) {
  $("send").disabled = running;
  $("send").textContent = running ? "Answering…" : "Send";
  $("composer").classList.toggle("busy", running);
  renderStop();
}

// ---- stopping a running turn ----------------------------------------------------------------

// The Stop buttons show while a turn runs (in every mode, also one resumed after a reload). They
// wait for the turn's id (its first event); once a stop is asked they say "Stopping…" until the
// turn's events end. aria-disabled, not disabled, so the focused button keeps the focus.
function renderStop() {
  const model = state.follower?.model;
  const group = $("stop-controls");
  const wasInside = group.contains(document.activeElement);
  show(group, !!model);
  const ready = !!model?.id && !model.stopping;
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-disabled", String(!ready));
    button.classList.toggle("pressed", model?.stopping === button.dataset.mode);
  }
  $("stop-status").textContent = !model ? "" : model.stopping
    ? (model.stopping === "now" ? "Stopping now…" : "Stopping after this step…") : "";
  if (!model && wasInside) $("message").focus(); // the buttons went away under the keyboard
}

async function stopTurn(mode) {
  const follower = state.follower;
  const model = follower?.model;
  if (!model?.id || model.stopping) return;
  model.stopping = mode;
  renderStop();
  drawLive(model);
  try {
    await post(`/sessions/${model.sessionId}/turns/${model.id}/stop`, { mode });
  } catch (error) {
    if (error instanceof ApiError && error.code === "turn_not_running") {
      // It ended on its own meanwhile: nothing to stop, its last events are on their way.
      notify("The turn had already finished.");
      return;
    }
    if (state.follower !== follower) return;
    model.stopping = null;
    renderStop();
    drawLive(model);
    if (!(error instanceof ApiError && error.status === 401)) notify(`Could not stop the turn: ${describe(error)}`, "error");
  }
}

let frame = null;
function drawLive(model) {
  renderStop();
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = null;
    const stick = nearEnd($("history"));
    const fresh = renderTurn(model);
    if (state.liveNode?.isConnected) state.liveNode.replaceWith(fresh);
    else $("history").append(fresh);
    state.liveNode = fresh;
    $("history").querySelector(".empty")?.remove();
    if (stick) scrollToEnd(true);
  });
}

function follow(model, message = null) {
  const roomId = state.room.id;
  const follower = new TurnFollower({
    roomId,
    model,
    onChange: (m) => { if (state.follower === follower) drawLive(m); },
    onEnd: (m) => { if (state.follower === follower) turnEnded(m); },
  });
  state.follower = follower;
  setRunning(true);
  drawLive(model);
  if (message === null) follower.follow();
  return follower;
}

async function turnEnded(model) {
  if (frame) { cancelAnimationFrame(frame); frame = null; }
  state.follower = null;
  const node = renderTurn(model);
  if (state.liveNode?.isConnected) state.liveNode.replaceWith(node);
  state.liveNode = null;
  renderStop();
  state.turns.push(model);
  renderHistory();
  scrollToEnd(true);
  setRunning(false);
  forgetUsage();
  // The streaming bubbles are not a live region (they change many times a second): say it once here.
  const answered = model.steps.filter((s) => s.status === "completed").length;
  $("announce").textContent = `The council has answered: ${model.status}, ${answered} of ${model.steps.length} steps completed.`;
  // The turn applied any pending mode; the session counts one more turn; credits moved.
  const [room, sessions] = await Promise.all([get(`/rooms/${state.room.id}`).catch(() => null), allPages(`/rooms/${state.room.id}/sessions`).catch(() => null)]);
  if (room && state.room?.id === room.id) { state.room = room; updateRoomInList(); renderModes(); renderComposerHint(); }
  if (sessions) { state.sessions = sortSessions(sessions); renderSessions(); }
  refreshMe();
}

async function send(event) {
  event?.preventDefault();
  closeTags();
  const box = $("message");
  const message = box.value;
  if (!message.trim() || state.follower) return;
  formError("composer-error", null);
  $("composer-error").classList.remove("tag-error");
  if (!state.session) {
    const session = await guarded(() => post(`/rooms/${state.room.id}/sessions`, {}), "composer-error");
    if (!session) return;
    state.sessions.unshift(session);
    state.session = session;
    localStorage.setItem(LAST_SESSION, session.id);
    renderSessions();
  }
  const model = liveModel(state.session.id, message);
  const follower = new TurnFollower({
    roomId: state.room.id,
    model,
    onChange: (m) => {
      if (state.follower !== follower) return;
      if (box.value === message) box.value = "";
      drawLive(m);
    },
    onEnd: (m) => { if (state.follower === follower) turnEnded(m); },
  });
  state.follower = follower;
  setRunning(true);
  try {
    await follower.send(message);
  } catch (error) {
    follower.stop();
    if (state.follower !== follower) return; // the user went to another room or session meanwhile
    state.follower = null;
    state.liveNode?.remove();
    state.liveNode = null;
    setRunning(false);
    if (error?.name !== "AbortError") showSendError(error);
  }
}

function showSendError(error) {
  const box = $("composer-error");
  if (error instanceof ApiError && error.code === "no_valid_tag") {
    const keys = state.agents.map((a) => `@${a.agent_key}`).join(", ");
    box.textContent = `No agent is tagged. In manual mode, tag who should answer: ${keys}.`;
    box.classList.add("tag-error");
  } else if (error instanceof ApiError && error.code === "no_agents") {
    box.textContent = "This room has no agents yet: add one in the council panel.";
  } else {
    box.textContent = describe(error);
  }
  $("message").focus();
}

// ---- @ autocompletion -----------------------------------------------------------------------

const tags = { open: false, items: [], active: 0, start: 0 };
const TAG_BEFORE_CARET = /(^|[^A-Za-z0-9._@-])@([a-z0-9_]{0,31})$/;

function tagQuery() {
  const box = $("message");
  if (box.selectionStart !== box.selectionEnd) return null;
  const m = TAG_BEFORE_CARET.exec(box.value.slice(0, box.selectionStart));
  return m ? { query: m[2], start: box.selectionStart - m[2].length - 1 } : null;
}

function updateTags() {
  const q = effectiveMode() !== "roundtable" && state.agents.length ? tagQuery() : null;
  if (!q) { closeTags(); return; }
  const items = state.agents.filter((a) => a.agent_key.startsWith(q.query) || a.name.toLowerCase().startsWith(q.query));
  if (!items.length) { closeTags(); return; }
  Object.assign(tags, { open: true, items, start: q.start, active: Math.min(tags.open ? tags.active : 0, items.length - 1) });
  drawTags();
}

function drawTags() {
  const list = $("tag-list");
  replaceChildren(list, tags.items.map((agent, n) => h("li", {
    id: `tag-opt-${n}`, role: "option", class: ["tag-option", n === tags.active ? "active" : ""],
    "aria-selected": String(n === tags.active), dataset: { key: agent.agent_key },
    on: { mousedown: (e) => { e.preventDefault(); acceptTag(n); } },
  }, h("strong", {}, `@${agent.agent_key}`), " ", h("span", { class: "muted" }, `${agent.name} · ${agent.model}`))));
  show(list, true);
  $("message").setAttribute("aria-expanded", "true");
  $("message").setAttribute("aria-activedescendant", `tag-opt-${tags.active}`);
}

function closeTags() {
  tags.open = false;
  show($("tag-list"), false);
  $("message").setAttribute("aria-expanded", "false");
  $("message").removeAttribute("aria-activedescendant");
}

function acceptTag(n) {
  const box = $("message");
  const agent = tags.items[n];
  const before = box.value.slice(0, tags.start);
  const after = box.value.slice(box.selectionStart);
  const inserted = `@${agent.agent_key}${after.startsWith(" ") ? "" : " "}`;
  box.value = before + inserted + after;
  const caret = before.length + inserted.length;
  box.setSelectionRange(caret, caret);
  closeTags();
  box.focus();
}

function composerKeys(event) {
  if (tags.open) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      tags.active = (tags.active + step + tags.items.length) % tags.items.length;
      drawTags();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); acceptTag(tags.active); return; }
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); closeTags(); return; }
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
}

// ---- sign-up --------------------------------------------------------------------------------

async function signUp(event) {
  event.preventDefault();
  const email = $("signup-email").value.trim();
  const displayName = $("signup-name").value.trim();
  if (!email) { $("signup-error").textContent = "Enter your e-mail address."; return; }
  await guarded(async () => {
    const created = await post("/users", displayName ? { email, display_name: displayName } : { email });
    auth.key = created.api_key;
    $("new-key-value").textContent = created.api_key;
    show($("signup-form"), false);
    show($("key-form"), false);
    show($("new-key"), true);
    $("continue").focus();
  }, "signup-error");
}

async function useKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) { $("key-error").textContent = "Paste your API key."; return; }
  try {
    await signIn(key);
    $("key-input").value = "";
    $("key-error").textContent = "";
  } catch (error) {
    auth.key = null;
    $("key-error").textContent = error instanceof ApiError && error.status === 401
      ? "That key was not accepted." : describe(error);
  }
}

// ---- start ----------------------------------------------------------------------------------

function bind() {
  $("signup-form").addEventListener("submit", signUp);
  $("key-form").addEventListener("submit", useKey);
  $("copy-key").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("new-key-value").textContent); notify("Key copied."); }
    catch { notify("Select the key and copy it by hand.", "error"); }
  });
  $("continue").addEventListener("click", () => guarded(() => signIn(auth.key)));
  $("sign-out").addEventListener("click", () => signOut());
  $("nav-rooms").addEventListener("click", () => showView("rooms"));
  $("nav-usage").addEventListener("click", async () => { showView("usage"); await guarded(showUsage); });
  $("usage-metric").addEventListener("change", () => guarded(showUsage));
  $("new-room-form").addEventListener("submit", createRoom);
  $("room-settings-toggle").addEventListener("click", () => toggleSettings($("room-settings").hidden));
  $("room-settings-cancel").addEventListener("click", () => toggleSettings(false));
  $("room-settings").addEventListener("submit", saveSettings);
  $("room-delete").replaceWith(confirmButton("Delete room", "Really delete?", deleteRoom, { id: "room-delete" }));
  $("agent-form").addEventListener("submit", addAgent);
  $("session-select").addEventListener("change", (e) => {
    const session = state.sessions.find((s) => s.id === e.target.value);
    if (session) guarded(() => openSession(session));
  });
  $("new-session").addEventListener("click", newSession);
  $("composer").addEventListener("submit", send);
  for (const button of $("stop-controls").querySelectorAll("button")) {
    button.addEventListener("click", () => stopTurn(button.dataset.mode));
  }
  const box = $("message");
  box.addEventListener("keydown", composerKeys);
  box.addEventListener("input", updateTags);
  box.addEventListener("click", updateTags);
  box.addEventListener("blur", () => setTimeout(closeTags, 100));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && tags.open) closeTags(); });
  whenUnauthorized(() => signOut("Your API key was not accepted: sign in again."));
}

bind();
if (auth.key) {
  signIn(auth.key).catch((error) => {
    if (!(error instanceof ApiError && error.status === 401)) {
      showAuth();
      $("key-error").textContent = describe(error);
    }
  });
} else {
  showAuth();
}
