// The log-tail example in a real browser: headless Chromium's own EventSource resumes with
// Last-Event-ID after every stream end, and not one line is lost or repeated; the page
// follows new lines until the reader scrolls up, filters live (with marks, by level, in any
// case), keeps a bounded number of lines, shows times, and wraps on request.
// Run by .ci/run with LOGS_URL set to the example server's address (writing its demo log).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser, screenshots } from "./browser.js";

const { open } = exampleInBrowser("LOGS_URL");

const count = (page: Page) => page.locator("#count").innerText().then(Number);
const lines = (page: Page) => page.locator("#lines > div").allInnerTexts();
const shownLines = (page: Page) => page.locator("#lines > div:not([hidden])").allInnerTexts();
const untilCount = (page: Page, atLeast: number) =>
  page.waitForFunction((n) => Number(document.getElementById("count")?.textContent) >= n, atLeast, { timeout: 20_000 });

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
  assert.match(await page.locator("#server-filter").innerText(), /only the lines containing “ERROR”/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the page follows new lines until the reader scrolls up, then offers to jump back", async () => {
  const { page, errors } = await open("/");
  // A shorter window while following (no scroll event says so) must still show the newest line.
  await page.setViewportSize({ width: 1280, height: 500 });
  // Enough lines to scroll (the demo log writes five a second, and a new page gets its tail).
  await page.waitForFunction(() => {
    const box = document.getElementById("lines")!;
    return box.scrollHeight > box.clientHeight * 1.5;
  }, undefined, { timeout: 20_000 });
  const atBottom = () => page.evaluate(() => {
    const box = document.getElementById("lines")!;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 4;
  });
  assert.ok(await atBottom(), "following: at the newest line");
  await page.evaluate(() => { document.getElementById("lines")!.scrollTop = 0; });
  await page.waitForFunction(() => !(document.getElementById("follow") as HTMLInputElement).checked);
  const before = await count(page);
  await untilCount(page, before + 3);
  assert.equal(await page.evaluate(() => document.getElementById("lines")!.scrollTop), 0, "paused: the page stays put");
  assert.ok(await page.locator("#newer").isVisible(), "a way back to the newest lines");
  await page.click("#newer");
  assert.ok(await atBottom());
  assert.ok(await page.locator("#follow").isChecked());
  await untilCount(page, (await count(page)) + 2);
  assert.ok(await atBottom(), "following again");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a live filter marks its matches, in any case unless asked; levels filter without a reload", async () => {
  const { page, errors } = await open("/");
  await untilCount(page, 10);
  const opens = await page.locator("#opens").innerText();
  await page.fill("#filter", "error");
  const errorsShown = await shownLines(page);
  assert.ok(errorsShown.length >= 1, "the demo's ERROR lines match `error`");
  for (const line of errorsShown) assert.match(line, /error/i);
  assert.ok((await page.locator("#lines > div:not([hidden]) mark").count()) >= errorsShown.length, "matches marked");
  await page.check("#match-case");
  assert.deepEqual(await shownLines(page), [], "no lower-case `error` in the demo log");
  assert.match(await page.locator("#empty").innerText(), /No line matches “error”/);
  await page.uncheck("#match-case");
  await page.fill("#filter", "");
  await page.uncheck("input[data-level=INFO]");
  const levels = await page.locator("#lines > div:not([hidden])").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.level));
  assert.ok(levels.length > 0 && levels.every((level) => level === "ERROR" || level === "WARN"), `levels shown: ${levels}`);
  assert.equal(await page.locator("#opens").innerText(), opens, "filtered in the page, no new connection");
  assert.deepEqual(errors, []);
  await page.close();
});

test("the page keeps a bounded number of lines, shows readable times and wraps on request", async () => {
  const { page, errors } = await open("/?keep=5");
  await untilCount(page, 12);
  assert.equal(await page.locator("#lines > div").count(), 5, "only the newest five kept");
  assert.ok(!(await page.locator("#empty").isVisible()), "no empty state over shown lines");
  const numbers = (await lines(page)).map((line) => Number(line.slice(0, 6)));
  assert.deepEqual(numbers, numbers.map((_, i) => numbers[0]! + i), "the newest, in order");
  // The demo log's Unix milliseconds read as a time of day.
  assert.match(await page.locator("#lines time").first().innerText(), /^\d\d:\d\d:\d\d\.\d{3}$/);
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector("#lines > div")!).whiteSpace), "pre");
  await page.check("#wrap");
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector("#lines > div")!).whiteSpace), "pre-wrap");
  assert.deepEqual(errors, []);
  await page.close();
});

test("the page reads fine at 1280 and 390 px (screenshots in target/screenshots)", async () => {
  const { page, errors } = await open("/");
  await untilCount(page, 8);
  await screenshots(page, "logs");
  assert.deepEqual(errors, []);
  await page.close();
});
