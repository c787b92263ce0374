//! What a subscription yields: [`Update`]s of the events it decodes ([`Receive`]), or a
//! [`ClientError`].

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::SCHEMES;
use super::parser::{ParseError, RawEvent};
use crate::event::{DecodeError, END_EVENT, ERROR_EVENT, EventSet, RESET_EVENT};

/// What a subscription receives, with events of `E`. More kinds may come: match with a `_` arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Update<E> {
    /// An event of the stream's set.
    Event {
        /// The last event id at this event (hub streams give each event one).
        id: Option<String>,
        /// The decoded event.
        event: E,
    },
    /// The server could not resume from the last event id: refetch the state. The data is
    /// `{"reason": ..., "oldest": ..., "latest": ...}`.
    Reset {
        /// The reset's data.
        data: serde_json::Value,
    },
    /// The handler failed after the stream started (the `error` event); the client
    /// reconnects as usual.
    Failed {
        /// The error event's data: `{"message": ...}` by default; data that is not JSON
        /// comes as a JSON string of the text as it was sent.
        data: serde_json::Value,
        /// The last event id at this event.
        id: Option<String>,
    },
    /// The server ended the stream on purpose (its `tidings.end` event), rather than the
    /// connection breaking. With `reconnect`, the client comes back after the server's
    /// `retry`, resuming, as after any end; without it the handler marked the stream complete
    /// ([`Emitter::complete`](crate::Emitter::complete)) and this is the subscription's last
    /// update.
    Ended {
        /// Why, as the server says it: `handler_done`, `complete`, `error`, `lifetime`,
        /// `shutdown` or `slow_consumer` (see [`EndReason`](crate::metrics::EndReason)).
        reason: String,
        /// Whether the client reconnects.
        reconnect: bool,
    },
    /// A comment line of the stream (`:` and one following space removed), such as a
    /// heartbeat. Only with [`comments`](super::Subscribe::comments).
    Comment(String),
    /// A connection opened: `200`, an event stream. Only with
    /// [`report_connections`](super::Subscribe::report_connections).
    Connected,
    /// A connection ended or failed, and the client tries again after `delay`. Only with
    /// [`report_connections`](super::Subscribe::report_connections).
    Retrying {
        /// What happened.
        reason: String,
        /// How long until the next attempt (the server's `retry`, backoff and jitter).
        delay: Duration,
    },
}

/// The problem details (RFC 9457) of a refusal: what a tidings server answers when it does not
/// start a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// A short summary.
    #[serde(default)]
    pub title: Option<String>,
    /// What went wrong with this request.
    #[serde(default)]
    pub detail: Option<String>,
    /// Every problem with the request's input: where, which field, which rule.
    #[serde(default)]
    pub errors: Vec<ProblemItem>,
}

/// One problem with a request's input.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct ProblemItem {
    /// `path`, `query`, `header` or `body`.
    #[serde(default)]
    pub location: String,
    /// The field, e.g. `items[2].name`; empty for the whole input.
    #[serde(default)]
    pub path: String,
    /// The rule broken.
    #[serde(default)]
    pub rule: String,
    /// What is wrong, for people.
    #[serde(default)]
    pub message: String,
}

