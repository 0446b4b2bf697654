// Phasehost JavaScript client: an ES module served by phasehost at
// /v1/client.js. No build step, no dependencies.
//
//   import { Client } from "/v1/client.js";
//   const ph = new Client();
//   const job = await ph.submit(["assembly4", "material"], input);
//   const w = ph.watch(job.id, job.token, { onEvent: (ev) => console.log(ev.seq, ev.job_percent) });
//   // w.close() stops watching; w.done resolves with the final job event.

/**
 * A job event (schemas/event.schema.json).
 * @typedef {Object} JobEvent
 * @property {string} job_id
 * @property {number} seq            per job, from 1, strictly increasing, no gaps
 * @property {string} time           RFC 3339
 * @property {"job"|"stage"|"phase"} type
 * @property {JobStatus} [status]
 * @property {string} [stage]
 * @property {number} [stage_index]
 * @property {string} [plugin]
 * @property {string} [version]
 * @property {string} [source_phase] the plugin's own phase name
 * @property {string} [step]
 * @property {"START"|"PROGRESS"|"END"} [phase]
 * @property {number} [done]
 * @property {number} [total]
 * @property {number} [percent]      of the stage
 * @property {number} [job_percent]  of the job
 * @property {string} [message]
 * @property {string} [error]
 * @property {*} [result]            on the final job event: the last stage's output
 */

/** @typedef {"queued"|"running"|"succeeded"|"failed"|"cancelled"} JobStatus */

/**
 * The answer of submit.
 * @typedef {Object} Submitted
 * @property {string} id
 * @property {string} token  watches and cancels this job
 * @property {JobStatus} status
 */

/**
 * One problem of a refused plugin upload.
 * @typedef {Object} Problem
 * @property {string} path
 * @property {string} message
 */

/**
 * @typedef {Object} WatchOptions
 * @property {number} [since]       resume after this seq (0: from the start)
 * @property {(ev: JobEvent) => void} [onEvent]  each event once, in seq order
 * @property {(err: Error) => void} [onError]    transport trouble (watching goes on) or a fatal error (err.fatal)
 * @property {(state: string) => void} [onState] "connecting", "open", "reconnecting", "done", "closed"
 * @property {"auto"|"ws"|"sse"} [transport]     auto: WebSocket, SSE when WebSocket is unavailable
 */

/**
 * A running watch.
 * @typedef {Object} Watch
 * @property {() => void} close           stop watching
 * @property {Promise<JobEvent>} done     resolves with the final job event
 * @property {() => number} lastSeq       the last seq delivered
 * @property {() => string} transport     "ws" or "sse"
 * @property {() => number} reconnects    how many times the transport was reopened
 * @property {(code?: number) => void} dropConnection  closes the current connection as a network failure would (tests)
 */

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const FATAL_CODES = new Set(["unauthorized", "forbidden", "job_not_found", "bad_request"]);

/** An error answered by the API: {"error": {"code", "message", "problems"}}. */
export class APIError extends Error {
  /**
   * @param {number} status
   * @param {{code?: string, message?: string, problems?: Problem[]}} body
   */
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.name = "APIError";
    this.status = status;
    this.code = body.code || "http_" + status;
    /** @type {Problem[]} */
    this.problems = body.problems || [];
  }
}

/** True when ev is a job's final event. @param {JobEvent} ev */
export function isFinal(ev) {
  return ev.type === "job" && TERMINAL.has(ev.status);
}

export class Client {
  /**
   * @param {{baseURL?: string, operatorToken?: string}} [opts]
   *   baseURL: the server ("" = this page's origin).
   */
  constructor(opts = {}) {
    this.baseURL = (opts.baseURL || "").replace(/\/$/, "");
    this.operatorToken = opts.operatorToken || "";
    /** Backoff of reconnects: first delay and cap, in ms. */
    this.backoff = { initial: 250, max: 10000 };
  }

