// Phasehost dashboard: plain JS on top of /v1/client.js. The DOM is updated
// in place, at most once per animation frame per job, so hundreds of live
// jobs stay cheap.
import { Client, APIError } from "/v1/client.js";

const client = new Client();
const $ = (id) => document.getElementById(id);

/** Jobs by id: the model the renderer draws. */
const jobs = new Map();
const dirty = new Set();
let frame = 0;

function schedule(job) {
  dirty.add(job);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  for (const job of dirty) render(job);
  dirty.clear();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pct(v) {
  return Math.max(0, Math.min(100, Math.round((v || 0) * 10) / 10));
}

/** A progress bar row: label, bar, percentage; updated by setBar. */
function barRow(label, cls) {
  const row = el("div", "bar-row " + (cls || ""));
  const name = el("span", "bar-label", label);
  const bar = el("div", "bar");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  const fill = el("div", "fill");
  bar.append(fill);
  const text = el("span", "pct", "0%");
  row.append(name, bar, text);
  return { row, name, bar, fill, text, shown: -1, status: "" };
}

function setBar(b, value, status, label) {
  const v = pct(value);
  if (v !== b.shown) {
    b.shown = v;
    b.fill.style.width = v + "%";
    b.text.textContent = v + "%";
    b.bar.setAttribute("aria-valuenow", String(v));
    b.row.dataset.percent = String(v);
  }
  if (status && status !== b.status) {
    b.row.classList.remove("st-" + b.status);
    b.status = status;
    b.row.classList.add("st-" + status);
    b.row.dataset.status = status;
  }
  if (label && label !== b.name.textContent) b.name.textContent = label;
}

function addJob(id, token, pipeline) {
  const job = {
    id, token, pipeline,
    status: "queued", jobPercent: 0,
    stages: pipeline.map((p) => ({ name: p.split("@")[0], status: "queued", percent: 0 })),
    sourcePhase: "", step: "", message: "", errors: [],
    seqs: [], transport: "", dom: null, watch: null,
  };
  jobs.set(id, job);
  job.watch = client.watch(id, token, {
    onEvent: (ev) => onEvent(job, ev),
    onError: (err) => {
      if (err.fatal) {
        job.errors.push(err.message);
        schedule(job);
      }
    },
  });
  $("jobs-count").textContent = `(${jobs.size})`;
  schedule(job);
  return job;
}

function onEvent(job, ev) {
  job.seqs.push(ev.seq);
  if (typeof ev.job_percent === "number") job.jobPercent = ev.job_percent;
  const st = typeof ev.stage_index === "number" ? job.stages[ev.stage_index] : null;
  if (st && ev.stage) st.name = ev.stage;
  switch (ev.type) {
    case "phase":
      if (st) {
        st.percent = ev.percent;
        st.status = "running";
      }
      job.sourcePhase = ev.source_phase || "";
      job.step = ev.step || "";
      break;
    case "stage":
      if (st) {
        st.status = ev.status;
        if (ev.status === "succeeded") st.percent = 100;
      }
      break;
    case "job":
      job.status = ev.status;
      if (ev.status === "succeeded") {
        job.jobPercent = 100;
        for (const s of job.stages) if (s.status !== "succeeded") { s.status = "succeeded"; s.percent = 100; }
      } else if (ev.status === "failed" || ev.status === "cancelled") {
        for (const s of job.stages) if (s.status === "running" || s.status === "queued") s.status = ev.status;
      }
      break;
  }
  if (ev.message) job.message = ev.message;
  if (ev.error) job.errors.push((ev.stage ? ev.stage + ": " : "") + ev.error);
  schedule(job);
}

function render(job) {
  let d = job.dom;
  if (!d) {
    d = job.dom = {};
    d.root = el("div", "job");
    d.root.dataset.job = job.id;
    const head = el("div", "job-head");
    d.id = el("span", "job-id", job.id.slice(0, 12));
    d.id.title = job.id;
    d.pipeline = el("span", "muted", job.pipeline.join(" → "));
    d.status = el("span", "status");
    d.cancel = el("button", "cancel", "Cancel");
    d.cancel.type = "button";
    d.cancel.addEventListener("click", () => {
      client.cancel(job.id, job.token).catch((e) => {
        job.errors.push("cancel: " + e.message);
        schedule(job);
      });
    });
    head.append(d.id, d.pipeline, d.status, d.cancel);
    d.jobBar = barRow("job", "job-bar");
    d.stageBars = job.stages.map((s) => barRow(s.name, "stage-bar"));
    d.detail = el("div", "detail");
    d.errors = el("div", "job-error");
    d.root.append(head, d.jobBar.row, ...d.stageBars.map((b) => b.row), d.detail, d.errors);
    $("jobs").prepend(d.root);
    d.shownErrors = 0;
  }
  if (d.status.textContent !== job.status) {
    d.status.textContent = job.status;
    d.status.className = "status status-" + job.status;
    d.root.dataset.status = job.status;
    d.cancel.hidden = job.status === "succeeded" || job.status === "failed" || job.status === "cancelled";
  }
  setBar(d.jobBar, job.jobPercent, job.status);
  job.stages.forEach((s, i) => setBar(d.stageBars[i], s.percent, s.status, s.name));
  const detail = [job.sourcePhase && `${job.sourcePhase} (${job.step})`, job.message].filter(Boolean).join(" — ");
  if (d.detail.textContent !== detail) d.detail.textContent = detail;
  if (job.errors.length !== d.shownErrors) {
    d.shownErrors = job.errors.length;
    d.errors.textContent = job.errors.join("\n");
  }
}

async function submit(e) {
  e.preventDefault();
  $("submit-error").textContent = "";
  const pipeline = $("pipeline").value.split(",").map((s) => s.trim()).filter(Boolean);
  let input;
  try {
    input = JSON.parse($("input").value || "{}");
  } catch (err) {
    $("submit-error").textContent = "input is not JSON: " + err.message;
    return;
  }
  try {
    const s = await client.submit(pipeline, input);
    addJob(s.id, s.token, pipeline);
  } catch (err) {
    $("submit-error").textContent = err.message;
  }
}

function operatorToken() {
  return $("operator-token").value.trim();
}

function renderPlugins(list) {
  const box = $("plugins");
  box.replaceChildren();
  if (!list.length) box.append(el("p", "muted", "no plugin loaded"));
  for (const p of list) {
    const d = el("div", "plugin");
    d.dataset.plugin = p.name + "@" + p.version;
    const head = el("div", "row");
    head.append(el("strong", "", p.name), el("span", "", p.version), el("span", "muted", "stage " + p.stage));
    if (p.active) head.append(el("span", "badge active", p.pinned ? "active (pinned)" : "active"));
    // Pin another version (a rollback), or unpin the pinned one; the active,
    // unpinned version has nothing to pin.
    if (!p.active || p.pinned) {
      const pin = el("button", "pin operator-only", p.pinned ? "Unpin" : "Pin");
      pin.type = "button";
      pin.hidden = !operatorToken();
      pin.addEventListener("click", async () => {
        try {
          if (p.pinned) await client.unpinPlugin(p.name, operatorToken());
          else await client.pinPlugin(p.name, p.version, operatorToken());
          $("upload-status").textContent = p.pinned ? `unpinned ${p.name}` : `pinned ${p.name}@${p.version}`;
        } catch (err) {
          $("upload-status").textContent = "pin: " + err.message;
        }
        loadPlugins();
      });
      head.append(pin);
    }
    const rm = el("button", "remove operator-only", "Remove");
    rm.type = "button";
    rm.hidden = !operatorToken();
    rm.addEventListener("click", async () => {
      if (!confirm(`Remove ${p.name}@${p.version}?`)) return;
      try {
        await client.removePlugin(p.name, p.version, operatorToken());
        $("upload-status").textContent = `removed ${p.name}@${p.version}`;
      } catch (err) {
        $("upload-status").textContent = "remove: " + err.message;
      }
      loadPlugins();
    });
    head.append(rm);
    d.append(head);
    if (p.description) d.append(el("div", "muted", p.description));
    const l = p.limits || {};
    d.append(el("div", "limits",
      `memory ${l.memory_mb} MiB · timeout ${l.timeout_ms} ms · max events ${l.max_events} · max output ${l.max_output_bytes} B · weight ${p.weight}`));
    const t = el("table");
    const hr = el("tr");
    for (const h of ["phase", "step", "maps to"]) hr.append(el("th", "", h));
    t.append(hr);
    for (const ph of p.phases || []) {
      const tr = el("tr");
      tr.append(el("td", "", ph.name), el("td", "", ph.step), el("td", "", ph.maps_to));
      t.append(tr);
    }
    d.append(t);
    box.append(d);
  }
}

async function loadPlugins() {
  try {
    renderPlugins(await client.plugins());
  } catch (err) {
    $("plugins").textContent = "plugins: " + err.message;
  }
}

async function upload(e) {
  e.preventDefault();
  const problems = $("upload-problems");
  problems.replaceChildren();
  const file = $("upload-file").files[0];
  if (!file) {
    $("upload-status").textContent = "choose a .wasm file";
    return;
  }
  $("upload-status").textContent = "uploading…";
  try {
    const p = await client.uploadPlugin(file, operatorToken());
    $("upload-status").textContent = `uploaded ${p.name}@${p.version}`;
    loadPlugins();
  } catch (err) {
    $("upload-status").textContent = err.problems && err.problems.length
      ? `refused: ${err.problems.length} problem${err.problems.length === 1 ? "" : "s"}` : "refused: " + err.message;
    for (const p of (err instanceof APIError && err.problems) || []) {
      const li = el("li");
      li.append(el("code", "", p.path || "(module)"), document.createTextNode(": " + p.message));
      problems.append(li);
    }
  }
}

function operatorChanged() {
  const on = !!operatorToken();
  $("operator-actions").hidden = !on;
  for (const b of document.querySelectorAll(".operator-only")) b.hidden = !on;
}

async function loadExample() {
  try {
    const doc = await client.example();
    $("input").value = JSON.stringify(doc, null, 1);
  } catch {
    /* keep {} */
  }
}

// Hooks for tests and the console.
window.phasehost = {
  client,
  jobs,
  seqs: (id) => (jobs.get(id) ? jobs.get(id).seqs.slice() : null),
  status: (id) => (jobs.get(id) ? jobs.get(id).status : null),
  transport: (id) => (jobs.get(id) ? jobs.get(id).watch.transport() : null),
  reconnects: (id) => (jobs.get(id) ? jobs.get(id).watch.reconnects() : null),
  dropConnection: (id, code) => jobs.get(id) && jobs.get(id).watch.dropConnection(code),
  watchJob: (id, token, pipeline) => addJob(id, token, pipeline),
  ready: false,
};

$("submit-form").addEventListener("submit", submit);
$("upload-form").addEventListener("submit", upload);
$("operator-token").addEventListener("input", operatorChanged);
Promise.all([loadExample(), loadPlugins()]).then(() => {
  window.phasehost.ready = true;
});
