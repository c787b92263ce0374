//! Everything that happens before a stream starts: validated input from the path, the query,
//! headers and a JSON body, and the problem+json answers when it is wrong.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use tidings::headers::UserAgent;
use tidings::{
    Emitter, ErrorHandler, FromRequest, Header, Json, Path, Query, Rejection, RequestContext,
    RequestInfo, ResponseBody, Router, Validate, event_stream,
};
use tidings_tests::{RawResponse, TestServer};

#[event_stream]
#[derive(Debug, Clone)]
enum Reply {
    Said(String),
}

#[derive(Debug, Deserialize, schemars::JsonSchema, Validate)]
struct Item {
    #[validate(length(min = 1))]
    name: String,
    #[validate(range(min = 1, max = 99))]
    qty: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema, Validate)]
struct Order {
    #[validate(length(min = 3, max = 40))]
    customer: String,
    #[validate(length(min = 1, max = 3), nested)]
    items: Vec<Item>,
    note: Option<String>,
}

#[event_stream(path = "/orders", method = "POST")]
async fn order(Json(order): Json<Order>, events: Emitter<Reply>) -> tidings::Result<()> {
    for item in &order.items {
        events
            .emit(Reply::Said(format!("{} x{}", item.name, item.qty)))
            .await?;
    }
    events
        .emit(Reply::Said(order.note.unwrap_or_default()))
        .await?;
    Ok(())
}

