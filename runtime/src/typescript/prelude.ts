// ---- tidings client runtime (generated; do not edit) ----

/**
 * What every route declares: its method, path, the query parameters, the text events, the
 * base64 events and the base64 fields of the others' data.
 */
interface RouteMeta {
  method: string;
  path: string;
  query: readonly string[];
  /** It needs request headers (a header parameter, or authentication): fetch by default. */
  headers: boolean;
  text: readonly string[];
  binary: readonly string[];
  binaryFields: { readonly [event: string]: readonly string[] };
  events: readonly string[];
}

/** The EventSource constructor to use: the browser's, or a polyfill such as `eventsource`. */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: any) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

export interface SubscriptionOptions {
  /** Prepended to the route's path, e.g. `https://api.example.com`. Default: same origin. */
  baseUrl?: string;
  /**
   * `eventsource` or `fetch` (needed for headers and bodies). The default is `eventsource` for
   * `GET` routes that need no headers, `fetch` for the others (bodies, authentication).
   */
  transport?: "eventsource" | "fetch";
  /** The EventSource implementation; defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
  /** Sends cookies cross-origin (EventSource `withCredentials`, fetch `credentials: "include"`). */
  withCredentials?: boolean;
  /**
   * Headers for every (re)connection of the fetch transport, evaluated again each time. If it
   * throws (or its promise rejects), the failure is reported through `onError` and the
   * attempt is retried with backoff, like a network error.
   */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** The fetch implementation; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Resume after this id. */
  lastEventId?: string;
  /**
   * The base of the reconnection delay, in ms, until the server sends `retry:` (default
   * 1000). The fetch transport then uses the server's; the EventSource transport cannot see
   * it and keeps this one after a failure.
   */
  retryMs?: number;
  /** The longest wait between two attempts, however many failed in a row, in ms (default 30 000). */
  maxRetryMs?: number;
}

/** RFC 9457 problem details: what tidings answers when it refuses a request. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  /** Every rule the input broke, with where. */
  errors?: { location: "path" | "query" | "header" | "body"; path: string; rule: string; message: string }[];
  [field: string]: unknown;
}

/**
 * What went wrong:
 * - `network`: the server could not be reached, or the connection broke (reconnects);
 * - `unavailable`: `503` or `429` with `Retry-After` (reconnects after it);
 * - `refused`: any other answer but `200` (final);
 * - `protocol`: a `200` that is not an event stream (final);
 * - `failed`: the server's handler failed after the stream started, its `error` event
 *   (reconnects);
 * - `callback`: a function of yours threw: `headers` (that attempt is retried), an event,
 *   open, status, reset or end handler (the stream goes on);
 * - `decode`: an event's data did not decode (the stream goes on);
 * - `setup`: no EventSource or fetch to use (final).
 */
export type SubscriptionErrorKind =
  | "network"
  | "unavailable"
  | "refused"
  | "protocol"
  | "failed"
  | "callback"
  | "decode"
  | "setup";

/** A failure: `fatal` ones end the subscription; the others are retried or passed over. */
export interface SubscriptionError {
  kind: SubscriptionErrorKind;
  fatal: boolean;
  /** The HTTP status of a refusal (`refused`, `unavailable`). */
  status?: number;
  /** What happened, in words. */
  message: string;
  /** The server's problem details of a refusal, when it sent them (fetch transport). */
  problem?: Problem;
  /** The exception behind it, if any. */
  cause?: unknown;
}

/**
 * A `tidings.reset`: the server could not resume after the last event id (its history is
 * gone, or the id is from another one). Events from here on are live: refetch the state.
 */
export interface ResetInfo {
  /** `expired` (the events after the id left the window) or `unknown` (another history). */
  reason: string;
  /** The oldest event the server still has, if any. */
  oldest: string | null;
  /** The newest event the server has, if any. */
  latest: string | null;
}

/**
 * A `tidings.end`: the server ended the stream on purpose. With `reconnect`, the client comes
 * back (resuming); without, the stream is complete and the subscription closes.
 */
