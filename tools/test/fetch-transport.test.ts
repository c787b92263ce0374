// The generated client's fetch transport against a server that is not tidings (node:http,
// one scripted answer per connection): the last event id outlives a connection, and a
// stream that starts with two byte-order marks loses its first line, as in browsers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Subscription } from "../../examples/clock/client.js";

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
