// The generated client against the running clock example, with both transports.
// Run by .ci/run with CLOCK_URL set to the example server's address.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { Subscription, type SubscriptionError } from "../../examples/clock/client.js";

const baseUrl = process.env.CLOCK_URL ?? "";

function within<T>(ms: number, run: (done: (value: T) => void, fail: (error: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
    run(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); },
    );
  });
}

test("the EventSource transport receives typed ticks", async () => {
  const seqs = await within<number[]>(10_000, (done, fail) => {
    const seen: number[] = [];
    const clock = new Subscription("GET /clock", { interval_ms: 50 }, { baseUrl, EventSource })
      .on("tick", (data) => {
        assert.equal(typeof data.unix_ms, "number");
        seen.push(data.seq);
        if (seen.length === 3) {
          clock.close();
          done(seen);
        }
      })
      .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
  });
  assert.deepEqual(seqs, [0, 1, 2]);
});

test("the fetch transport receives typed ticks", async () => {
  const seqs = await within<number[]>(10_000, (done, fail) => {
    const seen: number[] = [];
    const clock = new Subscription("GET /clock", { interval_ms: 50 }, { baseUrl, transport: "fetch" })
      .on("tick", (data) => {
        seen.push(data.seq);
        if (seen.length === 3) {
          clock.close();
          done(seen);
        }
      })
      .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
  });
  assert.deepEqual(seqs, [0, 1, 2]);
});

test("the fetch transport posts a body, fills the path, sends fresh headers, and reconnects", async () => {
  let attempts = 0;
  const rings = await within<string[]>(10_000, (done, fail) => {
    const heard: string[] = [];
    // The label travels in the path: substituted and percent-encoded by the client.
    const alarm = new Subscription("POST /alarms/{label}", { label: "tea time/now", body: { in_ms: 150 } }, {
      baseUrl,
      retryMs: 20,
      headers: () => ({ "x-attempt": String(++attempts) }),
    })
      .on("remaining", (data) => assert.ok(data.ms > 0))
      .on("ring", (label) => {
        heard.push(label);
        // The stream ends after ringing; the client reconnects, as EventSource would.
        if (heard.length === 2) {
          alarm.close();
          done(heard);
        }
      })
      .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
  });
  assert.deepEqual(rings, ["tea time/now", "tea time/now"]);
  assert.ok(attempts >= 2, "headers were evaluated for every connection");
});

test("an invalid input is a fatal 400", async () => {
  const error = await within<SubscriptionError>(10_000, (done) => {
    new Subscription("GET /clock", { interval_ms: 1 }, { baseUrl, transport: "fetch" }).onError(done);
  });
  assert.equal(error.fatal, true);
  assert.equal(error.status, 400);
});

for (const transport of ["eventsource", "fetch"] as const) {
  test(`the ${transport} transport resumes after the last event id`, async () => {
    const first = await within<{ seqs: number[]; lastId: string }>(10_000, (done, fail) => {
      const seen: number[] = [];
      const ticks = new Subscription("GET /ticks", {}, { baseUrl, transport, EventSource })
        .on("tick", (data, meta) => {
          assert.ok(meta.id.length > 0, "hub events carry ids");
          seen.push(data.seq);
          if (seen.length === 2) {
            ticks.close();
            done({ seqs: seen, lastId: ticks.lastEventId });
          }
        })
        .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
    });
    // Gone for a moment: ticks go on without us.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const resumed = await within<number[]>(10_000, (done, fail) => {
      const seen: number[] = [];
      const ticks = new Subscription("GET /ticks", {}, { baseUrl, transport, EventSource, lastEventId: first.lastId })
        .on("tick", (data) => {
          seen.push(data.seq);
          if (seen.length === 5) {
            ticks.close();
            done(seen);
          }
        })
        .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
    });
    const last = first.seqs[1]!;
    assert.deepEqual(resumed, [last + 1, last + 2, last + 3, last + 4, last + 5], "the missed ticks came first, none lost");
  });
}

