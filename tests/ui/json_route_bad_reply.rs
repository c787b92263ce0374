// A `#[json_route]` returns a `Reply`: `Json<T>`, `Created<T>`, `NoContent`, or a `Result` of
// one. A bare value says so, at the return type.
use tidings::json_route;

#[json_route(path = "/count", method = "POST")]
async fn count() -> u64 {
    3
}

fn main() {
    let _ = tidings::Router::new().route(count);
}
