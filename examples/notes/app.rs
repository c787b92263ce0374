//! Team notes, as a real app would have them: `POST /teams/{team}/notes` (a JSON route, its
//! body validated by tidings) publishes to the team's hub; `GET /teams/{team}/events`
//! streams the team's notes with lossless resume, and who is online as transient `presence`
//! events; `GET /teams/{team}/notes` gives the recent notes and the id to resume after. A
//! bearer token guards all three, through one `Router::require::<Member>()`, which the
//! OpenAPI document and the TypeScript client know about.
//!
//! The tokens are the demo's (`ann-token`, `bob-token`, `cat-token`); a real app would verify
//! a signed token or look a session up in the same `FromRequest`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode, header};
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use tidings::hub::{Hub, HubOptions, Hubs};
use tidings::limits::RateLimit;
use tidings::openapi::InputDoc;
use tidings::reply::Created;
use tidings::{
    Emitter, Extension, FromRequest, Json, Rejection, RequestContext, Router, State, Validate,
    event_stream, json_route,
};

/// The page.
pub const PAGE: &str = include_str!("index.html");

/// Who is in which team: the demo's directory.
const MEMBERS: &[(&str, &[&str])] = &[
    ("ann", &["red", "blue"]),
    ("bob", &["red"]),
    ("cat", &["blue"]),
];

/// How many notes per team `GET /teams/{team}/notes` gives.
const RECENT: usize = 50;

/// A signed-in member of the route's team, from `Authorization: Bearer <name>-token`.
#[derive(Debug, Clone)]
pub struct Member {
    /// Their name.
    pub name: String,
    /// The team of the route (`{team}`).
    pub team: String,
}

impl FromRequest for Member {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let unauthorized = |detail: &str| {
            Rejection::new(StatusCode::UNAUTHORIZED)
                .detail(detail)
                .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        };
        let token = cx
            .bearer_token()
            .ok_or_else(|| unauthorized("sign in: `Authorization: Bearer <token>`"))?;
        let (name, teams) = MEMBERS
            .iter()
            .find(|(name, _)| token.strip_suffix("-token") == Some(name))
            .ok_or_else(|| unauthorized("this token is not valid"))?;
        // Middleware runs before any `Path` extractor: it reads the team from the path.
        let team = cx.path_param("team").unwrap_or_default();
        if !teams.contains(&team) {
            return Err(Rejection::new(StatusCode::FORBIDDEN)
                .detail(format!("{name} is not a member of {team}")));
        }
        Ok(Member {
            name: (*name).to_owned(),
            team: team.to_owned(),
        })
    }

    fn describe(doc: &mut InputDoc, _: &mut SchemaGenerator) {
        doc.bearer_auth();
        doc.response(403, "The signed-in user is not a member of the team");
    }
}

/// How much a note matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// For the record.
    Info,
    /// Read it now.
    Urgent,
}

/// A note to post.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Validate)]
pub struct NewNote {
    /// What to say.
    #[validate(length(min = 1, max = 500))]
    pub text: String,
    /// How much it matters.
    pub level: Level,
}

/// A posted note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Validate)]
pub struct Note {
    /// Who posted it.
    pub author: String,
    /// What they said.
    #[validate(length(min = 1, max = 500))]
    pub text: String,
    /// How much it matters.
    pub level: Level,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Who is online in the team now (with the stream open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Presence {
    /// Their names, sorted.
    pub online: Vec<String>,
}

/// What a team hears.
#[event_stream]
#[derive(Debug, Clone, PartialEq)]
pub enum TeamEvent {
    /// A note was posted.
    Note(Note),
    /// Who is online changed. Transient: never replayed, takes no place in the history.
    Presence(Presence),
}

/// The recent notes of a team, and where its stream resumes after them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Board {
    /// The newest notes, oldest first.
    pub notes: Vec<Note>,
    /// The event id of the newest note: subscribe with it as `Last-Event-ID` and nothing
    /// is missed or repeated between this answer and the stream.
    pub last_event_id: Option<String>,
}

/// Per team, its recent notes with their event ids, oldest first.
type Boards = HashMap<String, VecDeque<(String, Note)>>;

/// The app's state: a hub per team, the recent notes, who is online.
#[derive(Clone)]
pub struct Teams {
    hubs: Hubs<String, TeamEvent>,
    boards: Arc<tokio::sync::Mutex<Boards>>,
    online: Arc<Mutex<HashMap<String, BTreeMap<String, usize>>>>,
}

impl Default for Teams {
    fn default() -> Self {
        Teams {
            hubs: Hubs::new(HubOptions::default(), Duration::from_secs(600)),
            boards: Arc::default(),
            online: Arc::default(),
        }
    }
}

impl Teams {
    /// The hub of `team`.
    pub fn hub(&self, team: &str) -> Hub<TeamEvent> {
        self.hubs.get(team)
    }

