// The dashboard example on Redis, in a real browser: two instances share one Redis stream
// (instance B publishes, instance A only serves). The page's EventSource goes through a tiny
// loopback proxy, first to A; A is then killed (SIGKILL) and the proxy sends new connections
// to B. The browser reconnects on its own with Last-Event-ID, and the samples it shows must be
// exactly the stream's, from its first to its last: none lost, none twice.
// Run by .ci/run with DASHBOARD_A_URL, DASHBOARD_A_PID (started by .ci/run), DASHBOARD_B_URL
// and REDIS_PORT set.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type Socket } from "node:net";
import { execFileSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { launch, open } from "./browser.js";

const env = (name: string) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set`);
  return value;
};
const hostPort = (url: string) => {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
};

/** Forwards each new connection to the current upstream; `switchTo` changes it. */
async function proxy(first: string): Promise<{ url: string; switchTo: (url: string) => void; close: () => void }> {
  let upstream = hostPort(first);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const target = connect(upstream);
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        target.destroy();
      });
    }
    client.pipe(target);
    target.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    switchTo: (url) => {
      upstream = hostPort(url);
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** The ids of the Redis stream, oldest first. */
function streamIds(): string[] {
  const output = execFileSync("redis-cli", ["-p", env("REDIS_PORT"), "XRANGE", "tidings:dashboard", "-", "+"], {
    encoding: "utf8",
  });
  return output.split("\n").filter((line) => /^\d+-\d+$/.test(line.trim())).map((line) => line.trim());
}

test("the page follows instance A's death to instance B and loses no sample", async () => {
  const a = env("DASHBOARD_A_URL");
  const b = env("DASHBOARD_B_URL");
  // Each instance answers 503 until its Redis loop reads; a browser's EventSource would not
  // retry that, so wait for both first.
  for (const url of [a, b]) {
    for (let tries = 0; ; tries++) {
      const controller = new AbortController();
      const response = await fetch(url + "/metrics", { signal: controller.signal }).catch(() => null);
      controller.abort();
      if (response?.status === 200) break;
      assert.ok(tries < 100, `${url} serves /metrics`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const through = await proxy(a);
  const browser = await launch();
  after(async () => {
    await browser.close();
    through.close();
  });
  const { page, errors } = await open(browser, through.url + "/");
  const count = () => page.evaluate(() => (window as unknown as { sampleIds: string[] }).sampleIds.length);
  await page.waitForFunction(() => (window as unknown as { sampleIds: string[] }).sampleIds.length >= 5, undefined, {
    timeout: 15_000,
  });

  through.switchTo(b);
  process.kill(Number(env("DASHBOARD_A_PID")), "SIGKILL");
  const before = await count();
  // The EventSource notices, waits its retry time (samples keep coming meanwhile), and
  // reconnects through the proxy to B with its Last-Event-ID.
  await page.waitForFunction(
    (before) => (window as unknown as { sampleIds: string[] }).sampleIds.length >= before + 15,
    before,
    { timeout: 30_000 },
  );
  const seen = await page.evaluate(() => (window as unknown as { sampleIds: string[] }).sampleIds);
  const stream = streamIds();
  const start = stream.indexOf(seen[0]!);
  assert.ok(start >= 0, `the first sample ${seen[0]} is in the stream`);
  assert.deepEqual(seen, stream.slice(start, start + seen.length), "every sample of the stream, once, in order");
  // A's death is in the middle: samples came from both instances.
  assert.ok(before >= 5 && seen.length >= before + 15);
  // The reconnection shows in the console as a failed request at most; nothing else.
  assert.deepEqual(errors.filter((error) => !error.includes("net::ERR")), []);
});
