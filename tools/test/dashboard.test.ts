// The dashboard example in a real browser: headless Chromium opens the page, and its
// EventSource must receive and render live samples from the hub, as figures and as charts.
// Run by .ci/run with DASHBOARD_URL set to the example server's address; the restart test
// starts its own server. CHROMIUM names the browser (default /usr/bin/chromium).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser, open as openIn, screenshots } from "./browser.js";
import { freePort, startExample } from "./services.js";

const example = exampleInBrowser("DASHBOARD_URL");
const text = (page: Page, selector: string) => page.locator(selector).innerText();
const received = (page: Page, count: number, timeout = 10_000) =>
  page.waitForFunction((count) => Number(document.getElementById("count")?.textContent) >= count, count, { timeout });

test("the page renders live samples as figures and as charts with axes", async () => {
  const { page, errors } = await example.open();
  await page.waitForSelector('#status[data-state="open"]', { timeout: 10_000 });
  // Samples come every 500 ms; the first has no rates, the later ones do.
  await received(page, 4);
  assert.match(await text(page, "#cpu"), /^\d+(\.\d)? %$/);
  assert.match(await text(page, "#load"), /^\d+(\.\d{1,2})?$/);
  assert.match(await text(page, "#memory"), /^[\d.,]+ \/ [\d.,]+ GiB$/);
  assert.match(await text(page, "#net"), /^↓ [\d.,]+ [kMG]?B\/s$/);
  assert.match(await text(page, "#disk"), /^↑ [\d.,]+ [kMG]?B\/s$/);
  assert.ok(Number(await text(page, "#viewers")) >= 1);
  assert.match(await text(page, "#freshness"), /^a sample every 0\.5 s$/);
  // Five charts, each with y-axis ticks (with units), time labels and a drawn line.
  const charts = await page.locator("svg[id^=chart-]").evaluateAll((svgs) =>
    svgs.map((svg) => ({
      id: svg.id,
      ticks: [...svg.querySelectorAll("text[text-anchor=end]")].map((t) => t.textContent),
      times: [...svg.querySelectorAll("text[text-anchor=middle]")].map((t) => t.textContent),
      line: svg.querySelector("path.series")?.getAttribute("d") ?? "",
    })),
  );
  assert.deepEqual(charts.map((chart) => chart.id), ["chart-cpu", "chart-load", "chart-memory", "chart-net", "chart-disk"]);
  for (const chart of charts) {
    assert.ok(chart.ticks.length >= 3, `${chart.id} y ticks: ${chart.ticks}`);
    assert.ok(chart.times.length >= 1 && chart.times.every((t) => /^\d\d:\d\d:\d\d$/.test(t ?? "")), `${chart.id} times: ${chart.times}`);
    assert.match(chart.line, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+/, `${chart.id} line`);
  }
  const [cpu, , , network] = charts as [(typeof charts)[0], unknown, unknown, (typeof charts)[0]];
  assert.deepEqual([cpu.ticks[0], cpu.ticks.at(-1)], ["0 %", "100 %"]);
  assert.ok(network.ticks.every((t) => /B\/s$/.test(t ?? "")), `network ticks ${network.ticks}`);
  // Hub ids, which the browser would send back as Last-Event-ID on a reconnect.
  assert.match(await text(page, "#last-id"), /^\d+-\d+$/);
  // The 5-minute window labels whole minutes.
  await page.getByLabel("5 minutes").check();
  const times = await page.locator("#chart-cpu text[text-anchor=middle]").allTextContents();
  assert.ok(times.length >= 1 && times.every((t) => t.endsWith(":00")), `5-minute labels: ${times}`);
  await page.getByLabel("minute", { exact: true }).check();
  // Ten seconds of samples, for a screenshot with something to see.
  await received(page, 20, 20_000);
  await screenshots(page, "dashboard");
  assert.deepEqual(errors, []);
  await page.close();
});

test("every open tab is a subscriber of the same hub", async () => {
  const tabs = [await example.open(), await example.open()];
  // Each sample counts the dashboards watching: both tabs see at least two.
  for (const { page } of tabs) {
    await page.waitForFunction(() => Number(document.getElementById("viewers")?.textContent) >= 2, undefined, {
      timeout: 10_000,
    });
  }
  for (const { page, errors } of tabs) {
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("while the server is down the figures fade and say their age; after a restart the charts mark the reset", async () => {
  const env = { ADDR: `127.0.0.1:${await freePort()}`, SAMPLE_EVERY_MS: "200" };
  let server = await startExample("dashboard", env);
  const { page, errors } = await openIn(await example.browser(), server.url);
  await received(page, 5);
  assert.equal(await page.evaluate(() => document.body.hasAttribute("data-stale")), false);
  await server.stop("SIGKILL");
  // The badge counts down to the next try, and the figures go stale with their age.
  await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: 5_000 });
  assert.match(await text(page, "#status"), /^reconnecting( in \d s)?/);
  await page.waitForFunction(() => document.body.hasAttribute("data-stale"), undefined, { timeout: 5_000 });
  await page.waitForFunction(() => /^last update [1-9]\d* s ago$/.test(document.getElementById("freshness")!.textContent!), undefined, {
    timeout: 5_000,
  });
  const before = Number(await text(page, "#count"));
  // The new process has none of the old samples: its hub answers the tab's Last-Event-ID with
  // tidings.reset, and the charts draw a break instead of joining old and new lines.
  server = await startExample("dashboard", env);
  await received(page, before + 3, 15_000);
  await page.waitForSelector('#status[data-state="open"]');
  await page.waitForFunction(() => !document.body.hasAttribute("data-stale"), undefined, { timeout: 5_000 });
  const cpu = await page.locator("#chart-cpu").evaluate((svg) => ({
    breaks: svg.querySelectorAll("line.break").length,
    label: svg.querySelector("text.break-label")?.textContent,
    // Subpaths: one before the restart, one after (a line never crosses the break).
    moves: (svg.querySelector("path.series")?.getAttribute("d") ?? "").split("M").length - 1,
  }));
  assert.equal(cpu.breaks, 1);
  assert.equal(cpu.label, "reset");
  assert.ok(cpu.moves >= 2, `the line is split at the break: ${cpu.moves} subpaths`);
  assert.deepEqual(errors.filter((error) => !/ERR_CONNECTION_REFUSED|net::ERR/.test(error)), []);
  await page.close();
  await server.stop("SIGTERM");
});
