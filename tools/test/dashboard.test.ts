// The dashboard example in a real browser: headless Chromium opens the page, and its
// EventSource must receive and render live samples from the hub.
// Run by .ci/run with DASHBOARD_URL set to the example server's address; CHROMIUM names the
// browser (default /usr/bin/chromium, Debian's package).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser } from "./browser.js";

const { open } = exampleInBrowser("DASHBOARD_URL");
const text = (page: Page, selector: string) => page.locator(selector).innerText();

test("the page receives and renders live samples", async () => {
  const { page, errors } = await open();
  await page.waitForSelector('#status[data-state="open"]', { timeout: 10_000 });
  // Samples come every 500 ms: three of them, rendered, within a few seconds.
  await page.waitForFunction(
    () => Number(document.getElementById("count")?.textContent) >= 3,
    undefined,
    { timeout: 10_000 },
  );
  assert.match(await text(page, "#load"), /^\d+\.\d\d$/);
  assert.match(await text(page, "#memory"), /^\d+ \/ [1-9]\d* MiB$/);
  assert.ok(Number(await text(page, "#viewers")) >= 1);
  // Hub ids, which the browser would send back as Last-Event-ID on a reconnect.
  const firstId = await text(page, "#last-id");
  assert.match(firstId, /^\d+-\d+$/);
  await page.waitForFunction(
    (seen) => document.getElementById("last-id")?.textContent !== seen,
    firstId,
    { timeout: 5_000 },
  );
  const points = await page.locator("#line").getAttribute("points");
  assert.ok((points ?? "").split(" ").length >= 3, `chart points: ${points}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("every open tab is a subscriber of the same hub", async () => {
  const tabs = [await open(), await open()];
  // Each sample counts the dashboards watching: both tabs see at least two.
  for (const { page } of tabs) {
    await page.waitForFunction(
      () => Number(document.getElementById("viewers")?.textContent) >= 2,
      undefined,
      { timeout: 10_000 },
    );
  }
  for (const { page, errors } of tabs) {
    assert.deepEqual(errors, []);
    await page.close();
  }
});
