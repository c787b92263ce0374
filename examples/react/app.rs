//! The React example's streams: the clock's ticks, and the progress of builds started from the
//! page, resumable step by step. Each route counts its streams ([`StreamCounts`]), which the
//! page shows and the browser tests check: one stream per mounted component, gone when it
//! unmounts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings::hub::Hub;
use tidings::openapi::InputDoc;
use tidings::{
    Emitter, FromRequest, Middleware, Path, Rejection, RequestContext, Router, State, event_stream,
};
use tokio::sync::watch;

use tidings_example_clock as clock;

/// What a build's watcher hears. Event ids are step numbers, so a watcher that reconnects
/// with `Last-Event-ID` gets exactly the steps it missed.
#[event_stream]
#[derive(Debug, Clone, PartialEq)]
pub enum Build {
    /// A step finished.
    Step {
        /// The step, from 1.
        step: u32,
        /// Steps in all.
        steps: u32,
        /// What the build was doing.
        stage: String,
    },
    /// The build finished.
    Done {
        /// How long it ran, in milliseconds.
        took_ms: u64,
    },
}

/// Body of `POST /builds`.
#[derive(Debug, Deserialize)]
pub struct BuildRequest {
    /// Steps of the build, 1 to 1000.
    pub steps: u32,
    /// Milliseconds per step, at most 10,000.
    pub step_ms: u64,
}

/// Answer of `POST /builds`.
#[derive(Debug, Serialize)]
pub struct Started {
    /// The build's id: `GET /builds/{id}/progress` streams its steps.
    pub id: u64,
}

/// Where a build is: steps finished, and its duration once done.
#[derive(Debug, Clone, Copy)]
struct Progress {
    finished: u32,
    steps: u32,
    took_ms: Option<u64>,
}

/// The builds, running and finished. Every step can be told again from a build's progress, so
/// a watcher can resume anywhere; a real service would expire finished builds.
#[derive(Debug, Clone, Default)]
pub struct Builds {
    next_id: Arc<AtomicU64>,
    progress: Arc<Mutex<HashMap<u64, watch::Receiver<Progress>>>>,
}

const STAGES: [&str; 4] = ["fetching", "compiling", "testing", "packaging"];

fn stage(step: u32, steps: u32) -> &'static str {
    STAGES[((step - 1) as usize * STAGES.len()) / steps as usize]
}

impl Builds {
    /// Starts a build of `steps` steps of `step_ms` each; `None` when the request is out of
    /// range.
    pub fn start(&self, request: &BuildRequest) -> Option<Started> {
        let BuildRequest { steps, step_ms } = *request;
        if !(1..=1000).contains(&steps) || step_ms > 10_000 {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (progress, watched) = watch::channel(Progress {
            finished: 0,
            steps,
            took_ms: None,
        });
        lock(&self.progress).insert(id, watched);
        tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..steps {
                tokio::time::sleep(Duration::from_millis(step_ms)).await;
                progress.send_modify(|now| now.finished += 1);
            }
            let took_ms = started.elapsed().as_millis() as u64;
            progress.send_modify(|now| now.took_ms = Some(took_ms));
        });
        Some(Started { id })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The build named by the path's `{id}`: an unknown id answers `404` before any stream starts.
pub struct KnownBuild(watch::Receiver<Progress>);

impl FromRequest for KnownBuild {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let State(builds) = State::<Builds>::from_request(cx).await?;
        let Path(id) = Path::<u64>::from_request(cx).await?;
        let progress = lock(&builds.progress).get(&id).cloned();
        progress.map(KnownBuild).ok_or_else(|| {
            Rejection::new(axum::http::StatusCode::NOT_FOUND).detail(format!("no build {id}"))
        })
    }

    fn describe(doc: &mut InputDoc, generator: &mut schemars::SchemaGenerator) {
        Path::<u64>::describe(doc, generator);
        doc.response(404, "No build has this id.");
    }
}

