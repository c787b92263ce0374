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

test("the fetch transport posts a body and fills the path; a rung alarm is complete: closed, not posted again", async () => {
  let attempts = 0;
  const seen = await within<string[]>(10_000, (done, fail) => {
    const seen: string[] = [];
    // The label travels in the path: substituted and percent-encoded by the client.
    new Subscription("POST /alarms/{label}", { label: "tea time/now", body: { in_ms: 150 } }, {
      baseUrl,
      retryMs: 20,
      headers: () => ({ "x-attempt": String(++attempts) }),
    })
      .on("remaining", (data) => assert.ok(data.ms > 0))
      .on("ring", (label) => seen.push(`ring ${label}`))
      .onEnd((end) => seen.push(`end ${end.reason} ${end.reconnect}`))
      .onStatus((status) => {
        seen.push(status);
        if (status === "closed") setTimeout(() => done(seen), 200);
      })
      .onError((error) => fail(new Error(error.message)));
  });
  assert.deepEqual(seen, ["open", "ring tea time/now", "end complete false", "closed"]);
  assert.equal(attempts, 1, "one connection: a complete stream is not posted again");
});

for (const transport of ["eventsource", "fetch"] as const) {
  test(`${transport}: a stream the server ends comes back with fresh headers, and no error is reported`, async () => {
    let attempts = 0;
    const errors: string[] = [];
    const seen = await within<string[]>(10_000, (done) => {
      const seen: string[] = [];
      // `/noise` ends after its digest; the client comes back for it.
      const noise = new Subscription("GET /noise", { len: 3, seed: 1 }, {
        baseUrl,
        transport,
        EventSource,
        retryMs: 20,
        headers: () => ({ "x-attempt": String(++attempts) }),
      })
        .on("digest", () => {
          seen.push("digest");
          if (seen.filter((s) => s === "digest").length === 2) {
            noise.close();
            done(seen);
          }
        })
        .onEnd((end) => seen.push(`end ${end.reason}`))
        .onStatus((status, retry) => {
          seen.push(status);
          // No backoff after an end the server chose: its `retry` (fetch) or the browser's.
          if (retry) assert.equal(retry.failures, 0);
        })
        .onError((error) => errors.push(error.message));
    });
    assert.deepEqual(seen, ["open", "digest", "end handler_done", "reconnecting", "open", "digest", "closed"]);
    assert.deepEqual(errors, []);
    if (transport === "fetch") assert.equal(attempts, 2, "headers were evaluated for every connection");
  });

  test(`${transport}: \`count\` ticks make a complete stream: closed after them, no reconnection`, async () => {
    const seen = await within<string[]>(10_000, (done, fail) => {
      const seen: string[] = [];
      new Subscription("GET /clock", { interval_ms: 20, count: 3 }, { baseUrl, transport, EventSource, retryMs: 20 })
        .on("tick", (data) => seen.push(`tick ${data.seq}`))
        .onEnd((end) => seen.push(`end ${end.reason} ${end.reconnect}`))
        .onStatus((status) => {
          seen.push(status);
          if (status === "closed") setTimeout(() => done(seen), 200);
        })
        .onError((error) => fail(new Error(error.message)));
    });
    assert.deepEqual(seen, ["open", "tick 0", "tick 1", "tick 2", "end complete false", "closed"]);
  });
}

for (const transport of ["eventsource", "fetch"] as const) {
  test(`${transport}: a compressed clock's ticks arrive within 100 ms of their emit`, async () => {
    // Node's fetch (under both transports) offers gzip and decodes it; ticks 300 ms apart
    // would come 300 ms late if the server's compressor held them.
    const answer = await fetch(`${baseUrl}/clock?interval_ms=300&count=1`);
    assert.equal(answer.headers.get("content-encoding"), "gzip");
    await answer.text();
    const delays = await within<number[]>(10_000, (done, fail) => {
      const delays: number[] = [];
      const clock = new Subscription("GET /clock", { interval_ms: 300, count: 5 }, { baseUrl, transport, EventSource })
        .on("tick", (data) => {
          delays.push(Date.now() - data.unix_ms);
          if (delays.length === 5) {
            clock.close();
            done(delays);
          }
        })
        .onError((error) => { if (error.fatal) fail(new Error(error.message)); });
    });
    for (const delay of delays) assert.ok(delay < 100, `a tick came ${delay} ms after its emit: ${delays}`);
  });
}

test("an invalid input is a fatal 400, with the server's problem details and its words", async () => {
  const error = await within<SubscriptionError>(10_000, (done) => {
    new Subscription("GET /clock", { interval_ms: 1 }, { baseUrl, transport: "fetch" }).onError(done);
  });
  assert.equal(error.fatal, true);
  assert.equal(error.kind, "refused");
  assert.equal(error.status, 400);
  assert.equal(error.problem?.status, 400);
  assert.equal(error.problem?.title, "Bad Request");
  assert.equal(error.problem?.errors?.[0]?.location, "query");
  assert.equal(error.problem?.errors?.[0]?.path, "interval_ms");
  assert.equal(error.problem?.errors?.[0]?.rule, "range");
  assert.match(error.message, /^the server refused the stream \(400 Bad Request\): ./);
  assert.ok(error.message.endsWith(String(error.problem?.detail)), error.message);
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

test("a fatal answer: closed", async () => {
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
