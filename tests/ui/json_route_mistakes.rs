// What `#[json_route]` refuses: an `Emitter` (that is a stream), a body on GET, a missing
// path, a function that is not async, a largest event (it sends none).
use tidings::{event_stream, json_route, Emitter, Json};

#[event_stream]
enum Tick {
    Tick,
}

#[json_route(path = "/streams")]
async fn streams(events: Emitter<Tick>) -> tidings::reply::NoContent {
    let _ = events;
    tidings::reply::NoContent
}

#[json_route(path = "/read")]
async fn read(Json(body): Json<String>) -> tidings::reply::NoContent {
    let _ = body;
    tidings::reply::NoContent
}

#[json_route(method = "POST")]
async fn nowhere() -> tidings::reply::NoContent {
    tidings::reply::NoContent
}

#[json_route(path = "/quiet", max_event_bytes = 10)]
async fn quiet() -> tidings::reply::NoContent {
    tidings::reply::NoContent
}

#[json_route(path = "/zipped", compress = true)]
async fn zipped() -> tidings::reply::NoContent {
    tidings::reply::NoContent
}

#[json_route(path = "/sync")]
fn sync() -> tidings::reply::NoContent {
    tidings::reply::NoContent
}

fn main() {}
