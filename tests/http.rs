//! HTTP behaviour over real sockets: headers on HTTP/1.1 and HTTP/2, routing, extraction,
//! error answers, malformed requests.

use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde::Deserialize;
use tidings::{Emitter, Path, Query, Router, Validate, event_stream};
use tidings_tests::{RawResponse, TestServer, h2_get};

#[event_stream]
#[derive(Debug, Clone)]
enum Echo {
    /// What the handler saw of the request.
    Seen { text: String },
}

#[event_stream(path = "/hello")]
async fn hello(events: Emitter<Echo>) -> tidings::Result<()> {
    events.emit(Echo::Seen { text: "hi".into() }).await?;
    Ok(())
}

#[event_stream(path = "/users/{user}/jobs/{id}")]
async fn job(Path((user, id)): Path<(String, u32)>, events: Emitter<Echo>) -> tidings::Result<()> {
    events
        .emit(Echo::Seen {
            text: format!("{user}/{id}"),
        })
        .await?;
    Ok(())
}

#[event_stream(path = "/single/{id}")]
async fn single(Path(id): Path<u64>, events: Emitter<Echo>) -> tidings::Result<()> {
    events
        .emit(Echo::Seen {
            text: (id * 2).to_string(),
        })
        .await?;
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema, Validate)]
struct ItemPath {
    id: u64,
}

#[event_stream(path = "/items/{id}")]
async fn item(Path(path): Path<ItemPath>, events: Emitter<Echo>) -> tidings::Result<()> {
    events
        .emit(Echo::Seen {
            text: path.id.to_string(),
        })
        .await?;
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema, Validate)]
struct Search {
    #[validate(length(min = 2, max = 5))]
    q: String,
    #[validate(range(min = 1, max = 10))]
    limit: Option<u8>,
    #[serde(default)]
    tag: Vec<String>,
}

#[event_stream(path = "/search")]
async fn search(Query(search): Query<Search>, events: Emitter<Echo>) -> tidings::Result<()> {
    let text = format!("{}:{:?}:{}", search.q, search.limit, search.tag.join(","));
    events.emit(Echo::Seen { text }).await?;
    Ok(())
}

#[event_stream(path = "/resume")]
async fn resume(events: Emitter<Echo>) -> tidings::Result<()> {
    let text = events.last_event_id().unwrap_or("none").to_owned();
    events.emit(Echo::Seen { text }).await?;
    Ok(())
}

/// Streams the answer to a posted prompt (the body is read by a later extractor).
#[event_stream(path = "/hello", method = "POST")]
async fn post_hello(events: Emitter<Echo>) -> tidings::Result<()> {
    events
        .emit(Echo::Seen {
            text: "posted".into(),
        })
        .await?;
    Ok(())
}

fn app() -> Router {
    Router::new()
        .route(hello)
        .route(job)
        .route(item)
        .route(single)
        .route(search)
        .route(resume)
        .route(post_hello)
}

#[tokio::test]
async fn http1_stream_headers_and_frames() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/hello").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(response.header("x-accel-buffering"), Some("no"));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"hi\"}\n\n"
    );
    assert_eq!(
        response.event().await,
        "event: tidings.end\ndata: {\"reason\":\"handler_done\",\"reconnect\":true}\n\n",
        "the server says it ended the stream"
    );
    assert!(
        response.ends().await,
        "the stream ends when the handler returns"
    );
}

#[tokio::test]
async fn http2_stream_headers_and_frames() {
    let server = TestServer::start(app()).await;
    let response = h2_get(server.addr, "/hello").await;
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(
        headers.get("connection").is_none(),
        "no hop-by-hop headers on HTTP/2"
    );
    assert!(headers.get("content-length").is_none());
    assert!(headers.get("transfer-encoding").is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"event: seen\ndata: {\"text\":\"hi\"}\n\n\
          event: tidings.end\ndata: {\"reason\":\"handler_done\",\"reconnect\":true}\n\n"
    );
}

