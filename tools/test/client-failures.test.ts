// The generated TypeScript client's failure paths in headless Chromium, on both transports
// where they apply: exceptions in the caller's functions, ends the server chose, resets,
// backoff against a server that is down, and refusals with their reasons.
// Run by .ci/run with CLOCK_URL set to the clock example's address; CHROMIUM names the browser.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Page } from "playwright-core";
import { clientPage, exampleInBrowser } from "./browser.js";

const example = exampleInBrowser("CLOCK_URL");
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  page = await clientPage(example, new URL("../../examples/clock/client.js", import.meta.url));
  page.on("pageerror", (error) => pageErrors.push(error.message));
});

/** A loopback port nothing listens on (taken from the system, then let go). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Run {
  statuses: string[];
  errors: { kind: string; fatal: boolean; message: string; status?: number; problem?: Record<string, unknown> }[];
  events: string[];
  ends: { reason: string; reconnect: boolean }[];
  resets: { reason: string; oldest: string | null; latest: string | null }[];
  retries: { delayMs: number; failures: number }[];
  attempts: number[];
  errorAtOpen: (string | null)[];
}

/**
 * Runs in the page: subscribes to `route` with `options` (plus `retryMs` and the recorders
 * below), records everything the subscription reports, and resolves once `until` (evaluated on
 * the record) holds, or after `ms`. `throwOn` makes the named event's handler throw once;
 * `failHeaders` makes that many first `headers()` calls fail.
 */
function run(
  route: string,
  input: Record<string, unknown>,
  options: Record<string, unknown>,
  until: string,
  extra: { throwOn?: string; failHeaders?: number; ms?: number } = {},
): Promise<Run> {
  return page.evaluate(
    async ({ route, input, options, until, extra }) => {
      const module = "/__browser/client.js";
      const { Subscription } = await import(module);
      const seen: Run = { statuses: [], errors: [], events: [], ends: [], resets: [], retries: [], attempts: [], errorAtOpen: [] };
      const done = new Function("seen", `return ${until};`) as (seen: Run) => boolean;
      let thrown = false;
      let headerCalls = 0;
      // Every attempt, whichever transport makes it.
      const NativeEventSource = EventSource;
      class CountingEventSource extends NativeEventSource {
        constructor(url: string | URL, init?: EventSourceInit) {
          super(url, init);
          seen.attempts.push(Date.now());
        }
      }
      const countingFetch: typeof fetch = (url, init) => {
        seen.attempts.push(Date.now());
        return fetch(url, init);
      };
      return await new Promise<Run>((resolve) => {
        let subscription: any;
        // What was seen before the test closes the subscription itself.
        const finish = () => {
          resolve(JSON.parse(JSON.stringify(seen)));
          subscription.close();
        };
        const check = () => {
          if (done(seen)) finish();
        };
        setTimeout(finish, extra.ms ?? 10_000);
        subscription = new Subscription(route, input, {
          EventSource: CountingEventSource,
          fetch: countingFetch,
          headers: () => {
            headerCalls += 1;
            if (headerCalls <= (extra.failHeaders ?? 0)) {
              return Promise.reject(new TypeError("Failed to fetch (the token service is down)"));
            }
            return { "x-attempt": String(headerCalls) };
          },
          ...options,
        });
        subscription
          .onEvent((event: { event: string; data: unknown }) => {
            seen.events.push(event.event);
            if (event.event === extra.throwOn && !thrown) {
              thrown = true;
              throw new Error("a bug in the page's handler");
            }
            check();
          })
          .onStatus((status: string, retry?: { delayMs: number; failures: number }) => {
            seen.statuses.push(status);
            if (status === "open") seen.errorAtOpen.push(subscription.error?.kind ?? null);
            if (retry) seen.retries.push({ delayMs: retry.delayMs, failures: retry.failures });
            check();
          })
          .onError((error: Run["errors"][number]) => {
            const { kind, fatal, message, status, problem } = error;
            seen.errors.push({ kind, fatal, message, status, problem });
            check();
          })
          .onEnd((end: Run["ends"][number]) => { seen.ends.push(end); check(); })
          .onReset((reset: Run["resets"][number]) => { seen.resets.push(reset); check(); });
      });
    },
    { route, input, options, until, extra },
  );
}

