// Processes a browser test starts itself: redis-server and example servers, on free loopback
// ports, each stopped by its PID when the test file ends.
import { after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const started = new Set<ChildProcess>();
after(() => {
  for (const child of started) child.kill("SIGKILL");
});

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on a free loopback port, without persistence. */
export async function startRedis(): Promise<{ port: number; url: string }> {
  const found = spawnSync("redis-server", ["--version"]);
  assert.ok(!found.error, "redis-server is missing: install it with `apt-get install redis-server`");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tidings-redis-"));
  const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: "ignore",
  });
  started.add(child);
  for (let i = 0; i < 100; i++) {
    if (spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout.trim() === "PONG") {
      return { port, url: `redis://127.0.0.1:${port}/` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`redis-server did not answer on port ${port}`);
}

/** A running example: its address, and how to stop it. */
export interface Example {
  url: string;
  /** Sends `signal` and waits for the process to exit. */
  stop: (signal: NodeJS.Signals) => Promise<void>;
}

/**
 * Starts the built example `name` (`target/debug/examples/NAME`, as `.ci/run` builds it) with
 * `env`, and waits for the address it prints.
 */
export async function startExample(name: string, env: Record<string, string>): Promise<Example> {
  const binary = join(process.env.CARGO_TARGET_DIR ?? "target", "debug", "examples", name);
  const child = spawn(binary, [], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  started.add(child);
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${name} example did not start: ${output}`)), 20_000);
    child.on("error", (error) => reject(new Error(`cannot run ${binary} (build it with \`cargo build --example ${name}\`): ${error.message}`)));
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /http:\/\/127\.0\.0\.1:[0-9]+/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[0]);
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    url,
    stop: async (signal) => {
      child.kill(signal);
      await exited;
      started.delete(child);
    },
  };
}
