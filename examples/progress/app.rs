//! Progress tracking: jobs run on their own, and any number of pages watch one. A watcher gets
//! the job's state at once, then every change, and `done` at the end; progress is "latest
//! wins", so a watcher that reconnects needs no history. Run it with
//! `cargo run -p tidings-example-progress --example progress` and open the printed address.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings::openapi::InputDoc;
use tidings::{Emitter, FromRequest, Path, Rejection, RequestContext, Router, State, event_stream};
use tokio::sync::watch;

/// What a job watcher hears.
#[event_stream]
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// How far the job is.
    Progress {
        /// Percent done.
        #[validate(range(max = 100))]
        percent: u8,
        /// What it is doing now.
        stage: String,
    },
    /// The job finished.
    Done {
        /// How long it ran, in milliseconds.
        took_ms: u64,
    },
}

/// Body of `POST /jobs` (served next to the streams, see `main.rs`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JobRequest {
    /// Steps of the job, 1 to 1000.
    pub steps: u32,
    /// Milliseconds per step, at most 10,000.
    pub step_ms: u64,
}

/// Answer of `POST /jobs`.
#[derive(Debug, Serialize)]
pub struct Started {
    /// The job's id.
    pub id: u64,
    /// Where to watch it.
    pub progress: String,
}

/// The running and finished jobs, each with its latest state. Finished jobs stay listed, so
/// that a late watcher still hears `done`; a real service would expire them.
#[derive(Debug, Clone, Default)]
pub struct Jobs {
    next_id: Arc<AtomicU64>,
    states: Arc<Mutex<HashMap<u64, watch::Receiver<Job>>>>,
}

const STAGES: [&str; 4] = ["fetching", "building", "testing", "packaging"];

impl Jobs {
    /// Starts a job of `steps` steps of `step_ms` each; `None` when the request is out of
    /// range.
    pub fn start(&self, request: &JobRequest) -> Option<Started> {
        if !(1..=1000).contains(&request.steps) || request.step_ms > 10_000 {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (state, watched) = watch::channel(Job::Progress {
            percent: 0,
            stage: STAGES[0].to_owned(),
        });
        self.lock().insert(id, watched);
        let (steps, step) = (request.steps, Duration::from_millis(request.step_ms));
        tokio::spawn(async move {
            let started = Instant::now();
            for done in 1..=steps {
                tokio::time::sleep(step).await;
                let percent = (done * 100 / steps) as u8;
                let stage = STAGES[((done - 1) * STAGES.len() as u32 / steps) as usize];
                state.send_replace(Job::Progress {
                    percent,
                    stage: stage.to_owned(),
                });
            }
            state.send_replace(Job::Done {
                took_ms: started.elapsed().as_millis() as u64,
            });
        });
        Some(Started {
            id,
            progress: format!("/jobs/{id}/progress"),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, watch::Receiver<Job>>> {
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The job named by the path's `{id}`: an unknown id answers `404` before any stream starts.
pub struct KnownJob(watch::Receiver<Job>);

impl FromRequest for KnownJob {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let State(jobs) = State::<Jobs>::from_request(cx).await?;
        let Path(id) = Path::<u64>::from_request(cx).await?;
        let state = jobs.lock().get(&id).cloned();
        state.map(KnownJob).ok_or_else(|| {
            Rejection::new(axum::http::StatusCode::NOT_FOUND).detail(format!("no job {id}"))
        })
    }

    fn describe(doc: &mut InputDoc, generator: &mut schemars::SchemaGenerator) {
        Path::<u64>::describe(doc, generator);
        doc.response(404, "No job has this id.");
    }
}

/// The job's progress: its state now, every change, and `done` at the end.
#[event_stream(path = "/jobs/{id}/progress")]
pub async fn progress(KnownJob(mut state): KnownJob, events: Emitter<Job>) -> tidings::Result<()> {
    loop {
        let now = state.borrow_and_update().clone();
        let done = matches!(now, Job::Done { .. });
        events.emit(now).await?;
        if done {
            return Ok(());
        }
        tokio::select! {
            changed = state.changed() => changed?,
            _ = events.closed() => return Ok(()),
        }
    }
}

/// The streams, on `jobs`.
pub fn app(jobs: Jobs) -> Router {
    Router::new().route(progress).with_state(jobs)
}

/// The page: plain HTML, `fetch` to start a job and an `EventSource` per job watched.
pub const PAGE: &str = include_str!("index.html");
