// ---- tidings React hook (generated; do not edit) ----
// `react` (18 or later) is a peer dependency of this module only: the client module it
// imports stays free of it.

import { useEffect, useRef, useState } from "react";
import {
  Subscription,
  type EndInfo,
  type EventHandlers,
  type ResetInfo,
  type RetryInfo,
  type RouteEvent,
  type RouteInput,
  type RouteKey,
  type SubscriptionError,
  type SubscriptionOptions,
  type SubscriptionStatus,
} from "./client";

/** The options of `useSubscription`: those of a `Subscription`, handlers, and a switch. */
export interface UseSubscriptionOptions<K extends RouteKey> extends SubscriptionOptions {
  /** A handler per event name, given the event's typed payload. The latest ones are called. */
  on?: EventHandlers<K>;
  /** Called when the server could not resume and events were missed (`tidings.reset`): the
   * place to refetch the state. The latest one is called. */
  onReset?: (reset: ResetInfo) => void;
  /** Called when the server ends a stream on purpose (`tidings.end`). The latest one is called. */
  onEnd?: (end: EndInfo) => void;
  /** `false` closes the stream (status `closed`, `last` kept) until it is `true` again;
   * default `true`. */
  enabled?: boolean;
}

/** What `useSubscription` returns, updated as the stream goes. */
export interface SubscriptionState<K extends RouteKey> {
  /** `connecting`, then `open`; `reconnecting` between connections; `closed` at the end. */
  status: SubscriptionStatus;
  /** The latest event (`{ event, data, id }`, typed per event), until the route or input change. */
  last: RouteEvent<K> | undefined;
  /** The latest error of the current attempt, cleared when a connection opens; a fatal one
   * (a refusal) also sets `status` to `closed`. */
  error: SubscriptionError | undefined;
  /** While `reconnecting`: the wait and when the next attempt starts, when known. */
  retry: RetryInfo | undefined;
  /** The latest `tidings.reset` of this stream: events before it were missed. */
  reset: ResetInfo | undefined;
}

type HookArgs<K extends RouteKey> = {} extends RouteInput<K>
  ? [input?: RouteInput<K>, options?: UseSubscriptionOptions<K>]
  : [input: RouteInput<K>, options?: UseSubscriptionOptions<K>];

/**
 * Subscribes the component to `route` while it is mounted: one stream per mounted hook.
 *
 * - The stream is opened after mount and closed on unmount, so the server sees the client
 *   leave. StrictMode's extra mount and unmount open no connection of their own.
 * - `input` and the connection options (`baseUrl`, `transport`, `withCredentials`,
 *   `lastEventId`, `retryMs`, `maxRetryMs`) are compared by value: a re-render with equal ones keeps the
 *   stream, a change closes it and opens a new one.
 * - Handlers (`on`, `headers`) may change on every render without reconnecting.
 * - Reconnections resume after the last event's id (`Last-Event-ID`), on both transports; so
 *   does the stream when `enabled` turns `true` again. Where the server could not resume,
 *   `reset` says so (and `onReset` is called): events were missed, refetch the state.
 * - Failures back off (see `SubscriptionOptions.maxRetryMs`); `retry` says when the next
 *   attempt is, and `error` what failed, until a connection opens again.
 */
export function useSubscription<K extends RouteKey>(
  route: K,
  ...[input, options]: HookArgs<K>
): SubscriptionState<K> {
  const enabled = options?.enabled ?? true;
  const latest = useRef(options);
  // Runs before the subscription's effect below, and events arrive after effects.
  useEffect(() => {
    latest.current = options;
  });
  const stream = connectionKey(route, input, options);
  const [state, setState] = useState<SubscriptionState<K>>(() => ({
    status: enabled ? "connecting" : "closed",
    last: undefined,
    error: undefined,
    retry: undefined,
    reset: undefined,
  }));
  // The stream whose events `state` holds: another one starts from nothing.
  const shown = useRef(stream);

  useEffect(() => {
    const status = enabled ? "connecting" : "closed";
    // Enabled again on the same stream, the hook resumes after the latest event it had (this
    // render's `state`: the effect runs only when `stream` or `enabled` change).
    const resumeAfter = shown.current === stream ? state.last?.id : undefined;
    if (shown.current !== stream) {
      shown.current = stream;
      setState({ status, last: undefined, error: undefined, retry: undefined, reset: undefined });
    } else {
      // Disabled, the latest event stays: the stream is closed, not gone.
      setState((now) => (now.status === status ? now : { ...now, status, retry: undefined }));
    }
    if (!enabled) return;
    let mounted = true;
    const { on: _on, onReset: _onReset, onEnd: _onEnd, enabled: _enabled, headers, ...connection } = options ?? {};
    const settings: SubscriptionOptions = {
      ...connection,
      lastEventId: resumeAfter || connection.lastEventId,
      // The latest `headers`, evaluated on every reconnection.
      headers: headers && (() => latest.current?.headers?.() ?? {}),
    };
    // The subscription connects in a microtask: StrictMode's unmount closes it before that.
    const subscription = new (Subscription as new (
      route: K,
      input: RouteInput<K> | undefined,
      options: SubscriptionOptions,
    ) => Subscription<K>)(route, input, settings)
      .onStatus((status, retry) => {
        if (!mounted) return;
        setState((now) =>
          now.status === status && now.retry === retry
            ? now
            : // Errors belong to the attempt that made them: an open connection clears them.
              { ...now, status, retry, error: status === "open" ? undefined : now.error },
        );
      })
      .onError((error) => {
        if (mounted) setState((now) => ({ ...now, error }));
      })
      .onReset((reset) => {
        if (!mounted) return;
        latest.current?.onReset?.(reset);
        setState((now) => ({ ...now, reset }));
      })
      .onEnd((end) => {
        if (mounted) latest.current?.onEnd?.(end);
      })
      .onEvent((event) => {
        if (!mounted) return;
        const handler = latest.current?.on?.[event.event] as
          | ((data: unknown, meta: { id: string; event: string }) => void)
          | undefined;
        handler?.(event.data, { id: event.id, event: event.event });
        setState((now) => ({ ...now, last: event }));
      });
    return () => {
      mounted = false;
      subscription.close();
    };
    // `stream` stands for `route`, `input` and the connection options, compared by value.
  }, [stream, enabled]);

  return state;
}

/** What identifies a stream: the route, its input and the connection options, by value. */
function connectionKey(route: string, input: unknown, options: SubscriptionOptions | undefined): string {
  const { baseUrl, transport, withCredentials, lastEventId, retryMs, maxRetryMs } = options ?? {};
  return stableJson([route, input ?? {}, { baseUrl, transport, withCredentials, lastEventId, retryMs, maxRetryMs }]);
}

/** JSON with object keys sorted, so that equal values give equal text. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_, item: unknown) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}
