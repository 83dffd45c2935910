// Following a turn's stream, and picking it up again after a reload or a lost connection.
//
// POST …/turns with Accept: text/event-stream starts a turn and streams it. If that stream breaks,
// GET …/turns/{id}/events with Last-Event-ID (the seq of the last event applied) resumes right after
// it. The running turn's view model, with its last seq, is kept in sessionStorage after every event,
// so a reloaded page redraws what it had and asks only for what came after.

import { ApiError, allPages, openStream, readEvents } from "./api.js";
import { uuid } from "./dom.js";
import { TERMINAL, applyEvent, modelFromTurn } from "./turns.js";

const RUNNING_STORAGE = "pantheon.runningTurn";
const BACKOFF_MS = [300, 1000, 2000, 4000, 5000];

export function savedRunning() {
  try { return JSON.parse(sessionStorage.getItem(RUNNING_STORAGE) || "null"); } catch { return null; }
}

function save(roomId, model) {
  sessionStorage.setItem(RUNNING_STORAGE, JSON.stringify({ roomId, sessionId: model.sessionId, model }));
}

export function forgetRunning() { sessionStorage.removeItem(RUNNING_STORAGE); }

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

export class TurnFollower {
  // onChange(model) after every applied event or connection change; onEnd(model) once, at the end.
  constructor({ roomId, model, onChange, onEnd }) {
    this.roomId = roomId;
    this.model = model;
    this.onChange = onChange;
    this.onEnd = onEnd;
    this.done = false;
    this.abort = new AbortController();
    this.wake = null;
    this.onOnline = () => this.wake?.();
    window.addEventListener("online", this.onOnline);
  }

  stop() {
    this.done = true;
    this.abort.abort();
    window.removeEventListener("online", this.onOnline);
  }

  handle = (event) => {
    if (!applyEvent(this.model, event)) return;
    this.model.connection = "open";
    if (TERMINAL.has(event.event)) {
      this.finish();
    } else {
      save(this.roomId, this.model);
      this.onChange(this.model);
    }
  };

  finish() {
    if (this.done) return;
    forgetRunning();
    this.stop();
    this.model.connection = "idle";
    this.onEnd(this.model);
  }

  // Starts a turn. A refusal (409, 422 no_valid_tag, …) is thrown before anything is shown. If the
  // request or its answer is lost on the way, it is repeated with the same Idempotency-Key, which
  // starts the turn at most once.
  async send(message) {
    const idempotencyKey = uuid();
    const path = `/sessions/${this.model.sessionId}/turns`;
    let response = null;
    try {
      response = await openStream("POST", path, { body: { message }, idempotencyKey, signal: this.abort.signal });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 0) throw error;
    }
    this.onChange(this.model);
    if (response) await this.consume(response);
    if (this.done) return;
    if (!this.model.id) await this.recoverUnnamed(path, message, idempotencyKey);
    await this.follow();
  }

  // The stream broke before its first event: the same Idempotency-Key replays a finished turn; a
  // turn still running answers 409, and the session's running turn is the one to follow.
  async recoverUnnamed(path, message, idempotencyKey) {
    for (let attempt = 0; !this.done && !this.model.id; attempt++) {
      try {
        const response = await openStream("POST", path, { body: { message }, idempotencyKey, signal: this.abort.signal });
        await this.consume(response);
      } catch (error) {
        if (error?.name === "AbortError") return;
        if (error instanceof ApiError && error.code === "turn_in_progress") {
          const turns = await allPages(`/sessions/${this.model.sessionId}/turns`).catch(() => []);
          const running = turns.filter((t) => t.status === "running" && t.user_message === message).pop();
          if (running) { this.model.id = running.id; return; }
        } else if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          throw error;
        }
        await this.pause(attempt);
      }
    }
  }

  // Follows (or resumes) the turn after model.lastSeq until its terminal event.
  async follow() {
    const path = `/sessions/${this.model.sessionId}/turns/${this.model.id}/events`;
    for (let attempt = 0; !this.done; attempt++) {
      try {
        const before = this.model.lastSeq;
        const response = await openStream("GET", path, { lastEventId: this.model.lastSeq, signal: this.abort.signal });
        await this.consume(response);
        if (this.done) return;
        // The stream ended without the terminal event (dropped, or stream_closed): reconnect at once
        // if it brought something, else after a pause.
        if (this.model.lastSeq > before) attempt = -1;
        else await this.pause(attempt);
      } catch (error) {
        if (error?.name === "AbortError" || this.done) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          this.model.status = "failed";
          this.model.error = { code: error.code, detail: error.detail };
          this.finish();
          return;
        }
        await this.pause(attempt);
      }
    }
  }

  async consume(response) {
    try {
      await readEvents(response, this.handle);
    } catch (error) {
      if (error?.name === "AbortError" || this.done) return;
      // The connection dropped mid-stream: say so, then the caller reconnects.
    }
  }

  async pause(attempt) {
    this.model.connection = "reconnecting";
    this.onChange(this.model);
    const wait = BACKOFF_MS[Math.min(Math.max(attempt, 0), BACKOFF_MS.length - 1)];
    await new Promise((resolve) => {
      this.wake = resolve;
      sleep(wait, this.abort.signal).then(resolve);
    });
    this.wake = null;
  }
}

// A follower for a turn that was running when the page was left (sessionStorage), or that the
// history shows as running (started elsewhere: followed from its first event).
export function resumeModel(turn, saved) {
  if (saved?.model?.id === turn.id) return saved.model;
  const model = modelFromTurn(turn);
  model.steps = [];
  model.lastSeq = 0;
  return model;
}
