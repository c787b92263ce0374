// The generated client called from untyped code with a route key the server does not have:
// a subscription fails with a `setup` error (not a TypeError from deep inside), and a request
// rejects with a `RequestError` naming the key. No server is needed: nothing is sent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request, RequestError, Subscription, type SubscriptionError } from "../../examples/clock/client.js";

test("an unknown stream key is a fatal setup error, reported through onError", async () => {
  let fetched = false;
  const error = await new Promise<SubscriptionError>((resolve) => {
    new Subscription("GET /nowhere" as "GET /clock", {}, {
      transport: "fetch",
      fetch: async () => {
        fetched = true;
        throw new Error("nothing should be fetched");
      },
    }).onError(resolve);
  });
  assert.equal(error.kind, "setup");
  assert.equal(error.fatal, true);
  assert.match(error.message, /no streaming route "GET \/nowhere"/);
  assert.equal(fetched, false);
});

test("an unknown JSON route key rejects with a RequestError", async () => {
  const call = (request as (route: string) => Promise<unknown>)("POST /nowhere");
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof RequestError);
    assert.equal(error.status, undefined);
    assert.match(error.message, /no JSON route "POST \/nowhere"/);
    return true;
  });
});