    /// Counts `name` online in `team` until the guard drops, telling the team each time.
    fn join(&self, team: &str, name: &str) -> Online {
        self.lock_online(team, |names| {
            *names.entry(name.to_owned()).or_default() += 1
        });
        self.tell_presence(team);
        Online {
            teams: self.clone(),
            team: team.to_owned(),
            name: name.to_owned(),
        }
    }

    fn lock_online<R>(&self, team: &str, f: impl FnOnce(&mut BTreeMap<String, usize>) -> R) -> R {
        let mut online = self
            .online
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(online.entry(team.to_owned()).or_default())
    }

    fn tell_presence(&self, team: &str) {
        let online = self.lock_online(team, |names| names.keys().cloned().collect());
        // Transient: a client that resumes gets the next one, never an old count.
        let _ = self
            .hub(team)
            .broadcast(TeamEvent::Presence(Presence { online }));
    }
}

/// One open stream of a member: online while it lasts.
struct Online {
    teams: Teams,
    team: String,
    name: String,
}

impl Drop for Online {
    fn drop(&mut self) {
        self.teams.lock_online(&self.team, |names| {
            if let Some(count) = names.get_mut(&self.name) {
                *count -= 1;
                if *count == 0 {
                    names.remove(&self.name);
                }
            }
        });
        self.teams.tell_presence(&self.team);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Posts a note to the team. Everyone streaming the team's events gets it.
#[json_route(path = "/teams/{team}/notes", method = "POST")]
pub async fn post_note(
    Extension(member): Extension<Member>,
    State(teams): State<Teams>,
    Json(new): Json<NewNote>,
) -> Result<Created<Note>, Rejection> {
    let note = Note {
        author: member.name,
        text: new.text,
        level: new.level,
        at_ms: now_ms(),
    };
    // One writer per board at a time, so that its order is the stream's.
    let mut boards = teams.boards.lock().await;
    let id = teams
        .hub(&member.team)
        .publish(TeamEvent::Note(note.clone()))
        .await
        .map_err(Rejection::internal)?;
    let board = boards.entry(member.team).or_default();
    board.push_back((id.to_string(), note.clone()));
    if board.len() > RECENT {
        board.pop_front();
    }
    Ok(Created(note))
}

/// The team's recent notes, and the id to resume the stream after.
#[json_route(path = "/teams/{team}/notes")]
pub async fn recent_notes(
    Extension(member): Extension<Member>,
    State(teams): State<Teams>,
) -> Json<Board> {
    let boards = teams.boards.lock().await;
    let board = boards.get(&member.team);
    Json(Board {
        notes: board
            .iter()
            .flat_map(|b| b.iter().map(|(_, note)| note.clone()))
            .collect(),
        last_event_id: board.and_then(|b| b.back()).map(|(id, _)| id.clone()),
    })
}

/// The team's notes as they are posted (resuming after `Last-Event-ID`), and who is online.
#[event_stream(path = "/teams/{team}/events")]
pub async fn team_events(
    Extension(member): Extension<Member>,
    State(teams): State<Teams>,
    events: Emitter<TeamEvent>,
) -> tidings::Result<()> {
    let subscription = teams
        .hub(&member.team)
        .subscribe(events.last_event_id())
        .await;
    // Subscribed first, so that this client hears its own arrival too.
    let _online = teams.join(&member.team, &member.name);
    events.forward(subscription).await?;
    Ok(())
}

/// The app's routes, every one for members of the team only, and each client address held
/// to 40 requests at once, then 2 a second (a reconnect storm, a scripted client).
pub fn routes(teams: Teams) -> Router {
    Router::new()
        .route(post_note)
        .route(recent_notes)
        .route(team_events)
        .middleware(RateLimit::every(Duration::from_millis(500)).burst(40))
        .require::<Member>()
        .with_state(teams)
        .heartbeat(Some(Duration::from_secs(15)))
}

/// The OpenAPI document of the routes (committed as `examples/notes/openapi.json`).
pub fn openapi() -> tidings::openapi::OpenApi {
    routes(Teams::default())
        .openapi()
        .title("Team notes")
        .version("1.0.0")
        .description("Notes posted to a team and streamed to its members, with presence.")
}

/// The TypeScript client of the routes (committed as `examples/notes/client.ts`).
pub fn typescript() -> String {
    tidings::typescript::generate(&routes(Teams::default()))
}