export interface EndInfo {
  /** `handler_done`, `complete`, `error`, `lifetime`, `shutdown`, `slow_consumer`, or
   * `no_content` for a `204` answer. */
  reason: string;
  reconnect: boolean;
}

/** The reconnection under way: how long it waits, and when the attempt will be made. */
export interface RetryInfo {
  /** The wait, in ms. */
  delayMs: number;
  /** When the next attempt starts (`Date.now()` time). */
  at: number;
  /** Failed attempts in a row so far (0 after an end the server chose). */
  failures: number;
}

/**
 * Where a subscription is: before its first connection, connected, between two connections
 * (after a failure or the end of a stream), or ended (`close()`, a fatal error, or a stream
 * the server marked complete).
 */
export type SubscriptionStatus = "connecting" | "open" | "reconnecting" | "closed";

type Handler = (data: any, meta: { id: string; event: string }) => void;

/** tidings' own events, read by the client itself. */
const END_EVENT = "tidings.end";
const RESET_EVENT = "tidings.reset";

function buildUrl(meta: { path: string; query: readonly string[] }, input: Record<string, unknown>, baseUrl: string): string {
  let path = meta.path.replace(/\{\*?([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) =>
    encodeURIComponent(String(input[name])),
  );
  const query = new URLSearchParams();
  for (const name of meta.query) {
    const value = input[name];
    if (value === undefined || value === null) continue;
    // Repeated keys for arrays, as the server's `Query` reads them.
    for (const item of Array.isArray(value) ? value : [value]) query.append(name, String(item));
  }
  const search = query.toString();
  return baseUrl + path + (search ? "?" + search : "");
}

/** Bytes from base64, standard or URL-safe, padded or not; throws on anything else. */
export function decodeBase64(text: string): Uint8Array {
  const unpadded = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded) || unpadded.length % 4 === 1) {
    throw new Error("invalid base64");
  }
  const binary = atob(unpadded + "=".repeat((4 - (unpadded.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The problem details of a refused answer, if its body is JSON. */
async function readProblem(response: Response): Promise<Problem | undefined> {
  if (!/json/i.test(response.headers.get("content-type") ?? "")) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  try {
    const value: unknown = await response.json();
    return value && typeof value === "object" ? (value as Problem) : undefined;
  } catch {
    return undefined;
  }
}

/** What every JSON route declares: its method, path, query parameters, and whether it reads a body. */
interface RequestMeta {
  method: string;
  path: string;
  query: readonly string[];
  body: boolean;
}

export interface RequestOptions {
  /** Prepended to the route's path, e.g. `https://api.example.com`. Default: same origin. */
  baseUrl?: string;
  /** Request headers, e.g. `{ authorization: "Bearer ..." }`, or a function that gives them. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** The fetch implementation; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Sends cookies cross-origin (`credentials: "include"`). */
  withCredentials?: boolean;
}

/**
 * A JSON route that did not answer with success: `status` is the HTTP status (none when the
 * server could not be reached), `problem` the server's problem details, if it sent them, and
 * `retryAfterMs` how long a `429` or `503` asked to wait before trying again (its
 * `Retry-After`).
 */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly problem: Problem | undefined,
    readonly cause?: unknown,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

async function sendRequest(
  route: string,
  meta: RequestMeta | undefined,
  input: Record<string, unknown>,
  options: RequestOptions,
): Promise<unknown> {
  if (meta === undefined) throw new RequestError(`no JSON route ${JSON.stringify(route)}`, undefined, undefined);
  const extra = typeof options.headers === "function" ? await options.headers() : options.headers ?? {};
  const headers: Record<string, string> = { accept: "application/json", ...extra };
  let body: string | undefined;
  if (meta.body) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(input.body);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetchImpl(buildUrl(meta, input, options.baseUrl ?? ""), {
      method: meta.method,
      headers,
      body,
      signal: options.signal,
      credentials: options.withCredentials ? "include" : "same-origin",
    });
  } catch (error) {
    throw new RequestError(`${route} failed: ${describe(error)}`, undefined, undefined, error);
  }
  if (!response.ok) {
    const problem = await readProblem(response);
    const what = problem?.detail ?? problem?.title ?? response.statusText;
    const retryAfter = response.headers.get("retry-after")?.trim() ?? "";
    const retryAfterMs = (response.status === 429 || response.status === 503) && /^[0-9]+$/.test(retryAfter)
      ? Number(retryAfter) * 1000
      : undefined;
    throw new RequestError(`${route} answered ${response.status}: ${what}`, response.status, problem, undefined, retryAfterMs);
  }
  if (response.status === 204) return undefined;
  try {
    return await response.json();
  } catch (error) {
    throw new RequestError(`${route} answered with a body that is not JSON`, response.status, undefined, error);
  }
}

/** What one attempt of the fetch transport came to. */
type Attempt = { stop: true } | { stop: false; failed: boolean; atLeastMs?: number };

class SubscriptionCore {
  protected handlers = new Map<string, Handler[]>();
  protected openHandlers: Array<() => void> = [];
  protected errorHandlers: Array<(error: SubscriptionError) => void> = [];
  protected statusHandlers: Array<(status: SubscriptionStatus, retry: RetryInfo | undefined) => void> = [];
  protected resetHandlers: Array<(reset: ResetInfo) => void> = [];
  protected endHandlers: Array<(end: EndInfo) => void> = [];
  protected everyEventHandlers: Handler[] = [];
  protected closed = false;
  private currentStatus: SubscriptionStatus = "connecting";
  protected source: EventSourceLike | null = null;
  protected abort: AbortController | null = null;
  protected lastId: string;
  protected retryMs: number;
  /** Failed attempts since the last successful open. */
  private failures = 0;
  private pendingRetry: RetryInfo | undefined;
  private attemptError: SubscriptionError | undefined;
  /** The `tidings.end` of the current connection, once it came. */
  private ending: EndInfo | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The route key named no route of the server (from untyped code). */
  private unknownRoute: boolean;
  private wake: (() => void) | undefined;

  protected meta: RouteMeta;

  constructor(
    private route: string,
    meta: RouteMeta | undefined,
    protected input: Record<string, unknown>,
    protected options: SubscriptionOptions,
  ) {
    this.unknownRoute = meta === undefined;
    this.meta = meta ?? { method: "GET", path: "", query: [], headers: false, text: [], binary: [], binaryFields: {}, events: [] };
    this.lastId = options.lastEventId ?? "";
    this.retryMs = options.retryMs ?? 1000;
    // Start once the caller had a chance to add handlers.
    queueMicrotask(() => this.start());
  }

  /** The id of the last event received: what a reconnection resumes after. */
  get lastEventId(): string {
    return this.lastId;
  }

  /** Where the subscription is now. */
  get status(): SubscriptionStatus {
    return this.currentStatus;
  }

  /** The reconnection under way while `status` is `reconnecting` (when it is known). */
  get retry(): RetryInfo | undefined {
    return this.pendingRetry;
  }

  /** The latest error of the current attempt; a successful open clears it. */
  get error(): SubscriptionError | undefined {
    return this.attemptError;
  }

  /**
   * Called on every change of `status`, and again while `reconnecting` whenever the next
   * attempt is scheduled (with its delay, e.g. to show "reconnecting in 4 s").
   */
  onStatus(handler: (status: SubscriptionStatus, retry: RetryInfo | undefined) => void): this {
    this.statusHandlers.push(handler);
    return this;
  }

  /** Called on every (re)connection. */
  onOpen(handler: () => void): this {
    this.openHandlers.push(handler);
    return this;
  }

  /** Called on every failure, with what went wrong (see `SubscriptionErrorKind`). */
  onError(handler: (error: SubscriptionError) => void): this {
    this.errorHandlers.push(handler);
    return this;
  }

  /**
   * Called when the server could not resume after the last event id (`tidings.reset`): events
   * were missed and cannot be replayed, so refetch the state. The one place a gap is reported.
   */
  onReset(handler: (reset: ResetInfo) => void): this {
    this.resetHandlers.push(handler);
    return this;
  }

  /** Called when the server ends a stream on purpose (`tidings.end`, or a `204` answer). */
  onEnd(handler: (end: EndInfo) => void): this {
    this.endHandlers.push(handler);
    return this;
  }

  /** Stops receiving and closes the connection. */
  close(): void {
    this.setStatus("closed");
    this.closed = true;
    this.source?.close();
    this.abort?.abort();
    clearTimeout(this.timer);
    this.wake?.();
  }

  protected listen(event: string, handler: Handler): void {
    const list = this.handlers.get(event) ?? [];
    list.push(handler);
    this.handlers.set(event, list);
  }

  protected listenToEvery(handler: Handler): void {
    this.everyEventHandlers.push(handler);
  }

  /** Runs a function of the caller's: what it throws is reported, and nothing else stops. */
  private call<A extends unknown[]>(what: string, handler: (...args: A) => void, ...args: A): void {
    try {
      handler(...args);
    } catch (error) {
      this.fail({ kind: "callback", fatal: false, message: `${what} threw: ${describe(error)}`, cause: error });
    }
  }

  protected setStatus(status: SubscriptionStatus, retry?: RetryInfo): void {
    // Nothing comes after `closed`: a late network callback must not revive it.
    if (this.currentStatus === "closed") return;
    if (status === this.currentStatus && retry === this.pendingRetry) return;
    this.currentStatus = status;
    this.pendingRetry = retry;
    for (const handler of this.statusHandlers) this.call("a status handler", handler, status, retry);
  }

  protected dispatch(event: string, data: string, id: string): void {
    this.lastId = id;
    if (event === END_EVENT || event === RESET_EVENT) {
      this.dispatchOwn(event, data);
      return;
    }
    let value: unknown;
    try {
      value = this.decode(event, data);
    } catch (error) {
      // A payload that does not decode is reported, and the stream goes on.
      this.fail({ kind: "decode", fatal: false, message: `cannot decode the \`${event}\` event: ${error}`, cause: error });
      return;
    }
    for (const handler of this.handlers.get(event) ?? []) {
      this.call(`the \`${event}\` handler`, handler, value, { id, event });
    }
    for (const handler of this.everyEventHandlers) this.call("the onEvent handler", handler, value, { id, event });
    if (event === "error") {
      const message = (value as { message?: unknown } | null)?.message;
      this.fail({
        kind: "failed",
        fatal: false,
        message: `the server's handler failed${typeof message === "string" ? `: ${message}` : ""}`,
      });
    }
  }

  /** `tidings.end` and `tidings.reset`: what the server says about the stream itself. */
  private dispatchOwn(event: string, data: string): void {
    let value: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(data);
      if (parsed && typeof parsed === "object") value = parsed as Record<string, unknown>;
    } catch {
      // Still an end or a reset: the fields default below.
    }
    const text = (field: unknown) => (typeof field === "string" ? field : null);
    if (event === RESET_EVENT) {
      const reset = { reason: text(value.reason) ?? "unknown", oldest: text(value.oldest), latest: text(value.latest) };
      for (const handler of this.resetHandlers) this.call("the onReset handler", handler, reset);
      return;
    }
    // Only an explicit `false` stops: an end the client cannot read is an end.
    const end = { reason: text(value.reason) ?? "", reconnect: value.reconnect !== false };
    this.ending = end;
    for (const handler of this.endHandlers) this.call("the onEnd handler", handler, end);
    // The stream is complete: close, without an error.
    if (!end.reconnect) this.close();
  }

  /** The event's payload: text, bytes from base64, or JSON (with its base64 fields as bytes). */
  private decode(event: string, data: string): unknown {
    if (this.meta.text.includes(event)) return data;
    if (this.meta.binary.includes(event)) return decodeBase64(data);
    const value = JSON.parse(data);
    for (const field of this.meta.binaryFields[event] ?? []) {
      if (typeof value?.[field] === "string") value[field] = decodeBase64(value[field]);
    }
    return value;
  }

  protected fail(error: SubscriptionError): void {
    this.attemptError = error;
    if (error.fatal) this.setStatus("closed");
    for (const handler of this.errorHandlers) {
      try {
        handler(error);
      } catch (thrown) {
        // Reporting it through `onError` again could loop: the console is the last resort.
        console.error("tidings: the onError handler threw", thrown);
      }
    }
  }

  /** A new connection: the end the server gave the last one is history. */
  private forgetEnd(): void {
    this.ending = undefined;
  }

  /** A connection opened: errors were this attempt's, and the backoff starts over. */
  private opened(): void {
    this.failures = 0;
    this.attemptError = undefined;
    this.forgetEnd();
    this.setStatus("open");
    for (const handler of this.openHandlers) this.call("the onOpen handler", handler);
  }

  /**
   * Schedules the next attempt: the server's `retry` (or `retryMs`) after an end the server
   * chose; after a failure, that doubled for each failure in a row since the last open, up to
   * `maxRetryMs`, plus up to a quarter of jitter, so that clients cut together come back
   * apart; at least `atLeastMs`. Returns the delay.
   */
  private scheduleRetry(failed: boolean, atLeastMs = 0): number {
    const base = this.retryMs;
    const cap = Math.max(this.options.maxRetryMs ?? 30_000, base);
    const backoff = failed ? Math.min(base * 2 ** Math.min(this.failures, 16), cap) : base;
    const wait = Math.max(backoff, atLeastMs);
    const delayMs = Math.round(wait + (failed ? Math.random() * wait * 0.25 : 0));
    if (failed) this.failures += 1;
    this.setStatus("reconnecting", { delayMs, at: Date.now() + delayMs, failures: this.failures });
    return delayMs;
  }

  /** Waits `ms`, or until `close()`. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private start(): void {
    if (this.closed) return;
    if (this.unknownRoute) {
      this.fail({ kind: "setup", fatal: true, message: `no streaming route ${JSON.stringify(this.route)}` });
      return;
    }
    const plain = this.meta.method === "GET" && !("body" in this.input) && !this.meta.headers;
    const transport = this.options.transport ?? (plain ? "eventsource" : "fetch");
    if (transport === "eventsource") this.startEventSource();
    else void this.runFetch();
  }

  private url(): string {
    return buildUrl(this.meta, this.input, this.options.baseUrl ?? "");
  }

  private startEventSource(): void {
    if (this.closed) return;
    const Source = this.options.EventSource ?? (globalThis as any).EventSource;
    if (!Source) {
      this.fail({ kind: "setup", fatal: true, message: "no EventSource: pass one in the options, or use the fetch transport" });
      return;
    }
    let url = this.url();
    if (this.lastId) {
      // EventSource cannot set headers on the first request: the server reads this instead.
      url += (url.includes("?") ? "&" : "?") + "lastEventId=" + encodeURIComponent(this.lastId);
    }
    this.forgetEnd();
    const source: EventSourceLike = new Source(url, { withCredentials: this.options.withCredentials ?? false });
    this.source = source;
    // Events of a source this subscription let go of are not its own any more.
    const current = () => this.source === source && !this.closed;
    source.addEventListener("open", () => {
      if (current()) this.opened();
    });
    for (const event of [...this.meta.events.filter((name) => name !== "error"), END_EVENT, RESET_EVENT]) {
      source.addEventListener(event, (e: { data: string; lastEventId: string }) => {
        if (current()) this.dispatch(event, e.data, e.lastEventId);
      });
    }
    source.addEventListener("error", (e: any) => {
      if (!current()) return;
      // The server's `error` event and a network error share the name; only the first has data.
      if (typeof e?.data === "string") {
        this.dispatch("error", e.data, e.lastEventId ?? this.lastId);
        return;
      }
      if (source.readyState === 2) {
        // The browser gave up for good: the answer was not `200`, or not an event stream.
        this.fail({
          kind: "refused",
          fatal: true,
          message:
            "the server refused the stream; its status and reason are hidden from EventSource " +
            "(use the fetch transport to see them)",
        });
        return;
      }
      const end = this.ending;
      this.ending = undefined;
      if (end && end.reason !== "error") {
        // An end the server chose: the browser comes back after the server's `retry`, with
        // `Last-Event-ID`. Not an error.
        this.setStatus("reconnecting");
        return;
      }
      // A failure: instead of the browser's fixed delay, back off, then open a new source
      // that resumes with `lastEventId`.
      source.close();
      if (!end) {
        const message = this.currentStatus === "open"
          ? "the connection broke before the server ended the stream"
          : "cannot reach the server";
        this.fail({ kind: "network", fatal: false, message });
      }
      const delay = this.scheduleRetry(true);
      this.timer = setTimeout(() => this.startEventSource(), delay);
    });
  }

  private async runFetch(): Promise<void> {
    const doFetch = this.options.fetch ?? globalThis.fetch;
    if (!doFetch) {
      this.fail({ kind: "setup", fatal: true, message: "no fetch: pass one in the options" });
      return;
    }
    while (!this.closed) {
      const attempt = await this.fetchOnce(doFetch);
      if (attempt.stop || this.closed) return;
      await this.sleep(this.scheduleRetry(attempt.failed, attempt.atLeastMs));
    }
  }

  /** One connection of the fetch transport, from its headers to the end of its body. */
  private async fetchOnce(doFetch: typeof fetch): Promise<Attempt> {
    const failed = (error: SubscriptionError, atLeastMs?: number): Attempt => {
      if (this.closed) return { stop: true };
      this.fail(error);
      return error.fatal ? { stop: true } : { stop: false, failed: true, atLeastMs };
    };
    this.abort = new AbortController();
    this.forgetEnd();
    let extra: Record<string, string> = {};
    try {
      extra = this.options.headers ? await this.options.headers() : {};
    } catch (error) {
      return failed({ kind: "callback", fatal: false, message: `the headers callback failed: ${describe(error)}`, cause: error });
    }
    const headers: Record<string, string> = { ...extra, accept: "text/event-stream", "cache-control": "no-cache" };
    if (this.lastId) headers["last-event-id"] = this.lastId;
    let body: string | undefined;
    if ("body" in this.input) {
      body = JSON.stringify(this.input.body);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    try {
      response = await doFetch(this.url(), {
        method: this.meta.method,
        headers,
        body,
        signal: this.abort.signal,
        credentials: this.options.withCredentials ? "include" : "same-origin",
      });
    } catch (error) {
      return failed({ kind: "network", fatal: false, message: `cannot reach the server: ${describe(error)}`, cause: error });
    }
    const type = response.headers.get("content-type") ?? "";
    const retryAfter = response.headers.get("retry-after")?.trim() ?? "";
    if ((response.status === 503 || response.status === 429) && /^[0-9]+$/.test(retryAfter)) {
      // Unavailable for now (a hub whose shared storage is down), or this client is over a
      // rate limit: wait as asked, retry.
      const problem = await readProblem(response);
      const reason = problem?.detail ? `: ${problem.detail}` : "";
      const what = response.status === 429 ? "too many requests" : "the server is unavailable";
      // When it retries is the status's `retry` (the page says "reconnecting in ..."), not
      // part of the reason.
      const message = `${what}${reason}`;
      return failed({ kind: "unavailable", fatal: false, status: response.status, message, problem }, Number(retryAfter) * 1000);
    }
    if (response.status === 204) {
      // Nothing for this client, on purpose: the stream is complete.
      this.dispatchOwn(END_EVENT, JSON.stringify({ reason: "no_content", reconnect: false }));
      return { stop: true };
    }
    if (response.status !== 200) {
      const problem = await readProblem(response);
      const title = problem?.title ? ` ${problem.title}` : "";
      const reason = problem?.detail ? `: ${problem.detail}` : "";
      const message = `the server refused the stream (${response.status}${title})${reason}`;
      return failed({ kind: "refused", fatal: true, status: response.status, message, problem });
    }
    if (!type.toLowerCase().startsWith("text/event-stream")) {
      await response.body?.cancel().catch(() => {});
      return failed({ kind: "protocol", fatal: true, status: 200, message: `not an event stream: ${type || "no content type"}` });
    }
    this.opened();
    try {
      await this.read(response.body!);
    } catch (error) {
      if (this.closed) return { stop: true };
      // Cut after the server's end: the end counts, not the cut.
      if (this.ending) return { stop: false, failed: this.ending.reason === "error" };
      return failed({ kind: "network", fatal: false, message: `the connection broke: ${describe(error)}`, cause: error });
    }
    if (this.closed) return { stop: true };
    if (!this.ending) {
      return failed({ kind: "network", fatal: false, message: "the connection closed before the server ended the stream" });
    }
    // The server ended it and asks the client back: after its `retry`, unless it failed.
    return { stop: false, failed: this.ending.reason === "error" };
  }

  /** Reads one connection's body, dispatching its events as they complete. */
  private async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    // The id outlives the connection: an event without `id:` keeps the last id.
    const parser = new EventStreamParser(this.lastId);
    await readEventStream(stream, parser, (events) => {
      for (const { event, data, id } of events) {
        if (this.closed) return;
        this.dispatch(event, data, id);
      }
      // An event without data moves the last id too.
      this.lastId = parser.lastEventId;
      if (parser.retry !== undefined) this.retryMs = parser.retry;
    });
  }
}

/** One event as the WHATWG algorithm dispatches it. */
export interface RawEvent {
  /** The event type: `message` unless the stream named it. */
  event: string;
  /** The data lines joined by `\n`. */
  data: string;
  /** The last event id at this event. */
  id: string;
}

/**
 * The WHATWG "Interpreting an event stream" algorithm, fed decoded text as it arrives: lines
 * end at CRLF, LF or a lone CR (also split across chunks); `:` lines are comments; an `id`
 * holding NUL is ignored; `retry` counts when all digits; a partial event is never dispatched.
 * The leading BOM is the decoder's business (`TextDecoder` drops one).
 */
export class EventStreamParser {
  /** The last event id: the one a reconnection sends, and an event without `id:` keeps. */
  lastEventId: string;
  /** The reconnection time of the last valid `retry:` field, in ms. */
  retry: number | undefined;
  private line = "";
  private skipLf = false;
  private data = "";
  private event = "";
  private id: string;

  constructor(lastEventId = "") {
    this.lastEventId = lastEventId;
    this.id = lastEventId;
  }

  /** Feeds the next text of the stream; returns the events it completed. */
  feed(text: string): RawEvent[] {
    const events: RawEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const char = text[i];
      if (char !== "\r" && char !== "\n") continue;
      const skip = this.skipLf && i === 0 && char === "\n";
      this.skipLf = false;
      if (!skip) {
        this.line += text.slice(start, i);
        this.processLine(events);
      }
      if (char === "\r") {
        if (text[i + 1] === "\n") i++;
        else if (i + 1 === text.length) this.skipLf = true;
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.skipLf = false;
      this.line += text.slice(start);
    }
    return events;
  }

  private processLine(events: RawEvent[]): void {
    const line = this.line;
    this.line = "";
    if (line === "") {
      this.lastEventId = this.id;
      if (this.data !== "") events.push({ event: this.event || "message", data: this.data.slice(0, -1), id: this.id });
      this.data = "";
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data += value + "\n";
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value);
  }
}

/**
 * Reads an event stream body to its end: UTF-8 (sequences split across chunks kept whole; one
 * leading BOM dropped, a second one spoils the first line, as in browsers) through `parser`,
 * calling `onEvents` after each chunk with the events it completed.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  parser: EventStreamParser,
  onEvents: (events: RawEvent[]) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onEvents(parser.feed(decoder.decode(value, { stream: true })));
  }
}
