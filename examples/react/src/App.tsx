// Two live components on tidings' generated hook: the clock's ticks, and the progress of a
// build started from the page. `?transport=fetch` switches both to the fetch transport.
import { useEffect, useRef, useState } from "react";
import type { ClockEvents, SubscriptionError, SubscriptionStatus } from "./client";
import { useSubscription } from "./react";

const transport = new URLSearchParams(location.search).get("transport") === "fetch" ? "fetch" : "eventsource";
/** Set by esbuild: `development` (React's checks, StrictMode's double mount) or `production`. */
declare const process: { env: { NODE_ENV: string } };

/** This page's address with the query parameter `name` set to `value` (or removed). */
function withParam(name: string, value: string | null): string {
  const params = new URLSearchParams(location.search);
  if (value === null) params.delete(name);
  else params.set(name, value);
  const query = params.toString();
  return query ? `?${query}` : location.pathname;
}

export function App() {
  return (
    <main style={{ fontFamily: "system-ui, sans-serif", maxWidth: "40rem", margin: "2rem auto" }}>
      <h1>tidings + React</h1>
      <p>
        Build: <b data-testid="build">{process.env.NODE_ENV}</b> (
        <a href={withParam("build", process.env.NODE_ENV === "production" ? null : "production")}>
          use the {process.env.NODE_ENV === "production" ? "development" : "production"} build
        </a>
        ) · Transport: <b data-testid="transport">{transport}</b> (
        <a href={withParam("transport", transport === "fetch" ? null : "fetch")}>
          use {transport === "fetch" ? "EventSource" : "fetch"}
        </a>
        )
      </p>
      <ClockCard />
      <SharedTicks />
      <BuildCard />
      <ServerStreams />
    </main>
  );
}

function ClockCard() {
  const [mounted, setMounted] = useState(true);
  const [intervalMs, setIntervalMs] = useState(500);
  return (
    <section>
      <h2>Clock</h2>
      <label>
        A tick every{" "}
        <select data-testid="clock-interval" value={intervalMs} onChange={(e) => setIntervalMs(Number(e.target.value))}>
          <option value={250}>250</option>
          <option value={500}>500</option>
          <option value={1000}>1000</option>
        </select>{" "}
        ms
      </label>{" "}
      <button data-testid="clock-toggle" onClick={() => setMounted((now) => !now)}>
        {mounted ? "Unmount" : "Mount"}
      </button>
      {mounted && <Clock intervalMs={intervalMs} />}
    </section>
  );
}

function Clock({ intervalMs }: { intervalMs: number }) {
  const [ticks, setTicks] = useState<Array<ClockEvents["tick"]>>([]);
  const [frozen, setFrozen] = useState(false);
  // A new input object and a new handler on every render (every tick): the input is equal by
  // value, so the stream stays, and the latest handler (which sees `frozen`) is the one called.
  const { status, last, error } = useSubscription("GET /clock", { interval_ms: intervalMs }, {
    transport,
    on: {
      tick: (tick) => {
        if (!frozen) setTicks((now) => [...now.slice(-9), tick]);
      },
    },
  });
  // The time of the latest tick: a `minute` event in between keeps it.
  const lastTick = useRef<ClockEvents["tick"] | undefined>(undefined);
  if (last?.event === "tick") lastTick.current = last.data;
  return (
    <div>
      <Status status={status} error={error} testId="clock-status" />
      <label>
        <input data-testid="clock-freeze" type="checkbox" checked={frozen} onChange={(e) => setFrozen(e.target.checked)} /> Freeze
        the list
      </label>
      <p data-testid="clock-time" style={{ fontSize: "2rem", margin: ".5rem 0" }}>
        {lastTick.current ? new Date(lastTick.current.unix_ms).toLocaleTimeString() : "--:--:--"}
      </p>
      <ol data-testid="clock-ticks" style={{ display: "flex", gap: ".5rem", listStyle: "none", padding: 0 }}>
        {ticks.map((tick, index) => (
          <li key={index}>{tick.seq}</li>
        ))}
      </ol>
    </div>
  );
}

/** Where the shared ticks stopped, kept across reloads of the page. */
const RESUME_KEY = "tidings-react-ticks";

/**
 * The hub's ticks, shared by every client and resumable: the page keeps the last tick's id
 * across reloads and resumes after it; where the server cannot (it restarted, or the ticks
 * left its window), the hook's `reset` says so.
 */
