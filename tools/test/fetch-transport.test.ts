// The generated client's fetch transport against a server that is not tidings (node:http,
// one scripted answer per connection): the last event id outlives a connection, and a
// stream that starts with two byte-order marks loses its first line, as in browsers; and the
// transport's reader parses what the tidings server writes however the bytes are split.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { EventStreamParser, readEventStream, Subscription, type RawEvent } from "../../examples/clock/client.js";
import { request, RequestError } from "../../examples/notes/client.js";

/** Serves `answers`, one per connection (the last one again after that); records the heads. */
async function scripted(answers: Uint8Array[]): Promise<{ url: string; heads: IncomingHttpHeaders[]; close: () => void }> {
  const heads: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    heads.push(request.headers);
    const body = answers[Math.min(heads.length - 1, answers.length - 1)]!;
    response.writeHead(200, { "content-type": "text/event-stream", "content-length": body.length });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, heads, close: () => server.close() };
}

const text = (s: string) => new TextEncoder().encode(s);

test("an event without id after a reconnect keeps the last id, and the next reconnect sends it", async () => {
  const tick = (seq: number) => `event: tick\ndata: {"seq":${seq},"unix_ms":0}\n\n`;
  const server = await scripted([text(`retry: 10\nid: abc\n${tick(1)}`), text(tick(2)), text(tick(3))]);
  const seen = await new Promise<{ seq: number; id: string }[]>((resolve) => {
    const seen: { seq: number; id: string }[] = [];
    const clock = new Subscription("GET /clock", {}, { baseUrl: server.url, transport: "fetch", retryMs: 10 })
      .on("tick", (data, meta) => {
        seen.push({ seq: data.seq, id: meta.id });
        if (seen.length === 3) {
          clock.close();
          resolve(seen);
        }
      });
  });
  server.close();
  assert.deepEqual(seen, [1, 2, 3].map((seq) => ({ seq, id: "abc" })));
  assert.equal(server.heads[0]!["last-event-id"], undefined);
  assert.equal(server.heads[1]!["last-event-id"], "abc");
  assert.equal(server.heads[2]!["last-event-id"], "abc", "the third connection still sends the first's id");
});

test("one leading BOM is dropped; a second one spoils the first line", async () => {
  const bom = [0xef, 0xbb, 0xbf];
  const body = (boms: number) =>
    new Uint8Array([...Array(boms).fill(bom).flat(), ...text(`event: tick\ndata: {"seq":${boms},"unix_ms":0}\n\n`)]);
  for (const [boms, expected] of [[1, "tick"], [2, "message"]] as const) {
    const server = await scripted([body(boms)]);
    const got = await new Promise<string>((resolve) => {
      const clock: Subscription<"GET /clock"> = new Subscription("GET /clock", {}, { baseUrl: server.url, transport: "fetch" });
      clock.on("tick", () => { clock.close(); resolve("tick"); });
      // With its `event:` line spoilt, the frame is an unnamed `message`, which the typed
      // client has no handler for: the connection then ends and nothing came.
      clock.onError(() => { clock.close(); resolve("message"); });
      setTimeout(() => { clock.close(); resolve("message"); }, 500);
    });
    server.close();
    assert.equal(got, expected, `${boms} BOM(s)`);
  }
});