async fn post(
    server: &TestServer,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> RawResponse {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        request.push_str(&format!("content-type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    RawResponse::read_head(stream).await
}

async fn problem(response: &mut RawResponse) -> serde_json::Value {
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    serde_json::from_str(&response.rest().await).unwrap()
}

fn app() -> Router {
    Router::new()
        .route(order)
        .route(agent)
        .route(maybe_agent)
        .route(page)
        .route(in_order)
        .route(hidden)
        .route(shown)
        .body_limit(256)
}

#[tokio::test]
async fn a_posted_json_body_starts_the_stream() {
    let server = TestServer::start(app()).await;
    let body = r#"{"customer":"ann","items":[{"name":"tea","qty":2},{"name":"cake","qty":1}],"note":"hi"}"#;
    let mut response = post(&server, "/orders", Some("application/json"), body).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.frame().await, "event: said\ndata: \"tea x2\"\n\n");
    assert_eq!(response.frame().await, "event: said\ndata: \"cake x1\"\n\n");
    assert_eq!(response.frame().await, "event: said\ndata: \"hi\"\n\n");
}

#[tokio::test]
async fn every_broken_rule_of_the_body_is_listed() {
    let server = TestServer::start(app()).await;
    let body = r#"{"customer":"al","items":[{"name":"tea","qty":0},{"name":"","qty":100}]}"#;
    let mut response = post(
        &server,
        "/orders",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(response.status, 400);
    let details = problem(&mut response).await;
    assert_eq!(details["title"], "Bad Request");
    assert_eq!(details["status"], 400);
    let errors: Vec<_> = details["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["location"], "body");
            format!(
                "{} {}",
                e["path"].as_str().unwrap(),
                e["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            "customer length",
            "items[0].qty range",
            "items[1].name length",
            "items[1].qty range"
        ]
    );
}

#[tokio::test]
async fn malformed_or_misshapen_bodies_are_400_with_the_field_path() {
    let server = TestServer::start(app()).await;
    let body = r#"{"customer":"ann","items":[{"name":"tea","qty":"two"}]}"#;
    let mut response = post(&server, "/orders", Some("application/json"), body).await;
    assert_eq!(response.status, 400);
    let details = problem(&mut response).await;
    assert_eq!(details["errors"][0]["path"], "items[0].qty");
    assert_eq!(details["errors"][0]["rule"], "type");

    let mut response = post(
        &server,
        "/orders",
        Some("application/json"),
        "{\"customer\":",
    )
    .await;
    assert_eq!(response.status, 400);
    let details = problem(&mut response).await;
    assert!(
        details["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("EOF")
    );

    let response = post(&server, "/orders", Some("application/json"), "{} trailing").await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_a_big_body_413() {
    let server = TestServer::start(app()).await;
    let mut response = post(&server, "/orders", Some("text/plain"), "{}").await;
    assert_eq!(response.status, 415);
    problem(&mut response).await;
    let mut response = post(&server, "/orders", None, "{}").await;
    assert_eq!(response.status, 415);
    problem(&mut response).await;

    let big = format!(r#"{{"customer":"{}","items":[]}}"#, "x".repeat(300));
    let mut response = post(&server, "/orders", Some("application/json"), &big).await;
    assert_eq!(response.status, 413);
    let details = problem(&mut response).await;
    assert_eq!(
        details["detail"],
        "the request body is larger than 256 bytes"
    );
}

#[event_stream(path = "/agent")]
async fn agent(Header(agent): Header<UserAgent>, events: Emitter<Reply>) -> tidings::Result<()> {
    events.emit(Reply::Said(agent.as_str().to_owned())).await?;
    Ok(())
}

#[event_stream(path = "/maybe-agent")]
async fn maybe_agent(
    agent: Option<Header<UserAgent>>,
    events: Emitter<Reply>,
) -> tidings::Result<()> {
    let said = agent.map_or("nobody".to_owned(), |Header(agent)| agent.to_string());
    events.emit(Reply::Said(said)).await?;
    Ok(())
}

#[tokio::test]
async fn typed_headers() {
    let server = TestServer::start(app()).await;
    let mut response =
        RawResponse::send(server.addr, "GET", "/agent", &[("user-agent", "probe/1")]).await;
    assert_eq!(response.frame().await, "event: said\ndata: \"probe/1\"\n\n");

    let mut response = server.get("/agent").await;
    assert_eq!(response.status, 400);
    let details = problem(&mut response).await;
    assert_eq!(details["errors"][0]["location"], "header");
    assert_eq!(details["errors"][0]["path"], "user-agent");
    assert_eq!(details["errors"][0]["rule"], "required");

    let mut response = server.get("/maybe-agent").await;
    assert_eq!(response.frame().await, "event: said\ndata: \"nobody\"\n\n");
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Order2 {
    Newest,
    Oldest,
}

#[derive(Debug, Deserialize, schemars::JsonSchema, Validate)]
struct PageQuery {
    #[serde(default = "default_size")]
    #[validate(range(min = 1, max = 50))]
    size: u32,
    order: Option<Order2>,
    #[serde(default)]
    tag: Vec<String>,
    #[serde(default)]
    archived: bool,
}

fn default_size() -> u32 {
    10
}

#[derive(Debug, Deserialize, schemars::JsonSchema, Validate)]
struct PagePath {
    #[validate(length(max = 5))]
    section: String,
}

#[event_stream(path = "/pages/{section}")]
async fn page(
    Path(path): Path<PagePath>,
    Query(query): Query<PageQuery>,
    events: Emitter<Reply>,
) -> tidings::Result<()> {
    let said = format!(
        "{} {} {:?} {:?} {}",
        path.section, query.size, query.order, query.tag, query.archived
    );
    events.emit(Reply::Said(said)).await?;
    Ok(())
}

#[tokio::test]
async fn query_strings_behave_as_serde_users_expect() {
    let server = TestServer::start(app()).await;
    let said = |text: &str| format!("event: said\ndata: \"{text}\"\n\n");
    let mut response = server.get("/pages/news").await;
    assert_eq!(response.frame().await, said("news 10 None [] false"));
    let mut response = server
        .get("/pages/news?size=3&order=oldest&tag=a&tag=b+c&archived=true")
        .await;
    assert_eq!(
        response.frame().await,
        said(r#"news 3 Some(Oldest) [\"a\", \"b c\"] true"#)
    );

    let mut response = server.get("/pages/news?order=sideways").await;
    assert_eq!(response.status, 400);
    assert!(
        problem(&mut response).await["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant")
    );
    let mut response = server.get("/pages/toolong?size=99").await;
    assert_eq!(response.status, 400);
    let details = problem(&mut response).await;
    assert_eq!(
        details["errors"][0]["location"], "path",
        "the path is checked first: {details}"
    );
    assert_eq!(details["errors"][0]["path"], "section");
}

static SECOND_RAN: AtomicUsize = AtomicUsize::new(0);

struct First;
impl FromRequest for First {
    type Rejection = Rejection;
    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        match cx.uri().query() {
            Some("pass") => Ok(First),
            _ => Err(Rejection::new(http::StatusCode::FORBIDDEN).detail("first said no")),
        }
    }
}

struct Second;
impl FromRequest for Second {
    type Rejection = Rejection;
    async fn from_request(_cx: &mut RequestContext) -> Result<Self, Rejection> {
        SECOND_RAN.fetch_add(1, Ordering::SeqCst);
        Ok(Second)
    }
}

#[event_stream(path = "/in-order")]
async fn in_order(_first: First, _second: Second, events: Emitter<Reply>) -> tidings::Result<()> {
    events.emit(Reply::Said("both".into())).await?;
    Ok(())
}

#[tokio::test]
async fn extractors_run_in_order_and_the_first_rejection_stops_the_chain() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/in-order").await;
    assert_eq!(response.status, 403);
    assert_eq!(problem(&mut response).await["detail"], "first said no");
    assert_eq!(
        SECOND_RAN.load(Ordering::SeqCst),
        0,
        "the second extractor never ran"
    );
    let mut response = server.get("/in-order?pass").await;
    assert_eq!(response.frame().await, "event: said\ndata: \"both\"\n\n");
    assert_eq!(SECOND_RAN.load(Ordering::SeqCst), 1);
}

struct Broken;
impl FromRequest for Broken {
    type Rejection = Rejection;
    async fn from_request(_cx: &mut RequestContext) -> Result<Self, Rejection> {
        Err(Rejection::internal(std::io::Error::other(
            "db password is hunter2",
        )))
    }
}

struct Down;
impl FromRequest for Down {
    type Rejection = Rejection;
    async fn from_request(_cx: &mut RequestContext) -> Result<Self, Rejection> {
        Err(Rejection::new(http::StatusCode::SERVICE_UNAVAILABLE)
            .detail("maintenance until 10:00")
            .expose())
    }
}

#[event_stream(path = "/hidden")]
async fn hidden(_broken: Broken, events: Emitter<Reply>) {
    let _ = events;
}

#[event_stream(path = "/shown")]
async fn shown(_down: Down, events: Emitter<Reply>) {
    let _ = events;
}

#[tokio::test]
async fn server_errors_hide_their_details_unless_exposed() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/hidden").await;
    assert_eq!(response.status, 500);
    let body = response.rest().await;
    assert!(!body.contains("hunter2"), "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["title"],
        "Internal Server Error"
    );

    let mut response = server.get("/shown").await;
    assert_eq!(response.status, 503);
    assert_eq!(
        problem(&mut response).await["detail"],
        "maintenance until 10:00"
    );
}

#[tokio::test]
async fn clients_that_do_not_accept_event_streams_get_406() {
    let server = TestServer::start(app()).await;
    let response = RawResponse::send(
        server.addr,
        "GET",
        "/maybe-agent",
        &[("accept", "application/json")],
    )
    .await;
    // `send` adds `accept: text/event-stream` too, which makes the request acceptable.
    assert_eq!(response.status, 200);

    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /maybe-agent HTTP/1.1\r\nhost: x\r\naccept: application/json\r\n\r\n")
        .await
        .unwrap();
    let mut response = RawResponse::read_head(stream).await;
    assert_eq!(response.status, 406);
    problem(&mut response).await;
}

/// Answers `{"error": title, "fields": [...]}` and sends `{"reason": ...}` error events.
struct Terse;

impl ErrorHandler for Terse {
    fn rejection(
        &self,
        rejection: Rejection,
        request: &RequestInfo,
    ) -> http::Response<ResponseBody> {
        let fields: Vec<_> = rejection
            .problem()
            .errors
            .iter()
            .map(|e| e.path.clone())
            .collect();
        let body = serde_json::json!({ "error": rejection.problem().title, "fields": fields, "path": request.path });
        let mut response = http::Response::new(ResponseBody::from(body.to_string()));
        *response.status_mut() = rejection.status();
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        response
    }

    fn stream_error(&self, error: &tidings::Error, _request: &RequestInfo) -> serde_json::Value {
        serde_json::json!({ "reason": error.client_message() })
    }
}

#[event_stream(path = "/fails")]
async fn fails(events: Emitter<Reply>) -> tidings::Result<()> {
    events.emit(Reply::Said("start".into())).await?;
    Err(tidings::Error::public("out of tea"))
}

#[tokio::test]
async fn the_error_policy_can_be_replaced() {
    let server = TestServer::start(app().route(fails).error_handler(Terse)).await;
    let mut response = server.get("/pages/toolong").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "Bad Request", "fields": ["section"], "path": "/pages/toolong" })
    );

    let mut response = server.get("/nowhere").await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.rest().await,
        r#"{"error":"Not Found","fields":[],"path":"/nowhere"}"#
    );

    let mut response = server.get("/fails").await;
    response.frame().await;
    assert_eq!(
        response.frame().await,
        "event: error\ndata: {\"reason\":\"out of tea\"}\n\n"
    );
}
