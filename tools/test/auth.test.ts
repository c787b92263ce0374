// The auth example in headless Chromium: the page's generated client (fetch transport) sends
// a fresh bearer token on every connection; when a token expires the server ends the stream
// and the client comes back with a new one, resuming with no reading lost or repeated; a
// forged token is a 401 and a token without the scope a 403, both final.
// Run by .ci/run with AUTH_URL set (the example started with TOKEN_TTL_MS=1000).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { exampleInBrowser } from "./browser.js";

const { open } = exampleInBrowser("AUTH_URL");

interface Seen {
  tokens: number;
  readings: number[];
  errors: { status: number | null; fatal: boolean }[];
  opened: number;
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
  assert.deepEqual(errors, []);
  await page.close();
});

test("a forged token is refused with 401, a token without the scope with 403", async () => {
  for (const [path, status] of [["/?token=forged", 401], ["/?scopes=", 403]] as const) {
    const { page } = await open(path);
    await page.waitForFunction(
      () => (window as unknown as { seen: Seen }).seen.errors.length > 0,
      undefined,
      { timeout: 10_000 },
    );
    const { errors, readings } = await seen(page);
    assert.deepEqual(errors[0], { status, fatal: true }, path);
    assert.equal(readings.length, 0);
    assert.match(await page.locator("#status").innerText(), /refused/);
    await page.close();
  }
});
