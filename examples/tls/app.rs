//! Many streams from one page: over HTTPS a browser speaks HTTP/2, and every `EventSource` of
//! an origin shares one connection; over plain HTTP/1.1 it opens at most six connections per
//! origin, and the seventh stream waits. Run it with `cargo run -p tidings-example-tls --example tls` and open both
//! printed addresses.
//!
//! `GET /streams` lists the streams open now, with the client address and protocol of each,
//! so that a test (or a curious person) can see how the browser connected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings::{
    Emitter, FromRequest, Query, Rejection, RequestContext, Router, State, Validate, event_stream,
};

/// What each stream says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Beat {
    /// One beat of stream `stream`, with how the server sees its connection.
    Beat {
        /// Which of the page's streams.
        stream: u32,
        /// Beats so far on this stream.
        n: u64,
        /// `HTTP/2.0` or `HTTP/1.1`.
        protocol: String,
        /// The client's address: one per connection.
        peer: String,
    },
}

/// Query of `/beats`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct BeatsQuery {
    /// Which of the page's streams this is.
    #[validate(range(max = 1000))]
    stream: u32,
}

/// One open stream, as `/streams` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OpenStream {
    /// The page's number for it.
    pub stream: u32,
    /// The client's address: one per connection.
    pub peer: String,
    /// `HTTP/2.0` or `HTTP/1.1`.
    pub protocol: String,
}

/// The streams open now.
#[derive(Debug, Clone, Default)]
pub struct Streams(Arc<Mutex<BTreeMap<u64, OpenStream>>>);

impl Streams {
    /// A snapshot, ordered by when each stream opened.
    pub fn list(&self) -> Vec<OpenStream> {
        self.0.lock().unwrap().values().cloned().collect()
    }
}

/// The client's address and protocol, for the list.
pub struct Connection {
    peer: SocketAddr,
    protocol: String,
}

impl FromRequest for Connection {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let peer = cx.peer_addr().ok_or_else(|| {
            Rejection::new(StatusCode::INTERNAL_SERVER_ERROR).detail("no client address")
        })?;
        Ok(Connection {
            peer,
            protocol: format!("{:?}", cx.parts().version),
        })
    }
}

/// Removes a stream from the list when its handler ends, however it ends.
struct Listed(Streams, u64);

impl Drop for Listed {
    fn drop(&mut self) {
        self.0.0.lock().unwrap().remove(&self.1);
    }
}

/// A beat every 250 ms for as long as the page stays.
#[event_stream(path = "/beats")]
pub async fn beats(
    State(streams): State<Streams>,
    Query(query): Query<BeatsQuery>,
    connection: Connection,
    events: Emitter<Beat>,
) -> tidings::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let listed = OpenStream {
        stream: query.stream,
        peer: connection.peer.to_string(),
        protocol: connection.protocol,
    };
    streams.0.lock().unwrap().insert(key, listed.clone());
    let _listed = Listed(streams, key);
    let mut every = tokio::time::interval(Duration::from_millis(250));
    for n in 0.. {
        tokio::select! {
            _ = every.tick() => {}
            _ = events.closed() => break,
        }
        events
            .emit(Beat::Beat {
                stream: query.stream,
                n,
                protocol: listed.protocol.clone(),
                peer: listed.peer.clone(),
            })
            .await?;
    }
    Ok(())
}

/// The stream routes, listing their streams in `streams`.
pub fn app(streams: Streams) -> Router {
    Router::new().route(beats).with_state(streams)
}

/// The page: twelve `EventSource`s to its own origin.
const PAGE: &str = include_str!("index.html");

/// The page as served on `https` and `http` (the two addresses, for links between them), with
/// `spki`, the base64 SHA-256 of a self-signed certificate's public key, if there is one.
pub fn page(https: &str, http: &str, spki: Option<&str>) -> String {
    let trust = match spki {
        Some(spki) => format!(
            "Its certificate is self-signed, made when the server started: a browser warns \
             before it opens the HTTPS page. For this local demo, go on past the warning \
             (\"Advanced\", then \"Proceed\"), or start Chromium with \
             <code>--ignore-certificate-errors-spki-list={spki}</code>, which trusts this one \
             certificate and no other. In production, give the server a real one \
             (<code>TLS_CERT</code> and <code>TLS_KEY</code>)."
        ),
        None => "Its certificate is the one in <code>TLS_CERT</code>.".to_owned(),
    };
    PAGE.replace("{{HTTPS}}", https)
        .replace("{{HTTP}}", http)
        .replace("{{TRUST}}", &trust)
}
