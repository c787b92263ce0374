// The generated client's fetch transport against Chromium's own EventSource, byte for byte:
// a server that is not tidings (node:http) sends the same tricky streams, in chunks split
// where they hurt, to both in the same page, and they must dispatch the same events with the
// same ids. No example needed: the test serves the page and the compiled client itself.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { launch, open } from "./browser.js";

const text = (s: string) => Array.from(new TextEncoder().encode(s));
const BOM = [0xef, 0xbb, 0xbf];

/** Each case: its chunks (sent 20 ms apart) and the event names to listen to. */
const cases: { name: string; chunks: number[][]; names: string[] }[] = [
  { name: "two BOMs spoil the first line", chunks: [[...BOM, ...BOM, ...text("event: a\ndata: 1\n\ndata: 2\n\n")]], names: ["a"] },
  { name: "one BOM split across chunks", chunks: [[0xef], [0xbb], [0xbf, ...text("event: a\ndata: 1\n\n")]], names: ["a"] },
  { name: "CR, LF and CRLF, CR ending a chunk", chunks: [text("data: a\r"), text("\ndata: b\r\n\r\n"), text("data:c\rdata:  d\n\n")], names: [] },
  { name: "CR only", chunks: [text("event: a\rdata: 1\r\rdata: 2\r"), text("\r")], names: ["a"] },
  { name: "ids: empty, NUL, without data", chunks: [text("id: 1\ndata: a\n\nid\ndata: b\n\nid: x\0y\ndata: c\n\nid: 2\n\ndata: d\n\n")], names: [] },
  { name: "retry, unknown fields, spaced names, empty data lines", chunks: [text("retry: 12a\nretry\nfoo: bar\n data: spaced\ndata\ndata\n\n")], names: [] },
  { name: "the event type is reset after each dispatch", chunks: [text("event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n")], names: ["a", "b"] },
  { name: "UTF-8 split inside sequences, and invalid bytes", chunks: [[...text("data: é€"), 0xf0, 0x9f], [0x98, 0x80, 0xff, ...text("\n\n")]], names: [] },
  { name: "comments and colons", chunks: [text(":c\n:\ndata:x\n\ndata::y\n\ndata: a\0b\n\n")], names: [] },
  { name: "names with spaces and colons", chunks: [text("event:  a\ndata: z\n\nevent: b:c\ndata: w\n\n")], names: [" a", "b:c"] },
  { name: "a partial event at the end is dropped", chunks: [text("data: done\n\ndata: partial")], names: [] },
  { name: "a long line in many chunks", chunks: Array.from({ length: 40 }, (_, i) => text(i === 0 ? "data: " : i === 39 ? "end\n\n" : "x".repeat(997))), names: [] },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const client = await readFile(new URL("../../examples/clock/client.js", import.meta.url), "utf8");
const server = createServer(async (request, response) => {
  const path = request.url ?? "/";
  if (path === "/client.js") {
    response.writeHead(200, { "content-type": "text/javascript" }).end(client);
    return;
  }
  const match = /^\/case\/(\d+)/.exec(path);
  const chosen = match ? cases[Number(match[1])] : undefined;
  if (!chosen) {
    response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>conformance</title>");
    return;
  }
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const chunk of chosen.chunks) {
    response.write(Uint8Array.from(chunk));
    await sleep(20);
  }
  response.end();
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const browser = await launch();
after(async () => {
  await browser.close();
  server.close();
});
const { page, errors } = await open(browser, origin + "/");

interface Seen { event: string; data: string; id: string }

for (const [index, { name, names }] of cases.entries()) {
  test(`the fetch transport dispatches what Chromium's EventSource dispatches: ${name}`, async () => {
    const { native, transport } = await page.evaluate(
      async ({ index, names }) => {
        const url = `/case/${index}`;
        const native = await new Promise<Seen[]>((resolve, reject) => {
          const seen: Seen[] = [];
          const source = new EventSource(url);
          const timer = setTimeout(() => reject(new Error("the stream did not end within 10 s")), 10_000);
          for (const type of ["message", ...names]) {
            source.addEventListener(type, (e) => {
              const message = e as MessageEvent<string>;
              seen.push({ event: message.type, data: message.data, id: message.lastEventId });
            });
          }
          // The end of the stream: EventSource would reconnect, the test stops it.
          source.addEventListener("error", () => {
            clearTimeout(timer);
            source.close();
            resolve(seen);
          });
        });
        const module = "/client.js";
        const { EventStreamParser, readEventStream } = await import(module);
        const response = await fetch(url);
        const transport: Seen[] = [];
        await readEventStream(response.body, new EventStreamParser(), (events: Seen[]) => transport.push(...events));
        return { native, transport };
      },
      { index, names },
    );
    assert.ok(native.length > 0, "the browser saw events");
    assert.deepEqual(transport, native);
  });
}

test("the page had no errors", () => {
  assert.deepEqual(errors, []);
});
