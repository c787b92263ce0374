//! The notes example, written with the test kit as its users would test such an app: bearer
//! tokens on the stream and on the POST, problem+json with field paths, presence as transient
//! events, and the board's snapshot resuming the stream with nothing lost or repeated.

use http::StatusCode;
use serde_json::json;
use tidings::client::Update;
use tidings::testing::{TestServer, TestSubscription};
use tidings_example_notes::{self as notes, Board, Level, Note, Presence, TeamEvent, Teams};
use tidings_tests::assert_up_to_date;

async fn serve() -> TestServer {
    TestServer::start(notes::routes(Teams::default()))
        .await
        .unwrap()
}

fn stream(server: &TestServer, team: &str, token: &str) -> TestSubscription<TeamEvent> {
    server
        .subscription::<TeamEvent>(&format!("/teams/{team}/events"))
        .bearer_auth(token)
        .start()
}

/// The next presence event, passing over notes.
async fn presence(stream: &mut TestSubscription<TeamEvent>) -> Vec<String> {
    loop {
        if let TeamEvent::Presence(Presence { online }) = stream.next_event().await {
            return online;
        }
    }
}

async fn post(server: &TestServer, team: &str, token: &str, text: &str) -> Note {
    let answer = server
        .post(&format!("/teams/{team}/notes"))
        .bearer_auth(token)
        .json(&json!({ "text": text, "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED, "{}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_posted_note_reaches_the_team_and_presence_follows_who_streams() {
    let server = serve().await;
    let mut ann = stream(&server, "red", "ann-token");
    assert_eq!(presence(&mut ann).await, ["ann"]);
    let mut bob = stream(&server, "red", "bob-token");
    assert_eq!(presence(&mut bob).await, ["ann", "bob"]);
    assert_eq!(presence(&mut ann).await, ["ann", "bob"]);

    let note = post(&server, "red", "bob-token", "standup moved to 10:00").await;
    assert_eq!(note.author, "bob");
    assert_eq!(note.level, Level::Info);
    assert_eq!(ann.next_event().await, TeamEvent::Note(note.clone()));
    assert_eq!(bob.next_event().await, TeamEvent::Note(note));

    drop(bob);
    assert_eq!(presence(&mut ann).await, ["ann"], "bob left");
}

#[tokio::test]
async fn the_board_and_the_stream_resume_with_nothing_lost_or_repeated() {
    let server = serve().await;
    for text in ["one", "two"] {
        post(&server, "red", "ann-token", text).await;
    }
    let board: Board = server
        .get("/teams/red/notes")
        .bearer_auth("bob-token")
        .send()
        .await
        .json();
    // The auth scheme is case-insensitive (RFC 9110, section 11.1).
    let lower = server
        .get("/teams/red/notes")
        .header(
            tidings::http::header::AUTHORIZATION,
            tidings::http::HeaderValue::from_static("bearer bob-token"),
        )
        .send()
        .await;
    assert_eq!(lower.status(), 200);
    let texts: Vec<&str> = board.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    let after = board.last_event_id.expect("the board says where to resume");
    post(&server, "red", "ann-token", "three").await;

    // Resumed after the board: "three", then live; presence is transient and never replayed
    // (the only presence is the one of this connection's arrival).
    let mut bob = server
        .subscription::<TeamEvent>("/teams/red/events")
        .bearer_auth("bob-token")
        .last_event_id(&after)
        .start();
    let mut notes_seen = Vec::new();
    let mut presences = 0;
    let mut last_id = after.clone();
    while notes_seen.len() < 2 {
        match bob.next_update().await {
            Some(Ok(Update::Event { event, id, .. })) => match event {
                TeamEvent::Note(note) => {
                    let id = id.expect("notes have ids");
                    assert_ne!(id, last_id, "each note its own id");
                    last_id = id;
                    notes_seen.push(note.text);
                    if notes_seen.len() == 1 {
                        post(&server, "red", "ann-token", "four").await;
                    }
                }
                TeamEvent::Presence(_) => {
                    // No `id:` of its own: the client's last event id stays the last note's.
                    assert_eq!(id.as_deref(), Some(last_id.as_str()), "presence has no id");
                    presences += 1;
                }
            },
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(notes_seen, ["three", "four"]);
    assert_eq!(presences, 1);
}

#[tokio::test]
async fn refusals_say_who_and_where() {
    let server = serve().await;
    // No token, a bad one, a team that is not yours: on the POST and on the stream.
    let answer = server
        .post("/teams/red/notes")
        .json(&json!({ "text": "hi", "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
    let answer = server
        .post("/teams/red/notes")
        .bearer_auth("cat-token")
        .json(&json!({ "text": "hi", "level": "info" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(answer.problem()["detail"], "cat is not a member of red");
    let mut refused = stream(&server, "red", "cat-token");
    match refused.next_update().await {
        Some(Err(tidings::client::ClientError::Status(StatusCode::FORBIDDEN, Some(problem)))) => {
            assert_eq!(
                problem.detail.as_deref(),
                Some("cat is not a member of red")
            )
        }
        other => panic!("expected a 403 with its reason, got {other:?}"),
    }

    // A body that breaks the rules: every problem, with its field.
    let answer = server
        .post("/teams/red/notes")
        .bearer_auth("ann-token")
        .json(&json!({ "text": "", "level": "loud" }))
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let problem = answer.problem();
    assert_eq!(problem["errors"][0]["path"], "level", "{problem}");
    let answer = server
        .post("/teams/red/notes")
        .bearer_auth("ann-token")
        .json(&json!({ "text": "", "level": "info" }))
        .send()
        .await;
    let problem = answer.problem();
    assert_eq!(problem["errors"][0]["path"], "text");
    assert_eq!(
        problem["errors"][0]["message"],
        "must be at least 1 character long"
    );
}

#[test]
fn the_document_has_both_kinds_of_route_with_their_security() {
    let document = notes::openapi().to_json();
    let post = &document["paths"]["/teams/{team}/notes"]["post"];
    assert_eq!(post["security"], json!([{ "bearer": [] }]));
    assert!(post["responses"]["201"].is_object());
    assert!(post["responses"]["403"].is_object());
    let stream = &document["paths"]["/teams/{team}/events"]["get"];
    assert_eq!(stream["parameters"][0]["name"], "team");
    assert!(stream["responses"]["401"].is_object());
    assert_up_to_date(
        "examples/notes/openapi.json",
        &(notes::openapi().to_string_pretty() + "\n"),
    );
    assert_up_to_date("examples/notes/client.ts", &notes::typescript());
}
