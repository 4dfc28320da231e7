// Drives the web console in Debian's headless Chromium (ConsoleE2ETest starts the real control plane, agent and
// containerd and passes what to check in the environment). Prints one "RESULT {json}" line; exits non-zero on a
// failed check.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";
import path from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error("missing " + name);
  return v;
};
const URL_ = env("CONSOLE_URL");
const ADMIN = env("ADMIN_TOKEN");
const VIEWER = env("VIEWER_TOKEN");
const NODE = env("NODE");
const APP = env("APP");
const HOSTILE = env("HOSTILE_APP");
const OUT = env("SCREENSHOT_DIR");
const MARKER = "<img src=x onerror=";
const result = { checks: [] };

function check(ok, what) {
  result.checks.push(what);
  if (!ok) throw new Error("check failed: " + what);
}

const context = await chromium.launchPersistentContext(env("USER_DATA_DIR"), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  viewport: { width: 1400, height: 900 },
});
const problems = [];
const watch = (page) => {
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console error: " + m.text());
  });
  page.on("dialog", (d) => d.accept());
};

try {
  const page = context.pages()[0] || await context.newPage();
  watch(page);
  page.setDefaultTimeout(30000);

  // Sign in: a wrong token is refused with UNAUTHENTICATED, the admin token gets in.
  await page.goto(URL_);
  await page.fill("#token", "not-a-token");
  await page.click("#signin button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#signin-error")?.textContent.includes("UNAUTHENTICATED"));
  check(true, "a wrong token is refused: UNAUTHENTICATED");
  await page.fill("#token", ADMIN);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector('[data-loaded="overview"]');
  check(!page.url().includes(ADMIN), "the token is not in the URL");

  // Page load: a fresh navigation (token in this tab's sessionStorage) until the overview shows data.
  const loads = [];
  for (let i = 0; i < 5; i++) {
    await page.goto("about:blank"); // a full load each time, not a same-document hash change
    const t0 = performance.now();
    await page.goto(URL_ + "#/", { waitUntil: "commit" });
    await page.waitForSelector('[data-loaded="overview"]');
    loads.push(Math.round(performance.now() - t0));
  }
  result.pageLoadMs = loads;
  // Where the last load's time went (the browser's own timings, ms from navigation start).
  result.lastLoad = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    const api = res.filter((r) => r.name.includes("/edgeplane.v1."));
    return { domContentLoaded: Math.round(nav.domContentLoadedEventEnd), resources: res.length,
      fromCache: res.filter((r) => r.transferSize === 0).length,
      schemaEnd: Math.round(res.find((r) => r.name.endsWith("descriptors.binpb"))?.responseEnd || 0),
      apiCalls: api.length, apiEnd: Math.round(Math.max(0, ...api.map((r) => r.responseEnd))) };
  });
  problems.length = 0; // errors from navigations cut short by the next one are not the console's

  const overview = await page.textContent("main");
  check(overview.includes("READY"), "the overview counts the READY node");
  check(overview.includes("Apps by health"), "the overview counts apps by health");

  await page.goto(URL_ + "#/nodes");
  await page.waitForSelector('[data-loaded="nodes"]');
  check((await page.textContent("main")).includes(NODE), "the nodes list shows " + NODE);

  await page.goto(URL_ + "#/nodes/" + NODE);
  await page.waitForSelector('[data-loaded="node"]');
  await page.waitForSelector('.chart[data-metric="node_memory_used_bytes"]');
  result.nodeMemoryPoints = Number(await page.getAttribute('.chart[data-metric="node_memory_used_bytes"]', "data-points"));
  await page.click('.ranges button[data-range="24h"]');
  await page.waitForSelector('.chart[data-metric="node_cpu_usage_cores"]');
  await page.screenshot({ path: path.join(OUT, "console-node.png"), fullPage: true });

  // Scale the app from the apps list and see the change.
  await page.goto(URL_ + "#/apps");
  await page.waitForSelector('[data-loaded="apps"]');
  check((await page.textContent("main")).includes(APP), "the apps list shows " + APP);
  const form = `form.scale[data-app="default/${APP}"]`;
  await page.fill(form + " input", "2");
  await page.click(form + " button");
  await page.waitForFunction((app) => document.querySelector("#banner")?.textContent.includes("Scaled default/" + app + " to 2"), APP);
  await page.waitForFunction((app) => {
    for (const row of document.querySelectorAll("main tbody tr")) {
      if (row.querySelector("a.name")?.textContent === app) return row.querySelector(".desired")?.textContent === "2";
    }
    return false;
  }, APP);
  check(true, "scaled " + APP + " to 2 and the list shows 2 desired");
  await page.waitForFunction((app) => {
    for (const row of document.querySelectorAll("main tbody tr")) {
      if (row.querySelector("a.name")?.textContent === app) return row.children[3].textContent === "2";
    }
    return false;
  }, APP, { timeout: 90000 });
  check(true, APP + " shows 2 ready replicas");
  await page.screenshot({ path: path.join(OUT, "console-apps.png"), fullPage: true });

  // Cordon and uncordon the node from the nodes list.
  await page.goto(URL_ + "#/nodes");
  await page.waitForSelector('[data-loaded="nodes"]');
  await page.click(`button[data-action="CordonNode"][data-node="${NODE}"]`);
  await page.waitForSelector(`button[data-action="UncordonNode"][data-node="${NODE}"]`);
  check((await page.textContent("main tbody")).includes("cordoned"), "the node shows cordoned");
  await page.click(`button[data-action="UncordonNode"][data-node="${NODE}"]`);
  await page.waitForSelector(`button[data-action="CordonNode"][data-node="${NODE}"]`);
  check((await page.textContent("main tbody")).includes("schedulable"), "uncordoned again");

  // Apply an App manifest (YAML, edgectl's format): created, then configured.
  const manifest = (replicas) => ["kind: App", "metadata:", "  name: applied", "spec:", "  replicas: " + replicas, "  template:",
    "    containers:", "    - name: main", "      image: " + env("IMAGE"), "      command: [sleep, \"3600\"]", ""].join("\n");
  await page.goto(URL_ + "#/apply");
  await page.waitForSelector('[data-loaded="apply"]');
  await page.fill("#manifest", manifest(0));
  await page.click('[data-loaded="apply"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector("#apply-result").textContent.includes("app/default/applied created"));
  await page.fill("#manifest", manifest(1));
  await page.click('[data-loaded="apply"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector("#apply-result").textContent.includes("app/default/applied configured"));
  await page.fill("#manifest", "kind: Volume\nmetadata:\n  name: v\n");
  await page.click('[data-loaded="apply"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector("#apply-result").textContent.includes("kind App only"));
  check(true, "apply: created, configured, other kinds refused with a message");

  await page.goto(URL_ + "#/volumes");
  await page.waitForSelector('[data-loaded="volumes"]');
  check(true, "the volumes page renders");

  // Hostile text from a workload (a readiness probe's output in an agent event) is shown as text, runs nothing.
  await page.goto(URL_ + "#/");
  await page.waitForSelector('[data-loaded="overview"]');
  await page.waitForFunction((marker) => document.querySelector("main").textContent.includes(marker), MARKER, { timeout: 60000 });
  check(await page.locator("main img").count() === 0, "the event message's <img> is text, not an element");
  await page.screenshot({ path: path.join(OUT, "console-overview.png"), fullPage: true });
  await page.goto(URL_ + "#/apps/default/" + HOSTILE);
  await page.waitForSelector('[data-loaded="app"]');
  await page.waitForFunction((marker) => document.querySelector("main").textContent.includes(marker), MARKER, { timeout: 60000 });
  check(await page.locator("main img").count() === 0, "no <img> on the app page either");
  check(await page.evaluate(() => window.__edgeplaneXss) === undefined, "the onerror handler never ran");
  await page.screenshot({ path: path.join(OUT, "console-hostile.png"), fullPage: true });

  // A read-only (viewer) token in another tab: it reads, but scaling is PERMISSION_DENIED and says so.
  const viewer = await context.newPage();
  watch(viewer);
  await viewer.goto(URL_);
  await viewer.waitForSelector("#token");
  check(await viewer.locator("#signin").count() === 1, "a new tab starts signed out (sessionStorage)");
  await viewer.fill("#token", VIEWER);
  await viewer.click("#signin button[type=submit]");
  await viewer.waitForSelector('[data-loaded="overview"]');
  await viewer.goto(URL_ + "#/apps");
  await viewer.waitForSelector('[data-loaded="apps"]');
  await viewer.fill(form + " input", "5");
  await viewer.click(form + " button");
  await viewer.waitForSelector('#banner [data-code="PERMISSION_DENIED"]');
  result.viewerError = await viewer.textContent("#banner");
  check(true, "the viewer's scale is PERMISSION_DENIED, shown to the user");
  await viewer.screenshot({ path: path.join(OUT, "console-viewer-denied.png"), fullPage: true });

  // Sign out forgets the token.
  await page.click("#signout");
  await page.waitForSelector("#signin");
  check(await page.evaluate(() => sessionStorage.length) === 0, "sign out clears sessionStorage");
  check(problems.length === 0, "no page errors or CSP violations: " + problems.join("; "));
  console.log("RESULT " + JSON.stringify(result));
} catch (e) {
  result.error = String(e.stack || e);
  result.problems = problems;
  console.log("RESULT " + JSON.stringify(result));
  for (const p of context.pages()) {
    await p.screenshot({ path: path.join(OUT, "console-failure-" + context.pages().indexOf(p) + ".png"), fullPage: true }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await context.close();
}
writeFileSync(path.join(OUT, "console-e2e-result.json"), JSON.stringify(result, null, 2));