function SharedTicks() {
  const [resumed] = useState(() => {
    const saved = JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? "null") as { id: string; seq: number } | null;
    return saved;
  });
  const [seqs, setSeqs] = useState<number[]>([]);
  const { status, error, reset } = useSubscription("GET /ticks", {}, {
    transport,
    lastEventId: resumed?.id,
    on: {
      tick: ({ seq }, { id }) => {
        sessionStorage.setItem(RESUME_KEY, JSON.stringify({ id, seq }));
        setSeqs((now) => [...now.slice(-29), seq]);
      },
    },
  });
  return (
    <section>
      <h2>Shared ticks</h2>
      <p>
        One hub, ten ticks a second, each with an id. Reload the page: it resumes after the last tick it showed
        {resumed ? ` (this time after tick ${resumed.seq})` : ""}.
      </p>
      <Status status={status} error={error} testId="ticks-status" />
      {reset && (
        <p role="status" data-testid="ticks-reset" data-reason={reset.reason}>
          The server could not resume ({reset.reason}): ticks were missed. These are live from here on.
        </p>
      )}
      <p data-testid="ticks" data-resumed-after={resumed?.seq ?? ""} data-seqs={seqs.join(",")}>
        {seqs.length ? `Ticks ${seqs[0]} to ${seqs[seqs.length - 1]}` : "Waiting for the first tick"}
      </p>
    </section>
  );
}

function BuildCard() {
  const [build, setBuild] = useState<{ id: number; steps: number } | null>(null);
  const [steps, setSteps] = useState(40);
  const [stepMs, setStepMs] = useState(100);
  const [problem, setProblem] = useState("");

  async function start() {
    const response = await fetch("/builds", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ steps, step_ms: stepMs }),
    });
    if (!response.ok) {
      setProblem(await response.text());
      return;
    }
    const { id } = (await response.json()) as { id: number };
    setProblem("");
    setBuild({ id, steps });
  }

  return (
    <section>
      <h2>Build</h2>
      <label>
        Steps <input data-testid="build-steps" type="number" value={steps} onChange={(e) => setSteps(Number(e.target.value))} />
      </label>{" "}
      <label>
        ms each <input data-testid="build-step-ms" type="number" value={stepMs} onChange={(e) => setStepMs(Number(e.target.value))} />
      </label>{" "}
      <button data-testid="build-start" onClick={() => void start()}>
        Start a build
      </button>
      {problem && <p role="alert">{problem}</p>}
      {build && <BuildProgress key={build.id} id={build.id} steps={build.steps} />}
    </section>
  );
}

function BuildProgress({ id, steps }: { id: number; steps: number }) {
  // Every step as it came: a step lost or told twice over a reconnection would show here.
  const [received, setReceived] = useState<number[]>([]);
  const [tookMs, setTookMs] = useState<number | null>(null);
  const [paused, setPaused] = useState(false);
  const { status, last, error } = useSubscription("GET /builds/{id}/progress", { id }, {
    transport,
    // Paused, the stream is closed; resumed, it picks up after the last step it had. After
    // `done` the server marks the stream complete, and the hook closes it by itself.
    enabled: !paused,
    on: {
      step: ({ step }) => setReceived((now) => [...now, step]),
      done: ({ took_ms }) => setTookMs(took_ms),
    },
  });
  const lit = new Set(received);
  return (
    <div>
      <Status status={status} error={error} testId="build-status" />
      <label>
        <input
          data-testid="build-pause"
          type="checkbox"
          checked={paused}
          disabled={tookMs !== null}
          onChange={(e) => setPaused(e.target.checked)}
        />{" "}
        Pause watching
      </label>
      <div data-testid="build-bar" data-received={received.join(",")} style={{ display: "flex", gap: "1px", height: "1rem" }}>
        {Array.from({ length: steps }, (_, index) => (
          <span key={index} style={{ flex: 1, background: lit.has(index + 1) ? "#2a7" : "#ddd" }} />
        ))}
      </div>
      <p data-testid="build-caption">
        {tookMs !== null
          ? `Done in ${tookMs} ms`
          : last?.event === "step"
            ? `Step ${last.data.step} of ${last.data.steps}: ${last.data.stage}`
            : "Waiting for the first step"}
      </p>
    </div>
  );
}

function Status({ status, error, testId }: { status: SubscriptionStatus; error?: SubscriptionError; testId: string }) {
  const colors: Record<SubscriptionStatus, string> = { connecting: "#b80", open: "#2a7", reconnecting: "#b80", closed: "#888" };
  return (
    <p>
      <span data-testid={testId} style={{ color: colors[status] }}>
        {status}
      </span>
      {error && <small> (last error: {error.message})</small>}
    </p>
  );
}

/** What the server sees: its open streams per route (`GET /stats`), every second. */
function ServerStreams() {
  const [counts, setCounts] = useState<Record<string, { open: number; opened: number }>>({});
  useEffect(() => {
    const poll = () =>
      fetch("/stats")
        .then((response) => response.json())
        .then(setCounts, () => {});
    poll();
    const timer = setInterval(poll, 1000);
    return () => clearInterval(timer);
  }, []);
  return (
    <footer>
      <h2>What the server sees</h2>
      <ul>
        {Object.entries(counts).map(([route, { open, opened }]) => (
          <li key={route}>
            {route}: {open} open, {opened} opened since it started
          </li>
        ))}
      </ul>
    </footer>
  );
}
