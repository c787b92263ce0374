// The generated TypeScript client in a real browser: headless Chromium loads the compiled
// examples/clock/client.js from the clock example's own origin and subscribes with the
// browser's native EventSource and with its streaming fetch.
// Run by .ci/run with CLOCK_URL set to the clock example's address; CHROMIUM names the browser.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { clientPage, exampleInBrowser } from "./browser.js";

const example = exampleInBrowser("CLOCK_URL");
let page: Page;
const errors: string[] = [];

before(async () => {
  // The compiled client, next to this file's compiled form (tools/build/...).
  page = await clientPage(example, new URL("../../examples/clock/client.js", import.meta.url));
  page.on("pageerror", (error) => errors.push(error.message));
});

type Transport = "eventsource" | "fetch";

/** Runs in the page: `count` events of `route`, with the ids they came with. */
function collect(
  route: string,
  params: Record<string, unknown>,
  options: { transport: Transport; lastEventId?: string },
  event: string,
  count: number,
): Promise<{ data: unknown[]; lastEventId: string }> {
  return page.evaluate(
    async ({ route, params, options, event, count }) => {
      const module = "/__browser/client.js";
      const { Subscription } = await import(module);
      return await new Promise<{ data: unknown[]; lastEventId: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${count} ${event} events within 10 s`)), 10_000);
        const data: unknown[] = [];
        const subscription = new Subscription(route, params, { ...options, retryMs: 20 })
          .on(event, (value: unknown) => {
            data.push(value);
            if (data.length === count) {
              clearTimeout(timer);
              subscription.close();
              resolve({ data, lastEventId: subscription.lastEventId });
            }
          })
          .onError((error: { fatal: boolean; message: string }) => {
            if (error.fatal) {
              clearTimeout(timer);
              reject(new Error(error.message));
            }
          });
      });
    },
    { route, params, options, event, count },
  );
}

for (const transport of ["eventsource", "fetch"] as const) {
  test(`the ${transport} transport receives typed ticks in Chromium`, async () => {
    const { data } = await collect("GET /clock", { interval_ms: 50 }, { transport }, "tick", 3);
    const ticks = data as { seq: number; unix_ms: number }[];
    assert.deepEqual(ticks.map((tick) => tick.seq), [0, 1, 2]);
    for (const tick of ticks) assert.equal(typeof tick.unix_ms, "number");
  });

  test(`the ${transport} transport resumes after the last event id in Chromium`, async () => {
    const first = await collect("GET /ticks", {}, { transport }, "tick", 2);
    assert.ok(first.lastEventId.length > 0, "hub events carry ids");
    // Gone for a moment: ticks go on without us.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const resumed = await collect("GET /ticks", {}, { transport, lastEventId: first.lastEventId }, "tick", 4);
    const last = (first.data[1] as { seq: number }).seq;
    assert.deepEqual(
      (resumed.data as { seq: number }[]).map((tick) => tick.seq),
      [last + 1, last + 2, last + 3, last + 4],
      "the missed ticks came first, none lost",
    );
  });

  test(`the ${transport} transport gets every tick of a compressed stream within 100 ms of its emit, in Chromium`, async () => {
    // Ticks 300 ms apart: a tick held in the server's compressor until the next one would be
    // 300 ms late. The clock is compressed for clients that accept it, as Chromium does.
    const encodings: string[] = [];
    const seen = (response: { url(): string; headers(): Record<string, string> }) => {
      if (response.url().includes("interval_ms=300")) encodings.push(response.headers()["content-encoding"] ?? "identity");
    };
    page.on("response", seen);
    const delays = await page.evaluate(
      async ({ transport }) => {
        const module = "/__browser/client.js";
        const { Subscription } = await import(module);
        return await new Promise<number[]>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no 5 ticks within 10 s")), 10_000);
          const delays: number[] = [];
          const clock = new Subscription("GET /clock", { interval_ms: 300, count: 5 }, { transport })
            .on("tick", (tick: { unix_ms: number }) => {
              // The page and the server share this machine's clock.
              delays.push(Date.now() - tick.unix_ms);
              if (delays.length === 5) {
                clearTimeout(timer);
                clock.close();
                resolve(delays);
              }
            });
        });
      },
      { transport },
    );
    page.off("response", seen);
    assert.equal(delays.length, 5);
    for (const delay of delays) assert.ok(delay < 100, `a tick came ${delay} ms after its emit: ${delays}`);
    assert.deepEqual(encodings, ["gzip"], "Chromium offers gzip, the clock's first choice");
  });
}

test("the fetch transport posts a body and fills the path in Chromium", async () => {
  const { data } = await collect(
    "POST /alarms/{label}",
    { label: "tea time/now", body: { in_ms: 100 } },
    { transport: "fetch" },
    "ring",
    1,
  );
  assert.deepEqual(data, ["tea time/now"]);
});

test("random byte strings arrive as Uint8Arrays equal to what the server sent, in Chromium", async () => {
  for (const len of [0, 1, 2, 3, 4, 5, 1 << 20]) {
    for (const transport of ["eventsource", "fetch"] as const) {
      const got = await page.evaluate(
        async ({ len, transport }) => {
          const module = "/__browser/client.js";
          const { Subscription } = await import(module);
          const hex = async (bytes: Uint8Array) =>
            Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes))))
              .map((b) => b.toString(16).padStart(2, "0"))
              .join("");
          const { chunk, framed, sha256 } = await new Promise<{ chunk: Uint8Array; framed: Uint8Array; sha256: string }>(
            (resolve, reject) => {
              const timer = setTimeout(() => reject(new Error("no digest within 20 s")), 20_000);
              let chunk: Uint8Array | undefined;
              let framed: Uint8Array | undefined;
              const noise = new Subscription("GET /noise", { len, seed: len + 11 }, { transport })
                .on("chunk", (bytes: Uint8Array) => { chunk = bytes; })
                .on("framed", (data: { bytes: Uint8Array }) => { framed = data.bytes; })
                .on("digest", (data: { sha256: string }) => {
                  clearTimeout(timer);
                  noise.close();
                  resolve({ chunk: chunk!, framed: framed!, sha256: data.sha256 });
                });
            },
          );
          return {
            isBytes: chunk instanceof Uint8Array && framed instanceof Uint8Array,
            length: chunk.length,
            chunk: await hex(chunk),
            framed: await hex(framed),
            sha256,
          };
        },
        { len, transport },
      );
      assert.ok(got.isBytes, `${transport}: Uint8Arrays`);
      assert.equal(got.length, len, `${transport}: ${len} bytes`);
      assert.equal(got.chunk, got.sha256, `${transport}: ${len} bytes, standard base64`);
      assert.equal(got.framed, got.sha256, `${transport}: ${len} bytes, URL-safe, in JSON`);
    }
  }
});

test("no errors in the page", () => {
  assert.deepEqual(errors, []);
});
