// Twelve EventSources on one page, in headless Chromium, against the tls example: over
// https:// the browser speaks HTTP/2 and every stream receives events over one connection;
// over plain http:// it opens six connections to the origin and the other six streams wait.
// Run by .ci/run with TLS_URL (https), TLS_HTTP_URL and TLS_SPKI (the base64 SHA-256 of the
// example's self-signed certificate's public key, which Chromium is told to trust) set;
// CHROMIUM names the browser.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chromium, type Browser, type Page } from "playwright-core";
import { screenshots } from "./browser.js";

const httpsUrl = process.env.TLS_URL ?? "";
const httpUrl = process.env.TLS_HTTP_URL ?? "";
const spki = process.env.TLS_SPKI ?? "";
let launched: Promise<Browser> | undefined;
after(async () => {
  await (await launched)?.close();
});

interface OpenStream {
  stream: number;
  peer: string;
  protocol: string;
}

/** The streams the server has open, asked from Node (the page's own connections may be full). */
async function openStreams(): Promise<OpenStream[]> {
  const response = await fetch(`${httpUrl}/streams`);
  return (await response.json()) as OpenStream[];
}

/** Opens the page of `base` in a browser that trusts the example's certificate, and only it. */
async function openPage(base: string): Promise<Page> {
  assert.ok(spki, "TLS_SPKI is set");
  launched ??= chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", `--ignore-certificate-errors-spki-list=${spki}`],
  });
  const context = await (await launched).newContext();
  const page = await context.newPage();
  await page.goto(`${base}/`);
  return page;
}

async function beats(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { beats: number[] }).beats.slice());
}

test("over https all twelve streams receive events, as streams of one HTTP/2 connection", async () => {
  assert.ok(httpsUrl && httpUrl, "TLS_URL and TLS_HTTP_URL are set");
  const page = await openPage(httpsUrl);
  await page.waitForFunction(
    () => (window as unknown as { beats: number[] }).beats.every((b) => b >= 2),
    undefined,
    { timeout: 10_000 },
  );
  const streams = (await openStreams()).filter((s) => s.protocol === "HTTP/2.0");
  assert.equal(streams.length, 12, JSON.stringify(streams));
  assert.equal(new Set(streams.map((s) => s.peer)).size, 1, "one connection");
  // The page shows the server's view: one connection, HTTP/2, the same peer on every stream.
  assert.equal(await page.locator("#summary").innerText(), "12 of 12 streams live, over 1 connection (HTTP/2.0)");
  const peers = await page.locator("li").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.peer));
  assert.deepEqual(new Set(peers), new Set([streams[0]!.peer]));
  // Links to both versions, and words about the self-signed certificate.
  assert.equal(await page.locator("#http-link").getAttribute("href"), `${httpUrl}/`);
  assert.equal(await page.locator("#https-link").getAttribute("href"), `${httpsUrl}/`);
  assert.match(await page.locator(".note").innerText(), /self-signed.*--ignore-certificate-errors-spki-list=/s);
  await screenshots(page, "tls-https");
  await page.context().close();
});

test("over plain http only six streams receive events: the browser's limit per origin", async () => {
  // The HTTPS page's streams are gone before this page opens.
  for (let i = 0; i < 50 && (await openStreams()).length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const page = await openPage(httpUrl);
  await page.waitForFunction(
    () => (window as unknown as { beats: number[] }).beats.filter((b) => b >= 2).length >= 6,
    undefined,
    { timeout: 10_000 },
  );
  // Time for a seventh connection, were the browser to open one.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const seen = await beats(page);
  assert.equal(seen.filter((b) => b > 0).length, 6, `beats per stream: ${seen}`);
  const streams = await openStreams();
  assert.equal(streams.length, 6, JSON.stringify(streams));
  assert.ok(streams.every((s) => s.protocol === "HTTP/1.1"));
  assert.equal(new Set(streams.map((s) => s.peer)).size, 6, "six connections");
  assert.equal(
    await page.locator("#summary").innerText(),
    "6 of 12 streams live, over 6 connections (HTTP/1.1); 6 waiting for a connection",
  );
  assert.equal(await page.locator("li[data-live=false]").count(), 6);
  await screenshots(page, "tls-http");
  await page.context().close();
});
