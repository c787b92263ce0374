use tidings::event_stream;

#[event_stream(path = "/none")]
async fn none() -> tidings::Result<()> {
    Ok(())
}

fn main() {}
