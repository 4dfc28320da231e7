// The Edgeplane web console. Everything shown comes from the API through gRPC-Web (grpcweb.js) with the
// operator's own token, so the console can do exactly what edgectl can with that token and no more.
// Names, labels and messages come from edge hosts and are untrusted: the DOM is built with createElement and
// text nodes only (never innerHTML), and links are only this page's own "#/..." routes.
import { Api, GrpcError, loadSchema } from "./grpcweb.js";

const TOKEN_KEY = "edgeplane.console.token";
const REFRESH_MS = 5000;
const main = document.getElementById("main");
const banner = document.getElementById("banner");
const nav = document.getElementById("nav");
let registry = null;
let api = null;
let refreshTimer = null;
let renderSeq = 0;

// ---------------------------------------------------------------------------------------------
// DOM helpers: text only.

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) {
      el.addEventListener(key.slice(2), value);
    } else if (key === "href") {
      el.setAttribute("href", String(value).startsWith("#/") ? value : "#/");
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function table(headers, rows, emptyText) {
  if (rows.length === 0) return h("p", { class: "empty" }, emptyText || "none");
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

function badge(text, kind) {
  return h("span", { class: "badge " + (kind || "") }, text);
}

function labels(map) {
  const entries = Object.entries(map || {});
  return entries.length === 0 ? "" : h("span", { class: "labels" }, entries.map(([k, v]) => h("span", { class: "label" }, k + "=" + v)));
}

function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  const ago = Math.round((Date.now() - d.getTime()) / 1000);
  if (ago < 0) return d.toISOString();
  if (ago < 120) return ago + "s ago";
  if (ago < 7200) return Math.round(ago / 60) + "m ago";
  if (ago < 172800) return Math.round(ago / 3600) + "h ago";
  return Math.round(ago / 86400) + "d ago";
}

function showError(e) {
  banner.replaceChildren();
  if (!e) {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  const text = e instanceof GrpcError ? e.codeName + ": " + e.message : String(e.message || e);
  banner.append(h("span", { dataset: { code: e instanceof GrpcError ? e.codeName : "ERROR" } }, text));
  if (e instanceof GrpcError && e.code === 16) signOut("Signed out: " + e.message);
}

function notice(text) {
  banner.hidden = false;
  banner.replaceChildren(h("span", { class: "ok" }, text));
}

// ---------------------------------------------------------------------------------------------
// Sign-in: the token lives in this tab's sessionStorage only (never a cookie, never in a URL).

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  api = null;
  renderSignIn(message);
}

function renderSignIn(message) {
  clearInterval(refreshTimer);
  nav.hidden = true;
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true,
    placeholder: "API token", size: 48 });
  const error = h("p", { class: "error", id: "signin-error" }, message || "");
  const form = h("form", { id: "signin", class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    const candidate = new Api(registry, input.value.trim());
    try {
      await candidate.call("AppService", "ListApps", { pageSize: 1 });
    } catch (e) {
      error.textContent = e instanceof GrpcError ? e.codeName + ": " + e.message : String(e);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    api = candidate;
    banner.hidden = true;
    if (!location.hash || location.hash === "#/signin") location.hash = "#/";
    route();
  } },
  h("h2", {}, "Sign in"),
  h("p", {}, "Paste an API token: the admin token, or one from ", h("code", {}, "edgectl apitoken create NAME"),
    ". The console can do what the token's role bindings allow, like edgectl."),
  h("label", { for: "token" }, "Token "), input, " ", h("button", { type: "submit" }, "Sign in"), error);
  main.replaceChildren(form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Routing: #/, #/nodes, #/nodes/NAME, #/apps, #/apps/NS/NAME, #/volumes, #/apply

const routes = [
  [/^#?\/?$/, () => overview()],
  [/^#\/nodes$/, () => nodesPage()],
  [/^#\/nodes\/([^/]+)$/, (m) => nodePage(decodeURIComponent(m[1]))],
  [/^#\/apps$/, () => appsPage()],
  [/^#\/apps\/([^/]+)\/([^/]+)$/, (m) => appPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/volumes$/, () => volumesPage()],
  [/^#\/apply$/, () => applyPage()],
];

async function route() {
  if (!api) {
    renderSignIn();
    return;
  }
  nav.hidden = false;
  clearInterval(refreshTimer);
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", location.hash.startsWith(a.getAttribute("href")) && a.getAttribute("href") !== "#/" || (a.getAttribute("href") === "#/" && (location.hash === "" || location.hash === "#/")));
  const hash = location.hash || "#/";
  for (const [pattern, page] of routes) {
    const m = hash.match(pattern);
    if (m) {
      const render = () => page(m);
      await draw(render);
      if (render.noRefresh !== true && hash !== "#/apply") {
        refreshTimer = setInterval(() => {
          const active = document.activeElement;
          if (active && main.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
          draw(render, true);
        }, REFRESH_MS);
      }
      return;
    }
  }
  main.replaceChildren(h("p", {}, "No such page."));
}

/** Renders a page off-screen, then swaps it in (a refresh never shows a half-built page). */
async function draw(render, quiet) {
  const seq = ++renderSeq;
  try {
    const content = await render();
    if (seq !== renderSeq || !api) return;
    main.replaceChildren(content);
    if (!quiet) banner.hidden = true;
  } catch (e) {
    if (seq !== renderSeq) return;
    showError(e);
  }
}

async function listAll(service, method, request, field) {
  const out = [];
  let pageToken = "";
  for (let i = 0; i < 50; i++) {
    const res = await api.call(service, method, { ...request, pageSize: 500, pageToken });
    out.push(...(res[field] || []));
    pageToken = res.nextPageToken || "";
    if (!pageToken) break;
  }
  return out;
}

const nodes = () => listAll("NodeService", "ListNodes", {}, "nodes");
const apps = () => listAll("AppService", "ListApps", {}, "apps");

function events(filter, pageSize = 20) {
  return api.call("EventService", "ListEvents", { filter, pageSize }).then((r) => r.events || []);
}

// ---------------------------------------------------------------------------------------------
// Derived states

function nodePhase(n) {
  return (n.status && n.status.phase) || "PHASE_UNSPECIFIED";
}

function appHealth(a) {
  const s = a.status || {};
  const desired = s.desiredReplicas || 0;
  const available = s.availableReplicas || 0;
  if (desired === 0) return "SCALED_TO_ZERO";
  if (available >= desired) return "HEALTHY";
  if (available > 0) return "DEGRADED";
  return "UNAVAILABLE";
}

const KIND = { READY: "good", HEALTHY: "good", RUNNING: "good", BOUND: "good", COMPLETE: "good",
  NOT_READY: "bad", UNREACHABLE: "bad", UNAVAILABLE: "bad", FAILED: "bad", WARNING: "warn", CRITICAL: "bad",
  DEGRADED: "warn", PENDING: "warn", PROGRESSING: "warn", PAUSED: "warn", ABORTED: "bad" };

function countBy(items, key) {
  const counts = new Map();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) || 0) + 1);
  return [...counts.entries()].sort();
}

function eventsTable(list) {
  return table(["last seen", "level", "object", "reason", "message", "node", "count"], list.map((e) => [
    when(e.lastTime), badge(e.level || "INFO", KIND[e.level]),
    objectLink(e.involvedObject || {}), e.reason || "", h("span", { class: "message" }, e.message || ""),
    e.node ? h("a", { href: "#/nodes/" + encodeURIComponent(e.node) }, e.node) : "", e.count || "1"]), "no events");
}

function objectLink(o) {
  const text = (o.kind || "") + " " + (o.namespace ? o.namespace + "/" : "") + (o.name || "");
  if (o.kind === "Node") return h("a", { href: "#/nodes/" + encodeURIComponent(o.name) }, text);
  if (o.kind === "App") return h("a", { href: "#/apps/" + encodeURIComponent(o.namespace || "default") + "/" + encodeURIComponent(o.name) }, text);
  return text;
}

function tiles(title, counts) {
  return h("section", { class: "card" }, h("h3", {}, title),
    counts.length === 0 ? h("p", { class: "empty" }, "none") :
      h("div", { class: "tiles" }, counts.map(([k, v]) => h("div", { class: "tile " + (KIND[k] || "") }, h("strong", {}, String(v)), h("span", {}, k)))));
}

// ---------------------------------------------------------------------------------------------
// Pages

async function overview() {
  const [ns, as, warnings] = await Promise.all([nodes(), apps(), events({ minLevel: "WARNING" }, 15)]);
  return h("div", { dataset: { loaded: "overview" } },
    h("h2", {}, "Fleet overview"),
    h("div", { class: "row" },
      tiles("Nodes by phase (" + ns.length + ")", countBy(ns, nodePhase)),
      tiles("Apps by health (" + as.length + ")", countBy(as, appHealth))),
    h("section", { class: "card" }, h("h3", {}, "Recent warnings"), eventsTable(warnings)));
}

function nodeActions(n, after) {
  const name = n.metadata.name;
  const act = (method, label, confirmText) => h("button", { type: "button", dataset: { action: method, node: name }, onclick: async () => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      await api.call("NodeService", method, { name });
      notice(label + " " + name + ": done");
      await after();
    } catch (e) {
      showError(e);
    }
  } }, label);
  const spec = n.spec || {};
  return h("span", { class: "actions" },
    spec.unschedulable ? act("UncordonNode", "Uncordon") : act("CordonNode", "Cordon"),
    spec.drained ? "" : act("DrainNode", "Drain", "Drain " + name + "? Its replicas move to other nodes."));
}

async function nodesPage() {
  const ns = await nodes();
  const rerender = () => draw(() => nodesPage(), true);
  return h("div", { dataset: { loaded: "nodes" } }, h("h2", {}, "Nodes (" + ns.length + ")"),
    table(["name", "phase", "pool", "replicas", "scheduling", "labels", "conditions", "last heartbeat", ""], ns.map((n) => {
      const s = n.status || {};
      const spec = n.spec || {};
      return [h("a", { href: "#/nodes/" + encodeURIComponent(n.metadata.name), class: "name" }, n.metadata.name),
        badge(nodePhase(n), KIND[nodePhase(n)]), s.pool || "", (s.runningReplicas || 0) + "/" + (s.desiredReplicas || 0),
        spec.drained ? "drained" : spec.unschedulable ? "cordoned" : "schedulable", labels(n.metadata.labels),
        (s.conditions || []).map((c) => badge(c.type || c.reason || "condition", "warn")), when(s.lastHeartbeat), nodeActions(n, rerender)];
    }), "no nodes have joined"));
}

async function nodePage(name) {
  const [n, evs] = await Promise.all([api.call("NodeService", "GetNode", { name }), events({ kind: "Node", name }, 30)]);
  const s = n.status || {};
  const rerender = () => draw(() => nodePage(name), true);
  return h("div", { dataset: { loaded: "node" } },
    h("h2", {}, "Node ", h("span", { class: "name" }, name), " ", badge(nodePhase(n), KIND[nodePhase(n)])),
    h("section", { class: "card" }, h("dl", {},
      dl("labels", labels(n.metadata.labels)), dl("pool", s.pool || ""), dl("replicas", (s.runningReplicas || 0) + " running / " + (s.desiredReplicas || 0) + " desired"),
      dl("scheduling", (n.spec || {}).drained ? "drained" : (n.spec || {}).unschedulable ? "cordoned" : "schedulable"),
      dl("agent", s.agentVersion || ""), dl("os/arch", (s.os || "") + "/" + (s.arch || "")), dl("hostname", s.hostname || ""),
      dl("runtime", s.containerRuntimeVersion || ""), dl("last heartbeat", when(s.lastHeartbeat)), dl("message", s.message || ""),
      dl("conditions", (s.conditions || []).map((c) => h("div", {}, badge(c.type || "condition", "warn"), " ", c.message || "")))),
    nodeActions(n, rerender)),
    charts([{ title: "CPU (cores)", names: ["node_cpu_usage_cores"], unit: "cores" },
      { title: "Memory used", names: ["node_memory_used_bytes"], unit: "bytes" }], [{ name: "node", value: name }]),
    h("section", { class: "card" }, h("h3", {}, "Events"), eventsTable(evs)));
}

function dl(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function scaleControl(a, after) {
  const input = h("input", { type: "number", min: 0, max: 10000, value: (a.spec || {}).replicas || 0, class: "replicas",
    "aria-label": "replicas of " + a.metadata.name });
  return h("form", { class: "scale", dataset: { app: a.metadata.namespace + "/" + a.metadata.name }, onsubmit: async (ev) => {
    ev.preventDefault();
    const replicas = Number(input.value);
    try {
      // Read-modify-write: UpdateApp with the resource_version just read (a concurrent change fails ABORTED).
      const current = await api.call("AppService", "GetApp", { namespace: a.metadata.namespace, name: a.metadata.name });
      current.spec = { ...(current.spec || {}), replicas };
      delete current.status;
      await api.call("AppService", "UpdateApp", { app: current });
      notice("Scaled " + a.metadata.namespace + "/" + a.metadata.name + " to " + replicas);
      input.blur();
      await after();
    } catch (e) {
      showError(e);
    }
  } }, input, h("button", { type: "submit" }, "Scale"));
}

function deleteButton(a, after) {
  return h("button", { type: "button", class: "danger", dataset: { action: "DeleteApp" }, onclick: async () => {
    if (!confirm("Delete app " + a.metadata.namespace + "/" + a.metadata.name + "?")) return;
    try {
      await api.call("AppService", "DeleteApp", { namespace: a.metadata.namespace, name: a.metadata.name });
      notice("Deleted " + a.metadata.namespace + "/" + a.metadata.name);
      await after();
    } catch (e) {
      showError(e);
    }
  } }, "Delete");
}

async function appsPage() {
  const as = await apps();
  const rerender = () => draw(() => appsPage(), true);
  return h("div", { dataset: { loaded: "apps" } }, h("h2", {}, "Apps (" + as.length + ")"),
    table(["namespace", "name", "health", "ready", "available", "updated", "desired", "rollout", "message", "scale", ""], as.map((a) => {
      const s = a.status || {};
      return [a.metadata.namespace, h("a", { href: "#/apps/" + encodeURIComponent(a.metadata.namespace) + "/" + encodeURIComponent(a.metadata.name), class: "name" }, a.metadata.name),
        badge(appHealth(a), KIND[appHealth(a)]), String(s.readyReplicas || 0), String(s.availableReplicas || 0), String(s.updatedReplicas || 0),
        h("span", { class: "desired" }, String(s.desiredReplicas || 0)), s.rollout ? badge(s.rollout.phase || "", KIND[s.rollout.phase]) : "",
        h("span", { class: "message" }, s.message || ""), scaleControl(a, rerender), deleteButton(a, rerender)];
    }), "no apps: apply one"));
}

async function appPage(namespace, name) {
  const [a, nsEvents] = await Promise.all([api.call("AppService", "GetApp", { namespace, name }), events({ namespace }, 200)]);
  const s = a.status || {};
  // The App's own events and its replicas' (agents report them against the replica).
  const replicaNames = new Set((s.replicas || []).map((r) => r.name));
  const evs = nsEvents.filter((e) => {
    const o = e.involvedObject || {};
    return (o.kind === "App" && o.name === name) || (o.kind === "Replica" && (replicaNames.has(o.name) || o.name.startsWith(name + "-")));
  }).slice(0, 30);
  const rerender = () => draw(() => appPage(namespace, name), true);
  const containers = ((a.spec || {}).template || {}).containers || [];
  return h("div", { dataset: { loaded: "app" } },
    h("h2", {}, "App ", h("span", { class: "name" }, namespace + "/" + name), " ", badge(appHealth(a), KIND[appHealth(a)])),
    h("section", { class: "card" }, h("dl", {},
      dl("replicas", (s.readyReplicas || 0) + " ready, " + (s.availableReplicas || 0) + " available, " + (s.updatedReplicas || 0) + " updated of " + (s.desiredReplicas || 0)),
      dl("images", containers.map((c) => h("div", {}, (c.name || "") + ": " + (c.image || "")))),
      dl("labels", labels(a.metadata.labels)),
      dl("rollout", s.rollout ? (s.rollout.phase || "") + " revision " + (s.rollout.revision || "") + " " + (s.rollout.message || "") : ""),
      dl("message", s.message || "")),
    h("div", { class: "actions" }, scaleControl(a, rerender), deleteButton(a, () => { location.hash = "#/apps"; }))),
    h("section", { class: "card" }, h("h3", {}, "Replicas"),
      table(["name", "node", "phase", "ready", "restarts", "message"], (s.replicas || []).map((r) => [r.name || "",
        r.node ? h("a", { href: "#/nodes/" + encodeURIComponent(r.node) }, r.node) : "", badge(r.phase || "", KIND[r.phase]),
        r.ready ? "yes" : "no", String(r.restartCount || 0), h("span", { class: "message" }, r.message || "")]), "no replicas")),
    charts([{ title: "CPU (cores)", names: ["container_cpu_usage_cores"], unit: "cores" },
      { title: "Memory (working set)", names: ["container_memory_working_set_bytes"], unit: "bytes" }],
    [{ name: "namespace", value: namespace }, { name: "app", value: name }]),
    h("section", { class: "card" }, h("h3", {}, "Events"), eventsTable(evs)));
}

async function volumesPage() {
  const vs = await listAll("VolumeService", "ListVolumes", {}, "volumes");
  return h("div", { dataset: { loaded: "volumes" } }, h("h2", {}, "Volumes (" + vs.length + ")"),
    table(["namespace", "name", "phase", "node", "requested", "capacity", "class", "reclaim", "message"], vs.map((v) => {
      const s = v.status || {};
      const spec = v.spec || {};
      return [v.metadata.namespace, h("span", { class: "name" }, v.metadata.name), badge(s.phase || "", KIND[s.phase]),
        s.node ? h("a", { href: "#/nodes/" + encodeURIComponent(s.node) }, s.node) : "", bytes(spec.sizeBytes), bytes(s.capacityBytes),
        spec.storageClass || "", spec.reclaimPolicy || "", h("span", { class: "message" }, s.message || "")];
    }), "no volumes"));
}

function bytes(v) {
  const n = Number(v || 0);
  if (!n) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return (i === 0 ? x : x.toFixed(1)) + " " + units[i];
}

// ---------------------------------------------------------------------------------------------
// Apply: App manifests (YAML or JSON, the same format as `edgectl apply -f`), created or updated like edgectl.

function applyPage() {
  const text = h("textarea", { id: "manifest", rows: 22, cols: 90, spellcheck: "false",
    placeholder: "kind: App\nmetadata:\n  name: hello\n  namespace: default\nspec:\n  replicas: 1\n  template:\n    containers:\n    - name: main\n      image: ..." });
  const out = h("pre", { id: "apply-result" });
  const page = h("div", { dataset: { loaded: "apply" } }, h("h2", {}, "Apply a manifest"),
    h("p", {}, "Kind App only (other kinds: edgectl apply -f). Same format as edgectl: YAML or JSON, the API's JSON mapping with ",
      h("code", {}, "kind"), ", ", h("code", {}, "metadata"), ", ", h("code", {}, "spec"), "; several documents separated by ", h("code", {}, "---"), "."),
    h("form", { class: "card", onsubmit: async (ev) => {
      ev.preventDefault();
      out.textContent = "";
      try {
        for (const line of await applyManifests(text.value)) out.append(line + "\n");
        banner.hidden = true;
      } catch (e) {
        out.append("error: " + (e instanceof GrpcError ? e.codeName + ": " + e.message : String(e.message || e)) + "\n");
      }
    } }, text, h("div", {}, h("button", { type: "submit" }, "Apply"))), out);
  return page;
}

async function applyManifests(source) {
  // The YAML parser is loaded when first needed: it is not part of every page load.
  const { parseAllDocuments } = await import("./vendor/yaml/index.js");
  const results = [];
  for (const doc of parseAllDocuments(source)) {
    if (doc.errors && doc.errors.length) throw new Error(doc.errors[0].message);
    const object = doc.toJS();
    if (object === null || object === undefined) continue;
    if (typeof object !== "object" || Array.isArray(object)) throw new Error("a manifest must be a mapping with kind, metadata and spec");
    const { kind, ...app } = object;
    if (kind !== "App") throw new Error("kind " + JSON.stringify(kind) + ": the console applies kind App only; use edgectl apply -f");
    app.metadata = { ...(app.metadata || {}) };
    const namespace = app.metadata.namespace || "default";
    app.metadata.namespace = namespace;
    const id = "app/" + namespace + "/" + app.metadata.name;
    let current;
    try {
      current = await api.call("AppService", "GetApp", { namespace, name: app.metadata.name });
    } catch (e) {
      if (!(e instanceof GrpcError) || e.code !== 5) throw e;
      await api.call("AppService", "CreateApp", { app });
      results.push(id + " created");
      continue;
    }
    app.metadata.resourceVersion = current.metadata.resourceVersion;
    await api.call("AppService", "UpdateApp", { app });
    results.push(id + " configured");
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Charts: MetricsService.QueryMetrics, drawn as SVG lines.

const RANGES = [["1h", 3600, null], ["24h", 86400, "300s"], ["7d", 604800, "3600s"]];
let chartRange = "1h";

function charts(specs, matchers) {
  const holder = h("div", { class: "charts" });
  const buttons = h("div", { class: "ranges" }, RANGES.map(([label]) => h("button", { type: "button", class: label === chartRange ? "active" : "",
    dataset: { range: label }, onclick: () => {
      chartRange = label;
      for (const b of buttons.querySelectorAll("button")) b.classList.toggle("active", b.dataset.range === label);
      fill();
    } }, label)));
  const fill = async () => {
    const [, seconds, step] = RANGES.find(([l]) => l === chartRange);
    const end = new Date();
    const start = new Date(end.getTime() - seconds * 1000);
    const drawn = await Promise.all(specs.map(async (spec) => {
      try {
        const res = await api.call("MetricsService", "QueryMetrics", { names: spec.names,
          matchers: matchers.map((m) => ({ name: m.name, op: "EQUAL", value: m.value })),
          start: start.toISOString(), end: end.toISOString(), ...(step ? { step } : {}), maxSeries: 20 });
        return chart(spec, res.series || [], start.getTime(), end.getTime());
      } catch (e) {
        return h("div", { class: "chart" }, h("h4", {}, spec.title), h("p", { class: "error" }, e instanceof GrpcError ? e.codeName + ": " + e.message : String(e)));
      }
    }));
    holder.replaceChildren(...drawn);
  };
  fill();
  return h("section", { class: "card" }, h("h3", {}, "Usage ", buttons), holder);
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

function chart(spec, series, t0, t1) {
  const W = 560;
  const H = 160;
  const P = { l: 64, r: 8, t: 8, b: 20 };
  const values = series.flatMap((s) => (s.points || []).map((p) => p.value || 0));
  const max = Math.max(1e-9, ...values);
  const format = (v) => (spec.unit === "bytes" ? bytes(v) || "0" : Number(v).toFixed(v < 1 ? 3 : 2));
  const x = (t) => P.l + ((t - t0) / (t1 - t0)) * (W - P.l - P.r);
  const y = (v) => H - P.b - (v / max) * (H - P.t - P.b);
  const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", class: "plot" });
  root.append(svg("line", { x1: P.l, y1: H - P.b, x2: W - P.r, y2: H - P.b, class: "axis" }),
    svg("line", { x1: P.l, y1: P.t, x2: P.l, y2: H - P.b, class: "axis" }));
  const label = (text, attrs) => {
    const t = svg("text", attrs);
    t.textContent = text;
    return t;
  };
  root.append(label(format(max), { x: P.l - 4, y: P.t + 10, "text-anchor": "end" }), label("0", { x: P.l - 4, y: H - P.b, "text-anchor": "end" }),
    label(new Date(t0).toLocaleString(), { x: P.l, y: H - 4 }), label("now", { x: W - P.r, y: H - 4, "text-anchor": "end" }));
  const legend = h("div", { class: "legend" });
  series.forEach((s, i) => {
    const pts = (s.points || []).map((p) => x(Number(p.timeUnixMs)).toFixed(1) + "," + y(p.value || 0).toFixed(1)).join(" ");
    if (pts) root.append(svg("polyline", { points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.5 }));
    if ((s.points || []).length <= 60) {
      // Sparse data (a new node, a long range): mark each point so a single sample still shows.
      for (const p of s.points) root.append(svg("circle", { cx: x(Number(p.timeUnixMs)).toFixed(1), cy: y(p.value || 0).toFixed(1), r: 2.5, fill: COLORS[i % COLORS.length] }));
    }
    const l = s.labels || {};
    legend.append(h("span", { class: "key" }, h("span", { class: "swatch", "data-color": i % COLORS.length }), l.replica ? l.replica + (l.container ? "/" + l.container : "") : l.node || s.name));
  });
  return h("div", { class: "chart", dataset: { metric: spec.names[0], points: String(values.length) } }, h("h4", {}, spec.title),
    values.length === 0 ? h("p", { class: "empty" }, "no samples in this range") : [root, legend]);
}

// ---------------------------------------------------------------------------------------------

document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);

(async () => {
  try {
    registry = await loadSchema();
  } catch (e) {
    showError(e);
    return;
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) api = new Api(registry, saved);
  route();
})();
