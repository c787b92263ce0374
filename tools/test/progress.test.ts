// The progress example in a real browser: the page starts jobs with fetch and watches each
// with its own EventSource until `done`; a second tab can watch the same job.
// Run by .ci/run with PROGRESS_URL set to the example server's address.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser, open as openIn, screenshots } from "./browser.js";
import { freePort, startExample } from "./services.js";

const example = exampleInBrowser("PROGRESS_URL");
const { open } = example;

async function start(page: Page, steps: number, stepMs: number) {
  await page.fill("input[name=steps]", String(steps));
  await page.fill("input[name=step_ms]", String(stepMs));
  await page.click("#start button");
}

const seen = async (page: Page, id: number) =>
  ((await page.locator(`#job-${id}`).getAttribute("data-seen")) ?? "").split(",").filter(Boolean).map(Number);

test("a job started from the page is watched to the end", async () => {
  const { page, errors } = await open();
  await start(page, 10, 100);
  await page.waitForSelector("li.done", { timeout: 15_000 });
  const id = Number((await page.locator("li.done").getAttribute("id"))?.replace("job-", ""));
  assert.ok(id >= 1);
  assert.match(await page.locator(`#job-${id} .stage`).innerText(), /^done in \d+\.\d s$/);
  assert.equal(await page.locator(`#job-${id} progress`).evaluate((bar) => (bar as HTMLProgressElement).value), 100);
  const percents = await seen(page, id);
  assert.ok(percents.length >= 3, `percents seen: ${percents}`);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), "progress only goes up");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a second tab watches a running job from where it is", async () => {
  const first = await open();
  await start(first.page, 20, 100);
  await first.page.waitForSelector("li[id^=job-]");
  const id = Number((await first.page.locator("li[id^=job-]").first().getAttribute("id"))?.replace("job-", ""));
  // Halfway through, another tab joins: it starts from the job's state then, not from 0.
  await first.page.waitForFunction(
    (id) => (document.getElementById(`job-${id}`)?.dataset.seen ?? "").split(",").some((p) => Number(p) >= 40),
    id,
    { timeout: 10_000 },
  );
  const second = await open(`/?watch=${id}`);
  await second.page.waitForSelector(`#job-${id}.done`, { timeout: 15_000 });
  await first.page.waitForSelector(`#job-${id}.done`, { timeout: 15_000 });
  const joined = await seen(second.page, id);
  assert.ok((joined[0] ?? 0) >= 40, `the second tab started at ${joined[0]}`);
  for (const { page, errors } of [first, second]) {
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("a job cancelled from the page ends for every tab watching it, which stops there", async () => {
  const first = await open();
  await start(first.page, 1000, 200);
  await first.page.waitForSelector("li[id^=job-]");
  const id = Number((await first.page.locator("li[id^=job-]").first().getAttribute("id"))?.replace("job-", ""));
  const second = await open(`/?watch=${id}`);
  await second.page.waitForSelector(`#job-${id} .cancel`);
  await first.page.click(`#job-${id} .cancel`);
  for (const { page } of [first, second]) {
    await page.waitForSelector(`#job-${id}.cancelled`, { timeout: 5_000 });
    assert.match(await page.locator(`#job-${id} .stage`).innerText(), /^cancelled after \d+(\.\d)? s$/);
    assert.equal(await page.locator(`#job-${id} .cancel`).count(), 0, "nothing left to cancel");
  }
  // The stream was complete: the pages do not come back to hear `cancelled` again.
  const requests: string[] = [];
  second.page.on("request", (request) => requests.push(request.url()));
  // (Past the 3 s an EventSource waits before it reconnects when the server sets no `retry`.)
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.deepEqual(requests.filter((url) => url.includes("/progress")), []);
  for (const { page, errors } of [first, second]) {
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("the first view explains itself; a running job shows elapsed time, an estimate and a link to share", async () => {
  const { page, errors } = await open();
  assert.equal(await page.locator("#empty").isVisible(), true);
  assert.match(await page.locator("#empty").innerText(), /^No jobs yet/);
  await page.getByLabel("Steps").fill("40");
  await page.getByLabel("Time per step").fill("100");
  await page.getByRole("button", { name: "Start a job" }).click();
  const row = page.locator("li.job").first();
  await row.locator(".eta").filter({ hasText: /^about \d+(\.\d)? s left$/ }).waitFor({ timeout: 5_000 });
  assert.match(await row.locator(".elapsed").innerText(), /^\d+\.\d s elapsed$/);
  assert.match(await row.locator(".badge").innerText(), /^open$/);
  assert.equal(await page.locator("#empty").isVisible(), false);
  const id = (await row.getAttribute("id"))!.replace("job-", "");
  // The page's address and the row's link both watch this job from anywhere.
  assert.equal(new URL(page.url()).searchParams.get("watch"), id);
  assert.equal(await row.getByRole("link", { name: "Link to this job" }).getAttribute("href"), `?watch=${id}`);
  await screenshots(page, "progress");
  await row.getByRole("button", { name: "Cancel" }).click();
  await page.waitForSelector(`#job-${id}.cancelled`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("an unknown job is shown as an error, with the server's reason", async () => {
  const { page, errors } = await open("/?watch=987654");
  await page.waitForSelector("#job-987654.unknown", { timeout: 10_000 });
  assert.match(await page.locator("#job-987654 .stage").innerText(), /^No such job \(no job 987654\): it never existed/);
  assert.equal(await page.locator("#job-987654 .cancel").count(), 0);
  // Chromium logs the refused stream (404) as console errors: those are expected.
  assert.ok(errors.every((error) => error.includes("404")), `errors: ${errors}`);
  await page.close();
});

test("a job frozen by a server restart is shown as such", async () => {
  const env = { ADDR: `127.0.0.1:${await freePort()}` };
  let server = await startExample("progress", env);
  const { page } = await openIn(await example.browser(), server.url);
  await page.getByLabel("Steps").fill("1000");
  await page.getByRole("button", { name: "Start a job" }).click();
  await page.locator("li.job .stage").filter({ hasText: /%/ }).waitFor({ timeout: 5_000 });
  await server.stop("SIGKILL");
  await page.waitForSelector('li.job .badge[data-state="reconnecting"]', { timeout: 5_000 });
  server = await startExample("progress", env);
  await page.waitForSelector("li.job.lost", { timeout: 15_000 });
  assert.match(await page.locator("li.job .stage").innerText(), /no longer knows this job: it was restarted/);
  await page.close();
  await server.stop("SIGTERM");
});

test("a refused job shows the server's reason", async () => {
  const { page, errors } = await open();
  await start(page, 0, 100);
  await page.waitForFunction(() => document.getElementById("error")?.textContent !== "", undefined, { timeout: 5_000 });
  assert.match(await page.locator("#error").innerText(), /^The server refused the job: steps must be 1 to 1000/);
  // The failed POST itself is logged by Chromium as a console error: that one is expected.
  assert.ok(errors.every((error) => error.includes("400")), `errors: ${errors}`);
  await page.close();
});
