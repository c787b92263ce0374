// Two live components on tidings' generated hook: the clock's ticks, and the progress of a
// build started from the page. `?transport=fetch` switches both to the fetch transport.
import { useEffect, useRef, useState } from "react";
import type { ClockEvents, RetryInfo, SubscriptionError, SubscriptionStatus } from "./client";
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
    <main>
      <header>
        <h1>tidings + React</h1>
        <p>
          Live components on the <code>useSubscription</code> hook that tidings generates from the server's routes:
          typed events, one stream per mounted component, reconnection and resume handled by the hook.
        </p>
        <p className="options">
          <span>
            Build: <b data-testid="build">{process.env.NODE_ENV}</b> (
            <a href={withParam("build", process.env.NODE_ENV === "production" ? null : "production")}>
              use the {process.env.NODE_ENV === "production" ? "development" : "production"} build
            </a>
            )
          </span>
          <span>
            Transport: <b data-testid="transport">{transport}</b> (
            <a href={withParam("transport", transport === "fetch" ? null : "fetch")}>
              use {transport === "fetch" ? "EventSource" : "fetch"}
            </a>
            )
          </span>
        </p>
      </header>
      <div className="cards">
        <ClockCard />
        <SharedTicks />
        <BuildCard />
      </div>
      <ServerStreams />
    </main>
  );
}

function ClockCard() {
  const [mounted, setMounted] = useState(true);
  const [intervalMs, setIntervalMs] = useState(500);
  return (
    <section className="card">
      <h2>Clock</h2>
      <p className="muted">
        <code>GET /clock</code>: a stream per component, with its input. Changing the interval opens a new stream;
        unmounting closes it.
      </p>
      <div className="controls">
        <label>
          A tick every{" "}
          <select data-testid="clock-interval" value={intervalMs} onChange={(e) => setIntervalMs(Number(e.target.value))}>
            <option value={250}>250 ms</option>
            <option value={500}>500 ms</option>
            <option value={1000}>1 s</option>
          </select>
        </label>
        <button data-testid="clock-toggle" onClick={() => setMounted((now) => !now)}>
          {mounted ? "Unmount the clock" : "Mount the clock"}
        </button>
      </div>
      {mounted ? <Clock intervalMs={intervalMs} /> : <p className="muted">Unmounted: no stream is open.</p>}
    </section>
  );
}