for (const transport of ["eventsource", "fetch"] as const) {
  test(`the ${transport} transport reports its status, and \`onEvent\` every event`, async () => {
    const seen = await within<string[]>(10_000, (done) => {
      const seen: string[] = [];
      const clock = new Subscription("GET /clock", { interval_ms: 50 }, { baseUrl, transport, EventSource });
      seen.push(clock.status);
      clock
        .onStatus((status) => seen.push(status))
        .onEvent((event) => {
          if (event.event === "tick") seen.push(`tick ${event.data.seq}`);
          if (seen.length === 4) {
            clock.close();
            done(seen);
          }
        });
    });
    assert.deepEqual(seen, ["connecting", "open", "tick 0", "tick 1", "closed"]);
  });
}

test("a stream the server ends: reconnecting, then open again; a fatal answer: closed", async () => {
  const seen = await within<string[]>(10_000, (done) => {
    const seen: string[] = [];
    // A POST stream the server ends after its `ring`; the fetch transport posts it again.
    const alarm = new Subscription("POST /alarms/{label}", { label: "tea", body: { in_ms: 0 } }, { baseUrl, retryMs: 50 })
      .onStatus((status) => {
        seen.push(status);
        if (seen.length === 3) {
          alarm.close();
          done(seen);
        }
      });
  });
  assert.deepEqual(seen, ["open", "reconnecting", "open", "closed"]);
  const refused = await within<string[]>(10_000, (done) => {
    const seen: string[] = [];
    new Subscription("GET /clock", { interval_ms: 1 }, { baseUrl, transport: "fetch" })
      .onStatus((status) => seen.push(status))
      .onError(() => done(seen));
  });
  assert.deepEqual(refused, ["closed"]);
});

test("withCredentials reaches both transports, and is off by default", async () => {
  const seen: unknown[] = [];
  class RecordingEventSource extends EventSource {
    constructor(url: string | URL, init?: { withCredentials?: boolean }) {
      super(url, init);
      seen.push(init?.withCredentials);
    }
  }
  const recordingFetch: typeof fetch = (url, init) => {
    seen.push(init?.credentials);
    return fetch(url, init);
  };
  for (const withCredentials of [undefined, true]) {
    for (const transport of ["eventsource", "fetch"] as const) {
      await within<void>(10_000, (done, fail) => {
        const clock = new Subscription("GET /clock", { interval_ms: 50 }, {
          baseUrl,
          transport,
          EventSource: RecordingEventSource,
          fetch: recordingFetch,
          ...(withCredentials ? { withCredentials } : {}),
        })
          .on("tick", () => {
            clock.close();
            done();
          })
          .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
      });
    }
  }
  assert.deepEqual(seen, [false, "same-origin", true, "include"]);
});

/** The bytes the client decoded from `/noise`, and the server's SHA-256 of them. */
function noise(len: number, seed: number, transport: "eventsource" | "fetch") {
  return within<{ chunk: Uint8Array; framed: Uint8Array; sha256: string }>(20_000, (done, fail) => {
    let chunk: Uint8Array | undefined;
    let framed: Uint8Array | undefined;
    // The stream ends after the digest: the subscription would reconnect, so it closes.
    const stream = new Subscription("GET /noise", { len, seed }, { baseUrl, transport, EventSource })
      .on("chunk", (bytes) => { chunk = bytes; })
      .on("framed", (data) => { framed = data.bytes; })
      .on("digest", (data) => {
        stream.close();
        if (!chunk || !framed) fail(new Error("the digest came before the bytes"));
        else done({ chunk, framed, sha256: data.sha256 });
      })
      .onError((error: SubscriptionError) => { if (error.fatal) fail(new Error(error.message)); });
  });
}

test("random byte strings round trip as Uint8Arrays through both transports", async () => {
  const { createHash } = await import("node:crypto");
  const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
  // Empty, one byte, every length mod 3, and 1 MiB.
  for (const len of [0, 1, 2, 3, 4, 5, 6, 7, 1 << 20]) {
    for (const transport of ["eventsource", "fetch"] as const) {
      const got = await noise(len, len + 7, transport);
      assert.ok(got.chunk instanceof Uint8Array && got.framed instanceof Uint8Array);
      assert.equal(got.chunk.length, len, `${transport}: ${len} bytes`);
      assert.equal(sha256(got.chunk), got.sha256, `${transport}: ${len} bytes, standard base64`);
      assert.equal(sha256(got.framed), got.sha256, `${transport}: ${len} bytes, URL-safe, in JSON`);
    }
  }
});
