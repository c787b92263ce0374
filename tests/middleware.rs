//! Middleware and context: authentication extractors, state, middleware on a subtree of
//! routes, tower layers around the router, and a tidings router inside an axum application.

use std::sync::{Arc, Mutex};

use http::{StatusCode, header};
use tidings::{
    Emitter, Extension, FromRequest, Middleware, Rejection, RequestContext, Router, State,
    event_stream,
};
use tidings_tests::{RawResponse, TestServer};

#[event_stream]
#[derive(Debug, Clone)]
enum Feed {
    Hello(String),
}

/// A signed-in user, from `Authorization: Bearer <token>`, looked up asynchronously.
#[derive(Debug, Clone)]
struct User {
    name: String,
    admin: bool,
}

impl FromRequest for User {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let token = cx
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let unauthorized = || {
            Rejection::new(StatusCode::UNAUTHORIZED)
                .detail("a bearer token is required")
                .header(
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"tidings\"".parse().unwrap(),
                )
        };
        let token = token.ok_or_else(unauthorized)?;
        // The lookup a real app would do in its database.
        tokio::task::yield_now().await;
        match token {
            "ann-token" => Ok(User {
                name: "ann".into(),
                admin: true,
            }),
            "bob-token" => Ok(User {
                name: "bob".into(),
                admin: false,
            }),
            _ => Err(unauthorized()),
        }
    }
}

/// Only administrators.
#[derive(Debug, Clone)]
struct Admin(User);

impl FromRequest for Admin {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let user = User::from_request(cx).await?;
        if !user.admin {
            return Err(Rejection::new(StatusCode::FORBIDDEN).detail("administrators only"));
        }
        Ok(Admin(user))
    }
}

#[derive(Clone)]
struct Greeting(&'static str);

#[event_stream(path = "/me")]
async fn me(
    user: User,
    State(greeting): State<Greeting>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    events
        .emit(Feed::Hello(format!("{} {}", greeting.0, user.name)))
        .await?;
    Ok(())
}

#[event_stream(path = "/audit")]
async fn audit(Extension(admin): Extension<Admin>, events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .emit(Feed::Hello(format!("audit for {}", admin.0.name)))
        .await?;
    Ok(())
}

#[event_stream(path = "/open")]
async fn open(events: Emitter<Feed>) -> tidings::Result<()> {
    events.emit(Feed::Hello("anyone".into())).await?;
    Ok(())
}

/// Records the order in which middleware runs.
struct Trace(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Middleware for Trace {
    async fn run(&self, _cx: &mut RequestContext) -> Result<(), Rejection> {
        self.1.lock().unwrap().push(self.0);
        Ok(())
    }
}

fn app(trace: &Arc<Mutex<Vec<&'static str>>>) -> Router {
    let admin = Router::new()
        .route(audit)
        .require::<Admin>()
        .middleware(Trace("admin", trace.clone()));
    Router::new()
        .route(me)
        .route(open)
        .nest("/admin", admin)
        .with_state(Greeting("hello"))
        .middleware(Trace("outer", trace.clone()))
}

/// `GET path` with `Authorization: Bearer <token>`.
async fn as_user(server: &TestServer, path: &str, token: &str) -> RawResponse {
    let auth = format!("Bearer {token}");
    RawResponse::send(server.addr, "GET", path, &[("authorization", &auth)]).await
}

#[tokio::test]
async fn an_auth_extractor_yields_a_user_or_rejects() {
    let server = TestServer::start(app(&Default::default())).await;
    let mut response = as_user(&server, "/me", "ann-token").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.frame().await,
        "event: hello\ndata: \"hello ann\"\n\n"
    );

    for auth in [None, Some("Bearer nope"), Some("Basic abc")] {
        let headers: Vec<_> = auth.iter().map(|a| ("authorization", *a)).collect();
        let mut response = RawResponse::send(server.addr, "GET", "/me", &headers).await;
        assert_eq!(response.status, 401, "{auth:?}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer realm=\"tidings\"")
        );
        let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
        assert_eq!(body["detail"], "a bearer token is required");
    }
}

#[tokio::test]
async fn middleware_guards_a_subtree_and_hands_context_to_handlers() {
    let trace = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start(app(&trace)).await;

    let mut response = as_user(&server, "/admin/audit", "ann-token").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.frame().await,
        "event: hello\ndata: \"audit for ann\"\n\n"
    );
    assert_eq!(
        *trace.lock().unwrap(),
        ["outer", "admin"],
        "outer middleware runs first"
    );

    let response = as_user(&server, "/admin/audit", "bob-token").await;
    assert_eq!(response.status, 403);
    let response = server.get("/admin/audit").await;
    assert_eq!(response.status, 401);

    // Routes outside the subtree are not guarded.
    trace.lock().unwrap().clear();
    let mut response = server.get("/open").await;
    assert_eq!(response.frame().await, "event: hello\ndata: \"anyone\"\n\n");
    assert_eq!(*trace.lock().unwrap(), ["outer"]);
}

