// The auth example in headless Chromium: the page's generated client (fetch transport) sends
// a fresh bearer token on every connection; when a token expires the server ends the stream
// and the client comes back with a new one, resuming with no reading lost or repeated; a
// forged token is a 401 and a token without the scope a 403, both final, with the server's
// reason on the page. Restarted on the same port (on Redis), the page recovers by itself.
// Run by .ci/run with AUTH_URL set (the example started with TOKEN_TTL_MS=1000); the restart
// test starts its own redis-server and instances of the built example.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser, open as openPage, screenshots } from "./browser.js";
import { freePort, startExample, startRedis } from "./services.js";

const { open, browser } = exampleInBrowser("AUTH_URL");

interface Seen {
  tokens: number;
  readings: number[];
  errors: { kind: string; status: number | null; fatal: boolean; message: string }[];
  opened: number;
  statuses: string[];
  carried: { token: number; first: number | null; last: number | null; count: number }[];
}

async function seen(page: Page): Promise<Seen> {
  return page.evaluate(() => (window as unknown as { seen: Seen }).seen);
}

test("each connection sends a fresh token; an expired one ends the stream, which resumes without loss", async () => {
  const { page, errors } = await open("/");
  // Three connections: the stream outlived two tokens. (A token is fetched before its
  // connection opens, so count the openings.)
  await page.waitForFunction(
    () => (window as unknown as { seen: Seen }).seen.opened >= 3,
    undefined,
    { timeout: 15_000 },
  );
  const { readings, opened, tokens, errors: failures } = await seen(page);
  assert.ok(tokens >= opened, `a fresh token for each of the ${opened} connections: ${tokens}`);
  assert.ok(readings.length >= 5, `readings: ${readings}`);
  for (let i = 1; i < readings.length; i++) {
    assert.equal(readings[i], readings[0]! + i, `no reading lost or repeated: ${readings}`);
  }
  assert.deepEqual(failures.filter((f) => f.fatal), []);
  // The timeline: each token's readings, one range after the other.
  const { carried } = await seen(page);
  assert.ok(carried.length >= 2, `ranges: ${JSON.stringify(carried)}`);
  for (let i = 1; i < carried.length; i++) {
    assert.equal(carried[i]!.first, carried[i - 1]!.last! + 1, `token ${carried[i]!.token} took over: ${JSON.stringify(carried)}`);
  }
  const entries = await page.locator("#timeline li").allInnerTexts();
  assert.ok(entries.some((entry) => /token 1 issued, valid for 1\.0 s/.test(entry)), entries.join("\n"));
  assert.ok(entries.some((entry) => /token 1 carried readings \d+ to \d+/.test(entry)), entries.join("\n"));
  assert.ok(entries.some((entry) => /the server ended the stream: the token expired/.test(entry)), entries.join("\n"));
  assert.ok(entries.some((entry) => /connection 2 opened with token 2, resuming after reading \d+/.test(entry)), entries.join("\n"));
  await screenshots(page, "auth");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a forged token is refused with 401, a token without the scope with 403, with the server's reason shown", async () => {
  for (const [path, status, reason] of [
    ["/?token=forged", 401, "the token is unknown or has expired"],
    ["/?scopes=", 403, "the token does not have the `feed` scope"],
  ] as const) {
    const { page } = await open(path);
    await page.waitForFunction(
      () => (window as unknown as { seen: Seen }).seen.errors.length > 0,
      undefined,
      { timeout: 10_000 },
    );
    const { errors, readings } = await seen(page);
    assert.deepEqual(errors.map(({ kind, status, fatal }) => ({ kind, status, fatal })), [{ kind: "refused", status, fatal: true }], path);
    assert.ok(errors[0]!.message.endsWith(reason), errors[0]!.message);
    assert.equal(readings.length, 0);
    const shown = await page.locator("#status").innerText();
    assert.match(shown, /^refused: the server refused the stream/);
    assert.ok(shown.endsWith(reason), shown);
    if (status === 403) await screenshots(page, "auth-refused");
    await page.close();
  }
});

test("restarted on the same port (SIGTERM, then SIGKILL), the page recovers by itself: no reading lost or repeated", async () => {
  const redis = await startRedis();
  const env = { ADDR: `127.0.0.1:${await freePort()}`, REDIS_URL: redis.url, TOKEN_TTL_MS: "60000" };
  let server = await startExample("auth", env);
  const { page, errors } = await openPage(await browser(), server.url + "/");
  const readings = async (atLeast: number) => {
    await page.waitForFunction(
      (n) => (window as unknown as { seen: Seen }).seen.readings.length >= n,
      atLeast,
      { timeout: 20_000 },
    );
  };
  await readings(3);
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const before = (await seen(page)).readings.length;
    const failed = (await seen(page)).errors.length;
    await server.stop(signal);
    // Down until the page has failed to get a token or to connect: it must not give up.
    await page.waitForFunction(
      (n) => (window as unknown as { seen: Seen }).seen.errors.length > n,
      failed,
      { timeout: 10_000 },
    );
    assert.match(await page.locator("#status").innerText(), /^(reconnecting|connecting)/, signal);
    server = await startExample("auth", env);
    await readings(before + 5);
  }
  const { readings: got, errors: failures, statuses } = await seen(page);
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i], got[0]! + i, `no reading lost or repeated: ${got}`);
  }
  assert.deepEqual(failures.filter((f) => f.fatal), [], "no failure was final");
  assert.ok(failures.some((f) => f.kind === "callback" && /headers callback failed/.test(f.message)),
    `the failed token requests were reported: ${JSON.stringify(failures)}`);
  assert.equal(statuses.at(-1), "open");
  assert.match(await page.locator("#status").innerText(), /^open$/);
  // The browser logs each refused connection itself; nothing else may fail.
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)), []);
  await page.close();
  await server.stop("SIGTERM");
});
