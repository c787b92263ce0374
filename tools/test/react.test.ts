// The React example in a real browser: the generated `useSubscription` hook under StrictMode,
// checked from both ends: what the page renders, and what the server counts (`GET /stats`:
// the streams open per route, and opened since it started). Both transports.
// Run by .ci/run with REACT_URL set to the example's address, and REACT_CUT_URL to a second
// instance whose streams end every 600 ms (`MAX_STREAM_MS`).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser, screenshots } from "./browser.js";

const example = exampleInBrowser("REACT_URL");
const cutUrl = process.env.REACT_CUT_URL ?? "";

interface Count {
  open: number;
  opened: number;
}

async function stats(base: string): Promise<Record<"clock" | "progress", Count>> {
  return (await fetch(base + "/stats")).json();
}

/** Waits (up to `ms`) for `check` to hold; returns how long it took. */
async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - started < ms, `${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - started;
}

/** Opens the page at `base`, recording every status the clock shows (from the first render). */
async function openPage(base: string, transport: string): Promise<{ page: Page; errors: string[] }> {
  const page = await (await example.browser()).newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as any).clockStatuses = seen;
    new MutationObserver(() => {
      const status = document.querySelector("[data-testid=clock-status]")?.textContent;
      if (status && seen[seen.length - 1] !== status) seen.push(status);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`${base}/${transport === "fetch" ? "?transport=fetch" : ""}`);
  return { page, errors };
}

const ticks = async (page: Page) => page.locator("[data-testid=clock-ticks] li").count();

for (const transport of ["eventsource", "fetch"]) {
  test(`${transport}: one stream per mounted component, typed events, equal params keep it`, async () => {
    const before = (await stats(example.url)).clock;
    const { page, errors } = await openPage(example.url, transport);
    assert.equal(await page.getByTestId("transport").innerText(), transport);
    await until("five ticks rendered", async () => (await ticks(page)) >= 5);
    assert.match(await page.getByTestId("clock-time").innerText(), /\d+:\d+:\d+/);
    const statuses = await page.evaluate(() => (window as any).clockStatuses as string[]);
    assert.deepEqual(statuses, ["connecting", "open"]);
    // StrictMode mounted the clock twice; every tick re-rendered it with a new, equal input.
    // Handlers change without reconnecting, and the latest one is called: frozen, the list
    // stops while the time (from `last`) goes on; thawed, it moves again.
    await page.getByTestId("clock-freeze").check();
    const frozen = await page.locator("[data-testid=clock-ticks]").innerText();
    const time = await page.getByTestId("clock-time").innerText();
    await until("the time moves on", async () => (await page.getByTestId("clock-time").innerText()) !== time);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(await page.locator("[data-testid=clock-ticks]").innerText(), frozen);
    await page.getByTestId("clock-freeze").uncheck();
    await until("the list moves again", async () => (await page.locator("[data-testid=clock-ticks]").innerText()) !== frozen);
    const now = (await stats(example.url)).clock;
    assert.equal(now.open - before.open, 1, "one clock stream open");
    assert.equal(now.opened - before.opened, 1, "one clock stream ever opened");
    assert.deepEqual(errors, []);
    await page.close();
    await until("the page's stream gone", async () => (await stats(example.url)).clock.open === before.open, 1_000);
  });

  test(`${transport}: a changed param reconnects once; unmounting ends the stream within 1 s`, async () => {
    const before = (await stats(example.url)).clock;
    const { page, errors } = await openPage(example.url, transport);
    await until("a tick", async () => (await ticks(page)) >= 1);
    await page.getByTestId("clock-interval").selectOption("250");
    await until("the new stream", async () => (await stats(example.url)).clock.opened - before.opened === 2);
    // The old stream was closed for the new one: still one open, and it stays one.
    await until("the old stream gone", async () => (await stats(example.url)).clock.open - before.open === 1);
    const seqs = async () => (await page.locator("[data-testid=clock-ticks] li").allInnerTexts()).map(Number);
    // The new stream counts from 0 again, in the same component, whose list starts over with
    // it rather than run the two streams' numbers together.
    await until("ticks of the new stream, in a list of their own", async () => {
      const list = await seqs();
      return list.length >= 3 && list[0]! <= 1 && list.every((seq, i) => i === 0 || seq > list[i - 1]!);
    });
    const after = (await stats(example.url)).clock;
    assert.equal(after.opened - before.opened, 2, "reconnected once");
    assert.equal(after.open - before.open, 1);

    await page.getByTestId("clock-toggle").click();
    const took = await until("the server sees the clock leave", async () => (await stats(example.url)).clock.open === before.open, 1_000);
    assert.ok(took <= 1_000, `gone after ${took} ms`);
    assert.equal(await page.getByTestId("clock-status").count(), 0);
    // Mounted again: one new stream.
    await page.getByTestId("clock-toggle").click();
    await until("mounted again", async () => (await stats(example.url)).clock.open - before.open === 1);
    assert.equal((await stats(example.url)).clock.opened - before.opened, 3);
    assert.deepEqual(errors, []);
    await page.close();
    await until("the page's streams gone", async () => (await stats(example.url)).clock.open === before.open, 1_000);
  });

  test(`${transport}: a paused hook closes its stream, and resumes after the last step it had`, async () => {
    const before = (await stats(example.url)).progress;
    const { page, errors } = await openPage(example.url, transport);
    await page.getByTestId("build-steps").fill("30");
    await page.getByTestId("build-step-ms").fill("60");
    await page.getByTestId("build-start").click();
    const received = async () =>
      ((await page.getByTestId("build-bar").getAttribute("data-received")) ?? "").split(",").filter(Boolean).map(Number);
    await until("a few steps", async () => (await received()).length >= 3);
    await page.getByTestId("build-pause").check();
    await until("the stream closed on the server", async () => (await stats(example.url)).progress.open === before.open, 1_000);
    assert.equal(await page.getByTestId("build-status").innerText(), "closed");
    const paused = await received();
    // The build goes on (60 ms a step); the page hears nothing of it while paused.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepEqual(await received(), paused);
    await page.getByTestId("build-pause").uncheck();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=build-caption]")?.textContent?.startsWith("Done in"),
      undefined,
      { timeout: 15_000 },
    );
    assert.deepEqual(await received(), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.equal((await stats(example.url)).progress.opened - before.opened, 2, "one stream, then one after the pause");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test(`${transport}: streams the server ends are resumed without losing or repeating a step`, async () => {
    assert.ok(cutUrl, "REACT_CUT_URL is set");
    const before = (await stats(cutUrl)).progress;
    const { page, errors } = await openPage(cutUrl, transport);
    await page.getByTestId("build-steps").fill("30");
    await page.getByTestId("build-step-ms").fill("60");
    await page.getByTestId("build-start").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=build-caption]")?.textContent?.startsWith("Done in"),
      undefined,
      { timeout: 15_000 },
    );
    const received = (await page.getByTestId("build-bar").getAttribute("data-received")) ?? "";
    assert.deepEqual(received.split(",").map(Number), Array.from({ length: 30 }, (_, i) => i + 1));
    // 1.8 s of build in streams of 600 ms: the server ended some, and the hook came back.
    const opened = (await stats(cutUrl)).progress.opened - before.opened;
    assert.ok(opened >= 3, `progress streams opened: ${opened}`);
    // Done, the server marked the stream complete: closed by the hook itself, with no error,
    // nothing left open on the server, and no stream opened again.
    assert.equal(await page.getByTestId("build-status").innerText(), "closed");
    await until("no build stream open", async () => (await stats(cutUrl)).progress.open === before.open, 1_000);
    const finalOpened = (await stats(cutUrl)).progress.opened;
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal((await stats(cutUrl)).progress.opened, finalOpened, "no stream after `done`");
    assert.equal(await page.getByTestId("build-status").innerText(), "closed");
    assert.equal(await page.locator("text=last error").count(), 0, "the ends the server chose are no errors");
    assert.ok(await page.getByTestId("build-pause").isDisabled(), "nothing left to pause");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test(`${transport}: shared ticks resume after a reload; an id the server cannot resume shows a reset`, async () => {
    const before = (await stats(example.url)).clock;
    const { page, errors } = await openPage(example.url, transport);
    const seqs = async () =>
      ((await page.getByTestId("ticks").getAttribute("data-seqs")) ?? "").split(",").filter(Boolean).map(Number);
    await until("a few ticks", async () => (await seqs()).length >= 3);
    await page.reload();
    await until("ticks after the reload", async () => (await seqs()).length >= 3);
    const after = Number(await page.getByTestId("ticks").getAttribute("data-resumed-after"));
    const resumed = await seqs();
    assert.deepEqual(resumed.slice(0, 3), [after + 1, after + 2, after + 3], "resumed right after the last tick shown");
    assert.equal(await page.getByTestId("ticks-reset").count(), 0);
    // An id of a history this server never had (as after a restart of the server).
    // Set before the page's own scripts run: a tick arriving meanwhile would overwrite it.
    await page.addInitScript(() => sessionStorage.setItem("tidings-react-ticks", JSON.stringify({ id: "1-1", seq: 0 })));
    await page.reload();
    await page.getByTestId("ticks-reset").waitFor({ timeout: 5_000 });
    assert.equal(await page.getByTestId("ticks-reset").getAttribute("data-reason"), "unknown");
    await until("live ticks after the reset", async () => (await seqs()).length >= 2);
    assert.equal(await page.getByTestId("ticks-status").innerText(), "open");
    assert.deepEqual(errors, []);
    await page.close();
    // The next test counts the clock's streams from a quiet server.
    await until("the page's clock stream gone", async () => (await stats(example.url)).clock.open === before.open, 1_000);
  });
}

test("the production bundle (minified) serves the same page without StrictMode's double mount", async () => {
  const before = (await stats(example.url)).clock;
  const page = await (await example.browser()).newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const scripts: { url: string; bytes: number }[] = [];
  page.on("response", async (response) => {
    if (/\/assets\/.*\.js$/.test(response.url())) scripts.push({ url: response.url(), bytes: (await response.body()).length });
  });
  await page.goto(`${example.url}/?build=production`);
  assert.equal(await page.getByTestId("build").innerText(), "production");
  await until("five ticks rendered", async () => (await ticks(page)) >= 5);
  await until("the bundle's size known", async () => scripts.length === 1);
  assert.match(scripts[0]!.url, /\/assets\/main\.min\.js$/);
  assert.ok(scripts[0]!.bytes < 400_000, `minified: ${scripts[0]!.bytes} bytes`);
  const now = (await stats(example.url)).clock;
  assert.equal(now.opened - before.opened, 1, "one clock stream");
  // The development build, for comparison, is what `/` serves.
  const development = await fetch(`${example.url}/assets/main.js`);
  assert.ok((await development.arrayBuffer()).byteLength > 3 * scripts[0]!.bytes);
  assert.deepEqual(errors, []);
  await page.close();
  await until("the page's stream gone", async () => (await stats(example.url)).clock.open === before.open, 1_000);
});

test("the page, with a finished build, at both widths", async () => {
  const page = await (await example.browser()).newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${example.url}/?build=production`);
  await until("five ticks rendered", async () => (await ticks(page)) >= 5);
  await page.getByTestId("build-steps").fill("20");
  await page.getByTestId("build-step-ms").fill("20");
  await page.getByTestId("build-start").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=build-caption]")?.textContent?.startsWith("Done in"));
  // Done: nothing left to pause, so the control is gone; the badge says the stream closed.
  assert.equal(await page.getByTestId("build-pause").isVisible(), false);
  assert.equal(await page.getByTestId("build-status").getAttribute("data-state"), "closed");
  // Labelled controls: each is found by its label.
  for (const label of ["A tick every", "Steps", "Milliseconds a step", "Pause watching"]) {
    assert.equal(await page.getByLabel(label, { exact: label !== "A tick every" }).count(), 1, `a control labelled "${label}"`);
  }
  await screenshots(page, "react");
  assert.deepEqual(errors, []);
  await page.close();
});
