//! One subscription's task: connect, follow redirects, parse, deliver, wait, reconnect.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use tokio::sync::{Notify, mpsc};

use super::decode::Decoder;
use super::parser::{Parsed, Parser};
use super::update::{ClientError, Problem, Receive, Update};
use super::{SCHEMES, Subscribe};

/// How a connection ended.
enum Ended {
    /// Reconnect; `progressed` when it delivered at least one event.
    Retry { progressed: bool, reason: String },
    /// Reconnect after at least `after`: the server said when (`503` with `Retry-After`).
    RetryAfter { after: Duration, reason: String },
    /// Stop for good.
    Stop,
    /// The caller asked for a new connection now.
    Restart,
}

type Sender<E> = mpsc::Sender<Result<Update<E>, ClientError>>;

pub(super) async fn run<E: Receive>(config: Subscribe<E>, tx: Sender<E>, restart: Arc<Notify>) {
    let mut parser = Parser::new(config.max_event_bytes, config.max_event_bytes);
    if let Some(id) = &config.last_event_id {
        parser.set_last_event_id(id.clone());
    }
    let mut failures = 0u32;
    loop {
        let ended = tokio::select! {
            ended = connect(&config, &mut parser, &tx) => ended,
            _ = restart.notified() => Ended::Restart,
            _ = tx.closed() => return,
        };
        let (reason, at_least) = match ended {
            Ended::Stop => return,
            Ended::Restart => {
                parser.reconnect();
                continue;
            }
            Ended::Retry { progressed, reason } => {
                failures = if progressed {
                    0
                } else {
                    failures.saturating_add(1)
                };
                (reason, Duration::ZERO)
            }
            Ended::RetryAfter { after, reason } => {
                failures = failures.saturating_add(1);
                (reason, after)
            }
        };
        let base = parser.retry().map_or(config.retry, Duration::from_millis);
        let delay = base
            .saturating_mul(1 << failures.min(16))
            .min(config.max_backoff.max(base))
            .max(at_least);
        let delay = delay + jitter(delay);
        if config.report_connections {
            let retrying = Update::Retrying { reason, delay };
            if tx.send(Ok(retrying)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = restart.notified() => {}
            _ = tx.closed() => return,
        }
        parser.reconnect();
    }
}

/// Up to a quarter of `delay`, so that clients cut together do not come back together.
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let quarter = delay.as_nanos() as u64 / 4;
    Duration::from_nanos(if quarter == 0 { 0 } else { nanos % quarter })
}

/// Where a connection's request goes: the subscription's own, or where redirects led.
struct Target {
    uri: Uri,
    method: Method,
    body: Bytes,
    /// Whether the body (and its content type) still go: not after a redirect to `GET`.
    with_body: bool,
}

/// The most redirects one connection follows, as browsers do.
const MAX_REDIRECTS: usize = 10;

