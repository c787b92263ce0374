//! The seams of a real app: a `#[json_route]` POST that feeds a stream, validated by tidings
//! (problem+json with field paths), guarded by the same authentication middleware as the
//! stream, present in the OpenAPI document and the TypeScript client; the test kit speaking
//! with a bearer token and sending ordinary requests; and plain axum routes using tidings'
//! `Json` and `Rejection` (feature `axum`), served whole by the test kit.

use http::{Method, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings::client::{ClientError, Update};
use tidings::hub::Hub;
use tidings::openapi::InputDoc;
use tidings::reply::{Created, NoContent};
use tidings::testing::{TestServer, eventually};
use tidings::{
    Emitter, Extension, FromRequest, Json, Path, Rejection, RequestContext, Router, State,
    Validate, event_stream, json_route,
};

/// A member of the route's team, from `Authorization: Bearer <token>`: ann is in `red` (and
/// in `archived`), nowhere else.
#[derive(Debug, Clone)]
struct Member {
    name: String,
}

impl FromRequest for Member {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let token = cx
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if token != Some("ann-token") {
            return Err(Rejection::new(StatusCode::UNAUTHORIZED).detail("a team member's token"));
        }
        // Middleware reads the team before any `Path` extractor runs.
        match cx.path_param("team") {
            Some("red" | "archived") => Ok(Member { name: "ann".into() }),
            Some(team) => Err(Rejection::new(StatusCode::FORBIDDEN)
                .detail(format!("ann is not a member of {team}"))),
            None => Err(Rejection::internal(tidings::Error::msg(
                "a route without {team}",
            ))),
        }
    }

    fn describe(doc: &mut InputDoc, _: &mut schemars::SchemaGenerator) {
        doc.bearer_auth();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Level {
    Info,
    Urgent,
}

/// A note to post.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct NewNote {
    #[validate(length(min = 1, max = 200))]
    text: String,
    level: Level,
}

/// A posted note.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
struct Note {
    team: String,
    author: String,
    text: String,
    level: Level,
}

/// What a team hears.
#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum TeamEvent {
    /// A note was posted.
    Note(Note),
}

/// Posts a note to the team. Everyone streaming the team's events gets it.
#[json_route(path = "/teams/{team}/notes", method = "POST")]
async fn post_note(
    Path(team): Path<String>,
    Extension(member): Extension<Member>,
    State(hub): State<Hub<TeamEvent>>,
    Json(new): Json<NewNote>,
) -> Result<Created<Note>, Rejection> {
    if team == "archived" {
        return Err(Rejection::new(StatusCode::CONFLICT).detail("the team is archived"));
    }
    let note = Note {
        team,
        author: member.name,
        text: new.text,
        level: new.level,
    };
    hub.publish(TeamEvent::Note(note.clone()))
        .await
        .map_err(Rejection::internal)?;
    Ok(Created(note))
}

/// Forgets nothing, answers nothing.
#[json_route(path = "/teams/{team}/ping", method = "POST")]
async fn ping() -> NoContent {
    NoContent
}

