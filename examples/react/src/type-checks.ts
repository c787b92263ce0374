// Compile-time checks of the generated hook (`npm run check`, in CI): each
// `@ts-expect-error` fails the check if the line after it compiles.
import { useSubscription } from "./react";

export function TypeChecks() {
  const clock = useSubscription("GET /clock", { interval_ms: 500 }, {
    on: { tick: (tick) => tick.unix_ms.toFixed(), minute: ({ unix_minutes }) => unix_minutes + 1 },
  });
  if (clock.last?.event === "tick") clock.last.data.seq.toFixed();
  if (clock.last?.event === "minute") clock.last.data.unix_minutes.toFixed();
  // @ts-expect-error: a `minute` has no `seq`
  if (clock.last?.event === "minute") clock.last.data.seq;
  // The input may be left out when nothing in it is required.
  useSubscription("GET /clock");
  useSubscription("GET /builds/{id}/progress", { id: 1 }, { transport: "fetch", enabled: false });

  // @ts-expect-error: an unknown route
  useSubscription("GET /clocks", {});
  // @ts-expect-error: a parameter of the wrong type
  useSubscription("GET /clock", { interval_ms: "500" });
  // @ts-expect-error: a required parameter left out
  useSubscription("GET /builds/{id}/progress", {});
  // @ts-expect-error: the input is required when a parameter is
  useSubscription("GET /builds/{id}/progress");
  // @ts-expect-error: an event the route does not have
  useSubscription("GET /clock", {}, { on: { tock: () => {} } });
  useSubscription("GET /clock", {}, {
    // @ts-expect-error: a handler typed for another payload
    on: { tick: (tick: { percent: number }) => tick.percent },
  });
  const status: "connecting" | "open" | "reconnecting" | "closed" = clock.status;
  // @ts-expect-error: not a status
  const wrong: typeof clock.status = "done";
  return [status, wrong];
}