async fn connect<E: Receive>(config: &Subscribe<E>, parser: &mut Parser, tx: &Sender<E>) -> Ended {
    let mut target = Target {
        uri: config.uri.clone(),
        method: config.method.clone(),
        body: config.body.clone(),
        with_body: true,
    };
    let mut hops = 0;
    let response = loop {
        let (request, unsent_id) = request(config, &target, parser);
        // Said once per connection, not once per redirect.
        if let Some(error) = unsent_id
            && hops == 0
            && tx.send(Err(error)).await.is_err()
        {
            return Ended::Stop;
        }
        let response = match config.http.request(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(uri = %target.uri, %error, "event stream connection failed");
                return Ended::Retry {
                    progressed: false,
                    reason: format!("the connection failed: {error}"),
                };
            }
        };
        match redirect(&response, &target) {
            None => break response,
            Some(Ok(next)) if hops < MAX_REDIRECTS => {
                hops += 1;
                target = next;
            }
            Some(Ok(next)) => {
                let error = format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {})",
                    next.uri
                );
                let _ = tx.send(Err(ClientError::Redirect(error))).await;
                return Ended::Stop;
            }
            Some(Err(error)) => {
                let _ = tx.send(Err(ClientError::Redirect(error))).await;
                return Ended::Stop;
            }
        }
    };
    if let Some(after) = retry_after(&response) {
        return Ended::RetryAfter {
            after,
            reason: format!(
                "the server is unavailable ({}) and asked to retry after {after:?}",
                response.status()
            ),
        };
    }
    let final_error = match response.status() {
        StatusCode::OK => None,
        StatusCode::NO_CONTENT => Some(ClientError::NoContent),
        status => {
            let problem = read_problem(response).await;
            let _ = tx.send(Err(ClientError::Status(status, problem))).await;
            return Ended::Stop;
        }
    };
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let final_error = final_error.or_else(|| {
        let essence = content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .map(str::trim);
        (!essence.is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream")))
            .then(|| ClientError::ContentType(content_type.clone()))
    });
    if let Some(error) = final_error {
        let _ = tx.send(Err(error)).await;
        return Ended::Stop;
    }

    let mut decoder = match Decoder::for_response(response.headers()) {
        Ok(decoder) => decoder,
        Err(encoding) => {
            let _ = tx.send(Err(ClientError::ContentEncoding(encoding))).await;
            return Ended::Stop;
        }
    };
    if config.report_connections && tx.send(Ok(Update::Connected)).await.is_err() {
        return Ended::Stop;
    }
    let mut body = response.into_body();
    let mut parsed = Vec::new();
    let mut progressed = false;
    loop {
        let next = match config.read_timeout {
            Some(limit) => match tokio::time::timeout(limit, body.frame()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::debug!(uri = %config.uri, "event stream silent: reconnecting");
                    return Ended::Retry {
                        progressed,
                        reason: format!("no byte for {limit:?}"),
                    };
                }
            },
            None => body.frame().await,
        };
        let chunk = match next {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(error)) => {
                tracing::debug!(uri = %config.uri, %error, "event stream broke");
                return Ended::Retry {
                    progressed,
                    reason: format!("the stream broke: {error}"),
                };
            }
            None => {
                return Ended::Retry {
                    progressed,
                    reason: "the server ended the stream".to_owned(),
                };
            }
        };
        let mut input = &chunk[..];
        while !input.is_empty() {
            let (taken, rest) = input.split_at(decoder.step(input.len()));
            input = rest;
            let decoded = match decoder.decode(taken) {
                Ok(decoded) => decoded,
                Err(error) => {
                    tracing::debug!(uri = %config.uri, %error, "event stream corrupt");
                    return Ended::Retry {
                        progressed,
                        reason: format!("the compressed stream is corrupt: {error}"),
                    };
                }
            };
            let text = decoded.as_deref().unwrap_or(taken);
            if let Some(ended) =
                deliver(config, parser, tx, text, &mut parsed, &mut progressed).await
            {
                return ended;
            }
        }
    }
}

/// Parses `text` of the stream and sends what it holds; `Some` when the connection ends.
async fn deliver<E: Receive>(
    config: &Subscribe<E>,
    parser: &mut Parser,
    tx: &Sender<E>,
    text: &[u8],
    parsed: &mut Vec<Parsed>,
    progressed: &mut bool,
) -> Option<Ended> {
    // The events before an oversized one still count; the client resumes after them.
    let result = if config.comments {
        parser.feed_all(text, parsed)
    } else {
        parser.feed_events(text, parsed)
    };
    for item in parsed.drain(..) {
        let update = match item {
            Parsed::Event(raw) => {
                *progressed = true;
                E::receive(raw)
            }
            Parsed::Comment(text) => Ok(Update::Comment(text)),
        };
        // The handler marked the stream complete: nothing more will come.
        let complete = matches!(
            update,
            Ok(Update::Ended {
                reconnect: false,
                ..
            })
        );
        if tx.send(update).await.is_err() || complete {
            return Some(Ended::Stop);
        }
    }
    if let Err(error) = result {
        if tx.send(Err(ClientError::Parse(error))).await.is_err() {
            return Some(Ended::Stop);
        }
        return Some(Ended::Retry {
            progressed: *progressed,
            reason: error.to_string(),
        });
    }
    None
}

