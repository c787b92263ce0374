// ---- tidings client runtime (generated; do not edit) ----

/**
 * What every route declares: its method, path, the query parameters, the text events, the
 * base64 events and the base64 fields of the others' data.
 */
interface RouteMeta {
  method: string;
  path: string;
  query: readonly string[];
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
  /** `eventsource` (default for GET routes) or `fetch` (needed for headers and bodies). */
  transport?: "eventsource" | "fetch";
  /** The EventSource implementation; defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
  /** Sends cookies cross-origin (EventSource `withCredentials`, fetch `credentials: "include"`). */
  withCredentials?: boolean;
  /** Headers for every (re)connection of the fetch transport, evaluated again each time. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** The fetch implementation; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Resume after this id. */
  lastEventId?: string;
  /** Reconnection delay until the server sends `retry:` (fetch transport), in ms. */
  retryMs?: number;
}

/** A failure: `fatal` ones (a non-200 answer, a wrong content type) end the subscription. */
export interface SubscriptionError {
  fatal: boolean;
  status?: number;
  message: string;
}

/**
 * Where a subscription is: before its first connection, connected, between two connections
 * (after a network error or the end of a stream), or ended (`close()` or a fatal error).
 */
export type SubscriptionStatus = "connecting" | "open" | "reconnecting" | "closed";

type Handler = (data: any, meta: { id: string; event: string }) => void;