function Clock({ intervalMs }: { intervalMs: number }) {
  const [ticks, setTicks] = useState<Array<ClockEvents["tick"]>>([]);
  const [frozen, setFrozen] = useState(false);
  // A new interval is a new stream, whose ticks count from 0 again: start a new list.
  const [listedFor, setListedFor] = useState(intervalMs);
  if (listedFor !== intervalMs) {
    setListedFor(intervalMs);
    setTicks([]);
  }
  // A new input object and a new handler on every render (every tick): the input is equal by
  // value, so the stream stays, and the latest handler (which sees `frozen`) is the one called.
  const { status, last, error, retry } = useSubscription("GET /clock", { interval_ms: intervalMs }, {
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
      <Status status={status} error={error} retry={retry} testId="clock-status" />
      <p data-testid="clock-time" className="time">
        {lastTick.current ? new Date(lastTick.current.unix_ms).toLocaleTimeString() : "--:--:--"}
      </p>
      <label>
        <input data-testid="clock-freeze" type="checkbox" checked={frozen} onChange={(e) => setFrozen(e.target.checked)} /> Freeze
        the list below (the time above goes on)
      </label>
      <p className="muted">
        <small id="clock-ticks-label">The last ten ticks of this stream, by sequence number:</small>
      </p>
      <ol data-testid="clock-ticks" className="seqs" aria-labelledby="clock-ticks-label">
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
  const { status, error, reset, retry } = useSubscription("GET /ticks", {}, {
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
    <section className="card">
      <h2>Shared ticks</h2>
      <p className="muted">
        <code>GET /ticks</code>: one hub, ten ticks a second, each with an id. Reload the page: it resumes after the last tick
        it showed{resumed ? ` (this time after tick ${resumed.seq})` : ""}.
      </p>
      <Status status={status} error={error} retry={retry} testId="ticks-status" />
      {reset && (
        <p role="status" className="note" data-testid="ticks-reset" data-reason={reset.reason}>
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
    <section className="card">
      <h2>Build</h2>
      <p className="muted">
        <code>POST /builds</code> starts one; <code>GET /builds/{"{id}"}/progress</code> tells every step. Pause watching
        and resume: no step is lost or told twice.
      </p>
      <div className="controls">
        <label>
          Steps <input data-testid="build-steps" type="number" value={steps} onChange={(e) => setSteps(Number(e.target.value))} />
        </label>
        <label>
          Milliseconds a step{" "}
          <input data-testid="build-step-ms" type="number" value={stepMs} onChange={(e) => setStepMs(Number(e.target.value))} />
        </label>
        <button className="primary" data-testid="build-start" onClick={() => void start()}>
          Start a build
        </button>
      </div>
      {problem && <p role="alert">The server refused the build: {problem}.</p>}
      {!build && !problem && <p className="muted">No build yet.</p>}
      {build && <BuildProgress key={build.id} id={build.id} steps={build.steps} />}
    </section>
  );
}

function BuildProgress({ id, steps }: { id: number; steps: number }) {
  // Every step as it came: a step lost or told twice over a reconnection would show here.
  const [received, setReceived] = useState<number[]>([]);
  const [tookMs, setTookMs] = useState<number | null>(null);
  const [paused, setPaused] = useState(false);
  const { status, last, error, retry } = useSubscription("GET /builds/{id}/progress", { id }, {
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
      <div className="controls">
        <b>Build {id}</b>
        <Status status={status} error={error} retry={retry} testId="build-status" />
        {/* After `done` there is nothing left to pause: the control goes (disabled, for the tests' sake). */}
        <label hidden={tookMs !== null}>
          <input
            data-testid="build-pause"
            type="checkbox"
            checked={paused}
            disabled={tookMs !== null}
            onChange={(e) => setPaused(e.target.checked)}
          />{" "}
          Pause watching
        </label>
      </div>
      <div className="steps" data-testid="build-bar" data-received={received.join(",")} aria-label={`${received.length} of ${steps} steps`}>
        {Array.from({ length: steps }, (_, index) => (
          <span key={index} className={lit.has(index + 1) ? "lit" : undefined} />
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

/**
 * The examples' connection badge (styled by /assets/look.css): the hook's status, when the next
 * try is while reconnecting, and the last error in words.
 */
function Status({ status, error, retry, testId }: { status: SubscriptionStatus; error?: SubscriptionError; retry?: RetryInfo; testId: string }) {
  const [, setNow] = useState(0);
  // While a retry is pending, count down to it.
  useEffect(() => {
    if (!retry) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [retry]);
  const seconds = retry ? Math.max(0, Math.ceil((retry.at - Date.now()) / 1000)) : 0;
  return (
    <span className="controls">
      <span className="badge" data-state={status === "closed" && error ? "error" : status} data-testid={testId}>
        {status}
      </span>
      {retry && seconds > 0 && <small>next try in {seconds} s</small>}
      {error && <small>last error: {error.message}</small>}
    </span>
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
    <footer className="server">
      <h2>What the server sees</h2>
      <p className="muted">
        <code>GET /stats</code>, every second: the streams open per route. Each mounted component holds one; StrictMode's
        double mount in the development build opens and closes one more.
      </p>
      <table>
        <thead>
          <tr>
            <th>Route</th>
            <th>Open now</th>
            <th>Opened since the server started</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(counts).map(([route, { open, opened }]) => (
            <tr key={route}>
              <td>{route}</td>
              <td>{open}</td>
              <td>{opened}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </footer>
  );
}