/// Why a subscription failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// Not an `http://host/...` URL (or `https://`, with the `client-tls` feature).
    Url(String),
    /// The request body could not be serialized.
    Body(serde_json::Error),
    /// An event could not be decoded; the subscription goes on.
    Decode(DecodeError),
    /// The server answered `204 No Content`: it has nothing for this client. Final.
    NoContent,
    /// The server answered another status than `200`, with its problem details when it sent
    /// them (`application/problem+json`, as tidings does): why, and which fields. Final.
    Status(StatusCode, Option<Box<Problem>>),
    /// The response is not `text/event-stream`. Final.
    ContentType(Option<String>),
    /// The response is compressed with an encoding this client cannot decode (its
    /// `Content-Encoding`): any, without the `compression` feature. Final.
    ContentEncoding(String),
    /// The stream sent a line or an event larger than
    /// [`max_event_bytes`](super::Subscribe::max_event_bytes); the client reconnects and resumes.
    Parse(ParseError),
    /// A redirect that cannot be followed: no `Location`, a URL of another scheme, or more
    /// than ten in a row. Final.
    Redirect(String),
    /// The last event id holds characters a header cannot carry (controls): the client
    /// reconnected without `Last-Event-ID`, so the server could not resume. Not final.
    LastEventId(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(url) => {
                write!(f, "`{url}` is not a URL of ")?;
                f.write_str(&SCHEMES.join(":// or "))?;
                f.write_str("://")
            }
            ClientError::Body(error) => write!(f, "cannot serialize the request body: {error}"),
            ClientError::ContentEncoding(encoding) => write!(
                f,
                "the stream is compressed with {encoding}, which this client cannot decode \
                 (tidings' `compression` feature decodes zstd, br, gzip and deflate)"
            ),
            ClientError::Decode(error) => error.fmt(f),
            ClientError::NoContent => f.write_str("the server has no stream for this client (204)"),
            ClientError::Status(status, problem) => {
                write!(f, "the server answered {status}")?;
                match problem
                    .as_ref()
                    .and_then(|p| p.detail.as_ref().or(p.title.as_ref()))
                {
                    Some(why) => write!(f, ": {why}"),
                    None => Ok(()),
                }
            }
            ClientError::ContentType(kind) => {
                write!(
                    f,
                    "the response is not an event stream: content-type {kind:?}"
                )
            }
            ClientError::Parse(error) => error.fmt(f),
            ClientError::Redirect(why) => write!(f, "cannot follow the redirect: {why}"),
            ClientError::LastEventId(id) => write!(
                f,
                "the last event id {id:?} cannot be sent as a header: reconnected without it"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// What a subscription's events are decoded into: an `#[event_stream]` enum, or
/// [`RawEvent`] for any server.
///
/// With an enum, the stream is taken to be a tidings stream: its `error` event is the
/// handler's failure ([`Update::Failed`]), `tidings.reset` asks to refetch
/// ([`Update::Reset`]) and `tidings.end` is the server's end of the stream ([`Update::Ended`]). With [`RawEvent`], every event is an [`Update::Event`] as the server
/// sent it, whatever its name: `error` is an ordinary event name elsewhere.
pub trait Receive: Sized + Send + 'static {
    /// The update one dispatched event makes.
    fn receive(raw: RawEvent) -> Result<Update<Self>, ClientError>;
}

impl<E: EventSet> Receive for E {
    fn receive(raw: RawEvent) -> Result<Update<E>, ClientError> {
        // Data that is not JSON is kept as the text it was, not lost.
        let json = |data: String| match serde_json::from_str(&data) {
            Ok(value) => value,
            Err(_) => serde_json::Value::String(data),
        };
        let id = (!raw.last_event_id.is_empty()).then_some(raw.last_event_id);
        match raw.event.as_str() {
            RESET_EVENT => Ok(Update::Reset {
                data: json(raw.data),
            }),
            ERROR_EVENT => Ok(Update::Failed {
                data: json(raw.data),
                id,
            }),
            END_EVENT => {
                let data = json(raw.data);
                Ok(Update::Ended {
                    reason: data["reason"].as_str().unwrap_or_default().to_owned(),
                    // Only an explicit `false` stops: an end the client cannot read is an end.
                    reconnect: data["reconnect"].as_bool() != Some(false),
                })
            }
            name => E::decode(name, &raw.data)
                .map(|event| Update::Event { id, event })
                .map_err(ClientError::Decode),
        }
    }
}

impl Receive for RawEvent {
    fn receive(raw: RawEvent) -> Result<Update<RawEvent>, ClientError> {
        let id = (!raw.last_event_id.is_empty()).then(|| raw.last_event_id.clone());
        Ok(Update::Event { id, event: raw })
    }
}
