//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (cargo feature `metrics`),
//! named and labelled as Prometheus users expect; pick any exporter, e.g.
//! `metrics-exporter-prometheus`. With the feature, every stream also ends with a `tracing`
//! event in a span of its own (route, peer, protocol, duration, events, bytes, end reason).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `tidings_streams_open` | gauge | `method`, `route` |
//! | `tidings_streams_opened_total` | counter | `method`, `route` |
//! | `tidings_streams_ended_total` | counter | `method`, `route`, `reason` |
//! | `tidings_events_sent_total` | counter | `method`, `route`, `event` |
//! | `tidings_sent_bytes_total` | counter | `method`, `route` |
//! | `tidings_heartbeats_total` | counter | `method`, `route` |
//! | `tidings_emit_wait_seconds` | histogram | `method`, `route` |
//! | `tidings_rejections_total` | counter | `status` |
//! | `tidings_hub_published_total` | counter | |
//! | `tidings_hub_subscribers` | gauge | |
//! | `tidings_hub_resumes_total` | counter | `outcome`: `resumed`, `reset_expired`, `reset_unknown` |
//! | `tidings_hub_lag_disconnects_total` | counter | |
//!
//! `route` is the route's pattern (`/jobs/{id}`), never the requested path, so that labels
//! stay few. `reason` is one of [`EndReason`]'s names. `tidings_emit_wait_seconds` records
//! only the emits that had to wait for room in the stream's buffer. `tidings_sent_bytes_total`
//! counts the event-stream text sent, before compression (feature `compression`).
//!
//! Handles are registered when the router is served: install the recorder before that.

/// Why a stream ended, as `tidings_streams_ended_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `client_left`: the client closed the connection or the stream.
    ClientLeft,
    /// `handler_done`: the handler returned.
    HandlerDone,
    /// `error`: the handler failed or panicked (the client got an `error` event).
    Error,
    /// `shutdown`: the server shut down.
    Shutdown,
    /// `lifetime`: `Router::max_stream_duration` was reached.
    Lifetime,
    /// `slow_consumer`: a hub subscriber fell too far behind and was disconnected.
    SlowConsumer,
    /// `complete`: the handler marked the stream complete ([`Emitter::complete`]) and
    /// returned; clients do not reconnect.
    ///
    /// [`Emitter::complete`]: crate::Emitter::complete
    Complete,
    /// `memory_budget`: the server's streams held as many bytes as
    /// [`Serve::max_queued_bytes`](crate::Serve::max_queued_bytes) allows, and this one was
    /// the slowest (its client had read nothing for the longest); its response was aborted.
    MemoryBudget,
}

impl EndReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientLeft => "client_left",
            EndReason::HandlerDone => "handler_done",
            EndReason::Error => "error",
            EndReason::Shutdown => "shutdown",
            EndReason::Lifetime => "lifetime",
            EndReason::SlowConsumer => "slow_consumer",
            EndReason::Complete => "complete",
            EndReason::MemoryBudget => "memory_budget",
        }
    }

    /// Whether a client should come back after a stream that ended so: every reason but
    /// [`Complete`](Self::Complete).
    pub fn reconnect(self) -> bool {
        self != EndReason::Complete
    }

    /// All of them, for encoding as a number.
    const ALL: [EndReason; 8] = [
        EndReason::ClientLeft,
        EndReason::HandlerDone,
        EndReason::Error,
        EndReason::Shutdown,
        EndReason::Lifetime,
        EndReason::SlowConsumer,
        EndReason::Complete,
        EndReason::MemoryBudget,
    ];

    /// 1 and up; 0 stands for "not known yet" where a reason is kept in an atomic.
    pub(crate) fn to_code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .map_or(0, |i| i as u8 + 1)
    }

    pub(crate) fn from_code(code: u8) -> Option<EndReason> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// What a hub subscriber's `Last-Event-ID` led to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ResumeOutcome {
    Resumed,
    ResetExpired,
    ResetUnknown,
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;

#[cfg(feature = "metrics")]
mod enabled {
    use super::*;
    use ::metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
    use std::time::Duration;

