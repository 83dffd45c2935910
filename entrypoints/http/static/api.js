// The public HTTP API (/api/v1), with the key from local storage, and Server-Sent Events read from
// fetch(): EventSource cannot send Authorization nor a chosen Last-Event-ID, so streams are parsed here.

export const API = "/api/v1";
const KEY_STORAGE = "pantheon.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status >= 500 ? "internal_error" : "error");
    this.detail = body?.detail || `The server answered ${status}.`;
    this.extra = body?.extra;
  }
}

export const auth = {
  get key() { return localStorage.getItem(KEY_STORAGE); },
  set key(value) {
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
  },
};

let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (auth.key) h.Authorization = `Bearer ${auth.key}`;
  return h;
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: keep the status */ }
  const error = new ApiError(response.status, body);
  if (response.status === 401 && auth.key) onUnauthorized(error);
  return error;
}

export async function request(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, { code: "network_error", detail: "The server could not be reached." });
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => request("GET", path);
export const post = (path, body, h) => request("POST", path, body, h);
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

// Every page of a paged list route (limit 1–500, opaque cursors), concatenated.
export async function allPages(path, limit = 200) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor);
  return items;
}

// Parses an SSE body: calls onEvent({id, event, data}) per message; resolves when the body ends.
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const dispatch = (block) => {
    let id = null, event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { return; }
    onEvent({ id: id === null ? null : Number(id), event, data: parsed });
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) !== -1) {
      dispatch(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
    }
  }
  if (buffer.trim()) dispatch(buffer);
}

// Opens a stream: POST …/turns (a new turn) or GET …/events (follow or resume one).
export async function openStream(method, path, { body, lastEventId, idempotencyKey, signal } = {}) {
  const h = headers({ Accept: "text/event-stream" });
  if (lastEventId) h["Last-Event-ID"] = String(lastEventId);
  if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
  const init = { method, headers: h, signal, cache: "no-store" };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    if (e?.name === "AbortError") throw e;
    throw new ApiError(0, { code: "network_error", detail: "The server could not be reached." });
  }
  if (!response.ok) throw await failure(response);
  return response;
}