/// The build's steps, each with its number as id, then `done`, and the stream is complete. With
/// `Last-Event-ID: n` it starts after step `n`; a client that already had `done` gets nothing
/// more.
#[event_stream(path = "/builds/{id}/progress")]
pub async fn progress(
    KnownBuild(mut progress): KnownBuild,
    events: Emitter<Build>,
) -> tidings::Result<()> {
    let mut told = events
        .last_event_id()
        .and_then(|id| id.parse::<u32>().ok())
        .unwrap_or(0);
    loop {
        let now = *progress.borrow_and_update();
        while told < now.finished {
            told += 1;
            let step = Build::Step {
                step: told,
                steps: now.steps,
                stage: stage(told, now.steps).to_owned(),
            };
            events.emit_with_id(told, step).await?;
        }
        if let Some(took_ms) = now.took_ms {
            if told == now.steps {
                events
                    .emit_with_id(now.steps + 1, Build::Done { took_ms })
                    .await?;
            }
            // Nothing will follow `done`: the watcher stops instead of coming back.
            events.complete();
            return Ok(());
        }
        tokio::select! {
            changed = progress.changed() => changed?,
            _ = events.closed() => return Ok(()),
        }
    }
}

/// How many streams of each route are open now, and how many were ever opened: what the page
/// shows under its components, and what the browser tests check.
#[derive(Debug, Clone, Default)]
pub struct StreamCounts(Arc<Mutex<BTreeMap<&'static str, StreamCount>>>);

/// The streams of one route.
#[derive(Debug, Clone, Copy, Default, Serialize, JsonSchema)]
pub struct StreamCount {
    /// Streams open now.
    pub open: u64,
    /// Streams opened since the server started.
    pub opened: u64,
}

impl StreamCounts {
    /// The counts by route name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, StreamCount> {
        lock(&self.0).clone()
    }

    /// A middleware that counts the streams of the routes it runs before, as `name`.
    pub fn counting(&self, name: &'static str) -> Counting {
        lock(&self.0).entry(name).or_default();
        Counting {
            counts: self.clone(),
            name,
        }
    }
}

/// The middleware of [`StreamCounts::counting`].
pub struct Counting {
    counts: StreamCounts,
    name: &'static str,
}

impl Middleware for Counting {
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        {
            let mut counts = lock(&self.counts.0);
            let count = counts.entry(self.name).or_default();
            count.open += 1;
            count.opened += 1;
        }
        // Dropped when the handler ends: after the client left and `closed()` resolved.
        cx.keep_until_stream_ends(OpenStream {
            counts: self.counts.clone(),
            name: self.name,
        });
        Ok(())
    }
}

struct OpenStream {
    counts: StreamCounts,
    name: &'static str,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.counts.0).get_mut(self.name) {
            count.open -= 1;
        }
    }
}

/// The streams: `GET /clock` and `GET /builds/{id}/progress`, each counted in `counts`, and
/// `GET /ticks`, the shared ticks of `ticks` (see [`clock::publish_ticks`]).
pub fn app(builds: Builds, counts: &StreamCounts, ticks: Hub<clock::Clock>) -> Router {
    let clock = Router::new()
        .route(clock::clock)
        .middleware(counts.counting("clock"));
    let shared = Router::new().route(clock::ticks).with_state(ticks);
    let builds = Router::new()
        .route(progress)
        .middleware(counts.counting("progress"))
        .with_state(builds);
    // Reconnect soon after a stream ends, so that a resumed build misses no beat.
    Router::new()
        .nest("", clock)
        .nest("", builds)
        .nest("", shared)
        .retry(Duration::from_millis(250))
}

/// The page's TypeScript client, `src/client.ts`.
pub fn typescript() -> String {
    tidings::typescript::generate(&app(
        Builds::default(),
        &StreamCounts::default(),
        Hub::new(),
    ))
}

/// The page's React hook, `src/react.ts`.
pub fn react() -> String {
    tidings::typescript::generate_react("./client")
}
