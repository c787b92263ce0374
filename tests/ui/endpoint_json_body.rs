use serde::Deserialize;
use tidings::{Emitter, Json, Validate, event_stream};

#[derive(Deserialize, schemars::JsonSchema, Validate)]
struct Prompt {
    text: String,
}

#[event_stream]
enum Answer {
    Token(String),
}

#[event_stream(path = "/complete")]
async fn on_get(Json(prompt): Json<Prompt>, events: Emitter<Answer>) {
    let _ = (prompt, events);
}

#[event_stream(path = "/complete", method = "POST")]
async fn twice(Json(a): Json<Prompt>, Json(b): Json<Prompt>, events: Emitter<Answer>) {
    let _ = (a, b, events);
}

fn main() {}