#[tokio::test]
async fn missing_state_and_extensions_are_refused_when_the_router_is_served() {
    // `me` takes `State<Greeting>`: without `with_state`, serving fails at once, saying so.
    let error = Router::new()
        .route(me)
        .into_service()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("route `GET /me` takes `State<")
            && error.contains("Greeting>`, but no `Router::with_state` gives"),
        "{error}"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = tidings::serve(Router::new().route(me)).run(listener).await;
    assert_eq!(served.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);

    // `audit` takes `Extension<Admin>`: only a router that requires `Admin` gives it.
    let error = Router::new()
        .route(audit)
        .into_service()
        .unwrap_err()
        .to_string();
    assert!(error.contains("`Extension<"), "{error}");
    assert!(error.contains("Router::require::<"), "{error}");
    Router::new()
        .route(audit)
        .require::<User>()
        .into_service()
        .expect_err("`User` is not `Admin`");
    Router::new()
        .route(audit)
        .require::<Admin>()
        .into_service()
        .expect("`require::<Admin>()` gives `Extension<Admin>`");
    // Given by the outer router, for a nested one: fine too.
    Router::new()
        .nest("/admin", Router::new().route(audit))
        .require::<Admin>()
        .into_service()
        .expect("the outer router's middleware guards nested routes");
    // A middleware that does not say what it provides turns the extension check off.
    let trace = Arc::new(Mutex::new(Vec::new()));
    Router::new()
        .route(audit)
        .middleware(Trace("any", trace))
        .into_service()
        .expect("unknown extensions are not refused");
    // The whole app of these tests is wired right.
    app(&Arc::new(Mutex::new(Vec::new())))
        .into_service()
        .expect("wired");
}

#[tokio::test]
async fn tower_http_cors_wraps_the_server() {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(["http://app.test".parse().unwrap()]))
        .allow_credentials(true)
        .allow_headers([
            header::HeaderName::from_static("last-event-id"),
            header::AUTHORIZATION,
        ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tidings::serve(Router::new().route(open))
            .layer(cors)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .run(listener),
    );

    // The preflight a browser sends before an EventSource with a long Last-Event-ID (or a
    // fetch-based client with headers).
    let mut preflight = RawResponse::send(
        addr,
        "OPTIONS",
        "/open",
        &[
            ("origin", "http://app.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "last-event-id"),
        ],
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://app.test")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("last-event-id")
    );
    preflight.rest().await;

    // `new EventSource(url, { withCredentials: true })`: the exact origin is echoed.
    let mut response =
        RawResponse::send(addr, "GET", "/open", &[("origin", "http://app.test")]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://app.test")
    );
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(response.frame().await, "event: hello\ndata: \"anyone\"\n\n");

    let response = RawResponse::send(addr, "GET", "/open", &[("origin", "http://evil.test")]).await;
    assert_eq!(response.header("access-control-allow-origin"), None);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_tidings_router_mounts_into_axum_next_to_ordinary_routes() {
    let events = Router::new()
        .route(open)
        .route(me)
        .with_state(Greeting("hi"))
        .into_service()
        .unwrap();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest_service("/events", events);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut health = RawResponse::send(addr, "GET", "/health", &[]).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.rest().await, "ok");

    let mut response = RawResponse::send(addr, "GET", "/events/open", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.frame().await, "event: hello\ndata: \"anyone\"\n\n");

    let mut response = RawResponse::send(
        addr,
        "GET",
        "/events/me",
        &[("authorization", "Bearer bob-token")],
    )
    .await;
    assert_eq!(response.frame().await, "event: hello\ndata: \"hi bob\"\n\n");
    assert_eq!(
        RawResponse::send(addr, "GET", "/events/nope", &[])
            .await
            .status,
        404
    );
    server.abort();
}

/// Tokens allowed by the application's state: an extractor that reads `State`.
#[derive(Clone)]
struct Tokens(Arc<Vec<&'static str>>);

struct Known(&'static str);

impl FromRequest for Known {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let State(tokens) = State::<Tokens>::from_request(cx).await?;
        let given = cx
            .headers()
            .get("x-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tokens
            .0
            .iter()
            .find(|token| **token == given)
            .map(|token| Known(token))
            .ok_or_else(|| Rejection::new(StatusCode::FORBIDDEN))
    }
}

#[event_stream(path = "/known")]
async fn known(Known(token): Known, events: Emitter<Feed>) -> tidings::Result<()> {
    events.emit(Feed::Hello(token.to_owned())).await?;
    Ok(())
}

#[tokio::test]
async fn extractors_read_the_shared_state_too() {
    let app = Router::new()
        .route(known)
        .with_state(Tokens(Arc::new(vec!["alpha", "beta"])));
    let server = TestServer::start(app).await;
    let mut response =
        RawResponse::send(server.addr, "GET", "/known", &[("x-token", "beta")]).await;
    assert_eq!(response.frame().await, "event: hello\ndata: \"beta\"\n\n");
    let response = RawResponse::send(server.addr, "GET", "/known", &[("x-token", "gamma")]).await;
    assert_eq!(response.status, 403);
}