function buildUrl(meta: RouteMeta, input: Record<string, unknown>, baseUrl: string): string {
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

class SubscriptionCore {
  protected handlers = new Map<string, Handler[]>();
  protected openHandlers: Array<() => void> = [];
  protected errorHandlers: Array<(error: SubscriptionError) => void> = [];
  protected statusHandlers: Array<(status: SubscriptionStatus) => void> = [];
  protected everyEventHandlers: Handler[] = [];
  protected closed = false;
  private currentStatus: SubscriptionStatus = "connecting";
  protected source: EventSourceLike | null = null;
  protected abort: AbortController | null = null;
  protected lastId: string;
  protected retryMs: number;

  constructor(
    protected meta: RouteMeta,
    protected input: Record<string, unknown>,
    protected options: SubscriptionOptions,
  ) {
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

  /** Called on every change of `status`. */
  onStatus(handler: (status: SubscriptionStatus) => void): this {
    this.statusHandlers.push(handler);
    return this;
  }

  /** Called on every (re)connection. */
  onOpen(handler: () => void): this {
    this.openHandlers.push(handler);
    return this;
  }

  /** Called on network errors (then it reconnects) and fatal answers (then it stops). */
  onError(handler: (error: SubscriptionError) => void): this {
    this.errorHandlers.push(handler);
    return this;
  }

  /** Stops receiving and closes the connection. */
  close(): void {
    this.setStatus("closed");
    this.closed = true;
    this.source?.close();
    this.abort?.abort();
  }

  protected listen(event: string, handler: Handler): void {
    const list = this.handlers.get(event) ?? [];
    list.push(handler);
    this.handlers.set(event, list);
  }

  protected listenToEvery(handler: Handler): void {
    this.everyEventHandlers.push(handler);
  }

  protected setStatus(status: SubscriptionStatus): void {
    // Nothing comes after `closed`: a late network callback must not revive it.
    if (status === this.currentStatus || this.currentStatus === "closed") return;
    this.currentStatus = status;
    for (const handler of this.statusHandlers) handler(status);
  }

  protected dispatch(event: string, data: string, id: string): void {
    this.lastId = id;
    let value: unknown;
    try {
      value = this.decode(event, data);
    } catch (error) {
      // A payload that does not decode is reported, and the stream goes on.
      this.fail({ fatal: false, message: `cannot decode the \`${event}\` event: ${error}` });
      return;
    }
    for (const handler of this.handlers.get(event) ?? []) handler(value, { id, event });
    for (const handler of this.everyEventHandlers) handler(value, { id, event });
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
    if (error.fatal) this.setStatus("closed");
    for (const handler of this.errorHandlers) handler(error);
  }

  private start(): void {
    if (this.closed) return;
    const bodyless = this.meta.method === "GET" && !("body" in this.input);
    const transport = this.options.transport ?? (bodyless ? "eventsource" : "fetch");
    if (transport === "eventsource") this.startEventSource();
    else void this.runFetch();
  }

  private url(): string {
    return buildUrl(this.meta, this.input, this.options.baseUrl ?? "");
  }

  private startEventSource(): void {
    const Source = this.options.EventSource ?? (globalThis as any).EventSource;
    if (!Source) {
      this.fail({ fatal: true, message: "no EventSource: pass one in the options, or use the fetch transport" });
      return;
    }
    let url = this.url();
    if (this.lastId) {
      // EventSource cannot set headers on the first request: the server reads this instead.
      url += (url.includes("?") ? "&" : "?") + "lastEventId=" + encodeURIComponent(this.lastId);
    }
    const source: EventSourceLike = new Source(url, { withCredentials: this.options.withCredentials ?? false });
    this.source = source;
    source.addEventListener("open", () => {
      this.setStatus("open");
      this.openHandlers.forEach((h) => h());
    });
    for (const event of this.meta.events) {
      if (event === "error") continue;
      source.addEventListener(event, (e: { data: string; lastEventId: string }) => this.dispatch(event, e.data, e.lastEventId));
    }
    source.addEventListener("error", (e: any) => {
      // The server's `error` event and a network error share the name; only the first has data.
      if (typeof e?.data === "string") {
        this.dispatch("error", e.data, e.lastEventId ?? this.lastId);
        return;
      }
      const fatal = source.readyState === 2;
      if (!fatal) this.setStatus("reconnecting");
      this.fail({ fatal, status: e?.code, message: e?.message ?? "the event stream failed" });
    });
  }

  private async runFetch(): Promise<void> {
    const doFetch = this.options.fetch ?? globalThis.fetch;
    while (!this.closed) {
      this.abort = new AbortController();
      const headers: Record<string, string> = {
        ...(this.options.headers ? await this.options.headers() : {}),
        accept: "text/event-stream",
        "cache-control": "no-cache",
      };
      if (this.lastId) headers["last-event-id"] = this.lastId;
      let body: string | undefined;
      if ("body" in this.input) {
        body = JSON.stringify(this.input.body);
        headers["content-type"] = "application/json";
      }
      try {
        const response = await doFetch(this.url(), {
          method: this.meta.method,
          headers,
          body,
          signal: this.abort.signal,
          credentials: this.options.withCredentials ? "include" : "same-origin",
        });
        const type = response.headers.get("content-type") ?? "";
        const retryAfter = response.headers.get("retry-after")?.trim() ?? "";
        if (response.status === 503 && /^[0-9]+$/.test(retryAfter)) {
          // Unavailable for now (a hub whose shared storage is down): wait as asked, retry.
          this.setStatus("reconnecting");
          this.fail({ fatal: false, status: 503, message: `the server is unavailable; retrying after ${retryAfter} s` });
          await new Promise((resolve) => setTimeout(resolve, Math.max(this.retryMs, Number(retryAfter) * 1000)));
          continue;
        }
        if (response.status !== 200 || !type.toLowerCase().startsWith("text/event-stream")) {
          const message = response.status === 204 ? "the server has no stream for this client"
            : response.status !== 200 ? `the server answered ${response.status}`
            : `not an event stream: ${type}`;
          this.fail({ fatal: true, status: response.status, message });
          return;
        }
        this.setStatus("open");
        this.openHandlers.forEach((h) => h());
        await this.read(response.body!);
      } catch (error) {
        if (this.closed) return;
        this.setStatus("reconnecting");
        this.fail({ fatal: false, message: String(error) });
      }
      if (this.closed) return;
      // The stream ended (or failed): come back after the server's `retry`, resuming.
      this.setStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }

  /** Reads one connection's body, dispatching its events as they complete. */
  private async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    // The id outlives the connection: an event without `id:` keeps the last id.
    const parser = new EventStreamParser(this.lastId);
    await readEventStream(stream, parser, (events) => {
      for (const { event, data, id } of events) this.dispatch(event, data, id);
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