/// The problem details of a refusal, when its body is JSON: read up to 64 KiB, for at most
/// 5 s (a refusal that streams forever must not hold the subscription).
async fn read_problem(response: http::Response<hyper::body::Incoming>) -> Option<Box<Problem>> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
    if !is_json {
        return None;
    }
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024);
    let bytes = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    serde_json::from_slice(&bytes).ok().map(Box::new)
}

/// How long a `503 Service Unavailable` or a `429 Too Many Requests` asks to wait
/// (`Retry-After` in seconds, at most an hour); `None` for other answers, and for one that
/// does not say, which stays final as in browsers.
fn retry_after<B>(response: &http::Response<B>) -> Option<Duration> {
    if !matches!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        return None;
    }
    let seconds: u64 = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

/// The request of one connection to `target`, and the error to report when the last event id
/// could not go in a header.
fn request<E>(
    config: &Subscribe<E>,
    target: &Target,
    parser: &Parser,
) -> (Request<Full<Bytes>>, Option<ClientError>) {
    let body = if target.with_body {
        target.body.clone()
    } else {
        Bytes::new()
    };
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = target.method.clone();
    *request.uri_mut() = target.uri.clone();
    let headers = request.headers_mut();
    headers.extend(config.fixed_headers.clone());
    if let Some(extra) = &config.headers {
        headers.extend(extra());
    }
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    #[cfg(feature = "compression")]
    headers
        .entry(http::header::ACCEPT_ENCODING)
        .or_insert(HeaderValue::from_static(super::decode::ACCEPT_ENCODING));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !target.with_body {
        headers.remove(CONTENT_TYPE);
    } else if !headers.contains_key(CONTENT_TYPE) {
        match &config.content_type {
            Some(content_type) => {
                headers.insert(CONTENT_TYPE, content_type.clone());
            }
            None if target.method == Method::POST => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            None => {}
        }
    }
    let last_event_id = parser.last_event_id();
    if !last_event_id.is_empty() {
        // UTF-8 as it is, as browsers send it; control characters cannot be sent at all.
        match HeaderValue::from_bytes(last_event_id.as_bytes()) {
            Ok(value) => {
                headers.insert(HeaderName::from_static("last-event-id"), value);
            }
            Err(_) => {
                let error = ClientError::LastEventId(last_event_id.to_owned());
                return (request, Some(error));
            }
        }
    }
    (request, None)
}

/// Where a redirect leads (`None` when the response is not one; `Err` when it cannot be
/// followed). As fetch does: `307` and `308` keep the method and body, `303` (and `301`/`302`
/// after a `POST`) turn into a `GET` without a body.
fn redirect<B>(response: &http::Response<B>, target: &Target) -> Option<Result<Target, String>> {
    let status = response.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let Some(location) = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
    else {
        return Some(Err(format!("a {status} redirect without a Location")));
    };
    let next = url::Url::parse(&target.uri.to_string())
        .and_then(|base| base.join(location.trim()))
        .ok()
        .filter(|next| SCHEMES.contains(&next.scheme()))
        .and_then(|next| next.as_str().parse::<Uri>().ok());
    let Some(uri) = next else {
        return Some(Err(format!(
            "a {status} redirect to `{location}`, which is not a URL this client speaks"
        )));
    };
    let to_get = status == 303 && target.method != Method::HEAD
        || matches!(status, 301 | 302) && target.method == Method::POST;
    Some(Ok(Target {
        uri,
        method: if to_get {
            Method::GET
        } else {
            target.method.clone()
        },
        with_body: target.with_body && !to_get,
        body: target.body.clone(),
    }))
}
