// Headless Chromium for the browser tests: Debian's package (CHROMIUM names another), driven
// by playwright-core.
import { after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { chromium, type Browser, type Page } from "playwright-core";

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox"],
  });
}

/** Opens `url` in a new tab; `errors` collects the page's uncaught errors and console errors. */
export async function open(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(url);
  return { page, errors };
}

/** An example under test in a browser; see [`exampleInBrowser`]. */
export interface ExampleInBrowser {
  /** The example's address. */
  url: string;
  /** The browser, launched on first use. */
  browser: () => Promise<Browser>;
  /** Opens `path` (default `/`) of the example in a new tab. */
  open: (path?: string) => Promise<{ page: Page; errors: string[] }>;
}

/**
 * For a test file: the example whose address is in the environment variable `variable`, and
 * a browser launched on first use and closed after the file's tests.
 */
export function exampleInBrowser(variable: string): ExampleInBrowser {
  const url = process.env[variable] ?? "";
  let launched: Promise<Browser> | undefined;
  after(async () => {
    await (await launched)?.close();
  });
  const browser = () => {
    assert.ok(url, `${variable} is set`);
    launched ??= launch();
    return launched;
  };
  return { url, browser, open: async (path = "/") => open(await browser(), url + path) };
}

/**
 * A blank page of the example's own origin that can import a compiled client as
 * `/__browser/client.js`, as an app would serve both; the streams then come from the example.
 */
export async function clientPage(example: ExampleInBrowser, clientJs: URL): Promise<Page> {
  const page = await (await example.browser()).newPage();
  const client = await readFile(clientJs, "utf8");
  await page.route(`${example.url}/__browser/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/__browser/client.js") {
      return route.fulfill({ contentType: "text/javascript", body: client });
    }
    return route.fulfill({ contentType: "text/html", body: "<!doctype html><title>client</title>" });
  });
  await page.goto(`${example.url}/__browser/index.html`);
  return page;
}

/**
 * Looks at `page` as a person would, at 1280x900 and 390x844: writes a full-page screenshot of
 * each to `target/screenshots/NAME-WIDTH.png` for a reviewer, and fails if the page scrolls
 * sideways at either width.
 */
export async function screenshots(page: Page, name: string): Promise<void> {
  const { mkdir } = await import("node:fs/promises");
  // This file runs as tools/build/tools/test/browser.js: four levels below the repository.
  const folder = new URL("../../../../target/screenshots/", import.meta.url);
  await mkdir(folder, { recursive: true });
  for (const [width, height] of [[1280, 900], [390, 844]] as const) {
    await page.setViewportSize({ width, height });
  // A frame for the layout to settle at the new width.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
    await page.screenshot({ path: new URL(`${name}-${width}.png`, folder).pathname, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
  }
}