#[tokio::test]
async fn an_independent_parser_reads_the_stream() {
    let server = TestServer::start(app()).await;
    let response = h2_get(server.addr, "/users/ann%20b/jobs/7").await;
    let events: Vec<_> =
        eventsource_stream::Eventsource::eventsource(response.into_body().into_data_stream())
            .collect()
            .await;
    assert_eq!(events.len(), 2);
    let end = events[1].as_ref().unwrap();
    assert_eq!(end.event, "tidings.end");
    let event = events[0].as_ref().unwrap();
    assert_eq!(event.event, "seen");
    assert_eq!(event.data, r#"{"text":"ann b/7"}"#);
    assert_eq!(
        <Echo as tidings::EventSet>::decode(&event.event, &event.data)
            .map(|Echo::Seen { text }| text)
            .unwrap(),
        "ann b/7"
    );
}

#[tokio::test]
async fn path_parameters_by_position_and_by_name() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/users/ann/jobs/42").await;
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"ann/42\"}\n\n"
    );
    let mut response = server.get("/items/9").await;
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"9\"}\n\n"
    );
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_problem_response() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/users/ann/jobs/forty").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    assert_eq!(body["status"], 400);
    assert_eq!(body["errors"][0]["location"], "path");
    assert_eq!(body["errors"][0]["message"], "`forty` is not a valid u32");
}

#[tokio::test]
async fn query_is_deserialized_and_validated() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/search?q=abc&limit=3&tag=a&tag=b").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"abc:Some(3):a,b\"}\n\n"
    );

    let mut response = server.get("/search?q=a&limit=11").await;
    assert_eq!(response.status, 400);
    let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "every problem is listed: {body}");
    assert_eq!(errors[0]["path"], "q");
    assert_eq!(errors[0]["rule"], "length");
    assert_eq!(errors[1]["path"], "limit");
    assert_eq!(errors[1]["rule"], "range");

    let mut response = server.get("/search?limit=2").await;
    assert_eq!(response.status, 400);
    let body = response.rest().await;
    assert!(body.contains("missing field `q`"), "{body}");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/nowhere").await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    assert_eq!(body["title"], "Not Found");

    let response = RawResponse::send(server.addr, "DELETE", "/hello", &[]).await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, POST"));

    let mut response =
        RawResponse::send(server.addr, "POST", "/hello", &[("content-length", "0")]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"posted\"}\n\n"
    );
}

#[tokio::test]
async fn last_event_id_from_header_or_query() {
    let server = TestServer::start(app()).await;
    let mut response =
        RawResponse::send(server.addr, "GET", "/resume", &[("last-event-id", "41")]).await;
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"41\"}\n\n"
    );
    let mut response = server.get("/resume?lastEventId=a%20b").await;
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"a b\"}\n\n"
    );
    let mut response = server.get("/resume").await;
    assert_eq!(
        response.event().await,
        "event: seen\ndata: {\"text\":\"none\"}\n\n"
    );
}

#[tokio::test]
async fn nested_routers_share_the_port() {
    let app = Router::new()
        .route(hello)
        .nest("/v1", Router::new().route(hello).route(job));
    let server = TestServer::start(app).await;
    for path in ["/hello", "/v1/hello", "/v1/users/a/jobs/1"] {
        let mut response = server.get(path).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(response.event().await.starts_with("event: seen\n"));
    }
    assert_eq!(server.get("/v1/nope").await.status, 404);
}

#[tokio::test]
async fn conflicting_routes_are_an_error_not_a_panic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = tidings::serve(Router::new().route(hello).route(hello))
        .run(listener)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(error.to_string(), "route `GET /hello` is defined twice");
}

#[tokio::test]
async fn malformed_requests_do_not_hurt_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(app()).await;
    for garbage in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET /hello HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
        b"GET /hello HTTP/9.9\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x09garbage",
    ] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(tidings_tests::PATIENCE, stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the server answers or closes a malformed request"
        );
        assert!(
            !answer.starts_with(b"HTTP/1.1 200"),
            "no stream for garbage"
        );
    }
    let mut response = server.get("/hello").await;
    assert_eq!(response.status, 200);
    assert!(response.event().await.starts_with("event: seen\n"));
}

#[tokio::test]
async fn a_client_that_trickles_its_request_head_is_cut_off() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(app(), |serve| {
        serve.header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(tidings_tests::PATIENCE, stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server closed the connection");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert!(!rest.starts_with(b"HTTP/1.1 200"));
}