    /// The handles of one route, registered once.
    pub(crate) struct RouteMetrics {
        method: String,
        route: String,
        open: Gauge,
        opened: Counter,
        bytes: Counter,
        heartbeats: Counter,
        emit_wait: Histogram,
        events: Vec<(&'static str, Counter)>,
    }

    impl RouteMetrics {
        pub(crate) fn new(method: &str, route: &str, events: &[&'static str]) -> Self {
            let labels = [("method", method.to_owned()), ("route", route.to_owned())];
            RouteMetrics {
                method: method.to_owned(),
                route: route.to_owned(),
                open: gauge!("tidings_streams_open", &labels),
                opened: counter!("tidings_streams_opened_total", &labels),
                bytes: counter!("tidings_sent_bytes_total", &labels),
                heartbeats: counter!("tidings_heartbeats_total", &labels),
                emit_wait: histogram!("tidings_emit_wait_seconds", &labels),
                events: events
                    .iter()
                    .map(|&name| {
                        let counter = counter!(
                            "tidings_events_sent_total",
                            "method" => method.to_owned(),
                            "route" => route.to_owned(),
                            "event" => name
                        );
                        (name, counter)
                    })
                    .collect(),
            }
        }

        pub(crate) fn route(&self) -> &str {
            &self.route
        }

        pub(crate) fn stream_opened(&self) {
            self.opened.increment(1);
            self.open.increment(1.0);
        }

        pub(crate) fn stream_ended(&self, reason: EndReason) {
            self.open.decrement(1.0);
            counter!(
                "tidings_streams_ended_total",
                "method" => self.method.clone(),
                "route" => self.route.clone(),
                "reason" => reason.as_str()
            )
            .increment(1);
        }

        pub(crate) fn event_sent(&self, name: &str) {
            // Names are the enum's own `&'static str`s: a pointer comparison finds them.
            let found = self
                .events
                .iter()
                .find(|(known, _)| std::ptr::eq(*known, name) || *known == name);
            match found {
                Some((_, counter)) => counter.increment(1),
                // An error event or a hub's reset: not one of the enum's.
                None => counter!(
                    "tidings_events_sent_total",
                    "method" => self.method.clone(),
                    "route" => self.route.clone(),
                    "event" => name.to_owned()
                )
                .increment(1),
            }
        }

        pub(crate) fn bytes_sent(&self, bytes: usize) {
            self.bytes.increment(bytes as u64);
        }

        pub(crate) fn heartbeat(&self) {
            self.heartbeats.increment(1);
        }

        pub(crate) fn emit_waited(&self, waited: Duration) {
            self.emit_wait.record(waited.as_secs_f64());
        }
    }

    pub(crate) fn rejection(status: u16) {
        counter!("tidings_rejections_total", "status" => status.to_string()).increment(1);
    }

    pub(crate) fn hub_published(events: u64) {
        counter!("tidings_hub_published_total").increment(events);
    }

    pub(crate) fn hub_subscribers(change: f64) {
        gauge!("tidings_hub_subscribers").increment(change);
    }

    pub(crate) fn hub_resume(outcome: ResumeOutcome) {
        let outcome = match outcome {
            ResumeOutcome::Resumed => "resumed",
            ResumeOutcome::ResetExpired => "reset_expired",
            ResumeOutcome::ResetUnknown => "reset_unknown",
        };
        counter!("tidings_hub_resumes_total", "outcome" => outcome).increment(1);
    }

    pub(crate) fn hub_lag_disconnect() {
        counter!("tidings_hub_lag_disconnects_total").increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::*;

    /// Without the feature: nothing is registered or counted.
    pub(crate) struct RouteMetrics;

    impl RouteMetrics {
        pub(crate) fn new(_method: &str, _route: &str, _events: &[&'static str]) -> Self {
            RouteMetrics
        }
    }

    pub(crate) fn rejection(_status: u16) {}
    pub(crate) fn hub_published(_events: u64) {}
    pub(crate) fn hub_subscribers(_change: f64) {}
    pub(crate) fn hub_resume(_outcome: ResumeOutcome) {}
    pub(crate) fn hub_lag_disconnect() {}
}