  async request(method, path, { token, body, contentType } = {}) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
    const resp = await fetch(this.baseURL + path, {
      method,
      headers,
      body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
    });
    if (resp.status === 204) return null;
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) throw new APIError(resp.status, (data && data.error) || { message: text });
    return data;
  }

  /**
   * Submits a job. @param {string[]} pipeline plugin names, "name@version" pins one
   * @param {*} input the first stage's input @returns {Promise<Submitted>}
   */
  submit(pipeline, input) {
    return this.request("POST", "/v1/jobs", { body: { pipeline, input } });
  }

  /** The job's state. */
  job(jobId, token) {
    return this.request("GET", "/v1/jobs/" + encodeURIComponent(jobId), { token });
  }

  /** Requests cancellation of a job. */
  cancel(jobId, token) {
    return this.request("DELETE", "/v1/jobs/" + encodeURIComponent(jobId), { token });
  }

  /** The loaded plugins with their manifests. @returns {Promise<Object[]>} */
  async plugins() {
    return (await this.request("GET", "/v1/plugins")).plugins;
  }

  /**
   * Uploads a .wasm plugin (operator). A refused module throws an APIError
   * whose problems lists every problem. @param {Blob|ArrayBuffer} wasm
   */
  uploadPlugin(wasm, operatorToken = this.operatorToken) {
    return this.request("POST", "/v1/plugins", { token: operatorToken, body: wasm, contentType: "application/wasm" });
  }

  /** Removes a plugin version (operator). */
  removePlugin(name, version, operatorToken = this.operatorToken) {
    return this.request("DELETE", `/v1/plugins/${encodeURIComponent(name)}/${encodeURIComponent(version)}`, {
      token: operatorToken,
    });
  }

  /** Pins the version a bare plugin name resolves to (operator); rollback is a pin. */
  pinPlugin(name, version, operatorToken = this.operatorToken) {
    return this.request("PUT", `/v1/plugins/${encodeURIComponent(name)}/active`, {
      token: operatorToken,
      body: { version },
    });
  }

  /** Unpins a plugin name: it resolves to its highest version again (operator). */
  unpinPlugin(name, operatorToken = this.operatorToken) {
    return this.request("DELETE", `/v1/plugins/${encodeURIComponent(name)}/active`, { token: operatorToken });
  }

  /** The example input document (examples/bracket.json). */
  example() {
    return this.request("GET", "/v1/example");
  }

  /**
   * Watches a job's events: each once, in seq order, without gap, across
   * reconnects (resumed with since = the last seq seen).
   * @param {string} jobId @param {string} token @param {WatchOptions} [opts]
   * @returns {Watch}
   */
  watch(jobId, token, opts = {}) {
    return new Watcher(this, jobId, token, opts).start();
  }
}

class Watcher {
  constructor(client, jobId, token, opts) {
    this.c = client;
    this.jobId = jobId;
    this.token = token;
    this.opts = opts;
    this.last = opts.since || 0;
    this.attempt = 0;
    this.failedOpens = 0;
    this.reconnectCount = 0;
    this.stopped = false;
    this.conn = null; // {close(), kind}
    this.timer = null;
    const wantWS = (opts.transport || "auto") !== "sse";
    this.kind = wantWS && typeof WebSocket !== "undefined" ? "ws" : "sse";
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // a caller that ignores done sees the error in onError
  }

  start() {
    this.connect();
    return {
      close: () => this.stop("closed"),
      done: this.done,
      lastSeq: () => this.last,
      transport: () => this.kind,
      reconnects: () => this.reconnectCount,
      dropConnection: (code) => this.conn && this.conn.drop(code),
    };
  }

  state(s) {
    if (this.opts.onState) this.opts.onState(s);
  }

  error(err, fatal) {
    err.fatal = !!fatal;
    if (this.opts.onError) this.opts.onError(err);
    if (fatal) {
      this.stop("closed");
      this.reject(err);
    }
  }

