//! A router with every kind of input, shared by the request targets.
#![allow(dead_code)] // fields are read through `Debug`

use std::sync::LazyLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use schemars::JsonSchema;
use serde::Deserialize;
use tidings::hub::Hub;
use tidings::{Emitter, Json, Path, Query, Router, RouterService, State, Validate, event_stream};

#[event_stream]
#[derive(Debug, Clone)]
pub enum Out {
    Echo(String),
    #[event(text)]
    Text(String),
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct Filter {
    #[validate(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    #[validate(length(max = 20))]
    pub tag: Vec<String>,
    pub flag: Option<bool>,
    #[validate(pattern = "^[a-z]+$")]
    pub word: Option<String>,
    pub order: Option<Order>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Newest,
    Oldest,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct Item {
    #[validate(length(min = 1, max = 10))]
    pub name: String,
    #[validate(range(min = 1))]
    pub qty: u32,
    #[validate(nested)]
    pub parts: Vec<Part>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct Part {
    #[validate(range(max = 9))]
    pub n: u8,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct Ids {
    pub user: u64,
    pub name: String,
}

#[event_stream(path = "/users/{user}/items/{name}")]
async fn by_path(
    Path(ids): Path<Ids>,
    Query(filter): Query<Filter>,
    events: Emitter<Out>,
) -> tidings::Result<()> {
    events
        .emit(Out::Echo(format!(
            "{ids:?} {filter:?} {:?}",
            events.last_event_id()
        )))
        .await?;
    Ok(())
}

#[event_stream(path = "/pair/{a}/{b}")]
async fn pair(Path((a, b)): Path<(i32, String)>, events: Emitter<Out>) -> tidings::Result<()> {
    events.emit(Out::Text(format!("{a}\r\n{b}"))).await?;
    Ok(())
}

#[event_stream(path = "/items", method = "POST")]
async fn items(Json(item): Json<Item>, events: Emitter<Out>) -> tidings::Result<()> {
    events.emit(Out::Echo(format!("{item:?}"))).await?;
    Ok(())
}

#[event_stream(path = "/files/{*rest}")]
async fn files(Path(rest): Path<String>, events: Emitter<Out>) -> tidings::Result<()> {
    events.emit(Out::Text(rest)).await?;
    Ok(())
}

/// Subscribes with the client's `Last-Event-ID` (a resume or a reset), then ends.
#[event_stream(path = "/hub")]
async fn from_hub(State(hub): State<Hub<Out>>, events: Emitter<Out>) -> tidings::Result<()> {
    drop(hub.subscribe(events.last_event_id()).await);
    events.emit(Out::Echo("subscribed".into())).await?;
    Ok(())
}

pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

pub static SERVICE: LazyLock<RouterService> = LazyLock::new(|| {
    let hub = Hub::new();
    RUNTIME.block_on(async {
        for n in 0..3 {
            hub.publish(Out::Echo(n.to_string())).await.unwrap();
        }
    });
    Router::new()
        .route(by_path)
        .route(pair)
        .route(items)
        .route(files)
        .route(from_hub)
        .with_state(hub)
        .body_limit(4096)
        .heartbeat(None)
        .into_service()
        .unwrap()
});

/// Answers `request` and reads the whole response: no panic, and a sensible status.
pub fn answer(request: http::Request<Full<Bytes>>) {
    // Built before `block_on`: building it publishes to the hub with `block_on` of its own.
    let service = &*SERVICE;
    RUNTIME.block_on(async {
        let response = service.respond(request).await.unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 400 | 404 | 405 | 406 | 408 | 413 | 415),
            "unexpected status {status}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if status == 200 {
            assert!(body.ends_with(b"\n\n"), "a stream ends with a whole frame");
        }
    });
}
