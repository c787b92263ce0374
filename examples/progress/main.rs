//! Progress tracking in the browser.
//!
//! ```text
//! cargo run -p tidings-example-progress --example progress
//! curl -X POST -H 'content-type: application/json' -d '{"steps":20,"step_ms":100}' \
//!   http://127.0.0.1:8080/jobs
//! curl -N http://127.0.0.1:8080/jobs/1/progress
//! ```
//!
//! `curl -X DELETE http://127.0.0.1:8080/jobs/1` cancels a job. Or open the printed address
//! and start jobs from the page. `ADDR` sets the address to listen on (default
//! `127.0.0.1:8080`), `JOB_TTL_MS` how long a finished job stays listed (default 10 minutes). axum serves the page and `POST /jobs`; the tidings
//! router, mounted into it, serves `GET /jobs/{id}/progress`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{delete, get, post};
use tidings_example_progress::{self as progress, JobRequest, Jobs, StartError};
use tidings_examples::serve_with;

async fn start(State(jobs): State<Jobs>, Json(request): Json<JobRequest>) -> impl IntoResponse {
    match jobs.start(&request) {
        Ok(started) => (StatusCode::CREATED, Json(started)).into_response(),
        Err(StartError::OutOfRange) => (
            StatusCode::BAD_REQUEST,
            "steps must be 1 to 1000, step_ms at most 10000",
        )
            .into_response(),
        Err(StartError::Full) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            "too many jobs; try again when some have finished",
        )
            .into_response(),
    }
}

/// `DELETE /jobs/{id}`: cancels the job; its watchers hear `cancelled`.
async fn cancel(State(jobs): State<Jobs>, Path(id): Path<u64>) -> StatusCode {
    if jobs.cancel(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_examples::log_to_stderr("warn");
    // `JOB_TTL_MS`: how long a finished job stays listed (default 10 minutes).
    let jobs = match std::env::var("JOB_TTL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        Some(ms) => Jobs::new(std::time::Duration::from_millis(ms), 10_000),
        None => Jobs::default(),
    };
    let pages = axum::Router::new()
        .route("/", get(|| async { Html(progress::PAGE) }))
        .route("/jobs", post(start))
        .route("/jobs/{id}", delete(cancel))
        .with_state(jobs.clone());
    serve_with("progress", pages, progress::app(jobs)).await
}
