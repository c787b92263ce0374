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
        /// How long it has run, in milliseconds.
        elapsed_ms: u64,
    },
    /// The job finished.
    Done {
        /// How long it ran, in milliseconds.
        took_ms: u64,
    },
    /// The job was cancelled (`DELETE /jobs/{id}`) before it finished.
    Cancelled {
        /// How long it had run, in milliseconds.
        after_ms: u64,
    },
}

impl Job {
    /// Whether nothing follows this state: `done` or `cancelled`.
    pub fn is_final(&self) -> bool {
        matches!(self, Job::Done { .. } | Job::Cancelled { .. })
    }
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

/// The running and finished jobs, each with its latest state. A finished (or cancelled) job
/// stays listed for `keep_finished`, so that a late watcher still hears how it ended; then it
/// is forgotten (`404`), so that memory stays bounded. At most `max_jobs` are kept at once.
#[derive(Debug, Clone)]
pub struct Jobs {
    next_id: Arc<AtomicU64>,
    states: Arc<Mutex<HashMap<u64, Entry>>>,
    keep_finished: Duration,
    max_jobs: usize,
}

#[derive(Debug)]
struct Entry {
    state: Arc<watch::Sender<Job>>,
    started: Instant,
    /// The task that runs the job, until it finishes.
    task: tokio::task::AbortHandle,
}

/// Why a job was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Steps out of 1 to 1000, or more than 10,000 ms a step.
    OutOfRange,
    /// As many jobs as the service keeps are running or recently finished.
    Full,
}

impl Default for Jobs {
    /// Finished jobs kept 10 minutes, at most 10,000 jobs.
    fn default() -> Self {
        Jobs::new(Duration::from_secs(600), 10_000)
    }
}

const STAGES: [&str; 4] = ["fetching", "building", "testing", "packaging"];

impl Jobs {
    /// Jobs whose finished ones are kept `keep_finished`, at most `max_jobs` at once.
    pub fn new(keep_finished: Duration, max_jobs: usize) -> Self {
        Jobs {
            next_id: Arc::default(),
            states: Arc::default(),
            keep_finished,
            max_jobs,
        }
    }

    /// Starts a job of `steps` steps of `step_ms` each. Call it inside a Tokio runtime.
    pub fn start(&self, request: &JobRequest) -> Result<Started, StartError> {
        if !(1..=1000).contains(&request.steps) || request.step_ms > 10_000 {
            return Err(StartError::OutOfRange);
        }
        let mut states = self.lock();
        if states.len() >= self.max_jobs {
            return Err(StartError::Full);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let state = Arc::new(watch::Sender::new(Job::Progress {
            percent: 0,
            stage: STAGES[0].to_owned(),
            elapsed_ms: 0,
        }));
        let (steps, step) = (request.steps, Duration::from_millis(request.step_ms));
        let (running, jobs) = (state.clone(), self.clone());
        let started = Instant::now();
        let task = tokio::spawn(async move {
            for done in 1..=steps {
                tokio::time::sleep(step).await;
                let percent = (done * 100 / steps) as u8;
                let stage = STAGES[((done - 1) * STAGES.len() as u32 / steps) as usize];
                running.send_replace(Job::Progress {
                    percent,
                    stage: stage.to_owned(),
                    elapsed_ms: started.elapsed().as_millis() as u64,
                });
            }
            running.send_replace(Job::Done {
                took_ms: started.elapsed().as_millis() as u64,
            });
            jobs.forget_later(id);
        });
        let task = task.abort_handle();
        states.insert(
            id,
            Entry {
                state,
                started,
                task,
            },
        );
        Ok(Started {
            id,
            progress: format!("/jobs/{id}/progress"),
        })
    }

    /// Cancels a running job: its watchers hear `cancelled`, and it is forgotten like a
    /// finished one. `false` when no job has this id; a finished job stays as it ended.
    pub fn cancel(&self, id: u64) -> bool {
        let states = self.lock();
        let Some(entry) = states.get(&id) else {
            return false;
        };
        if !entry.state.borrow().is_final() {
            entry.task.abort();
            entry.state.send_replace(Job::Cancelled {
                after_ms: entry.started.elapsed().as_millis() as u64,
            });
            self.forget_later(id);
        }
        true
    }

    /// Jobs listed now, running or recently finished.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no job is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets job `id` once `keep_finished` has passed.
    fn forget_later(&self, id: u64) {
        let jobs = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(jobs.keep_finished).await;
            jobs.lock().remove(&id);
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
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
        let state = jobs.lock().get(&id).map(|entry| entry.state.subscribe());
        state.map(KnownJob).ok_or_else(|| {
            Rejection::new(axum::http::StatusCode::NOT_FOUND).detail(format!("no job {id}"))
        })
    }

    fn describe(doc: &mut InputDoc, generator: &mut schemars::SchemaGenerator) {
        Path::<u64>::describe(doc, generator);
        doc.response(404, "No job has this id.");
    }
}

/// The job's progress: its state now, every change, and `done` (or `cancelled`) at the end,
/// after which the stream is complete.
#[event_stream(path = "/jobs/{id}/progress")]
pub async fn progress(KnownJob(mut state): KnownJob, events: Emitter<Job>) -> tidings::Result<()> {
    loop {
        let now = state.borrow_and_update().clone();
        let finished = now.is_final();
        events.emit(now).await?;
        if finished {
            events.complete();
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
