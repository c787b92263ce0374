// Twelve EventSources on one page, in headless Chromium, through a proxy of deploy/ over
// HTTPS: the browser speaks HTTP/2 to the proxy (ALPN), so all twelve are live at once (over
// HTTP/1.1 it would hold six). Run by .ci/run for nginx, HAProxy and Caddy in turn, each
// started by `deploy-stack` (tests/bin/deploy_stack.rs), with PROXY_NAME, PROXY_URL (its
// https://localhost:PORT) and PROXY_CERT (its self-signed certificate, which Chromium is told
// to trust by the hash of its public key) set; CHROMIUM names the browser.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { chromium, type Browser } from "playwright-core";

const name = process.env.PROXY_NAME ?? "";
const url = process.env.PROXY_URL ?? "";
const certFile = process.env.PROXY_CERT ?? "";
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
});

/** The base64 SHA-256 of a certificate's public key: what Chromium's SPKI list takes. */
async function spkiHash(file: string): Promise<string> {
  const certificate = new X509Certificate(await readFile(file));
  const spki = certificate.publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

test(`through ${name}, twelve EventSources on one page are all live, over HTTP/2`, async () => {
  assert.ok(name && url && certFile, "PROXY_NAME, PROXY_URL and PROXY_CERT are set");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", `--ignore-certificate-errors-spki-list=${await spkiHash(certFile)}`],
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  // Any page of the origin: the streams are the instances' `/events`, through the proxy.
  await page.goto(`${url}/whoami`);
  await page.evaluate(() => {
    const counts: number[] = new Array(12).fill(0);
    (window as unknown as { counts: number[] }).counts = counts;
    for (let i = 0; i < 12; i++) {
      new EventSource("/events").addEventListener("tick", () => {
        counts[i] = (counts[i] ?? 0) + 1;
      });
    }
  });
  // Publish through the proxy too (the page's own connection), until every stream has two.
  let n = 0;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const counts = await page.evaluate(() => (window as unknown as { counts: number[] }).counts);
    if (counts.every((count) => count >= 2)) break;
    assert.ok(Date.now() < deadline, `${name}: after 15 s the streams had ${JSON.stringify(counts)}`);
    n += 1;
    await page.evaluate(async (n) => {
      const response = await fetch("/publish", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ n }),
      });
      if (response.status !== 201) throw new Error(`publish: ${response.status}`);
    }, n);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const protocol = await page.evaluate(
    () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol,
  );
  assert.equal(protocol, "h2", `${name}: the page's protocol`);
  assert.deepEqual(errors, []);
});
