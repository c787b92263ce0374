// The log-tail example in a real browser: headless Chromium's own EventSource resumes with
// Last-Event-ID after every stream end, and not one line is lost or repeated.
// Run by .ci/run with LOGS_URL set to the example server's address (writing its demo log).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser } from "./browser.js";

const { open } = exampleInBrowser("LOGS_URL");

const count = (page: Page) => page.locator("#count").innerText().then(Number);
const lines = (page: Page) => page.locator("#lines > div").allInnerTexts();

test("the browser resumes after every stream end without losing or repeating a line", async () => {
  // Every stream ends after 3 lines; EventSource reconnects and sends the last id it saw.
  const { page, errors } = await open("/?lines=3");
  await page.waitForFunction(
    () => Number(document.getElementById("opens")?.textContent) >= 4,
    undefined,
    { timeout: 20_000 },
  );
  assert.ok((await count(page)) >= 9, "three lines per connection");
  // The demo log numbers its lines: they must follow each other across the reconnects.
  const numbers = (await lines(page)).map((line) => Number(line.slice(0, 6)));
  assert.ok(numbers.every((n) => Number.isInteger(n) && n > 0), `line numbers: ${numbers}`);
  const first = numbers[0]!;
  assert.deepEqual(numbers, numbers.map((_, i) => first + i), "consecutive lines");
  assert.match(await page.locator("#last-id").innerText(), /^\d+$/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a filter from the page's query string reaches the stream", async () => {
  const { page, errors } = await open("/?contains=ERROR");
  // One line in five is an error, five lines a second.
  await page.waitForFunction(
    () => Number(document.getElementById("count")?.textContent) >= 2,
    undefined,
    { timeout: 15_000 },
  );
  for (const line of await lines(page)) assert.match(line, / ERROR /);
  assert.equal(await page.locator("input[name=contains]").inputValue(), "ERROR");
  assert.deepEqual(errors, []);
  await page.close();
});
