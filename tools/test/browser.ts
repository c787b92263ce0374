// Headless Chromium for the browser tests: Debian's package (CHROMIUM names another), driven
// by playwright-core.
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