/** A small seeded generator (mulberry32): the same cuts on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("what the server writes parses back however it is split (the corpus of tests/roundtrip.rs)", async () => {
  // Written by the server's frame writer; `cargo test --test roundtrip` checks it is current.
  const corpus: { stream: string; events: RawEvent[] }[] = JSON.parse(
    readFileSync(new URL("../../../test/frames.json", import.meta.url), "utf8"),
  );
  assert.ok(corpus.length >= 100, "the corpus is there");
  const next = random(7);
  let checked = 0;
  for (const [index, { stream, events }] of corpus.entries()) {
    const bytes = new TextEncoder().encode(stream);
    for (let trial = 0; trial < 8; trial++) {
      // Cut anywhere, UTF-8 sequences and CRLF pairs included; trial 0 byte by byte.
      const cuts = trial === 0
        ? Array.from({ length: bytes.length }, (_, i) => i)
        : Array.from({ length: Math.floor(next() * 16) }, () => Math.floor(next() * (bytes.length + 1)));
      const at = [...new Set([0, ...cuts, bytes.length])].sort((a, b) => a - b);
      const chunks = at.slice(1).map((end, i) => bytes.slice(at[i], end));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      });
      const parsed: RawEvent[] = [];
      await readEventStream(body, new EventStreamParser(), (got) => parsed.push(...got));
      assert.deepEqual(parsed, events, `case ${index}, cuts ${at.join(",")}: ${JSON.stringify(stream)}`);
      checked++;
    }
  }
  assert.equal(checked, corpus.length * 8);
});

for (const status of [503, 429]) test(`a ${status} with Retry-After is waited out and retried; without it, it is final`, async () => {
  const times: number[] = [];
  const server = createServer((request, response) => {
    times.push(Date.now());
    if (times.length === 1) {
      response.writeHead(status, { "retry-after": "1", "content-length": 0 }).end();
      return;
    }
    const body = text(`event: tick\ndata: {"seq":1,"unix_ms":0}\n\n`);
    response.writeHead(200, { "content-type": "text/event-stream", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const errors: { fatal: boolean; status?: number }[] = [];
  const seq = await new Promise<number>((resolve) => {
    const clock = new Subscription("GET /clock", {}, { baseUrl: `http://127.0.0.1:${port}`, transport: "fetch", retryMs: 10 })
      .on("tick", (data) => { clock.close(); resolve(data.seq); })
      .onError((error) => errors.push({ fatal: error.fatal, status: error.status }));
  });
  server.close();
  assert.equal(seq, 1);
  assert.deepEqual(errors, [{ fatal: false, status }]);
  assert.ok(times[1]! - times[0]! >= 1000, `waited ${times[1]! - times[0]!} ms`);

  const final = createServer((request, response) => response.writeHead(status, { "content-length": 0 }).end());
  await new Promise<void>((resolve) => final.listen(0, "127.0.0.1", resolve));
  const finalPort = (final.address() as AddressInfo).port;
  const error = await new Promise<{ fatal: boolean; status?: number }>((resolve) => {
    const clock = new Subscription("GET /clock", {}, { baseUrl: `http://127.0.0.1:${finalPort}`, transport: "fetch" })
      .onError((error) => { clock.close(); resolve(error); });
  });
  final.close();
  assert.equal(error.fatal, true);
  assert.equal(error.status, status);
});

test("a base64 payload that does not decode is reported, and the stream goes on", async () => {
  const server = await scripted([text("event: chunk\ndata: ###\n\nevent: chunk\ndata: AQID\n\n")]);
  const errors: { fatal: boolean; message: string }[] = [];
  const bytes = await new Promise<Uint8Array>((resolve) => {
    const noise = new Subscription("GET /noise", { len: 3, seed: 1 }, { baseUrl: server.url, transport: "fetch" })
      .on("chunk", (chunk) => { noise.close(); resolve(chunk); })
      .onError((error) => errors.push(error));
  });
  server.close();
  assert.deepEqual([...bytes], [1, 2, 3]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.fatal, false);
  assert.match(errors[0]!.message, /cannot decode the `chunk` event: Error: invalid base64/);
});

test("the backoff doubles on failures in a row and starts over after a connection opens", async () => {
  let connections = 0;
  const server = createServer((request, response) => {
    connections += 1;
    // Three refused connections (dropped before any answer), then a stream that breaks off
    // without the server's end, then one the server ends.
    if (connections <= 3) {
      request.socket.destroy();
      return;
    }
    const end = connections === 5 ? `event: tidings.end\ndata: {"reason":"handler_done","reconnect":true}\n\n` : "";
    const body = text(`event: tick\ndata: {"seq":${connections},"unix_ms":0}\n\n${end}`);
    response.writeHead(200, { "content-type": "text/event-stream", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const retries: { failures: number; delayMs: number }[] = [];
  const kinds: string[] = [];
  await new Promise<void>((resolve) => {
    const clock = new Subscription("GET /clock", {}, { baseUrl: `http://127.0.0.1:${port}`, transport: "fetch", retryMs: 40 })
      .onStatus((status, retry) => {
        if (retry) retries.push({ failures: retry.failures, delayMs: retry.delayMs });
      })
      .onError((error) => kinds.push(error.kind))
      .on("tick", (data) => {
        if (data.seq === 6) {
          clock.close();
          resolve();
        }
      });
  });
  server.close();
  assert.deepEqual(kinds, ["network", "network", "network", "network"]);
  // 40, 80, 160 ms while nothing opens; the break after an open waits 40 ms again, and so
  // does an end the server chose (no failure counted).
  assert.deepEqual(retries.map((r) => r.failures), [1, 2, 3, 1, 0]);
  const bases = [40, 80, 160, 40, 40];
  retries.forEach((retry, i) => {
    assert.ok(retry.delayMs >= bases[i]! && retry.delayMs <= bases[i]! * 1.25, `${i}: ${retry.delayMs} for ${bases[i]}`);
  });
});

test("a JSON request refused with 429 or 503 and Retry-After says how long to wait", async () => {
  const answers = [
    { status: 429, retryAfter: "2", expected: 2000 },
    { status: 503, retryAfter: "1", expected: 1000 },
    { status: 429, retryAfter: undefined, expected: undefined },
    { status: 404, retryAfter: "5", expected: undefined },
  ];
  let next = 0;
  const server = createServer((request, response) => {
    const { status, retryAfter } = answers[next++]!;
    const body = JSON.stringify({ title: "Refused", status, detail: "wait a little" });
    const headers: Record<string, string | number> = { "content-type": "application/problem+json", "content-length": body.length };
    if (retryAfter) headers["retry-after"] = retryAfter;
    response.writeHead(status, headers).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  for (const { status, expected } of answers) {
    await assert.rejects(
      request("GET /teams/{team}/notes", { team: "red" }, { baseUrl: `http://127.0.0.1:${port}` }),
      (error: unknown) => {
        assert.ok(error instanceof RequestError);
        assert.equal(error.status, status);
        assert.equal(error.retryAfterMs, expected, `status ${status}`);
        assert.equal(error.problem?.detail, "wait a little");
        return true;
      },
    );
  }
  server.close();
});