/// The team's events. The team is read by middleware only.
#[event_stream(path = "/teams/{team}/events")]
async fn team_events(
    State(hub): State<Hub<TeamEvent>>,
    events: Emitter<TeamEvent>,
) -> tidings::Result<()> {
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

fn app(hub: &Hub<TeamEvent>) -> Router {
    Router::new()
        .route(post_note)
        .route(ping)
        .route(team_events)
        .require::<Member>()
        .with_state(hub.clone())
}

#[tokio::test]
async fn a_json_route_validates_publishes_and_answers_created() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await.unwrap();
    let mut stream = server
        .subscription::<TeamEvent>("/teams/red/events")
        .bearer_auth("ann-token")
        .start();
    eventually("the member subscribed", || hub.stats().subscribers == 1).await;

    let answer = server
        .post("/teams/red/notes")
        .bearer_auth("ann-token")
        .json(&json!({ "text": "standup moved to 10:00", "level": "urgent" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED, "{}", answer.text());
    assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
    let note: Note = answer.json();
    let expected = Note {
        team: "red".into(),
        author: "ann".into(),
        text: "standup moved to 10:00".into(),
        level: Level::Urgent,
    };
    assert_eq!(note, expected);
    assert_eq!(stream.next_event().await, TeamEvent::Note(expected));

    let ping = server
        .post("/teams/red/ping")
        .bearer_auth("ann-token")
        .send()
        .await;
    assert_eq!(ping.status(), StatusCode::NO_CONTENT);
    assert!(ping.bytes().is_empty());
}

#[tokio::test]
async fn json_route_refusals_are_problem_json_with_field_paths() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await.unwrap();
    let post = |body: Value| {
        server
            .post("/teams/red/notes")
            .bearer_auth("ann-token")
            .json(&body)
    };

    // A value of the wrong shape: the field is named.
    let answer = post(json!({ "text": "hi", "level": "loud" })).send().await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let problem = answer.problem();
    assert_eq!(problem["errors"][0]["location"], "body");
    assert_eq!(problem["errors"][0]["path"], "level");
    assert_eq!(problem["errors"][0]["rule"], "type");

    // A broken rule: every one listed, with its field.
    let answer = post(json!({ "text": "", "level": "info" })).send().await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let problem = answer.problem();
    assert_eq!(problem["errors"][0]["path"], "text");
    assert_eq!(problem["errors"][0]["rule"], "length");

    // Not JSON at all.
    let answer = server
        .post("/teams/red/notes")
        .bearer_auth("ann-token")
        .header(header::CONTENT_TYPE, "text/plain".parse().unwrap())
        .body("hello")
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    answer.problem();

    // The handler's own refusal.
    let answer = server
        .post("/teams/archived/notes")
        .bearer_auth("ann-token")
        .json(&json!({ "text": "hi", "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    assert_eq!(answer.problem()["detail"], "the team is archived");

    // The router's middleware guards JSON routes as it guards streams.
    let answer = server
        .post("/teams/red/notes")
        .json(&json!({ "text": "hi", "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    answer.problem();
    let answer = server
        .post("/teams/blue/notes")
        .bearer_auth("ann-token")
        .json(&json!({ "text": "hi", "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(answer.problem()["detail"], "ann is not a member of blue");

    // A JSON route answers whatever the client accepts; streams are the ones that need
    // `text/event-stream`.
    let answer = post(json!({ "text": "hi", "level": "info" }))
        .header(header::ACCEPT, "application/json".parse().unwrap())
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let wrong_method = server
        .request(Method::GET, "/teams/red/notes")
        .bearer_auth("ann-token")
        .send()
        .await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()[header::ALLOW], "POST");
}

#[tokio::test]
async fn the_test_kit_subscribes_with_a_bearer_token_or_sees_the_refusal() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await.unwrap();
    let mut anonymous = server.subscribe::<TeamEvent>("/teams/red/events");
    match anonymous.next_update().await {
        Some(Err(ClientError::Status(status, problem))) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            let problem = problem.expect("tidings' refusals carry problem details");
            assert_eq!(problem.detail.as_deref(), Some("a team member's token"));
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    let mut member = server
        .subscription::<TeamEvent>("/teams/red/events")
        .bearer_auth("ann-token")
        .start();
    eventually("the member subscribed", || hub.stats().subscribers == 1).await;
    let id = hub
        .publish(TeamEvent::Note(Note {
            team: "red".into(),
            author: "bob".into(),
            text: "first".into(),
            level: Level::Info,
        }))
        .await
        .unwrap();
    assert!(matches!(member.next_event().await, TeamEvent::Note(note) if note.text == "first"));
    drop(member);
    hub.publish(TeamEvent::Note(Note {
        team: "red".into(),
        author: "bob".into(),
        text: "second".into(),
        level: Level::Info,
    }))
    .await
    .unwrap();
    // Resumed with the token and the id: the missed note, and nothing before it.
    let mut resumed = server
        .subscription::<TeamEvent>("/teams/red/events")
        .bearer_auth("ann-token")
        .last_event_id(&id.to_string())
        .start();
    match resumed.next_update().await {
        Some(Ok(Update::Event {
            event: TeamEvent::Note(note),
            ..
        })) => {
            assert_eq!(note.text, "second")
        }
        other => panic!("expected the missed note, got {other:?}"),
    }
}

#[test]
fn json_routes_middleware_and_path_params_are_in_the_openapi_document() {
    let document = app(&Hub::new()).openapi().to_json();
    let post = &document["paths"]["/teams/{team}/notes"]["post"];
    assert_eq!(post["operationId"], "post_note");
    // The summary is the first sentence; the description all of it.
    assert_eq!(post["summary"], "Posts a note to the team.");
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["properties"]["text"]["minLength"],
        1
    );
    let created = &post["responses"]["201"]["content"]["application/json"]["schema"];
    assert_eq!(created["$ref"], "#/components/schemas/Note");
    for status in ["400", "401", "413", "415", "500"] {
        let refusal = &post["responses"][status]["content"]["application/problem+json"];
        assert!(refusal.is_object(), "POST answers {status}: {post:#}");
    }
    assert!(
        post["responses"].get("406").is_none(),
        "only streams answer 406"
    );
    assert_eq!(post["security"], json!([{ "bearer": [] }]));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({ "type": "http", "scheme": "bearer" })
    );
    let ping = &document["paths"]["/teams/{team}/ping"]["post"];
    assert_eq!(ping["responses"]["204"]["description"], "No Content");
    assert!(ping["responses"]["204"].get("content").is_none());

    // The stream: middleware's 401 and security, and its `{team}` declared though no
    // extractor reads it.
    let stream = &document["paths"]["/teams/{team}/events"]["get"];
    assert!(stream["responses"]["401"].is_object(), "{stream:#}");
    assert_eq!(stream["security"], json!([{ "bearer": [] }]));
    assert_eq!(
        stream["parameters"],
        json!([{ "name": "team", "in": "path", "required": true, "schema": { "type": "string" } }])
    );
    assert_eq!(
        ping["parameters"][0]["name"], "team",
        "every route declares its path parameters"
    );
}

#[test]
fn the_typescript_client_types_json_routes_and_sends_headers_where_needed() {
    let client = tidings::typescript::generate(&app(&Hub::new()));
    assert!(
        client.contains(r#""POST /teams/{team}/notes": { input: { "team": string; "body": {"#),
        "{client}"
    );
    assert!(client.contains("output: Note };"), "{client}");
    assert!(
        client
            .contains(r#""POST /teams/{team}/ping": { input: { "team": string }; output: void };"#)
    );
    // The stream needs a bearer token: the fetch transport, which can send it, by default.
    assert!(
        client.contains(r#""GET /teams/{team}/events": { method: "GET", path: "/teams/{team}/events", query: [], headers: true,"#),
        "{client}"
    );
    assert!(client.contains("export function request<K extends RequestKey>"));
}

mod plain_axum {
    use super::*;
    use axum::routing::post;

    async fn add_note(Json(new): Json<NewNote>) -> Result<Created<Note>, Rejection> {
        if new.text == "fail" {
            return Err(Rejection::internal(tidings::Error::msg(
                "the database is down",
            )));
        }
        Ok(Created(Note {
            team: "axum".into(),
            author: "axum".into(),
            text: new.text,
            level: new.level,
        }))
    }

    #[tokio::test]
    async fn axum_routes_take_tidings_json_and_answer_its_problems() {
        let hub = Hub::new();
        let streams = app(&hub).into_service().unwrap();
        let axum_app = axum::Router::new()
            .route("/notes", post(add_note))
            .fallback_service(streams)
            .layer(tidings::axum::ProblemDetailsLayer);
        let server = TestServer::serve_service(axum_app).await.unwrap();

        let answer = server
            .post("/notes")
            .json(&json!({ "text": "from axum", "level": "info" }))
            .send()
            .await;
        assert_eq!(answer.status(), StatusCode::CREATED, "{}", answer.text());
        assert_eq!(answer.json::<Note>().text, "from axum");

        // axum's own empty 405, as problem+json (its `Allow` kept).
        let answer = server.get("/notes").send().await;
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.headers()[header::ALLOW], "POST");
        assert_eq!(answer.problem()["title"], "Method Not Allowed");

        let answer = server
            .post("/notes")
            .json(&json!({ "text": "x", "level": 3 }))
            .send()
            .await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert_eq!(answer.problem()["errors"][0]["path"], "level");

        let answer = server
            .post("/notes")
            .json(&json!({ "text": "fail", "level": "info" }))
            .send()
            .await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let problem = answer.problem();
        assert!(
            problem.get("detail").is_none(),
            "a 500's detail stays in the log"
        );

        // The tidings routes behind axum's: streams and JSON routes, middleware included.
        let answer = server
            .post("/teams/red/notes")
            .bearer_auth("ann-token")
            .json(&json!({ "text": "through axum", "level": "info" }))
            .send()
            .await;
        assert_eq!(answer.status(), StatusCode::CREATED);
        let mut stream = server
            .subscription::<TeamEvent>("/teams/red/events")
            .bearer_auth("ann-token")
            .start();
        eventually("subscribed through axum", || hub.stats().subscribers == 1).await;
        server
            .post("/teams/red/notes")
            .bearer_auth("ann-token")
            .json(&json!({ "text": "live", "level": "info" }))
            .send()
            .await;
        assert!(matches!(stream.next_event().await, TeamEvent::Note(note) if note.text == "live"));
    }
}
