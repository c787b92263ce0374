//! Progress tracking in the browser.
//!
//! ```text
//! cargo run -p tidings-example-progress --example progress
//! curl -X POST -H 'content-type: application/json' -d '{"steps":20,"step_ms":100}' \
//!   http://127.0.0.1:8080/jobs
//! curl -N http://127.0.0.1:8080/jobs/1/progress
//! ```
//!
//! Or open the printed address and start jobs from the page. `ADDR` sets the address to
//! listen on (default `127.0.0.1:8080`). axum serves the page and `POST /jobs`; the tidings
//! router, mounted into it, serves `GET /jobs/{id}/progress`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use tidings_example_progress::{self as progress, JobRequest, Jobs};
use tidings_examples::serve_with;

async fn start(State(jobs): State<Jobs>, Json(request): Json<JobRequest>) -> impl IntoResponse {
    match jobs.start(&request) {
        Some(started) => (StatusCode::CREATED, Json(started)).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "steps must be 1 to 1000, step_ms at most 10000",
        )
            .into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_examples::log_to_stderr("warn");
    let jobs = Jobs::default();
    let pages = axum::Router::new()
        .route("/", get(|| async { Html(progress::PAGE) }))
        .route("/jobs", post(start))
        .with_state(jobs.clone());
    serve_with("progress", pages, progress::app(jobs)).await
}
