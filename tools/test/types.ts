// Compiled, never run: what the generated client must refuse at compile time.
import { Subscription } from "../../examples/clock/client.js";

// @ts-expect-error: not a route
new Subscription("GET /nope");
// @ts-expect-error: `interval_ms` is a number
new Subscription("GET /clock", { interval_ms: "fast" });
// @ts-expect-error: `POST /alarms/{label}` needs its label and body
new Subscription("POST /alarms/{label}");
// @ts-expect-error: the path misses `label`
new Subscription("POST /alarms/{label}", { body: { in_ms: 10 } });
// @ts-expect-error: `tock` is not an event of the clock
new Subscription("GET /clock").on("tock", () => {});

new Subscription("GET /clock", { interval_ms: 500 }).on("tick", (data, meta) => {
  const seq: number = data.seq;
  const id: string = meta.id;
  // @ts-expect-error: a tick has no `label`
  void data.label;
  void [seq, id];
});
new Subscription("POST /alarms/{label}", { label: "tea", body: { in_ms: 10 } }).on("ring", (label) => {
  const text: string = label;
  void text;
});
new Subscription("GET /noise", { len: 3, seed: 1 })
  .on("chunk", (bytes) => {
    const first: number | undefined = bytes[0];
    // @ts-expect-error: base64 payloads arrive as bytes, not text
    const text: string = bytes;
    void [first, text];
  })
  .on("framed", (data) => {
    const bytes: Uint8Array = data.bytes;
    // @ts-expect-error: a base64 field is bytes too
    const text: string = data.bytes;
    void [bytes, text];
  });
// `onEvent` gets every event as one union, narrowed by its name.
new Subscription("GET /clock").onEvent((event) => {
  if (event.event === "tick") {
    const seq: number = event.data.seq;
    void seq;
  } else if (event.event === "minute") {
    const minutes: number = event.data.unix_minutes;
    // @ts-expect-error: a `minute` has no `seq`
    void event.data.seq;
    void minutes;
  }
});
// @ts-expect-error: not a status
const status: ReturnType<() => Subscription<"GET /clock">["status"]> = "done";
void status;
// tidings' own events are not the route's: they have handlers of their own.
// @ts-expect-error: `tidings.end` goes to `onEnd`
new Subscription("GET /clock").on("tidings.end", () => {});
// @ts-expect-error: `tidings.reset` goes to `onReset`
new Subscription("GET /clock").on("tidings.reset", () => {});
new Subscription("GET /clock")
  .onReset((reset) => {
    const latest: string | null = reset.latest;
    void latest;
  })
  .onEnd((end) => {
    const reconnect: boolean = end.reconnect;
    void reconnect;
  })
  .onStatus((status, retry) => {
    // @ts-expect-error: there is no retry outside `reconnecting` (it may be undefined)
    const delay: number = retry.delayMs;
    void [status, delay];
  })
  .onError((error) => {
    if (error.kind === "refused") {
      const detail: string | undefined = error.problem?.detail;
      void detail;
    }
    // @ts-expect-error: not a kind of failure
    void (error.kind === "timeout");
  });