for (const transport of ["eventsource", "fetch"] as const) {
  test(`${transport}: an exception in an event handler is reported, and the stream goes on`, async () => {
    const seen = await run("GET /clock", { interval_ms: 30 }, { transport }, "seen.events.length >= 4", { throwOn: "tick" });
    assert.deepEqual(seen.events.slice(0, 4), ["tick", "tick", "tick", "tick"]);
    assert.deepEqual(seen.errors.map((e) => [e.kind, e.fatal]), [["callback", false]]);
    assert.match(seen.errors[0]!.message, /the onEvent handler threw: a bug in the page's handler/);
    assert.deepEqual(seen.statuses, ["open"], "one connection, never interrupted");
  });

  test(`${transport}: a stream the server ends is no error; the client comes back for more`, async () => {
    const seen = await run("GET /noise", { len: 3, seed: 1 }, { transport, retryMs: 50 },
      "seen.events.filter((e) => e === 'digest').length >= 3");
    assert.deepEqual(seen.errors, []);
    assert.deepEqual(seen.ends.slice(0, 2), [
      { reason: "handler_done", reconnect: true },
      { reason: "handler_done", reconnect: true },
    ]);
    assert.deepEqual(seen.statuses.slice(0, 5), ["open", "reconnecting", "open", "reconnecting", "open"]);
  });

  test(`${transport}: a complete stream closes without an error, and no second connection`, async () => {
    const seen = await run("GET /clock", { interval_ms: 20, count: 2 }, { transport, retryMs: 20 }, "false", { ms: 800 });
    assert.deepEqual(seen.events, ["tick", "tick"]);
    assert.deepEqual(seen.ends, [{ reason: "complete", reconnect: false }]);
    assert.deepEqual(seen.statuses, ["open", "closed"]);
    assert.deepEqual(seen.errors, []);
    assert.equal(seen.attempts.length, 1);
  });

  test(`${transport}: a reset reaches onReset with the server's reason and ids, then events go on`, async () => {
    // An id of a history this server never had: it cannot resume after it.
    const seen = await run("GET /ticks", {}, { transport, lastEventId: "1-1" }, "seen.events.length >= 2");
    assert.equal(seen.resets.length, 1);
    assert.equal(seen.resets[0]!.reason, "unknown");
    assert.match(String(seen.resets[0]!.latest), /^[0-9]+-[0-9]+$/);
    assert.deepEqual(seen.events, ["tick", "tick"], "the reset is not an event of the route");
    assert.deepEqual(seen.errors, []);
  });

  test(`${transport}: failures back off exponentially to maxRetryMs, with the delay in the status`, async () => {
    const port = await closedPort();
    const seen = await run("GET /clock", {}, {
      transport, baseUrl: `http://127.0.0.1:${port}`, retryMs: 100, maxRetryMs: 800,
    }, "seen.attempts.length >= 6", { ms: 15_000 });
    const delays = seen.retries.map((r) => r.delayMs);
    const bases = [100, 200, 400, 800, 800];
    assert.ok(delays.length >= 5, `delays: ${delays}`);
    bases.forEach((base, i) => {
      assert.ok(delays[i]! >= base && delays[i]! <= base * 1.25, `delay ${i}: ${delays[i]} for ${base} (${delays})`);
    });
    assert.deepEqual(seen.retries.slice(0, 5).map((r) => r.failures), [1, 2, 3, 4, 5]);
    // The attempts really wait that long.
    for (let i = 1; i < 6; i++) {
      const gap = seen.attempts[i]! - seen.attempts[i - 1]!;
      assert.ok(gap >= delays[i - 1]! - 20, `gap ${i}: ${gap} ms for a delay of ${delays[i - 1]} ms`);
    }
    assert.ok(seen.errors.length >= 5 && seen.errors.every((e) => e.kind === "network" && !e.fatal),
      JSON.stringify(seen.errors));
    assert.match(seen.errors[0]!.message, /cannot reach the server/);
    assert.ok(!seen.statuses.includes("closed") || seen.statuses.at(-1) === "closed");
  });
}

test("fetch: a failing headers callback is reported and retried with backoff; an open clears the error", async () => {
  const seen = await run("GET /clock", { interval_ms: 30 }, { transport: "fetch", retryMs: 50 }, "seen.events.length >= 2",
    { failHeaders: 2 });
  assert.deepEqual(seen.errors.map((e) => [e.kind, e.fatal]), [["callback", false], ["callback", false]]);
  assert.match(seen.errors[0]!.message, /the headers callback failed: Failed to fetch \(the token service is down\)/);
  assert.deepEqual(seen.retries.map((r) => r.failures), [1, 2]);
  assert.ok(seen.retries[1]!.delayMs >= 100, "the second wait doubled");
  assert.deepEqual(seen.statuses, ["reconnecting", "reconnecting", "open"]);
  assert.deepEqual(seen.errorAtOpen, [null], "the error was the failed attempts', not the open one's");
  assert.deepEqual(seen.events, ["tick", "tick"]);
});

test("fetch: a refusal carries the status, the server's problem details and its reason in words", async () => {
  const seen = await run("GET /clock", { interval_ms: 1 }, { transport: "fetch" }, "seen.errors.length >= 1");
  const [error] = seen.errors;
  assert.equal(error?.kind, "refused");
  assert.equal(error?.fatal, true);
  assert.equal(error?.status, 400);
  assert.equal(error?.problem?.detail, "invalid query string");
  assert.deepEqual((error?.problem?.errors as { path: string }[])[0]?.path, "interval_ms");
  assert.equal(error?.message, "the server refused the stream (400 Bad Request): invalid query string");
  assert.deepEqual(seen.statuses, ["closed"]);
});

test("eventsource: a refusal says that it was one, and where to see the reason", async () => {
  const seen = await run("GET /clock", { interval_ms: 1 }, { transport: "eventsource" }, "seen.errors.length >= 1");
  const [error] = seen.errors;
  assert.equal(error?.kind, "refused");
  assert.equal(error?.fatal, true);
  assert.match(String(error?.message), /the server refused the stream; .*hidden from EventSource.*use the fetch transport/);
  assert.deepEqual(seen.statuses, ["closed"]);
});

test("no uncaught error in the page", () => {
  assert.deepEqual(pageErrors, []);
});