  stop(state) {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.conn) this.conn.close();
    this.conn = null;
    this.state(state);
  }

  /** Delivers ev unless it was already delivered; ends at the final event. */
  deliver(ev) {
    if (this.stopped || typeof ev.seq !== "number" || ev.seq <= this.last) return;
    this.last = ev.seq;
    this.attempt = 0;
    if (this.opts.onEvent) this.opts.onEvent(ev);
    if (isFinal(ev)) {
      this.stop("done");
      this.resolve(ev);
    }
  }

  /** Reopens the transport: now (delay 0) or after an exponential backoff. */
  reconnect(immediately) {
    if (this.stopped) return;
    this.conn = null;
    this.state("reconnecting");
    const b = this.c.backoff;
    const delay = immediately ? 0 : Math.min(b.max, b.initial * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reconnectCount++;
      this.connect();
    }, delay);
  }

  connect() {
    if (this.stopped) return;
    this.state("connecting");
    this.conn = this.kind === "ws" ? this.openWS() : this.openSSE();
  }

  url(path) {
    const u = new URL(this.c.baseURL + path, typeof location !== "undefined" ? location.href : undefined);
    return u;
  }

  openWS() {
    const u = this.url("/v1/ws");
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.search = new URLSearchParams({ job: this.jobId, token: this.token, since: String(this.last) }).toString();
    let ws;
    try {
      ws = new WebSocket(u.toString());
    } catch (e) {
      this.kind = "sse";
      return this.openSSE();
    }
    let opened = false;
    let ended = false;
    const conn = {
      kind: "ws",
      close: () => {
        ended = true;
        ws.close(1000);
      },
      drop: (code) => ws.close(code || 4000, "dropped"),
    };
    ws.onopen = () => {
      opened = true;
      this.failedOpens = 0;
      this.state("open");
    };
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === "error") {
        const err = new APIError(0, msg);
        this.error(err, FATAL_CODES.has(msg.code));
        return;
      }
      this.deliver(msg);
    };
    ws.onclose = (ev) => {
      if (ended || this.stopped || this.conn !== conn) return;
      ended = true;
      if (!opened && ++this.failedOpens >= 2) {
        // The upgrade never succeeded: a proxy without WebSocket, or an
        // answer such as 401/404 that only SSE/fetch can read.
        this.kind = "sse";
        this.reconnect(true);
        return;
      }
      if (ev.code === 4008) {
        this.reconnect(true); // too slow: resume at once with since
        return;
      }
      this.error(new Error(`websocket closed (${ev.code}${ev.reason ? " " + ev.reason : ""}), reconnecting`), false);
      this.reconnect(false);
    };
    return conn;
  }

  openSSE() {
    const u = this.url(`/v1/jobs/${encodeURIComponent(this.jobId)}/events`);
    u.search = new URLSearchParams({ token: this.token, since: String(this.last) }).toString();
    const es = new EventSource(u.toString());
    let ended = false;
    const conn = {
      kind: "sse",
      close: () => {
        ended = true;
        es.close();
      },
      drop: () => {
        es.close();
        ended = true;
        this.reconnect(false);
      },
    };
    const onMessage = (m) => {
      try {
        this.deliver(JSON.parse(m.data));
      } catch {
        /* not an event */
      }
    };
    for (const t of ["job", "stage", "phase", "message"]) es.addEventListener(t, onMessage);
    es.onopen = () => {
      this.state("open");
    };
    es.onerror = async () => {
      if (ended || this.stopped) return;
      // EventSource resumes by itself (Last-Event-ID) while CONNECTING; a
      // refused answer (4xx) closes it: learn why, then give up or retry.
      if (es.readyState !== EventSource.CLOSED) {
        this.state("reconnecting");
        return;
      }
      ended = true;
      try {
        await this.c.job(this.jobId, this.token);
      } catch (e) {
        if (e instanceof APIError && e.status >= 400 && e.status < 500) {
          this.error(e, true);
          return;
        }
      }
      this.error(new Error("event stream closed, reconnecting"), false);
      this.reconnect(false);
    };
    return conn;
  }
}
